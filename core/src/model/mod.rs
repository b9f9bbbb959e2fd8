//! The generator: a conditional network that predicts the flow-matching velocity (data minus
//! noise) at time t, conditioned on room type and style. Two designs share the interface:
//!
//! - [`unet_v1`]: the first, a small U-Net over RGB pixels with no attention (the 64 and 128 px
//!   models);
//! - generator v2, over pixels or over the latents of a small [`autoencoder`] of our own, with
//!   one of two denoisers: [`unet`], a U-Net with self-attention at its low resolutions, or
//!   [`dit`], a transformer over patches.
//!
//! Backend-neutral: the tensors' `Device` decides where it runs (CPU, WebGPU, Vulkan...).

pub mod autoencoder;
pub mod dit;
pub mod unet;
pub mod unet_v1;

use crate::labels::{self, RoomType, Style, Vocabulary};
use autoencoder::{Autoencoder, AutoencoderShape};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::{Embedding, GroupNorm, Linear};
use burn::store::ModuleRecord;
use burn::tensor::activation::silu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use dit::{DiT, DiTShape};
use serde::{Deserialize, Serialize};
use unet::{UNet, UNetShape};
use unet_v1::UNetV1;

/// The shape of the network; stored in every weights file so a file always rebuilds its model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Channels at the network's full resolution; lower levels have multiples of it.
    pub base_channels: usize,
    /// Width of the conditioning vector (time + room type + style).
    pub cond_dim: usize,
    /// GroupNorm groups; must divide every channel count.
    pub groups: usize,
    /// The labels the embeddings have rows for; a file without one was trained on the first.
    #[serde(default = "Vocabulary::first")]
    pub vocabulary: Vocabulary,
    /// Which network; a file without one holds the first U-Net.
    #[serde(default)]
    pub architecture: Architecture,
}

/// The network a [`ModelConfig`] describes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "network", rename_all = "snake_case")]
pub enum Architecture {
    /// Three levels (full, 1/2, 1/4 resolution), one block each, no attention.
    #[default]
    #[serde(rename = "unet_v1")]
    UNetV1,
    /// Generator v2 with a U-Net: see [`UNetShape`].
    #[serde(rename = "unet_v2")]
    UNetV2(UNetShape),
    /// Generator v2 with a transformer: see [`DiTShape`].
    #[serde(rename = "dit")]
    DiT(DiTShape),
}

impl Architecture {
    /// The autoencoder whose latents the network works on; `None` over pixels.
    pub fn autoencoder(&self) -> Option<&AutoencoderShape> {
        match self {
            Architecture::UNetV1 => None,
            Architecture::UNetV2(shape) => shape.autoencoder.as_ref(),
            Architecture::DiT(shape) => shape.autoencoder.as_ref(),
        }
    }

    /// Whether the network reads `scalar` (see [`ScalarLayers`]): a distilled student's.
    pub fn reads(&self, scalar: Scalar) -> bool {
        matches!(self, Architecture::DiT(shape) if shape.reads(scalar))
    }

    /// For a network that follows a layout, the factor of the latent grid it reads the edge
    /// map as (see [`crate::layout::latent_layout`]); `None` for the others.
    pub fn layout_factor(&self) -> Option<usize> {
        match self {
            Architecture::DiT(shape) if shape.layout => Some(shape.factor()),
            _ => None,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            base_channels: 32,
            cond_dim: 128,
            groups: 8,
            vocabulary: Vocabulary::default(),
            architecture: Architecture::UNetV1,
        }
    }
}

/// The widest network a weights file may ask for: 61 M parameters at 256 (the default is 32).
pub const MAX_BASE_CHANNELS: usize = 256;
pub const MAX_COND_DIM: usize = 1024;

/// The networks `designer train --network` can start from, by name.
pub const PRESETS: [&str; 4] = ["unet-v1", "unet-v2-pixels", "unet-v2-latent", "dit-latent"];

/// The autoencoder of the latent presets: f = 8, 8 latent channels, convolutions 32..128.
fn latent_autoencoder() -> AutoencoderShape {
    AutoencoderShape {
        latent_channels: 8,
        channels: vec![32, 64, 128, 128],
    }
}

