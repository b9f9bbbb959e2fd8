//! Weights files: a small header (format version, model shape, provenance) followed by the
//! parameters in burn's burnpack format. The default weights are embedded in the binary.
//!
//! Layout: `DSGNWT01`, header length (u32 little-endian), header JSON, burnpack bytes.

use crate::model::{Generator, ModelConfig};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Bytes, DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"DSGNWT01";
pub const FORMAT_VERSION: u32 = 1;

/// The 64 px model every build embeds, the browser's bundle too (0.95 M parameters, 1.9 MB):
/// what the page runs when it is served no larger model, and small requests' model.
pub static SMALL_WEIGHTS: &[u8] = include_bytes!("../weights/scenes-64.weights");

/// The models the native builds (`large-model`: CLI, Lambda) embed beside the small one: the
/// 64 px model fine-tuned at 128 px, and generator v2 at 256 px (a step-distilled transformer
/// over latents, int8), which serves the default size. Kept out of the browser's bundle: the
/// site downloads the 256 px file beside the wasm (`www/config.json`).
#[cfg(feature = "large-model")]
pub static LARGE_WEIGHTS: [&[u8]; 2] = [
    include_bytes!("../weights/scenes-128.weights"),
    include_bytes!("../weights/designer-256.weights"),
];

/// Which of several models serves a request of `size` px: the one trained at the largest size
/// not above it (a model asked for more than it learnt composes rooms badly, one asked for
/// less wastes nothing), else the one trained at the smallest size. `None` only when `models`
/// is empty.
pub fn serving<T>(models: &[T], trained_size: impl Fn(&T) -> u32, size: u32) -> Option<&T> {
    let fitting = models
        .iter()
        .filter(|m| trained_size(m) <= size)
        .max_by_key(|m| trained_size(m));
    fitting.or_else(|| models.iter().min_by_key(|m| trained_size(m)))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsHeader {
    pub format: u32,
    /// A short name for people ("designer-icons-64").
    pub name: String,
    pub model: ModelConfig,
    /// The image size the model was trained at, and so generates best at.
    pub image_size: u32,
    /// Where the training images came from.
    pub trained_on: String,
    pub training_steps: u64,
}

/// The header as stored: the caller's, and the SHA-256 of the parameter bytes after it, so a
/// damaged file is refused on load instead of generating from flipped bytes. Files written
/// before the digest (format 1 all the same) load unchecked.
#[derive(Serialize, Deserialize)]
struct StoredHeader {
    #[serde(flatten)]
    header: WeightsHeader,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parameters_sha256: Option<String>,
    /// Whether the parameters are stored as int8 (see [`crate::int8`]): the file may then hold
    /// as little as a byte a parameter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    int8: bool,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a Designer weights file (bad magic bytes)")]
    BadMagic,
    #[error("weights file is truncated")]
    Truncated,
    #[error("weights format {0} is not supported (this build reads format {FORMAT_VERSION})")]
    Format(u32),
    #[error("weights header is not valid: {0}")]
    Header(#[from] serde_json::Error),
    #[error("weights do not fit the model: {0}")]
    Record(String),
    /// The header's model shape is impossible, or the file is too small or too large for it.
    #[error("weights header describes no model this file can hold: {0}")]
    Shape(String),
    #[error(
        "the weights file's parameters do not match their digest: the file is damaged; use an intact copy"
    )]
    Corrupt,
    #[error("cannot read weights file: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a framed file (magic, u32 LE length, JSON header, payload) could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    BadMagic,
    Truncated,
}

/// Splits `magic`, a u32 little-endian length and that many header bytes from the payload:
/// the framing weights files and training checkpoints share.
pub fn split_framed<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
) -> Result<(&'a [u8], &'a [u8]), FrameError> {
    let rest = bytes
        .strip_prefix(magic.as_slice())
        .ok_or(FrameError::BadMagic)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or(FrameError::Truncated)?;
    rest.split_at_checked(u32::from_le_bytes(*len) as usize)
        .ok_or(FrameError::Truncated)
}

/// How parameters are stored in a weights file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Half the size; generation stays within a few pixel levels of f32 (tested).
    F16,
    /// About a quarter of f32's size: weight matrices and kernels as int8 with a scale per
    /// output channel, the rest f16 (see [`crate::int8`]); widened to f32 when built.
    Int8,
    /// int8's layout with half its levels (each weight within +-63 steps of its channel's
    /// scale): the file is as large, but about a seventh smaller compressed, which is what a
    /// browser downloads (BENCHMARKS.md, twelfth session: the 256 px model under 10 MB).
    Int7,
}

impl Precision {
    /// How many steps each side of zero a quantized weight may take, for the int8 layouts.
    fn levels(self) -> Option<u8> {
        match self {
            Precision::F32 | Precision::F16 => None,
            Precision::Int8 => Some(127),
            Precision::Int7 => Some(63),
        }
    }
}

struct CastParameters(DType);

impl ModuleMapper for CastParameters {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

fn cast(model: Generator, precision: Precision) -> Generator {
    match precision {
        // int8 is narrowed from the f32 parameters, after they are serialised.
        Precision::F32 | Precision::Int8 | Precision::Int7 => model,
        Precision::F16 => model.map(&mut CastParameters(DType::F16)),
    }
}

/// `a` and `b`, on two threads where the target has them.
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(not(target_family = "wasm"))]
    return std::thread::scope(|scope| {
        let a = scope.spawn(a);
        let b = b();
        (a.join().expect("hashing does not panic"), b)
    });
    #[cfg(target_family = "wasm")]
    (a(), b())
}

