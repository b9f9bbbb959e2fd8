//! Cold start and warm latency of the release function under cargo lambda's runtime API
//! emulator on this machine (`cargo bench -p designer-lambda`, or `make bench`). Prints a
//! Markdown table for BENCHMARKS.md.
//!
//! - cold start: process spawn -> first answer to an `info` invocation (exec, init with the
//!   weights, one round trip through the emulator), and init alone as the function measures it;
//! - warm generate: the default request (4 designs at 256 px by the default model, its own
//!   steps, guidance 3), a new seed each run so the cache never answers; and a repeated
//!   request, which the cache answers.
//! - with `BENCH_MODEL_URI` set (a model the function serves through MODEL_URI, e.g. the
//!   generator v2 chain file unpacked): restyle time at that model's size beside plain
//!   generation. The photo is one of the plain request's designs, so no file is needed.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::time::Instant;
use support::Emulator;

const COLD_RUNS: usize = 10;
const WARM_RUNS: usize = 7;

struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

fn summarise(mut samples: Vec<f64>) -> Summary {
    samples.sort_by(f64::total_cmp);
    Summary {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
    }
}

fn row(what: &str, runs: usize, s: Summary) {
    println!(
        "| {what} | {runs} | {:.0} ms | {:.0}-{:.0} ms |",
        s.median, s.min, s.max
    );
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    // cargo bench passes --bench; anything else (a filter) is ignored.
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();

    let (mut cold, mut init) = (Vec::new(), Vec::new());
    for run in 0..COLD_RUNS {
        let started = Instant::now();
        let function = emulator.function(&[], &dir.path().join(format!("cold{run}.log")));
        let (status, info) = emulator.invoke(&json!({"action": "info"}));
        cold.push(ms(started));
        assert_eq!(status, 200, "{info}");
        init.push(info["init_ms"].as_f64().unwrap());
        drop(function);
    }

    let _function = emulator.function(&[], &dir.path().join("warm.log"));
    let generate = |seed: u64| -> (f64, Value) {
        let request = json!({"room_type": "living_room", "style": "modern", "seed": seed});
        let started = Instant::now();
        let (status, response) = emulator.invoke(&request);
        assert_eq!(status, 200, "{response}");
        (ms(started), response)
    };
    let (_, warm_up) = generate(1_000);
    let default = format!(
        "4 x {} px by {}",
        warm_up["designs"][0]["width"], warm_up["model"]
    );
    let mut fresh = Vec::new();
    let mut in_function = Vec::new();
    for run in 0..WARM_RUNS {
        let (elapsed, response) = generate(2_000 + run as u64 * 10);
        fresh.push(elapsed);
        in_function.push(response["elapsed_ms"].as_f64().unwrap());
    }
    let cached: Vec<f64> = (0..WARM_RUNS).map(|_| generate(2_000).0).collect();

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Lambda function under `cargo lambda watch --only-lambda-apis`, release build, {threads} cores\n"
    );
    println!("| measurement | runs | median | min-max |");
    println!("|---|---|---|---|");
    row(
        "cold start: spawn -> first `info` answer",
        COLD_RUNS,
        summarise(cold),
    );
    row(
        "init (weights loaded, model built), as the function logs it",
        COLD_RUNS,
        summarise(init),
    );
    row(
        &format!("warm generate, the default request ({default}): invoke round trip"),
        WARM_RUNS,
        summarise(fresh),
    );
    row(
        "warm generate, same, inside the function (`elapsed_ms`)",
        WARM_RUNS,
        summarise(in_function),
    );
    row(
        "cached generate (same request again): invoke round trip",
        WARM_RUNS,
        summarise(cached),
    );
    drop(_function);
    if let Ok(uri) = std::env::var("BENCH_MODEL_URI") {
        restyle(&emulator, &uri, &dir.path().join("restyle.log"));
    }
}

/// Plain generation, keeping a photo's layout, and keeping its colours, at the size the model
/// at `uri` was trained for: the inside-the-function time of each, fresh seeds.
fn restyle(emulator: &Emulator, uri: &str, log: &std::path::Path) {
    const RUNS: usize = 3;
    let _function = emulator.function(&[("MODEL_URI", uri.to_string())], log);
    let (status, info) = emulator.invoke(&json!({"action": "info"}));
    assert_eq!(status, 200, "{info}");
    let served = &info["models"][0];
    let size = served["trained_size"]
        .as_u64()
        .expect("info names the model's size");
    let model = served["model"].as_str().unwrap_or("?").to_string();
    let time = |extra: &Value, seed: u64| -> (f64, Value) {
        let mut request =
            json!({"room_type": "bedroom", "style": "japandi", "seed": seed, "size": size});
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        let (status, response) = emulator.invoke(&request);
        assert_eq!(status, 200, "{response}");
        (response["elapsed_ms"].as_f64().unwrap(), response)
    };
    let (_, plain) = time(&json!({}), 3_000); // warm-up, and the photo
    let photo = plain["designs"][0]["png_base64"].clone();
    println!(
        "\n{model} served through MODEL_URI, {size} x {size} px, 4 designs, 20 steps, guidance 3:\n"
    );
    println!("| request | runs | median | min-max |");
    println!("|---|---|---|---|");
    for (what, extra) in [
        ("plain", json!({})),
        (
            "keeping a photo's layout",
            json!({"photo": photo, "keep": "layout"}),
        ),
        (
            "keeping its colours (SDEdit)",
            json!({"photo": photo, "keep": "colours"}),
        ),
    ] {
        let samples = (0..RUNS)
            .map(|run| time(&extra, 3_100 + run as u64 * 10).0)
            .collect();
        row(
            &format!("{what}, inside the function"),
            RUNS,
            summarise(samples),
        );
    }
}