impl ModelConfig {
    /// A named starting shape (see [`PRESETS`]): the first U-Net, or generator v2 over pixels
    /// (channels 32..128 down to 8 x 8 at 256 px), or over an f = 8 autoencoder's latents,
    /// either a U-Net (channels 64, 128, 128 at 32, 16 and 8 for 256 px pictures) or a
    /// transformer of about the same cost per evaluation (8 blocks of width 256 over 2 x 2
    /// patches: 256 tokens for 256 px pictures).
    pub fn preset(name: &str) -> Option<Self> {
        let v1 = Self::default();
        let v2 = |base_channels, multipliers: &[usize], autoencoder| Self {
            base_channels,
            cond_dim: 256,
            architecture: Architecture::UNetV2(UNetShape {
                multipliers: multipliers.to_vec(),
                blocks: 2,
                attention_from: multipliers.len() - 2,
                head_channels: 64,
                autoencoder,
            }),
            ..v1.clone()
        };
        match name {
            "unet-v1" => Some(v1),
            "unet-v2-pixels" => Some(v2(32, &[1, 2, 3, 4, 4, 4], None)),
            "unet-v2-latent" => Some(v2(64, &[1, 2, 2], Some(latent_autoencoder()))),
            "dit-latent" => Some(Self {
                base_channels: 256,
                cond_dim: 256,
                architecture: Architecture::DiT(DiTShape {
                    patch: 2,
                    depth: 8,
                    head_channels: 64,
                    mlp_ratio: 4,
                    autoencoder: Some(latent_autoencoder()),
                    layout: false,
                    guidance: false,
                    step_size: false,
                }),
                ..v1
            }),
            _ => None,
        }
    }

    /// Checks the shape before anything is allocated for it: every GroupNorm's groups divide
    /// its channels, and nothing is zero or past the limits. The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let c = self.base_channels;
        if !(1..=MAX_BASE_CHANNELS).contains(&c) {
            return Err(format!(
                "base_channels must be from 1 to {MAX_BASE_CHANNELS}, got {c}"
            ));
        }
        if self.groups == 0 || !c.is_multiple_of(self.groups) {
            return Err(format!(
                "groups must divide base_channels ({c}), got {}",
                self.groups
            ));
        }
        if !(2..=MAX_COND_DIM).contains(&self.cond_dim) || !self.cond_dim.is_multiple_of(2) {
            return Err(format!(
                "cond_dim must be an even number from 2 to {MAX_COND_DIM}, got {}",
                self.cond_dim
            ));
        }
        match &self.architecture {
            Architecture::UNetV1 => {}
            Architecture::UNetV2(shape) => shape.validate(c, self.groups)?,
            Architecture::DiT(shape) => shape.validate(c, self.groups)?,
        }
        self.vocabulary.validate()
    }

    /// How many parameters [`ModelConfig::init`] makes, counted without making them (a weights
    /// file's size is checked against it before its model is built).
    pub fn parameter_count(&self) -> usize {
        let conditioning = 2 * linear_parameters(self.cond_dim, self.cond_dim)
            + (labels::embedding_rows(self.vocabulary.room_types.len())
                + labels::embedding_rows(self.vocabulary.styles.len()))
                * self.cond_dim;
        let denoiser = match &self.architecture {
            Architecture::UNetV1 => unet_v1::parameter_count(self),
            Architecture::UNetV2(shape) => shape.parameter_count(self),
            Architecture::DiT(shape) => shape.parameter_count(self),
        };
        let autoencoder = self.architecture.autoencoder();
        conditioning + denoiser + autoencoder.map_or(0, |a| a.parameter_count(self.groups))
    }

    /// The side of the images the network works on, given the picture's: the picture's in
    /// pixel space, an eighth of it in an f = 8 autoencoder's latents.
    pub fn sample_shape(&self, size: usize) -> [usize; 3] {
        match self.architecture.autoencoder() {
            Some(a) => [a.latent_channels, size / a.factor(), size / a.factor()],
            None => [3, size, size],
        }
    }

    /// Multiply-adds of one network evaluation for a `size` px picture, and of turning the
    /// sampled result into pixels (the autoencoder's decoder; 0 over pixels). Convolutions and
    /// attention only: what the speed aims are sized by. `None` for the first U-Net.
    pub fn forward_macs(&self, size: usize) -> Option<(u64, u64)> {
        let side = self.sample_shape(size)[1];
        let network = match &self.architecture {
            Architecture::UNetV1 => return None,
            Architecture::UNetV2(shape) => shape.forward_macs(self.base_channels, side),
            Architecture::DiT(shape) => shape.forward_macs(self.base_channels, side),
        };
        let decode = self
            .architecture
            .autoencoder()
            .map_or(0, |a| a.macs(size).1);
        Some((network, decode))
    }

    /// What a picture's side must be a multiple of for this network (every level halves it).
    pub fn size_multiple(&self) -> usize {
        let network = match &self.architecture {
            Architecture::UNetV1 => 4,
            Architecture::UNetV2(shape) => 1 << (shape.multipliers.len() - 1),
            Architecture::DiT(shape) => shape.patch,
        };
        network * self.architecture.autoencoder().map_or(1, |a| a.factor())
    }

    /// A model with freshly initialised weights, its parameters numbered 0, 1, 2... in module
    /// order (see [`NumberParameters`]).
    pub fn init(&self, device: &Device) -> Generator {
        let denoiser = match &self.architecture {
            Architecture::UNetV1 => {
                return Generator::V1(UNetV1::new(self, device))
                    .map(&mut NumberParameters::default());
            }
            Architecture::UNetV2(shape) => Denoiser::UNet(UNet::new(self, shape, device)),
            Architecture::DiT(shape) => Denoiser::DiT(DiT::new(self, shape, device)),
        };
        let model = Generator::V2(GeneratorV2 {
            denoiser,
            autoencoder: self
                .architecture
                .autoencoder()
                .map(|a| Autoencoder::new(a, self.groups, device)),
        });
        model.map(&mut NumberParameters::default())
    }
}