/// A parsed weights file, ready to build a model on any device.
#[derive(Clone, Debug)]
pub struct Weights {
    pub header: WeightsHeader,
    parameters: Vec<u8>,
    version: String,
}

impl Weights {
    /// The small model every build embeds (see [`SMALL_WEIGHTS`]).
    pub fn embedded_small() -> Result<Self, WeightsError> {
        Self::from_bytes(SMALL_WEIGHTS)
    }

    /// Every model this build embeds: the small one, and with `large-model` the 128 px and
    /// 256 px ones.
    pub fn embedded_all() -> Result<Vec<Self>, WeightsError> {
        let small = Self::embedded_small()?;
        #[cfg(feature = "large-model")]
        return std::iter::once(Ok(small))
            .chain(LARGE_WEIGHTS.iter().map(|bytes| Self::from_bytes(bytes)))
            .collect();
        #[cfg(not(feature = "large-model"))]
        Ok(vec![small])
    }

    /// The embedded model that serves requests of `size` px (see [`serving`]).
    pub fn embedded_for(size: u32) -> Result<Self, WeightsError> {
        let all = Self::embedded_all()?;
        let chosen = serving(&all, |w| w.header.image_size, size)
            .expect("the small model is always embedded");
        Ok(chosen.clone())
    }

    /// The embedded model that serves a request of the default size
    /// ([`crate::request::DEFAULT_SIZE`]): what `make run` and the Lambda use unless told.
    pub fn embedded_default() -> Result<Self, WeightsError> {
        Self::embedded_for(crate::request::DEFAULT_SIZE)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let (header, parameters) = split_framed(bytes, MAGIC).map_err(|e| match e {
            FrameError::BadMagic => WeightsError::BadMagic,
            FrameError::Truncated => WeightsError::Truncated,
        })?;
        let StoredHeader {
            header,
            parameters_sha256,
            int8,
        } = serde_json::from_slice(header)?;
        if header.format != FORMAT_VERSION {
            return Err(WeightsError::Format(header.format));
        }
        // Two passes of SHA-256 over the file (the parameters' check, the version), side by
        // side where there are threads: a third of loading the 256 px model on one core.
        let (intact, digest) = both(
            || parameters_sha256.is_none_or(|digest| digest == sha256_hex(parameters)),
            || Sha256::digest(bytes),
        );
        if !intact {
            return Err(WeightsError::Corrupt);
        }
        header.model.validate().map_err(WeightsError::Shape)?;
        // Parameters take 1 (int8), 2 (f16) or 4 (f32) bytes each, plus burnpack's per-tensor
        // metadata (and int8's scales).
        let count = header.model.parameter_count();
        let least = if int8 { count } else { 2 * count };
        let (least, most) = (least, 4 * count + 64 * 1024);
        if !(least..=most).contains(&parameters.len()) {
            return Err(WeightsError::Shape(format!(
                "its model has {count} parameters ({least} to {most} bytes), the file holds {} bytes of them",
                parameters.len()
            )));
        }
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let version = format!("{}@{hash}", header.name);
        Ok(Self {
            header,
            parameters: parameters.to_vec(),
            version,
        })
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn from_file(path: &std::path::Path) -> Result<Self, WeightsError> {
        Self::from_bytes(&std::fs::read(path)?)
    }

    /// "name@hash": the name and the first 12 hex digits of the file's SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Builds the model on `device` with these parameters (f16 and int8 files are widened to
    /// f32 on the host).
    pub fn build(&self, device: &Device) -> Result<Generator, WeightsError> {
        let parameters = crate::int8::widen(Bytes::from_elems(self.parameters.clone()))
            .map_err(WeightsError::Record)?;
        self.header
            .model
            .init(device)
            .load_parameters(parameters)
            .map_err(WeightsError::Record)
    }

    /// Builds the model with its parameters rounded to `precision` (an f16 file stays as it
    /// is at F16; F32 widens; Int8 and Int7 hold, in f32, what such a file of these weights
    /// holds).
    pub fn build_as(
        &self,
        device: &Device,
        precision: Precision,
    ) -> Result<Generator, WeightsError> {
        match precision {
            Precision::Int8 | Precision::Int7 => {
                Self::from_bytes(&self.encoded_as(precision)?)?.build(device)
            }
            _ => Ok(cast(self.build(device)?, precision)),
        }
    }

    /// These weights as a file with parameters stored at `precision` (`designer export`); the
    /// version changes with the bytes.
    pub fn encoded_as(&self, precision: Precision) -> Result<Vec<u8>, WeightsError> {
        Self::encode_as(self.build(&Device::flex())?, &self.header, precision)
    }

    /// Serialises a model and its header into a weights file, parameters as f32.
    pub fn encode(model: Generator, header: &WeightsHeader) -> Result<Vec<u8>, WeightsError> {
        Self::encode_as(model, header, Precision::F32)
    }

    /// Serialises a model and its header, parameters stored at `precision`.
    pub fn encode_as(
        model: Generator,
        header: &WeightsHeader,
        precision: Precision,
    ) -> Result<Vec<u8>, WeightsError> {
        let parameters = cast(model, precision)
            .into_parameters()
            .into_bytes()
            .map_err(|e| WeightsError::Record(e.to_string()))?;
        let parameters = match precision.levels() {
            Some(levels) => {
                crate::int8::narrow(parameters, levels).map_err(WeightsError::Record)?
            }
            None => parameters,
        };
        let header = serde_json::to_vec(&StoredHeader {
            header: header.clone(),
            parameters_sha256: Some(sha256_hex(&parameters)),
            int8: precision.levels().is_some(),
        })?;
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + parameters.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&parameters);
        Ok(out)
    }
}
