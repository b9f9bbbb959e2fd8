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