pub(crate) fn linear_parameters(inputs: usize, outputs: usize) -> usize {
    inputs * outputs + outputs
}

pub(crate) fn conv_parameters(cin: usize, cout: usize, kernel: usize) -> usize {
    cin * cout * kernel * kernel + cout
}

/// Gives parameters the ids 0, 1, 2... in module order. burn draws a random `ParamId` for
/// each new parameter, and the ids are saved with the weights, so two identical runs wrote
/// different bytes (and model versions). Numbering at creation, not at export, keeps the ids
/// the optimizer's state is keyed by the same through training, checkpoints and resume.
#[derive(Default)]
struct NumberParameters {
    next: u64,
}

impl ModuleMapper for NumberParameters {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // The id alone: consuming the parameter would draw its (lazy) random initialisation,
        // which a model built to load a weights file then throws away.
        param.id = ParamId::from(self.next);
        self.next += 1;
        param
    }
}

/// What one row of a batch is conditioned on: labels as model ids (`None` is the
/// "unconditional" row used by guidance) and, for a distilled network (see [`Scalar`]), the
/// guidance weight it is to fold in and the step it is to take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    pub room: Option<RoomType>,
    pub style: Option<Style>,
    /// `None`: the plain velocity of these labels. Networks without guidance layers ignore it.
    pub guidance: Option<f32>,
    /// The step along the path (in time, 0..1) the sampler takes with this evaluation's
    /// velocity. `None`: the velocity at this point. Networks without step layers ignore it.
    pub step: Option<f32>,
}

impl Condition {
    pub const UNCONDITIONAL: Condition = Condition {
        room: None,
        style: None,
        guidance: None,
        step: None,
    };

    pub fn new(room: RoomType, style: Style) -> Self {
        Self {
            room: Some(room),
            style: Some(style),
            ..Self::UNCONDITIONAL
        }
    }

    /// These labels with the guidance weight `weight` folded in.
    pub fn guided(self, weight: f32) -> Self {
        Self {
            guidance: Some(weight),
            ..self
        }
    }

    /// This condition for a step of `step` (see [`Condition::step`]).
    pub fn stepping(self, step: Option<f32>) -> Self {
        Self { step, ..self }
    }

    /// The room and style embedding rows of this condition in `vocabulary`. Callers check
    /// requests and training labels against the model's vocabulary first (see
    /// [`Vocabulary::check`]), so a label without a row is a bug, not an input.
    pub fn rows(&self, vocabulary: &Vocabulary) -> (usize, usize) {
        let room = vocabulary.room_row(self.room);
        let style = vocabulary.style_row(self.style);
        room.zip(style)
            .expect("conditions are checked against the model's vocabulary")
    }
}

