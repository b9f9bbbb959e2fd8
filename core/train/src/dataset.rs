//! Labelled training images and where they come from. Every source yields [`Example`]s of one
//! size; the training loop draws batches from any of them.
//!
//! A labelled folder holds images and a `labels.jsonl`, one line per image:
//! `{"image": "000001.png", "room_type": "bedroom", "style": "rustic"}`.

use crate::shuffle::ShuffleBuffer;
use designer_core::image::{decode_bounded, rgb_to_tensor, square};
use designer_core::labels::{RoomType, Style};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
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
    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Result<Example, SourceError>;
    /// `n` examples; sources that can make them in parallel override this.
    fn next_batch(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Example>, SourceError> {
        (0..n).map(|_| self.next_example(rng)).collect()
    }
    /// What the images are, for the weights' provenance.
    fn describe(&self) -> String;
    /// Items left out so far (unreadable, undecodable, refused downloads), by reason.
    fn skipped(&self) -> SkipCounts {
        SkipCounts::default()
    }
    /// Downloads requested so far (GETs, retries included), for sources that download.
    fn fetches(&self) -> Option<u64> {
        None
    }
    /// What a checkpoint must keep for the stream to continue exactly where it was; `None`
    /// for sources without a position (rendered on the fly, or the network's order).
    fn state(&self) -> Option<serde_json::Value> {
        None
    }
    /// Puts the stream back where [`ExampleSource::state`] said it was.
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Why an item of a dataset was left out. Never fatal: it is counted and the stream goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// Larger than MAX_IMAGE_SIZE, by its Content-Length or by what arrived.
    TooLarge,
    Timeout,
    /// An HTTP error status (after retries, for 5xx).
    HttpStatus,
    /// A redirect to a loopback, private or link-local address.
    Redirect,
    /// Connection refused, reset, DNS...
    Network,
    /// Bytes that are no image format we read.
    NotImage,
    /// An image that does not decode, or would decode too large (a decompression bomb).
    Decode,
    /// A labels or manifest line that does not parse.
    BadLine,
    /// A file that cannot be read.
    Unreadable,
}

impl Skip {
    pub fn name(self) -> &'static str {
        match self {
            Skip::TooLarge => "too_large",
            Skip::Timeout => "timeout",
            Skip::HttpStatus => "http_status",
            Skip::Redirect => "refused_redirect",
            Skip::Network => "network",
            Skip::NotImage => "not_an_image",
            Skip::Decode => "decode",
            Skip::BadLine => "bad_line",
            Skip::Unreadable => "unreadable",
        }
    }
}

/// Skipped items per reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkipCounts(pub std::collections::BTreeMap<Skip, u64>);

impl SkipCounts {
    pub fn add(&mut self, reason: Skip) {
        *self.0.entry(reason).or_insert(0) += 1;
    }

    pub fn get(&self, reason: Skip) -> u64 {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

impl std::fmt::Display for SkipCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{} {v}", k.name()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what}: a whole pass over the data gave no usable image (skipped: {skipped})")]
    NothingUsable { what: String, skipped: SkipCounts },
    #[error("cannot continue the data stream from the checkpoint: {0}")]
    Restore(String),
    #[error("cannot make training images: {0}")]
    Render(String),
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
/// A folder of images with a `labels.jsonl`, streamed: the labels file is read a line at a
/// time, pass after pass, each image decoded when its line comes up and kept only while it
/// waits in the shuffle buffer. Memory is the buffer's, whatever the folder's size.
pub struct LabelledFolder {
    root: PathBuf,
    size: u32,
    lines: usize,
    stream: FolderStream,
    /// Buffered examples with the byte offset of their line, so a checkpoint can name them.
    buffer: ShuffleBuffer<(u64, Example)>,
}

struct FolderStream {
    root: PathBuf,
    size: u32,
    reader: Option<BufReader<std::fs::File>>,
    /// Byte offset of the next line to read.
    cursor: u64,
    usable_this_pass: u64,
    skipped: SkipCounts,
    /// Lines read ahead and decoded together on every core, in file order, with their byte
    /// offsets: the stream yields them one at a time, so its order and checkpoints are the
    /// same as decoding one line at a time.
    decoded: VecDeque<(u64, Result<Example, Skip>)>,
}

