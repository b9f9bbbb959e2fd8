//! The training data pipeline alone: a labelled folder streamed through decode, crop and
//! resize, the shuffle buffer and batching, as `designer train --data` feeds the trainer.
//! Prints one JSON line: images/s and the process's peak resident memory, so runs over
//! folders of different sizes show whether memory stays flat (bench/pipeline.py runs it).
//!
//! `cargo bench -p designer-core --features train --bench pipeline -- --data DIR [--size 64]
//! [--batch 32] [--images N]`

use designer_train::dataset::{ExampleSource, LabelledFolder};
use designer_train::shuffle::capacity_for;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut data = None;
    let (mut size, mut batch, mut images) = (64u32, 32usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--data" => data = Some(PathBuf::from(value())),
            "--size" => {
                size = value()
                    .parse()
                    .unwrap_or_else(|e| fail(&format!("--size: {e}")))
            }
            "--batch" => {
                batch = value()
                    .parse()
                    .unwrap_or_else(|e| fail(&format!("--batch: {e}")))
            }
            "--images" => {
                images = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|e| fail(&format!("--images: {e}"))),
                )
            }
            "--bench" => {}
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let data = data.unwrap_or_else(|| fail("--data DIR is required"));
    let mut source = LabelledFolder::open_buffered(&data, size, capacity_for(batch))
        .unwrap_or_else(|e| fail(&e.to_string()));
    // One pass over the folder by default: every image decoded once.
    let images: usize = images.unwrap_or(source.len());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let started = Instant::now();
    let mut drawn = 0;
    let mut checksum = 0f64;
    while drawn < images {
        let examples = source
            .next_batch(batch.min(images - drawn), &mut rng)
            .unwrap_or_else(|e| fail(&e.to_string()));
        // A batch as the trainer builds it: one contiguous [n, 3, size, size] buffer.
        let pixels: Vec<f32> = examples
            .iter()
            .flat_map(|e| e.pixels.iter().copied())
            .collect();
        checksum += pixels[0] as f64;
        drawn += examples.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "loader": "designer",
            "folder_images": source.len(),
            "images": drawn,
            "size": size,
            "batch": batch,
            "seconds": seconds,
            "images_per_second": drawn as f64 / seconds,
            "peak_rss_mb": peak_rss_mb(),
            "checksum": checksum,
        })
    );
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn fail(message: &str) -> ! {
    eprintln!("pipeline bench: {message}");
    std::process::exit(2)
}