/// The generator, whichever network it is.
// A process holds one or two models and moves them whole a few times a run: the larger
// variant costs nothing that boxing (which burn's derive does not take) would save.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    V1(UNetV1),
    V2(GeneratorV2),
}

/// Generator v2: the denoiser, over pixels or (with an autoencoder) over its latents.
#[derive(Module, Debug)]
pub struct GeneratorV2 {
    pub(crate) denoiser: Denoiser,
    pub(crate) autoencoder: Option<Autoencoder>,
}

/// Generator v2's denoiser, whichever network it is.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Denoiser {
    UNet(UNet),
    DiT(DiT),
}

impl Denoiser {
    fn vocabulary(&self) -> &Vocabulary {
        match self {
            Denoiser::UNet(m) => &m.vocabulary,
            Denoiser::DiT(m) => &m.vocabulary,
        }
    }

    fn with_vocabulary(self, vocabulary: &Vocabulary) -> Self {
        match self {
            Denoiser::UNet(m) => Denoiser::UNet(m.with_vocabulary(vocabulary)),
            Denoiser::DiT(m) => Denoiser::DiT(m.with_vocabulary(vocabulary)),
        }
    }

    fn forward(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layout: Option<Tensor<4>>,
    ) -> Tensor<4> {
        match self {
            Denoiser::UNet(m) => m.forward(x, t, conditions),
            Denoiser::DiT(m) => m.forward(x, t, conditions, layout),
        }
    }
}

impl Generator {
    /// The labels behind the embeddings' rows.
    pub fn vocabulary(&self) -> &Vocabulary {
        match self {
            Generator::V1(m) => &m.vocabulary,
            Generator::V2(m) => m.denoiser.vocabulary(),
        }
    }

    /// The same network with embedding rows for `vocabulary`: a label both know keeps its
    /// trained row, a new label starts from the unconditional row (what the model draws when
    /// it is told nothing), and the unconditional row moves to the end.
    pub fn with_vocabulary(self, vocabulary: &Vocabulary) -> Generator {
        match self {
            Generator::V1(m) => Generator::V1(m.with_vocabulary(vocabulary)),
            Generator::V2(mut m) => {
                m.denoiser = m.denoiser.with_vocabulary(vocabulary);
                Generator::V2(m)
            }
        }
    }

