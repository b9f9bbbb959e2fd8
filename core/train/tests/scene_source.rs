//! The scene engine as a training source: renders follow the trainer's RNG, and a resumed
//! stream renders what the uninterrupted one would.

#[path = "../../scene/tests/support/mod.rs"]
mod catalog_support;

use catalog_support::engine;
use designer_core::{RoomType, Style};
use designer_train::dataset::ExampleSource;
use designer_train::scenes::SceneSource;
use rand::SeedableRng;

#[test]
fn the_streaming_source_follows_the_trainers_rng() {
    let source = SceneSource::new(engine(), 64).unwrap();
    let batch = |seed| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        source_batch(&mut SceneSource::new(engine(), 64).unwrap(), &mut rng)
    };
    fn source_batch(
        source: &mut SceneSource,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<(RoomType, Style, Vec<f32>)> {
        source
            .next_batch(4, rng)
            .unwrap()
            .into_iter()
            .map(|e| (e.room, e.style, e.pixels))
            .collect()
    }
    let a = batch(3);
    assert_eq!(a.len(), 4);
    assert!(a.iter().all(|(_, _, p)| p.len() == 3 * 64 * 64));
    assert_eq!(a, batch(3));
    assert_ne!(a, batch(4));
    assert_eq!(source.image_size(), 64);
    assert!(source.describe().contains("pieces"));
}

#[test]
fn a_resumed_scene_stream_renders_what_the_uninterrupted_one_would() {
    // Batches are drawn one ahead; the checkpointed state carries the drawn-ahead jobs.
    let batches = |source: &mut SceneSource, rng: &mut rand_chacha::ChaCha8Rng, n: usize| {
        (0..n)
            .map(|_| {
                source
                    .next_batch(3, rng)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.room, e.style, e.pixels))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let straight = batches(&mut SceneSource::new(engine(), 64).unwrap(), &mut rng, 3);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut first = SceneSource::new(engine(), 64).unwrap();
    let head = batches(&mut first, &mut rng, 1);
    let state = first.state().expect("a batch is being rendered ahead");
    let position = rng.get_word_pos();
    drop(first);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    rng.set_word_pos(position);
    let mut resumed = SceneSource::new(engine(), 64).unwrap();
    resumed.restore(&state).unwrap();
    let tail = batches(&mut resumed, &mut rng, 2);
    assert_eq!(head[0], straight[0]);
    assert_eq!(tail, straight[1..]);
    assert!(
        resumed
            .restore(&serde_json::json!({"ahead": [["attic", "modern", "1"]]}))
            .is_err()
    );
}

#[test]
fn the_pool_draws_its_renders_refreshes_them_and_stops_when_dropped() {
    use designer_train::scenes::ScenePool;
    let mut pool = ScenePool::new(engine(), 64, 8, 2, 5).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // The first batch waits for the pool to hold 4 x 2 renders (its capacity here).
    let batch = pool.next_batch(2, &mut rng).unwrap();
    assert_eq!(batch.len(), 2);
    assert!(batch.iter().all(|e| e.pixels.len() == 3 * 64 * 64));
    assert!(pool.renders_made() >= 8);
    // Rendering goes on in the background, replacing the oldest renders.
    let made = pool.renders_made();
    let started = std::time::Instant::now();
    while pool.renders_made() < made + 8 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        pool.renders_made() >= made + 8,
        "the pool stopped rendering"
    );
    let many = pool.next_batch(64, &mut rng).unwrap();
    let labels: std::collections::HashSet<_> = many.iter().map(|e| (e.room, e.style)).collect();
    assert!(labels.len() > 1, "one label for 64 draws: {labels:?}");
    assert!(pool.describe().contains("pool"));
    drop(pool);
    assert!(
        ScenePool::new(engine(), 32, 4, 1, 0).is_err(),
        "32 px is below the engine's sizes"
    );
}
