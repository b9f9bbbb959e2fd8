//! The scene engine as a training source: an endless seeded stream of renders made on the fly,
//! without touching disk.

use crate::dataset::{
    DatasetError, Example, ExampleSource, LabelledFolderWriter, SourceError, mirrored,
};
use designer_core::image::rgb_to_tensor;
use designer_core::labels::{RoomType, Style};
use designer_core::progress::Progress;
use designer_scene::bulk::render_many;
use designer_scene::{MAX_SIZE, MIN_SIZE, Render, SceneEngine, SceneError};
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
        .iter()
        .map(example)
        .collect())
}

/// A render as a training example: its pixels and labels.
pub fn example(render: &Render) -> Example {
    Example {
        pixels: rgb_to_tensor(&render.image),
        room: render.scene.room_type,
        style: render.scene.style,
    }
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

/// Renders kept in memory and drawn at random, the pool refreshed in the background: for a
/// trainer that consumes images faster than the scene engine makes them (generator v2 on the
/// GPU takes ~10x what 16 cores render at 256 px). A dedicated thread pool renders jobs from
/// its own seeded stream and each new render replaces the oldest once the pool is full, so
/// every render is seen about (training rate / render rate) times, flipped left-right at
/// random half of those times, and the stream never ends.
///
/// Which renders a batch draws depends on how fast rendering went: a run from this source is
/// not repeatable bit for bit, and a checkpoint keeps no position in it (a resumed run draws
/// from a fresh pool; seed it differently, e.g. by the step it resumes at, for fresh rooms).
pub struct ScenePool {
    size: u32,
    capacity: usize,
    shared: Arc<PoolShared>,
    renderer: Option<std::thread::JoinHandle<()>>,
    pieces: usize,
}

struct PoolShared {
    renders: std::sync::Mutex<PoolRenders>,
    ready: std::sync::Condvar,
    stop: std::sync::atomic::AtomicBool,
}

struct PoolRenders {
    examples: Vec<Example>,
    /// Where the next render goes once the pool is full (the oldest).
    next: usize,
    /// Renders made so far, replaced ones included.
    made: u64,
    failure: Option<String>,
}

impl ScenePool {
    /// Starts rendering `capacity` renders at `size` px on `threads` threads; a batch waits
    /// until `4 x batch` renders (or the whole pool, if smaller) are ready.
    pub fn new(
        engine: Arc<SceneEngine>,
        size: u32,
        capacity: usize,
        threads: usize,
        seed: u64,
    ) -> Result<Self, SourceError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(SourceError::Render(SceneError::Size(size).to_string()));
        }
        let capacity = capacity.max(1);
        let shared = Arc::new(PoolShared {
            renders: std::sync::Mutex::new(PoolRenders {
                examples: Vec::with_capacity(capacity),
                next: 0,
                made: 0,
                failure: None,
            }),
            ready: std::sync::Condvar::new(),
            stop: std::sync::atomic::AtomicBool::new(false),
        });
        let pieces = engine.pieces().len();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("scene-pool-{i}"))
            .build()
            .map_err(|e| SourceError::Render(format!("cannot start the render threads: {e}")))?;
        let mine = shared.clone();
        let renderer = std::thread::spawn(move || {
            use rand::SeedableRng;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let chunk = 4 * threads.max(1);
            while !mine.stop.load(std::sync::atomic::Ordering::Relaxed) {
                let jobs = draw_jobs(chunk, &mut rng);
                let rendered = pool.install(|| render_examples(&engine, &jobs, size));
                let mut renders = mine
                    .renders
                    .lock()
                    .expect("the pool's lock is never poisoned");
                match rendered {
                    Ok(examples) => {
                        for example in examples {
                            if renders.examples.len() < capacity {
                                renders.examples.push(example);
                            } else {
                                let next = renders.next;
                                renders.examples[next] = example;
                                renders.next = (next + 1) % capacity;
                            }
                            renders.made += 1;
                        }
                    }
                    Err(e) => {
                        renders.failure = Some(e.to_string());
                        mine.ready.notify_all();
                        return;
                    }
                }
                mine.ready.notify_all();
            }
        });
        Ok(Self {
            size,
            capacity,
            shared,
            renderer: Some(renderer),
            pieces,
        })
    }

    /// Renders made so far (replaced ones included): how many distinct rooms a run saw.
    pub fn renders_made(&self) -> u64 {
        self.shared
            .renders
            .lock()
            .expect("the pool's lock is never poisoned")
            .made
    }
}

impl ExampleSource for ScenePool {
    fn image_size(&self) -> u32 {
        self.size
    }

    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Result<Example, SourceError> {
        Ok(self.next_batch(1, rng)?.remove(0))
    }

    fn next_batch(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Example>, SourceError> {
        let mut renders = self
            .shared
            .renders
            .lock()
            .expect("the pool's lock is never poisoned");
        let enough = (4 * n).min(self.capacity);
        while renders.examples.len() < enough && renders.failure.is_none() {
            renders = self
                .shared
                .ready
                .wait(renders)
                .expect("the pool's lock is never poisoned");
        }
        if let Some(failure) = &renders.failure {
            return Err(SourceError::Render(failure.clone()));
        }
        let size = self.size as usize;
        Ok((0..n)
            .map(|_| {
                let example = &renders.examples[rng.random_range(0..renders.examples.len())];
                if rng.random_bool(0.5) {
                    mirrored(example, size)
                } else {
                    example.clone()
                }
            })
            .collect())
    }

    fn describe(&self) -> String {
        format!(
            "furnished rooms rendered from {} pieces of the CC-BY/CC0 Sweet Home 3D furniture libraries (Debian sweethome3d-furniture), drawn from a pool refreshed as they render",
            self.pieces
        )
    }
}

impl Drop for ScenePool {
    fn drop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(renderer) = self.renderer.take() {
            let _ = renderer.join();
        }
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
        for render in renders {
            folder.add(&render.image, &render.scene)?;
            done += 1;
            progress.set(done, count);
        }
    }
    Ok(folder.finish()?)
}