    /// Velocity at `x` ([batch, channels, h, w] in the network's space, see
    /// [`Generator::to_sample_space`]) and time `t` ([batch], 0 = noise, 1 = image), for the
    /// given conditions (one per batch row).
    ///
    /// The layers compute in their weights' float type (f16 for a mixed-precision training
    /// step, see `precision`), GroupNorm in its own; the velocity comes back in the former.
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, conditions: &[Condition]) -> Tensor<4> {
        self.forward_with_layout(x, t, conditions, None)
    }

    /// [`Generator::forward`] following a layout (see [`dit::DiT::forward`]), for a network
    /// that reads one ([`Generator::reads_layout`]); the others ignore it.
    pub fn forward_with_layout(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layout: Option<Tensor<4>>,
    ) -> Tensor<4> {
        match self {
            Generator::V1(m) => m.forward(x, t, conditions),
            Generator::V2(m) => m.denoiser.forward(x, t, conditions, layout),
        }
    }

    /// Whether the network follows a layout given to [`Generator::forward_with_layout`].
    pub fn reads_layout(&self) -> bool {
        matches!(
            self,
            Generator::V2(GeneratorV2 {
                denoiser: Denoiser::DiT(DiT {
                    layout_embed: Some(_),
                    ..
                }),
                ..
            })
        )
    }

    /// This network reading a layout from now on, and `config` saying so: see
    /// [`dit::DiT::with_layout`]. Only the transformer can.
    pub fn with_layout(self, config: &mut ModelConfig) -> Result<Self, String> {
        match (self, &mut config.architecture) {
            (
                Generator::V2(GeneratorV2 {
                    denoiser: Denoiser::DiT(dit),
                    autoencoder,
                }),
                Architecture::DiT(shape),
            ) => {
                shape.layout = true;
                Ok(Generator::V2(GeneratorV2 {
                    denoiser: Denoiser::DiT(dit.with_layout(shape)),
                    autoencoder,
                }))
            }
            _ => Err("only the transformer (dit-latent) can learn to follow a layout".into()),
        }
    }

    /// Whether the network reads `scalar` (see [`ScalarLayers`]).
    pub fn reads(&self, scalar: Scalar) -> bool {
        match self {
            Generator::V2(GeneratorV2 {
                denoiser: Denoiser::DiT(dit),
                ..
            }) => dit.scalar(scalar).is_some(),
            _ => false,
        }
    }

    /// This network reading `scalar` (a student to distil into), and `config` saying so: see
    /// [`dit::DiT::with_scalar`]. Only the transformer can.
    pub fn with_scalar(self, scalar: Scalar, config: &mut ModelConfig) -> Result<Self, String> {
        match (self, &mut config.architecture) {
            (
                Generator::V2(GeneratorV2 {
                    denoiser: Denoiser::DiT(dit),
                    autoencoder,
                }),
                Architecture::DiT(shape),
            ) => {
                *shape.reads_mut(scalar) = true;
                Ok(Generator::V2(GeneratorV2 {
                    denoiser: Denoiser::DiT(dit.with_scalar(scalar, config.cond_dim)),
                    autoencoder,
                }))
            }
            _ => Err(format!(
                "only the transformer (dit-latent) can learn {}",
                scalar.what()
            )),
        }
    }

    /// This network serving sizes beyond `size`, the size its weights were trained at (with
    /// `config`), its transformer's token positions spaced to span the grid it was trained on
    /// there (see [`dit::position_spacing`]); other networks come back as they are.
    pub fn trained_at(self, config: &ModelConfig, size: usize) -> Self {
        match self {
            Generator::V2(GeneratorV2 {
                denoiser: Denoiser::DiT(mut dit),
                autoencoder,
            }) => {
                dit.trained_grid = Some(config.sample_shape(size)[1] / dit.patch);
                Generator::V2(GeneratorV2 {
                    denoiser: Denoiser::DiT(dit),
                    autoencoder,
                })
            }
            other => other,
        }
    }

    /// The autoencoder, for a network that works on latents.
    pub fn autoencoder(&self) -> Option<&Autoencoder> {
        match self {
            Generator::V2(GeneratorV2 {
                autoencoder: Some(a),
                ..
            }) => Some(a),
            _ => None,
        }
    }

    /// This network over `donor`'s autoencoder (its trained weights and latent statistics),
    /// its parameters numbered afresh: a new denoiser over latents already learnt. The caller
    /// checks that both autoencoders have one shape; a network without one comes back as it is.
    pub fn with_autoencoder_of(self, donor: Generator) -> Self {
        match (self, donor) {
            (
                Generator::V2(GeneratorV2 {
                    denoiser,
                    autoencoder: Some(_),
                }),
                Generator::V2(GeneratorV2 {
                    autoencoder: Some(trained),
                    ..
                }),
            ) => Generator::V2(GeneratorV2 {
                denoiser,
                autoencoder: Some(trained),
            })
            .map(&mut NumberParameters::default()),
            (model, _) => model,
        }
    }

    /// The model with its autoencoder's latent statistics measured on `images` (a model
    /// without one comes back as it is).
    pub fn with_latent_statistics(self, images: Tensor<4>) -> Self {
        match self {
            Generator::V2(GeneratorV2 {
                denoiser,
                autoencoder: Some(a),
            }) => Generator::V2(GeneratorV2 {
                denoiser,
                autoencoder: Some(a.with_statistics(images)),
            }),
            model => model,
        }
    }

    /// Images ([batch, 3, size, size] in [-1, 1]) as what the velocity is learnt over: the
    /// images themselves, or their standardised latents.
    pub fn to_sample_space(&self, images: Tensor<4>) -> Tensor<4> {
        match self.autoencoder() {
            Some(a) => a.encode(images),
            None => images,
        }
    }

    /// The inverse of [`Generator::to_sample_space`]: what the sampler ends with, as images.
    pub fn to_image(&self, x: Tensor<4>) -> Tensor<4> {
        match self.autoencoder() {
            Some(a) => a.decode(x),
            None => x,
        }
    }

    /// This model's parameters as a record, under the paths of its network alone (so a file
    /// of the first U-Net, written before there were two, keeps loading).
    pub fn into_parameters(self) -> ModuleRecord {
        match self {
            Generator::V1(m) => m.into_record(),
            Generator::V2(m) => m.into_record(),
        }
    }

    /// Loads parameters written by [`Generator::into_parameters`] (widened to f32: see
    /// [`crate::int8::widen`]), each by its module path, as burn's record loader does: every
    /// parameter must be found with its shape, and every one given must land.
    pub fn load_parameters(self, parameters: Vec<crate::int8::Parameter>) -> Result<Self, String> {
        let mut loader = LoadParameters {
            path: Vec::new(),
            parameters: parameters
                .into_iter()
                .map(|p| (p.path.clone(), p))
                .collect(),
            problems: Vec::new(),
        };
        let model = match self {
            Generator::V1(m) => Generator::V1(m.map(&mut loader)),
            Generator::V2(m) => Generator::V2(m.map(&mut loader)),
        };
        let mut unused: Vec<_> = loader.parameters.into_keys().collect();
        unused.sort_unstable();
        let problems = loader
            .problems
            .into_iter()
            .chain(
                unused
                    .iter()
                    .map(|path| format!("{path}: not in this model")),
            )
            .collect::<Vec<_>>();
        match problems.is_empty() {
            true => Ok(model),
            false => Err(problems.join("; ")),
        }
    }
}