/// Lines decoded at once: enough to keep every core busy, little memory (~50 KB each at 64 px).
const DECODE_AHEAD: usize = 64;

impl FolderStream {
    fn labels_path(&self) -> PathBuf {
        self.root.join(LABELS_FILE)
    }

    /// The labels file, read from byte `offset` on.
    fn open_at(&self, offset: u64) -> std::io::Result<BufReader<std::fs::File>> {
        use std::io::Seek;
        let mut file = std::fs::File::open(self.labels_path())?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        Ok(BufReader::new(file))
    }

    fn seek(&mut self, offset: u64) -> std::io::Result<()> {
        self.reader = Some(self.open_at(offset)?);
        self.cursor = offset;
        self.decoded.clear();
        Ok(())
    }

    /// Moves the stream to the line at `offset`, read ahead lines dropped; the file is
    /// reopened there when the next line is needed.
    fn rewind_to(&mut self, offset: u64) {
        self.reader = None;
        self.decoded.clear();
        self.cursor = offset;
    }

    /// Byte offset of the next line the stream will yield (read ahead or not).
    fn position(&self) -> u64 {
        self.decoded
            .front()
            .map_or(self.cursor, |(offset, _)| *offset)
    }

    /// Reads up to DECODE_AHEAD non-empty lines and decodes them in parallel; `Ok(false)` at
    /// the end of the file.
    fn decode_ahead(&mut self) -> std::io::Result<bool> {
        if self.reader.is_none() {
            self.seek(self.cursor)?;
        }
        let reader = self.reader.as_mut().expect("opened above");
        let mut lines = Vec::with_capacity(DECODE_AHEAD);
        while lines.len() < DECODE_AHEAD {
            let mut line = String::new();
            let offset = self.cursor;
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            self.cursor += n as u64;
            if !line.trim().is_empty() {
                lines.push((offset, line));
            }
        }
        let this = &*self;
        let decoded: Vec<_> = lines
            .into_par_iter()
            .map(|(offset, line)| (offset, this.example(line.trim())))
            .collect();
        let any = !decoded.is_empty();
        self.decoded.extend(decoded);
        Ok(any)
    }

    /// The example a labels line describes.
    fn example(&self, line: &str) -> Result<Example, Skip> {
        let label: LabelLine = serde_json::from_str(line).map_err(|_| Skip::BadLine)?;
        let bytes = std::fs::read(self.root.join(&label.image)).map_err(|_| Skip::Unreadable)?;
        let image = decode_bounded(&bytes).map_err(|_| Skip::Decode)?;
        Ok(Example {
            pixels: rgb_to_tensor(&square(&image, self.size)),
            room: label.room_type,
            style: label.style,
        })
    }

    /// The example on the line at `offset`.
    fn example_at(&self, offset: u64) -> Result<Example, Skip> {
        let mut line = String::new();
        self.open_at(offset)
            .and_then(|mut reader| reader.read_line(&mut line))
            .map_err(|_| Skip::Unreadable)?;
        self.example(line.trim())
    }
}

impl Iterator for FolderStream {
    type Item = (u64, Example);

    /// The next usable example, starting a new pass at the end of the file; `None` once a
    /// whole pass gave nothing usable.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((offset, decoded)) = self.decoded.pop_front() {
                match decoded {
                    Ok(example) => {
                        self.usable_this_pass += 1;
                        return Some((offset, example));
                    }
                    Err(reason) => {
                        self.skipped.add(reason);
                        continue;
                    }
                }
            }
            match self.decode_ahead() {
                Ok(true) => continue,
                Ok(false) => {
                    if self.usable_this_pass == 0 {
                        return None;
                    }
                    self.usable_this_pass = 0;
                    self.rewind_to(0);
                }
                Err(_) => {
                    self.skipped.add(Skip::Unreadable);
                    return None;
                }
            }
        }
    }
}

/// The folder's stream position: the buffered lines (in buffer order) and the next line.
#[derive(Serialize, Deserialize)]
struct FolderState {
    buffered: Vec<u64>,
    cursor: u64,
    usable_this_pass: u64,
}

