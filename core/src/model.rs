//! The generator: a small conditional U-Net over RGB pixels that predicts the flow-matching
//! velocity (data minus noise) at time t, conditioned on room type and style.
//!
//! Backend-neutral: the tensors' `Device` decides where it runs (CPU, WebGPU, Vulkan...).

use crate::labels::{self, RoomType, Style, Vocabulary};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::silu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The shape of the network; stored in every weights file so a file always rebuilds its model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Channels at full resolution; the two lower levels have 2x and 4x this.
    pub base_channels: usize,
    /// Width of the conditioning vector (time + room type + style).
    pub cond_dim: usize,
    /// GroupNorm groups; must divide every channel count.
    pub groups: usize,
    /// The labels the embeddings have rows for; a file without one was trained on the first.
    #[serde(default = "Vocabulary::first")]
    pub vocabulary: Vocabulary,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            base_channels: 32,
            cond_dim: 128,
            groups: 8,
            vocabulary: Vocabulary::default(),
        }
    }
}

/// The widest network a weights file may ask for: 61 M parameters at 256 (the default is 32).
pub const MAX_BASE_CHANNELS: usize = 256;
pub const MAX_COND_DIM: usize = 1024;

impl ModelConfig {
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
        self.vocabulary.validate()
    }

    /// How many parameters [`ModelConfig::init`] makes, counted without making them (a weights
    /// file's size is checked against it before its model is built).
    pub fn parameter_count(&self) -> usize {
        let (c, d) = (self.base_channels, self.cond_dim);
        let conv = |cin: usize, cout: usize, k: usize| cin * cout * k * k + cout;
        let linear = |i: usize, o: usize| i * o + o;
        let block = |cin: usize, cout: usize| {
            2 * cin
                + conv(cin, cout, 3)
                + linear(d, cout)
                + 2 * cout
                + conv(cout, cout, 3)
                + if cin == cout { 0 } else { conv(cin, cout, 1) }
        };
        2 * linear(d, d)
            + (labels::embedding_rows(self.vocabulary.room_types.len())
                + labels::embedding_rows(self.vocabulary.styles.len()))
                * d
            + conv(3, c, 3)
            + block(c, c)
            + conv(c, c, 3)
            + block(c, 2 * c)
            + conv(2 * c, 2 * c, 3)
            + block(2 * c, 4 * c)
            + block(4 * c, 4 * c)
            + block(6 * c, 2 * c)
            + block(3 * c, c)
            + 2 * c
            + conv(c, 3, 3)
    }

    /// A model with freshly initialised weights, its parameters numbered 0, 1, 2... in module
    /// order (see [`NumberParameters`]).
    pub fn init(&self, device: &Device) -> Generator {
        self.init_randomly_numbered(device)
            .map(&mut NumberParameters::default())
    }

    fn init_randomly_numbered(&self, device: &Device) -> Generator {
        let c = self.base_channels;
        let block = |cin, cout| ResBlock::new(cin, cout, self.cond_dim, self.groups, device);
        let conv = |cin, cout, stride| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Generator {
            time_freqs: self.cond_dim / 2,
            time_in: LinearConfig::new(self.cond_dim, self.cond_dim).init(device),
            time_out: LinearConfig::new(self.cond_dim, self.cond_dim).init(device),
            vocabulary: self.vocabulary.clone(),
            room_embedding: EmbeddingConfig::new(
                labels::embedding_rows(self.vocabulary.room_types.len()),
                self.cond_dim,
            )
            .init(device),
            style_embedding: EmbeddingConfig::new(
                labels::embedding_rows(self.vocabulary.styles.len()),
                self.cond_dim,
            )
            .init(device),
            stem: conv(3, c, 1),
            down0: block(c, c),
            pool0: conv(c, c, 2),
            down1: block(c, 2 * c),
            pool1: conv(2 * c, 2 * c, 2),
            mid0: block(2 * c, 4 * c),
            mid1: block(4 * c, 4 * c),
            up1: block(4 * c + 2 * c, 2 * c),
            up0: block(2 * c + c, c),
            out_norm: GroupNormConfig::new(self.groups, c).init(device),
            out: conv(c, 3, 1),
        }
    }
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
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        self.next += 1;
        Param::from_mapped_value(ParamId::from(self.next - 1), value, mapper)
    }
}

/// Conditioning labels as model ids; `None` is the "unconditional" row used by guidance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub room: Option<RoomType>,
    pub style: Option<Style>,
}

impl Condition {
    pub const UNCONDITIONAL: Condition = Condition {
        room: None,
        style: None,
    };

