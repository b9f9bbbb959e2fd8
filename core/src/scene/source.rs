//! Scenes in bulk: many renders in parallel (rayon), and, for training, an endless seeded
//! source that renders on the fly without touching disk.

use super::compose::Scene;
use super::{SceneEngine, SceneError};
use crate::labels::{RoomType, Style};
use ::image::RgbImage;
use rayon::prelude::*;

/// Renders every (room type, style, seed) job in parallel, in order.
pub fn render_many(
    engine: &SceneEngine,
    jobs: impl Iterator<Item = (RoomType, Style, u64)>,
    size: u32,
) -> Result<Vec<(Scene, RgbImage)>, SceneError> {
    let jobs: Vec<_> = jobs.collect();
    jobs.into_par_iter()
        .map(|(room, style, seed)| engine.scene(room, style, seed, size))
        .collect()
}

#[cfg(feature = "train")]
pub use training::SceneSource;

#[cfg(feature = "train")]
mod training {
    use super::*;
    use crate::dataset::{Example, ExampleSource, SourceError};
    use crate::image::rgb_to_tensor;
    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use std::sync::Arc;

    /// Training examples rendered on demand: labels and seeds drawn from the trainer's RNG,
    /// so a resumed run sees the same rooms it would have seen.
    pub struct SceneSource {
        engine: Arc<SceneEngine>,
        size: u32,
    }

    impl SceneSource {
        pub fn new(engine: Arc<SceneEngine>, size: u32) -> Result<Self, SceneError> {
            if !(super::super::MIN_SIZE..=super::super::MAX_SIZE).contains(&size) {
                return Err(SceneError::Size(size));
            }
            Ok(Self { engine, size })
        }
    }

    impl ExampleSource for SceneSource {
        fn image_size(&self) -> u32 {
            self.size
        }

        fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Result<Example, SourceError> {
            Ok(self.next_batch(1, rng)?.remove(0))
        }

        fn next_batch(
            &mut self,
            n: usize,
            rng: &mut ChaCha8Rng,
        ) -> Result<Vec<Example>, SourceError> {
            let jobs: Vec<(RoomType, Style, u64)> = (0..n)
                .map(|_| {
                    let room = RoomType::ALL[rng.random_range(0..RoomType::ALL.len())];
                    let style = Style::ALL[rng.random_range(0..Style::ALL.len())];
                    (room, style, rng.random())
                })
                .collect();
            Ok(render_many(&self.engine, jobs.into_iter(), self.size)
                .expect("the size was checked when the source was made")
                .into_iter()
                .map(|(scene, image)| Example {
                    pixels: rgb_to_tensor(&image),
                    room: scene.room_type,
                    style: scene.style,
                })
                .collect())
        }

        fn describe(&self) -> String {
            format!(
                "furnished rooms rendered from {} pieces of the CC-BY/CC0 Sweet Home 3D furniture libraries (Debian sweethome3d-furniture)",
                self.engine.pieces().len()
            )
        }
    }
}
