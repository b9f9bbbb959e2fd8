//! Training checkpoints: everything a killed run needs to continue as if it had never stopped
//! (model, optimizer state, step, RNG position), in one file written atomically.
//!
//! Layout: `DSGNCK02`, state length (u32 LE), state JSON, weights length (u64 LE), a weights
//! file (see [`designer_core::weights`]), the moving average's length (u64 LE, 0 for none) and weights
//! file, the optimizer's burnpack bytes.

use designer_core::weights::{FrameError, split_framed};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"DSGNCK02";
/// Format 01 had no moving average.
const OLD_MAGIC: &[u8; 8] = b"DSGNCK01";
pub const FILE_NAME: &str = "checkpoint.dsgnck";

/// The trainer's own state, beside the model and the optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub step: u64,
    /// The run's total steps, so a resumed run keeps the same learning-rate schedule.
    pub total_steps: u64,
    pub seed: u64,
    /// ChaCha8 stream position of the data RNG (u128, as text: JSON numbers stop at 2^53).
    pub rng_word_pos: String,
    /// The data source's position (a streamed folder's buffered lines and cursor), if it has
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
}

/// The state as stored: the trainer's, and the SHA-256 of each section after it, so that a
/// damaged file is refused on load instead of resuming from flipped bytes. Checkpoints written
/// before the digests (format 02 all the same) load unchecked.
#[derive(Serialize, Deserialize)]
struct StoredState {
    #[serde(flatten)]
    state: TrainerState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digests: Option<Digests>,
}

#[derive(Serialize, Deserialize)]
struct Digests {
    weights: String,
    averaged: String,
    optimizer: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub state: TrainerState,
    /// The last step's parameters (a weights file).
    pub weights: Vec<u8>,
    /// The moving average of the parameters (a weights file), if the run keeps one.
    pub averaged: Option<Vec<u8>>,
    pub optimizer: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a Designer checkpoint (bad magic bytes)")]
    BadMagic,
    #[error(
        "the checkpoint was written by an older Designer (format 01); start the run again without --resume"
    )]
    OldFormat,
    #[error("checkpoint is truncated")]
    Truncated,
    #[error("checkpoint state is not valid: {0}")]
    State(#[from] serde_json::Error),
    #[error("cannot access checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint does not fit: {0}")]
    Mismatch(String),
    #[error(
        "the checkpoint's {0} section does not match its digest: the file is damaged; resume from an intact copy or start the run again"
    )]
    Corrupt(&'static str),
}

impl Checkpoint {
    pub fn encode(&self) -> Result<Vec<u8>, CheckpointError> {
        let averaged = self.averaged.as_deref().unwrap_or_default();
        let state = serde_json::to_vec(&StoredState {
            state: self.state.clone(),
            digests: Some(Digests {
                weights: sha256_hex(&self.weights),
                averaged: sha256_hex(averaged),
                optimizer: sha256_hex(&self.optimizer),
            }),
        })?;
        let mut out = Vec::with_capacity(
            32 + state.len() + self.weights.len() + averaged.len() + self.optimizer.len(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(state.len() as u32).to_le_bytes());
        out.extend_from_slice(&state);
        for part in [&self.weights[..], averaged] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.optimizer);
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.starts_with(OLD_MAGIC) {
            return Err(CheckpointError::OldFormat);
        }
        let (state, rest) = split_framed(bytes, MAGIC).map_err(|e| match e {
            FrameError::BadMagic => CheckpointError::BadMagic,
            FrameError::Truncated => CheckpointError::Truncated,
        })?;
        let (weights, rest) = split_long_framed(rest)?;
        let (averaged, optimizer) = split_long_framed(rest)?;
        let stored: StoredState = serde_json::from_slice(state)?;
        if let Some(digests) = &stored.digests {
            for (section, bytes, digest) in [
                ("weights", weights, &digests.weights),
                ("moving average", averaged, &digests.averaged),
                ("optimizer", optimizer, &digests.optimizer),
            ] {
                if sha256_hex(bytes) != *digest {
                    return Err(CheckpointError::Corrupt(section));
                }
            }
        }
        Ok(Self {
            state: stored.state,
            weights: weights.to_vec(),
            averaged: (!averaged.is_empty()).then(|| averaged.to_vec()),
            optimizer: optimizer.to_vec(),
        })
    }

    /// Writes `dir/checkpoint.dsgnck` through a temporary file and a rename, so a reader (or a
    /// run killed mid-write) only ever sees a whole checkpoint. Concurrent writers each use
    /// their own temporary file; the last rename wins with a whole file.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, CheckpointError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CheckpointError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(FILE_NAME);
        let temporary = dir.join(format!(".{FILE_NAME}.{}.partial", std::process::id()));
        std::fs::write(&temporary, self.encode()?).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        Ok(path)
    }

    /// The checkpoint in `dir`, or `None` if there is none yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, CheckpointError> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(Self::decode(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CheckpointError::Io { path, source }),
        }
    }
}

/// A part after its u64 LE length, and what follows it.
fn split_long_framed(bytes: &[u8]) -> Result<(&[u8], &[u8]), CheckpointError> {
    let (len, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(CheckpointError::Truncated)?;
    let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| CheckpointError::Truncated)?;
    rest.split_at_checked(len).ok_or(CheckpointError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            state: TrainerState {
                step: 7,
                total_steps: 10,
                seed: 3,
                rng_word_pos: u128::MAX.to_string(),
                source: Some(serde_json::json!({"cursor": 12})),
            },
            weights: vec![1, 2, 3],
            averaged: Some(vec![4, 5]),
            optimizer: vec![9; 5],
        }
    }

    #[test]
    fn round_trips_through_bytes_and_disk() {
        let bytes = sample().encode().unwrap();
        let back = Checkpoint::decode(&bytes).unwrap();
        assert_eq!(back.state, sample().state);
        assert_eq!(
            (back.weights, back.averaged, back.optimizer),
            (vec![1, 2, 3], Some(vec![4, 5]), vec![9; 5])
        );
        let without_average = Checkpoint {
            averaged: None,
            ..sample()
        };
        let back = Checkpoint::decode(&without_average.encode().unwrap()).unwrap();
        assert_eq!((back.averaged, back.optimizer), (None, vec![9; 5]));
        let dir = std::env::temp_dir().join(format!("designer-ck-{}", std::process::id()));
        assert!(Checkpoint::load(&dir).unwrap().is_none());
        let path = sample().save(&dir).unwrap();
        assert_eq!(
            Checkpoint::load(&dir).unwrap().unwrap().state,
            sample().state
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(leftovers, vec![path], "no temporary file is left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn damaged_files_are_refused() {
        let bytes = sample().encode().unwrap();
        assert!(matches!(
            Checkpoint::decode(b"DSGNWT01...."),
            Err(CheckpointError::BadMagic)
        ));
        assert!(matches!(
            Checkpoint::decode(b"DSGNCK01...."),
            Err(CheckpointError::OldFormat)
        ));
        // A byte flipped anywhere in a section: refused, naming it.
        let sections = [
            ("weights", bytes.len() - 17),
            ("moving average", bytes.len() - 6),
            ("optimizer", bytes.len() - 2),
        ];
        for (section, at) in sections {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            let error = Checkpoint::decode(&flipped).unwrap_err();
            assert!(
                matches!(error, CheckpointError::Corrupt(s) if s == section),
                "{section}: {error}"
            );
        }
        for cut in [4, 10, 20, 60] {
            assert!(
                Checkpoint::decode(&bytes[..cut.min(bytes.len() - 9)]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