/// Puts parameters into a freshly built model by module path: burn's record loader without
/// its burnpack round trip (writing the widened pack alone took half of loading the 256 px
/// model, `Writer::into_bytes`; BENCHMARKS.md, twelfth session). The model's parameters are
/// still lazy, so none is initialised at random first.
struct LoadParameters {
    path: Vec<String>,
    parameters: std::collections::HashMap<String, crate::int8::Parameter>,
    problems: Vec<String>,
}

impl ModuleMapper for LoadParameters {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let Some(parameter) = self.parameters.remove(&path) else {
            self.problems.push(format!("{path}: missing"));
            return param;
        };
        let expected = param.lazy_shape();
        if parameter.shape != expected.as_slice() {
            self.problems.push(format!(
                "{path}: shape {:?} where the model has {:?}",
                parameter.shape,
                expected.as_slice()
            ));
            return param;
        }
        let id = parameter.id.map_or_else(ParamId::new, ParamId::from);
        let values = TensorData::new(parameter.values, parameter.shape);
        let tensor = Tensor::from_data(values, &param.lazy_device());
        param.transform_for_load(tensor, id)
    }
}

/// Time and labels as one conditioning vector: sinusoidal features of t through two linear
/// layers, plus the room type's and the style's embedding rows. Both networks have these
/// layers as fields of their own (the first U-Net's files name them at the top level).
pub(crate) struct LabelLayers<'a> {
    pub vocabulary: &'a Vocabulary,
    pub time_in: &'a Linear,
    pub time_out: &'a Linear,
    pub room_embedding: &'a Embedding,
    pub style_embedding: &'a Embedding,
    /// The scalars a distilled network reads, and the layers that read them.
    pub scalars: Vec<(Scalar, &'a ScalarLayers)>,
}

/// The guidance weights a guidance-distilled network is trained on (Meng et al. 2023): in
/// this range one evaluation of it stands for the two of classifier-free guidance. Outside
/// it, the sampler guides it as it does any network, from its weight-1 and unconditional
/// velocities.
pub const DISTILLED_GUIDANCE: std::ops::RangeInclusive<f32> = 1.0..=6.0;

/// The step counts a step-distilled network is trained to sample in (its steps of 1/8 and
/// 1/4 of the path, and any between; training draws either alike); the first is a request's
/// default for it: the default student judges 2.62x the real-against-real Fréchet floor in 8
/// steps, below its 20-step CFG teacher's 2.67x, and 3.01x in 4 (BENCHMARKS.md, thirteenth
/// session), while 8 steps keep every speed aim.
pub const DISTILLED_STEPS: [u32; 2] = [8, 4];

/// A number besides the time and the labels that a distilled student reads, each through its
/// own [`ScalarLayers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// The classifier-free guidance weight one evaluation folds in (Meng et al. 2023).
    Guidance,
    /// The step along the path the sampler takes with the velocity (as shortcut models,
    /// Frans et al. 2024): a network told it can jump as far as its teacher's many small
    /// steps go.
    StepSize,
}