    pub fn new(room: RoomType, style: Style) -> Self {
        Self {
            room: Some(room),
            style: Some(style),
        }
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

#[derive(Module, Debug)]
pub struct Generator {
    pub(crate) time_freqs: usize,
    /// The labels behind the embeddings' rows.
    #[module(skip)]
    pub(crate) vocabulary: Vocabulary,
    pub(crate) time_in: Linear,
    pub(crate) time_out: Linear,
    pub(crate) room_embedding: Embedding,
    pub(crate) style_embedding: Embedding,
    pub(crate) stem: Conv2d,
    pub(crate) down0: ResBlock,
    pub(crate) pool0: Conv2d,
    pub(crate) down1: ResBlock,
    pub(crate) pool1: Conv2d,
    pub(crate) mid0: ResBlock,
    pub(crate) mid1: ResBlock,
    pub(crate) up1: ResBlock,
    pub(crate) up0: ResBlock,
    pub(crate) out_norm: GroupNorm,
    pub(crate) out: Conv2d,
}

impl Generator {
    /// The same network with embedding rows for `vocabulary`: a label both know keeps its
    /// trained row, a new label starts from the unconditional row (what the model draws when
    /// it is told nothing), and the unconditional row moves to the end.
    pub fn with_vocabulary(mut self, vocabulary: &Vocabulary) -> Generator {
        fn rows<T: Copy>(new: &[T], old: impl Fn(Option<T>) -> Option<usize>) -> Vec<i64> {
            let unconditional = old(None).expect("every vocabulary has an unconditional row");
            new.iter()
                .map(|label| old(Some(*label)).unwrap_or(unconditional))
                .chain([unconditional])
                .map(|row| row as i64)
                .collect()
        }
        let old = &self.vocabulary;
        let room_rows = rows(&vocabulary.room_types, |r| old.room_row(r));
        let style_rows = rows(&vocabulary.styles, |s| old.style_row(s));
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
        self.room_embedding = select(self.room_embedding, room_rows);
        self.style_embedding = select(self.style_embedding, style_rows);
        self.vocabulary = vocabulary.clone();
        self
    }

    /// Velocity at `x` ([batch, 3, h, w], h and w multiples of 4) and time `t` ([batch], 0 =
    /// noise, 1 = image), for the given conditions (one per batch row).
    ///
    /// The layers compute in their weights' float type (f16 for a mixed-precision training
    /// step, see `precision`), GroupNorm in its own; the velocity comes back in the former.
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, conditions: &[Condition]) -> Tensor<4> {
        let device = x.device();
        let cond = self.conditioning(t, conditions, &device);

        let x = x.cast(self.stem.weight.val().dtype());
        let h0 = self.down0.forward(self.stem.forward(x), &cond);
        let h1 = self.down1.forward(self.pool0.forward(h0.clone()), &cond);
        let h = self.mid0.forward(self.pool1.forward(h1.clone()), &cond);
        let h = self.mid1.forward(h, &cond);
        let h = self
            .up1
            .forward(Tensor::cat(vec![upsample(h), h1], 1), &cond);
        let h = self
            .up0
            .forward(Tensor::cat(vec![upsample(h), h0], 1), &cond);
        self.out.forward(silu(normalise(&self.out_norm, h)))
    }

    fn conditioning(&self, t: Tensor<1>, conditions: &[Condition], device: &Device) -> Tensor<2> {
        let batch = conditions.len();
        // Sinusoidal features of t, as in transformers' positions, over a range of frequencies.
        let freqs: Vec<f32> = (0..self.time_freqs)
            .map(|i| (-(10_000f32.ln()) * i as f32 / self.time_freqs as f32).exp() * 1000.0)
            .collect();
        let freqs = Tensor::<1>::from_floats(freqs.as_slice(), device).unsqueeze_dim::<2>(0);
        let angles = t.unsqueeze_dim::<2>(1).matmul(freqs);
        let time = Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
            .cast(self.time_in.weight.val().dtype());
        let time = self.time_out.forward(silu(self.time_in.forward(time)));

        let rows: Vec<(usize, usize)> = conditions
            .iter()
            .map(|c| c.rows(&self.vocabulary))
            .collect();
        let ids = |pick: fn(&(usize, usize)) -> usize| {
            let ids: Vec<i64> = rows.iter().map(|r| pick(r) as i64).collect();
            Tensor::<1, Int>::from_ints(ids.as_slice(), device).reshape([batch, 1])
        };
        let room = self.room_embedding.forward(ids(|r| r.0));
        let style = self.style_embedding.forward(ids(|r| r.1));
        let dim = time.dims()[1];
        time + (room + style).reshape([batch, dim])
    }
}

/// GroupNorm in its parameters' float type, the result back in the input's.
fn normalise(norm: &GroupNorm, x: Tensor<4>) -> Tensor<4> {
    let dtype = x.dtype();
    match &norm.gamma {
        Some(gamma) => norm.forward(x.cast(gamma.val().dtype())).cast(dtype),
        None => norm.forward(x),
    }
}

fn upsample(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h * 2, w * 2]),
    )
}

/// Two 3x3 convolutions with GroupNorm and SiLU, the conditioning added in between, and a
/// residual path (1x1 convolution where the channel count changes).
#[derive(Module, Debug)]
pub struct ResBlock {
    pub(crate) norm1: GroupNorm,
    pub(crate) conv1: Conv2d,
    pub(crate) cond: Linear,
    pub(crate) norm2: GroupNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, cond_dim: usize, groups: usize, device: &Device) -> Self {
        let conv3 = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            norm1: GroupNormConfig::new(groups, cin).init(device),
            conv1: conv3(cin, cout),
            cond: LinearConfig::new(cond_dim, cout).init(device),
            norm2: GroupNormConfig::new(groups, cout).init(device),
            conv2: conv3(cout, cout),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        }
    }

    fn forward(&self, x: Tensor<4>, cond: &Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(normalise(&self.norm1, x.clone())));
        let [batch, channels, _, _] = h.dims();
        let c = self
            .cond
            .forward(silu(cond.clone()))
            .reshape([batch, channels, 1, 1]);
        let h = self.conv2.forward(silu(normalise(&self.norm2, h + c)));
        let residual = match &self.skip {
            Some(skip) => skip.forward(x),
            None => x,
        };
        residual + h
    }
}