impl LabelledFolder {
    /// Checks every line of `labels.jsonl` (a bad line is an error here, naming it, rather than
    /// a skip later) and that the first image decodes, without keeping any of them.
    pub fn open(root: &Path, size: u32) -> Result<Self, DatasetError> {
        Self::open_buffered(root, size, crate::shuffle::capacity_for(0))
    }

    /// As [`LabelledFolder::open`], with a shuffle buffer of `capacity` examples.
    pub fn open_buffered(root: &Path, size: u32, capacity: usize) -> Result<Self, DatasetError> {
        let labels_path = root.join(LABELS_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DatasetError::Io { path, source }
        };
        let file = std::fs::File::open(&labels_path).map_err(io(&labels_path))?;
        let mut lines = 0;
        let mut first_image = None;
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
            first_image.get_or_insert(label.image);
            lines += 1;
        }
        let Some(first_image) = first_image else {
            return Err(DatasetError::Empty(root.to_path_buf()));
        };
        let image_path = root.join(first_image);
        let bytes = std::fs::read(&image_path).map_err(io(&image_path))?;
        decode_bounded(&bytes).map_err(|e| DatasetError::Image {
            path: image_path.clone(),
            message: e.to_string(),
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            size,
            lines,
            stream: FolderStream {
                root: root.to_path_buf(),
                size,
                reader: None,
                cursor: 0,
                usable_this_pass: 0,
                skipped: SkipCounts::default(),
                decoded: VecDeque::new(),
            },
            buffer: ShuffleBuffer::new(capacity),
        })
    }

    /// Lines in `labels.jsonl`.
    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Examples waiting in the shuffle buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

impl ExampleSource for LabelledFolder {
    fn image_size(&self) -> u32 {
        self.size
    }

    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Result<Example, SourceError> {
        let drawn = self.buffer.next(rng, &mut self.stream).map(|(_, e)| e);
        finish_draw(
            drawn,
            rng,
            self.size,
            &self.root.display(),
            &self.stream.skipped,
        )
    }

    fn describe(&self) -> String {
        format!(
            "{} labelled images from {}",
            self.lines,
            self.root.display()
        )
    }

    fn skipped(&self) -> SkipCounts {
        self.stream.skipped.clone()
    }

    fn state(&self) -> Option<serde_json::Value> {
        let state = FolderState {
            buffered: self
                .buffer
                .items()
                .iter()
                .map(|(offset, _)| *offset)
                .collect(),
            cursor: self.stream.position(),
            usable_this_pass: self.stream.usable_this_pass,
        };
        Some(serde_json::to_value(state).expect("plain numbers serialise"))
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), SourceError> {
        let state: FolderState = serde_json::from_value(state.clone())
            .map_err(|e| SourceError::Restore(e.to_string()))?;
        let mut items = Vec::with_capacity(state.buffered.len());
        for offset in state.buffered {
            let example = self.stream.example_at(offset).map_err(|reason| {
                SourceError::Restore(format!(
                    "line at byte {offset} of {}: {}",
                    self.stream.labels_path().display(),
                    reason.name()
                ))
            })?;
            items.push((offset, example));
        }
        self.buffer.replace(items);
        self.stream.rewind_to(state.cursor);
        self.stream.usable_this_pass = state.usable_this_pass;
        Ok(())
    }
}

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
        std::fs::write(&path, designer_core::image::encode_png(image)).map_err(io(&path))?;
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

/// The last step of every streamed source: the shuffle buffer's draw, mirrored half the time,
/// or the error of a stream that gave nothing usable in a whole pass.
pub(crate) fn finish_draw(
    drawn: Option<Example>,
    rng: &mut ChaCha8Rng,
    size: u32,
    what: &dyn std::fmt::Display,
    skipped: &SkipCounts,
) -> Result<Example, SourceError> {
    let Some(example) = drawn else {
        return Err(SourceError::NothingUsable {
            what: what.to_string(),
            skipped: skipped.clone(),
        });
    };
    Ok(if rng.random_bool(0.5) {
        mirrored(&example, size as usize)
    } else {
        example
    })
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