impl Scalar {
    /// A condition's value of this scalar.
    pub fn of(self, condition: &Condition) -> Option<f32> {
        match self {
            Scalar::Guidance => condition.guidance,
            Scalar::StepSize => condition.step,
        }
    }

    /// `value` as [`sine_features`] take it: guidance weights scaled by 0.1, so that
    /// [`DISTILLED_GUIDANCE`] spans the frequencies the times 0..1 do; steps are times.
    pub(crate) fn feature(self, value: f32) -> f32 {
        match self {
            Scalar::Guidance => value * 0.1,
            Scalar::StepSize => value,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Scalar::Guidance => "guidance",
            Scalar::StepSize => "to take steps",
        }
    }
}

/// What a distilled network adds to its conditioning for a [`Scalar`]: sine features of it
/// through two linear layers, as the time's. The second starts at zero, so a network that
/// gains these layers draws as before until they learn.
#[derive(Module, Debug)]
pub struct ScalarLayers {
    pub(crate) input: Linear,
    pub(crate) output: Linear,
}

impl ScalarLayers {
    pub(crate) fn new(cond_dim: usize, device: &Device) -> Self {
        use burn::nn::{Initializer, LinearConfig};
        Self {
            input: LinearConfig::new(cond_dim, cond_dim).init(device),
            output: LinearConfig::new(cond_dim, cond_dim)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    pub(crate) fn parameter_count(cond_dim: usize) -> usize {
        2 * linear_parameters(cond_dim, cond_dim)
    }

    /// [batch, cond_dim]: each row's contribution, zero where a condition has no value.
    fn forward(&self, scalar: Scalar, conditions: &[Condition], device: &Device) -> Tensor<2> {
        let batch = conditions.len();
        let weights: Vec<f32> = conditions
            .iter()
            .map(|c| scalar.feature(scalar.of(c).unwrap_or(0.0)))
            .collect();
        let given: Vec<f32> = conditions
            .iter()
            .map(|c| f32::from(scalar.of(c).is_some()))
            .collect();
        let dtype = self.input.weight.val().dtype();
        let features = sine_features(
            Tensor::<1>::from_floats(weights.as_slice(), device),
            self.input.weight.dims()[0] / 2,
        )
        .cast(dtype);
        let given = Tensor::<1>::from_floats(given.as_slice(), device)
            .reshape([batch, 1])
            .cast(dtype);
        self.output.forward(silu(self.input.forward(features))) * given
    }
}

/// The frequencies of the sine features of a value in [0, 1] (a time, a step, a scaled
/// guidance weight): `half` of them, from 1000 down to 0.1 radians per unit.
pub(crate) fn sine_frequencies(half: usize) -> Vec<f32> {
    (0..half)
        .map(|i| (-(10_000f32.ln()) * i as f32 / half as f32).exp() * 1000.0)
        .collect()
}

/// [batch, 2 half]: sines then cosines of `values` ([batch]) at [`sine_frequencies`].
fn sine_features(values: Tensor<1>, half: usize) -> Tensor<2> {
    let device = values.device();
    let freqs = sine_frequencies(half);
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device).unsqueeze_dim::<2>(0);
    let angles = values.unsqueeze_dim::<2>(1).matmul(freqs);
    Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
}

/// Fresh conditioning layers for `config`: time in, time out, room and style embeddings.
pub(crate) fn label_layers(
    config: &ModelConfig,
    device: &Device,
) -> (Linear, Linear, Embedding, Embedding) {
    use burn::nn::{EmbeddingConfig, LinearConfig};
    let (d, vocabulary) = (config.cond_dim, &config.vocabulary);
    let table =
        |labels: usize| EmbeddingConfig::new(labels::embedding_rows(labels), d).init(device);
    (
        LinearConfig::new(d, d).init(device),
        LinearConfig::new(d, d).init(device),
        table(vocabulary.room_types.len()),
        table(vocabulary.styles.len()),
    )
}

/// `with_vocabulary` and `labels` for a network whose conditioning layers are its own fields
/// `vocabulary`, `time_in`, `time_out`, `room_embedding` and `style_embedding` (each network
/// keeps them under its own parameter paths, which a shared sub-module would change), and,
/// after `reading`, the [`Scalar`]s it may read, each with its optional [`ScalarLayers`] field.
macro_rules! conditioned_by_labels {
    ($network:ty $(, reading $($field:ident as $scalar:expr),+)?) => {
        impl $network {
            /// See [`super::Generator::with_vocabulary`].
            pub(crate) fn with_vocabulary(
                mut self,
                vocabulary: &crate::labels::Vocabulary,
            ) -> Self {
                (self.room_embedding, self.style_embedding) = super::relabel(
                    self.room_embedding,
                    self.style_embedding,
                    &self.vocabulary,
                    vocabulary,
                );
                self.vocabulary = vocabulary.clone();
                self
            }

            pub(crate) fn labels(&self) -> super::LabelLayers<'_> {
                super::LabelLayers {
                    vocabulary: &self.vocabulary,
                    time_in: &self.time_in,
                    time_out: &self.time_out,
                    room_embedding: &self.room_embedding,
                    style_embedding: &self.style_embedding,
                    scalars: {
                        #[allow(unused_mut)]
                        let mut scalars = Vec::new();
                        $($(if let Some(layers) = self.$field.as_ref() {
                            scalars.push(($scalar, layers));
                        })+)?
                        scalars
                    },
                }
            }
        }
    };
}
pub(crate) use conditioned_by_labels;

