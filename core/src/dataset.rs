//! Labelled training images and where they come from. Every source yields [`Example`]s of one
//! size; the training loop draws batches from any of them.
//!
//! A labelled folder holds images and a `labels.jsonl`, one line per image:
//! `{"image": "000001.png", "room_type": "bedroom", "style": "rustic"}`.

use crate::image::{decode_bounded, rgb_to_tensor, square};
use crate::labels::{RoomType, Style};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One training image: [3, size, size] pixels in [-1, 1] and its labels.
#[derive(Clone, Debug)]
pub struct Example {
    pub pixels: Vec<f32>,
    pub room: RoomType,
    pub style: Style,
}

/// An endless supply of training examples at one image size.
pub trait ExampleSource {
    fn image_size(&self) -> u32;
    /// The next example; sources that sample at random take their randomness from `rng`, so
    /// a seeded run is reproducible.
    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Example;
    /// `n` examples; sources that can make them in parallel override this.
    fn next_batch(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Example> {
        (0..n).map(|_| self.next_example(rng)).collect()
    }
    /// What the images are, for the weights' provenance.
    fn describe(&self) -> String;
}

/// One line of `labels.jsonl`.
/// What training reads of a line of `labels.jsonl`; other fields (a scene's layout, say) are
/// kept for people and tools and ignored here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelLine {
    pub image: String,
    pub room_type: RoomType,
    pub style: Style,
}

pub const LABELS_FILE: &str = "labels.jsonl";
/// Images per subfolder of a written dataset.
pub const SHARD_SIZE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Label {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot decode {path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{0} holds no labelled images")]
    Empty(PathBuf),
}

/// A folder of labelled images, decoded and resized once into memory; examples are drawn
/// uniformly at random and mirrored half of the time.
pub struct LabelledFolder {
    root: PathBuf,
    size: u32,
    examples: Vec<Example>,
}

impl LabelledFolder {
    pub fn open(root: &Path, size: u32) -> Result<Self, DatasetError> {
        let labels_path = root.join(LABELS_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DatasetError::Io { path, source }
        };
        let file = std::fs::File::open(&labels_path).map_err(io(&labels_path))?;
        let mut examples = Vec::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io(&labels_path))?;
            if line.trim().is_empty() {
                continue;
            }
            let label: LabelLine =
                serde_json::from_str(&line).map_err(|e| DatasetError::Label {
                    path: labels_path.clone(),
                    line: index + 1,
                    message: e.to_string(),
                })?;
            let image_path = root.join(&label.image);
            let bytes = std::fs::read(&image_path).map_err(io(&image_path))?;
            let image = decode_bounded(&bytes).map_err(|e| DatasetError::Image {
                path: image_path.clone(),
                message: e.to_string(),
            })?;
            examples.push(Example {
                pixels: rgb_to_tensor(&square(&image, size)),
                room: label.room_type,
                style: label.style,
            });
        }
        if examples.is_empty() {
            return Err(DatasetError::Empty(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            size,
            examples,
        })
    }

    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }
}

impl ExampleSource for LabelledFolder {
    fn image_size(&self) -> u32 {
        self.size
    }

    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Example {
        let example = &self.examples[rng.random_range(0..self.examples.len())];
        if rng.random_bool(0.5) {
            mirrored(example, self.size as usize)
        } else {
            example.clone()
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} labelled images from {}",
            self.examples.len(),
            self.root.display()
        )
    }
}

/// Writes a labelled folder: numbered PNGs and their `labels.jsonl` lines.
pub struct LabelledFolderWriter {
    root: PathBuf,
    labels: std::io::BufWriter<std::fs::File>,
    count: usize,
}

impl LabelledFolderWriter {
    /// Creates `root` (and parents) and an empty `labels.jsonl` in it.
    pub fn create(root: &Path) -> Result<Self, DatasetError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DatasetError::Io { path, source }
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let labels_path = root.join(LABELS_FILE);
        let labels = std::fs::File::create(&labels_path).map_err(io(&labels_path))?;
        Ok(Self {
            root: root.to_path_buf(),
            labels: std::io::BufWriter::new(labels),
            count: 0,
        })
    }

    /// Adds one image; its line in `labels.jsonl` is `details` (which must carry `room_type`
    /// and `style`, as [`LabelLine`] reads them) plus the image's path. Images go into shards of
    /// [`SHARD_SIZE`] so no folder grows huge.
    pub fn add<D: Serialize>(
        &mut self,
        image: &image::RgbImage,
        details: &D,
    ) -> Result<(), DatasetError> {
        #[derive(Serialize)]
        struct Line<'a, D> {
            image: String,
            #[serde(flatten)]
            details: &'a D,
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DatasetError::Io { path, source }
        };
        let shard = format!("shard-{:05}", self.count / SHARD_SIZE);
        if self.count.is_multiple_of(SHARD_SIZE) {
            let dir = self.root.join(&shard);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let name = format!("{shard}/{:08}.png", self.count);
        let path = self.root.join(&name);
        std::fs::write(&path, crate::image::encode_png(image)).map_err(io(&path))?;
        let line = serde_json::to_string(&Line {
            image: name,
            details,
        })
        .expect("labels always serialise");
        writeln!(self.labels, "{line}").map_err(io(&self.root.join(LABELS_FILE)))?;
        self.count += 1;
        Ok(())
    }

    /// Flushes the labels file; returns how many images were written.
    pub fn finish(mut self) -> Result<usize, DatasetError> {
        let path = self.root.join(LABELS_FILE);
        self.labels
            .flush()
            .map_err(|source| DatasetError::Io { path, source })?;
        Ok(self.count)
    }
}

/// The example flipped left to right: a room seen in a mirror is still that room.
pub fn mirrored(example: &Example, size: usize) -> Example {
    let mut pixels = example.pixels.clone();
    for row in pixels.chunks_exact_mut(size) {
        row.reverse();
    }
    Example {
        pixels,
        ..example.clone()
    }
}
