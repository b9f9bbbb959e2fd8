//! The scene engine as a training source: an endless seeded stream of renders made on the fly,
//! without touching disk.

use crate::dataset::{DatasetError, Example, ExampleSource, LabelledFolderWriter, SourceError};
use designer_core::image::rgb_to_tensor;
use designer_core::labels::{RoomType, Style};
use designer_core::progress::Progress;
use designer_scene::bulk::render_many;
use designer_scene::{MAX_SIZE, MIN_SIZE, SceneEngine, SceneError};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

type Job = (RoomType, Style, u64);

/// Training examples rendered on demand: labels and seeds drawn from the trainer's RNG,
/// so a resumed run sees the same rooms it would have seen. Each batch's jobs are drawn
/// one batch early and rendered on a background thread while the trainer works on the
/// current batch: on the GPU machine rendering and training took turns, each about half
/// of a step.
pub struct SceneSource {
    engine: Arc<SceneEngine>,
    size: u32,
    ahead: Option<Ahead>,
}

/// The next batch: its jobs, and the thread rendering them.
struct Ahead {
    jobs: Vec<Job>,
    renders: std::thread::JoinHandle<Vec<Example>>,
}

fn draw_jobs(n: usize, rng: &mut ChaCha8Rng) -> Vec<Job> {
    (0..n)
        .map(|_| {
            let room = RoomType::ALL[rng.random_range(0..RoomType::ALL.len())];
            let style = Style::ALL[rng.random_range(0..Style::ALL.len())];
            (room, style, rng.random())
        })
        .collect()
}

/// Renders the jobs in parallel as training examples, in order.
pub fn render_examples(
    engine: &SceneEngine,
    jobs: &[Job],
    size: u32,
) -> Result<Vec<Example>, SceneError> {
    Ok(render_many(engine, jobs.iter().copied(), size)?
        .into_iter()
        .map(|(scene, image)| Example {
            pixels: rgb_to_tensor(&image),
            room: scene.room_type,
            style: scene.style,
        })
        .collect())
}

fn render_jobs(engine: &SceneEngine, jobs: &[Job], size: u32) -> Vec<Example> {
    render_examples(engine, jobs, size).expect("the size was checked when the source was made")
}

impl SceneSource {
    pub fn new(engine: Arc<SceneEngine>, size: u32) -> Result<Self, SceneError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(SceneError::Size(size));
        }
        Ok(Self {
            engine,
            size,
            ahead: None,
        })
    }

    fn start(&self, jobs: Vec<Job>) -> Ahead {
        let (engine, size, mine) = (self.engine.clone(), self.size, jobs.clone());
        Ahead {
            jobs,
            renders: std::thread::spawn(move || render_jobs(&engine, &mine, size)),
        }
    }
}

impl ExampleSource for SceneSource {
    fn image_size(&self) -> u32 {
        self.size
    }

    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Result<Example, SourceError> {
        Ok(self.next_batch(1, rng)?.remove(0))
    }

    fn next_batch(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Example>, SourceError> {
        let current = match self.ahead.take() {
            Some(ahead) if ahead.jobs.len() == n => ahead
                .renders
                .join()
                .map_err(|_| SourceError::Render("a render thread failed".into()))?,
            // None ahead yet (or of another batch size: those rooms are skipped).
            _ => render_jobs(&self.engine, &draw_jobs(n, rng), self.size),
        };
        self.ahead = Some(self.start(draw_jobs(n, rng)));
        Ok(current)
    }

    /// The jobs of the batch being rendered ahead: already drawn from the RNG the
    /// checkpoint saves, so they must be rendered again on resume.
    fn state(&self) -> Option<serde_json::Value> {
        let jobs: Vec<(&str, &str, String)> = self
            .ahead
            .as_ref()?
            .jobs
            .iter()
            .map(|(room, style, seed)| (room.name(), style.name(), seed.to_string()))
            .collect();
        Some(serde_json::json!({ "ahead": jobs }))
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), SourceError> {
        let bad = |what: &str| SourceError::Restore(format!("scene jobs: {what}"));
        let jobs = state["ahead"].as_array().ok_or_else(|| bad("no list"))?;
        let jobs = jobs
            .iter()
            .map(|job| -> Result<Job, SourceError> {
                let field = |i: usize| job[i].as_str().ok_or_else(|| bad("not text"));
                Ok((
                    field(0)?.parse().map_err(|_| bad("room type"))?,
                    field(1)?.parse().map_err(|_| bad("style"))?,
                    field(2)?.parse().map_err(|_| bad("seed"))?,
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.ahead = Some(self.start(jobs));
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "furnished rooms rendered from {} pieces of the CC-BY/CC0 Sweet Home 3D furniture libraries (Debian sweethome3d-furniture)",
            self.engine.pieces().len()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// Writes `count` renders at `size` px as a labelled folder at `out` (`designer scenes --out`):
/// every room type in every style in turn, so any prefix is balanced; render i from seed
/// `seed + i`. Returns how many were written.
pub fn write_renders(
    engine: &SceneEngine,
    out: &std::path::Path,
    count: u64,
    size: u32,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<usize, WriteError> {
    let mut folder = LabelledFolderWriter::create(out)?;
    progress.stage("rendering", count);
    // Chunks keep every core busy while the writer stays in order.
    let chunk = 64u64;
    let mut done = 0;
    for first in (0..count).step_by(chunk as usize) {
        let renders = render_many(
            engine,
            (first..(first + chunk).min(count)).map(|i| {
                let room = RoomType::ALL[(i as usize) % RoomType::ALL.len()];
                let style = Style::ALL[(i as usize / RoomType::ALL.len()) % Style::ALL.len()];
                (room, style, seed.wrapping_add(i))
            }),
            size,
        )?;
        for (scene, image) in renders {
            folder.add(&image, &scene)?;
            done += 1;
            progress.set(done, count);
        }
    }
    Ok(folder.finish()?)
}