/// The room and style tables with rows for `new` (see [`Generator::with_vocabulary`]).
pub(crate) fn relabel(
    rooms: Embedding,
    styles: Embedding,
    old: &Vocabulary,
    new: &Vocabulary,
) -> (Embedding, Embedding) {
    fn rows<T: Copy>(new: &[T], old: impl Fn(Option<T>) -> Option<usize>) -> Vec<i64> {
        let unconditional = old(None).expect("every vocabulary has an unconditional row");
        new.iter()
            .map(|label| old(Some(*label)).unwrap_or(unconditional))
            .chain([unconditional])
            .map(|row| row as i64)
            .collect()
    }
    let select = |table: Embedding, rows: Vec<i64>| {
        let weight = table.weight.map(|w| {
            let rows = Tensor::<1, Int>::from_ints(rows.as_slice(), &w.device());
            // A new leaf: on an autodiff device the selection would otherwise stay a node
            // of the old table's graph, consumed by the first backward pass.
            let trainable = w.is_require_grad();
            w.select(0, rows).detach().set_require_grad(trainable)
        });
        Embedding { weight }
    };
    (
        select(rooms, rows(&new.room_types, |r| old.room_row(r))),
        select(styles, rows(&new.styles, |s| old.style_row(s))),
    )
}

impl LabelLayers<'_> {
    /// [batch, cond_dim], in the linear layers' float type.
    pub(crate) fn forward(&self, t: Tensor<1>, conditions: &[Condition]) -> Tensor<2> {
        let device = t.device();
        let batch = conditions.len();
        // Sinusoidal features of t, as in transformers' positions, over a range of frequencies.
        let time = sine_features(t, self.time_in.weight.dims()[0] / 2)
            .cast(self.time_in.weight.val().dtype());
        let time = self.time_out.forward(silu(self.time_in.forward(time)));
        let time = self.scalars.iter().fold(time, |time, (scalar, layers)| {
            time + layers.forward(*scalar, conditions, &device)
        });

        let rows: Vec<(usize, usize)> =
            conditions.iter().map(|c| c.rows(self.vocabulary)).collect();
        let ids = |pick: fn(&(usize, usize)) -> usize| {
            let ids: Vec<i64> = rows.iter().map(|r| pick(r) as i64).collect();
            Tensor::<1, Int>::from_ints(ids.as_slice(), &device).reshape([batch, 1])
        };
        let room = self.room_embedding.forward(ids(|r| r.0));
        let style = self.style_embedding.forward(ids(|r| r.1));
        let dim = time.dims()[1];
        time + (room + style).reshape([batch, dim])
    }
}

/// GroupNorm in its parameters' float type, the result back in the input's.
pub(crate) fn normalise(norm: &GroupNorm, x: Tensor<4>) -> Tensor<4> {
    let dtype = x.dtype();
    match &norm.gamma {
        Some(gamma) => norm.forward(x.cast(gamma.val().dtype())).cast(dtype),
        None => norm.forward(x),
    }
}

/// Nearest-neighbour upsampling by 2.
pub(crate) fn upsample(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h * 2, w * 2]),
    )
}
