//! Generator v2's second denoiser candidate: a transformer over patches of the latents
//! (DiT, Peebles & Xie 2023), conditioned by adaptive LayerNorm. Every block sees every
//! patch, and its work is matrix products, which burn's tensor-core kernels, gemm on the CPU
//! and WebGPU run far better than the direct convolutions a U-Net falls back to (BENCHMARKS.md).
//!
//! Patches of `patch` x `patch` latents become tokens (a linear layer, plus fixed 2-D sine
//! positions, so a larger picture only has more tokens); each block is attention then an MLP,
//! both on LayerNorm output that the conditioning (time + room type + style) scales and shifts,
//! and both gated by it. The gates and the output layer start at zero ("adaLN-Zero"), so a
//! fresh network is the identity on its residual paths.
//!
//! A network can also read a layout (photo restyling): an edge map of the picture (see
//! [`crate::layout`]), cut into the same patches as the latents, through a linear layer of its
//! own that is added to the tokens. The layer starts at zero and has no bias, so adding it to
//! a trained network changes nothing until it learns, and an empty map is no layout at all.

use super::autoencoder::AutoencoderShape;
use super::{Condition, ModelConfig, Scalar, ScalarLayers, linear_parameters};
use crate::labels::Vocabulary;
use burn::module::Module;
use burn::nn::{Embedding, Initializer, Linear, LinearConfig};
use burn::tensor::activation::{gelu, silu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// The transformer's shape, beside [`ModelConfig`]'s base channels (the token width) and
/// conditioning width.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiTShape {
    /// The side of the square of latents (or pixels) one token stands for.
    pub patch: usize,
    /// Transformer blocks.
    pub depth: usize,
    /// Channels per attention head.
    pub head_channels: usize,
    /// The MLP's hidden width as a multiple of the token width.
    pub mlp_ratio: usize,
    /// `None`: the network works on pixels; else on the latents of this autoencoder.
    #[serde(default)]
    pub autoencoder: Option<AutoencoderShape>,
    /// Whether the network reads a layout beside its input (files written before there was
    /// one have none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub layout: bool,
    /// Whether the network takes the guidance weight as an input (a guidance-distilled
    /// student, see [`Scalar::Guidance`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guidance: bool,
    /// Whether the network takes the step it is to jump as an input (a step-distilled
    /// student, see [`Scalar::StepSize`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub step_size: bool,
}

/// The most a weights file may ask for.
const MAX_PATCH: usize = 16;
const MAX_DEPTH: usize = 32;
const MAX_MLP_RATIO: usize = 8;

impl DiTShape {
    pub(crate) fn reads(&self, scalar: Scalar) -> bool {
        match scalar {
            Scalar::Guidance => self.guidance,
            Scalar::StepSize => self.step_size,
        }
    }

    pub(crate) fn reads_mut(&mut self, scalar: Scalar) -> &mut bool {
        match scalar {
            Scalar::Guidance => &mut self.guidance,
            Scalar::StepSize => &mut self.step_size,
        }
    }

    pub(crate) fn validate(&self, width: usize, groups: usize) -> Result<(), String> {
        if !(1..=MAX_PATCH).contains(&self.patch) {
            return Err(format!(
                "patch must be from 1 to {MAX_PATCH}, got {}",
                self.patch
            ));
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(format!(
                "depth must be from 1 to {MAX_DEPTH}, got {}",
                self.depth
            ));
        }
        if !(1..=MAX_MLP_RATIO).contains(&self.mlp_ratio) {
            return Err(format!(
                "mlp_ratio must be from 1 to {MAX_MLP_RATIO}, got {}",
                self.mlp_ratio
            ));
        }
        // Sine positions take a quarter of the width per axis and per function.
        if self.head_channels == 0
            || !width.is_multiple_of(self.head_channels)
            || !width.is_multiple_of(4)
        {
            return Err(format!(
                "head_channels ({}) must divide base_channels ({width}), a multiple of 4",
                self.head_channels
            ));
        }
        if let Some(a) = &self.autoencoder {
            a.validate(groups)?;
        }
        Ok(())
    }

    fn input_channels(&self) -> usize {
        self.autoencoder.as_ref().map_or(3, |a| a.latent_channels)
    }

    /// Values in one patch: what a token is made from and what it gives back.
    fn patch_values(&self) -> usize {
        self.input_channels() * self.patch * self.patch
    }

    /// How many pixels a latent's side spans (1 over pixels).
    pub fn factor(&self) -> usize {
        self.autoencoder.as_ref().map_or(1, |a| a.factor())
    }

    /// Values of the layout map under one patch: its pixels.
    fn layout_values(&self) -> usize {
        (self.factor() * self.patch).pow(2)
    }

    /// Parameters of the transformer (the conditioning layers are counted by the caller).
    pub(crate) fn parameter_count(&self, config: &ModelConfig) -> usize {
        let (w, d) = (config.base_channels, config.cond_dim);
        let hidden = self.mlp_ratio * w;
        let block = linear_parameters(d, 6 * w)
            + linear_parameters(w, 3 * w)
            + linear_parameters(w, w)
            + linear_parameters(w, hidden)
            + linear_parameters(hidden, w);
        let layout = if self.layout {
            self.layout_values() * w
        } else {
            0
        };
        let scalars = [Scalar::Guidance, Scalar::StepSize]
            .into_iter()
            .filter(|&scalar| self.reads(scalar))
            .count()
            * ScalarLayers::parameter_count(d);
        linear_parameters(self.patch_values(), w)
            + layout
            + scalars
            + self.depth * block
            + linear_parameters(d, 2 * w)
            + linear_parameters(w, self.patch_values())
    }

    /// Multiply-adds of one forward pass over a `side` x `side` input (see
    /// [`super::unet::UNetShape::forward_macs`]): the linear layers and attention.
    pub(crate) fn forward_macs(&self, width: usize, side: usize) -> u64 {
        let tokens = (side / self.patch).pow(2) as u64;
        let w = width as u64;
        let per_block = tokens * (4 + 2 * self.mlp_ratio as u64) * w * w + 2 * tokens * tokens * w;
        2 * tokens * self.patch_values() as u64 * w + self.depth as u64 * per_block
    }
}

/// One transformer block: attention and an MLP, each on modulated LayerNorm output and gated.
#[derive(Module, Debug)]
pub struct DiTBlock {
    pub(crate) heads: usize,
    /// Conditioning to shift, scale and gate of the attention, then of the MLP.
    pub(crate) modulation: Linear,
    pub(crate) qkv: Linear,
    pub(crate) proj: Linear,
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
}

fn zeroed(inputs: usize, outputs: usize, device: &Device) -> Linear {
    LinearConfig::new(inputs, outputs)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

/// LayerNorm over the last axis without parameters of its own (the conditioning scales and
/// shifts it), computed in f32 whatever the activations' type.
fn layer_norm(x: Tensor<3>) -> Tensor<3> {
    let dtype = x.dtype();
    let x = x.cast(DType::F32);
    let (var, mean) = x.clone().var_mean_bias(2);
    ((x - mean) / (var + 1e-6).sqrt()).cast(dtype)
}

/// `x` * (1 + scale) + shift, with scale and shift [batch, width] broadcast over the tokens.
fn modulate(x: Tensor<3>, shift: Tensor<2>, scale: Tensor<2>) -> Tensor<3> {
    x.clone() * scale.unsqueeze_dim::<3>(1) + x + shift.unsqueeze_dim::<3>(1)
}

impl DiTBlock {
    fn new(config: &ModelConfig, shape: &DiTShape, device: &Device) -> Self {
        let (w, d) = (config.base_channels, config.cond_dim);
        let hidden = shape.mlp_ratio * w;
        Self {
            heads: w / shape.head_channels,
            modulation: zeroed(d, 6 * w, device),
            qkv: LinearConfig::new(w, 3 * w).init(device),
            proj: LinearConfig::new(w, w).init(device),
            fc1: LinearConfig::new(w, hidden).init(device),
            fc2: LinearConfig::new(hidden, w).init(device),
        }
    }

    /// `x` [batch, tokens, width]; `cond` the conditioning after its SiLU.
    fn forward(&self, x: Tensor<3>, cond: &Tensor<2>) -> Tensor<3> {
        let [batch, tokens, width] = x.dims();
        let m = self.modulation.forward(cond.clone()).chunk(6, 1);
        let [shift1, scale1, gate1, shift2, scale2, gate2]: [Tensor<2>; 6] =
            m.try_into().expect("six chunks of the modulation");

        let h = modulate(layer_norm(x.clone()), shift1, scale1);
        let d = width / self.heads;
        let qkv = self
            .qkv
            .forward(h)
            .reshape([batch, tokens, 3 * self.heads, d])
            .swap_dims(1, 2);
        let part = |i: usize| qkv.clone().narrow(1, i * self.heads, self.heads);
        let attended = attention(
            part(0),
            part(1),
            part(2),
            None,
            None,
            AttentionModuleOptions::default(),
        )
        .swap_dims(1, 2)
        .reshape([batch, tokens, width]);
        let x = x + self.proj.forward(attended) * gate1.unsqueeze_dim::<3>(1);

        let h = modulate(layer_norm(x.clone()), shift2, scale2);
        let h = self.fc2.forward(gelu(self.fc1.forward(h)));
        x + h * gate2.unsqueeze_dim::<3>(1)
    }
}

#[derive(Module, Debug)]
pub struct DiT {
    /// The labels behind the embeddings' rows.
    #[module(skip)]
    pub(crate) vocabulary: Vocabulary,
    pub(crate) patch: usize,
    pub(crate) time_in: Linear,
    pub(crate) time_out: Linear,
    pub(crate) room_embedding: Embedding,
    pub(crate) style_embedding: Embedding,
    /// A patch's values to a token.
    pub(crate) embed: Linear,
    /// The layout map's pixels under a patch to what they add to its token.
    pub(crate) layout_embed: Option<Linear>,
    pub(crate) blocks: Vec<DiTBlock>,
    /// Conditioning to the shift and scale of the last LayerNorm.
    pub(crate) out_modulation: Linear,
    /// A token back to its patch's velocity.
    pub(crate) out: Linear,
    /// For a guidance-distilled network: what the guidance weight adds to the conditioning.
    pub(crate) guidance: Option<ScalarLayers>,
    /// For a step-distilled network: what the step adds to the conditioning.
    pub(crate) step_size: Option<ScalarLayers>,
    /// Tokens a side at the size its weights were trained at, where it serves a larger size
    /// (see [`position_spacing`]); `None` while it trains.
    #[module(skip)]
    pub(crate) trained_grid: Option<usize>,
}

super::conditioned_by_labels!(DiT, reading guidance as Scalar::Guidance, step_size as Scalar::StepSize);

impl DiT {
    pub(crate) fn new(config: &ModelConfig, shape: &DiTShape, device: &Device) -> Self {
        let w = config.base_channels;
        let (time_in, time_out, room_embedding, style_embedding) =
            super::label_layers(config, device);
        Self {
            vocabulary: config.vocabulary.clone(),
            patch: shape.patch,
            time_in,
            time_out,
            room_embedding,
            style_embedding,
            embed: LinearConfig::new(shape.patch_values(), w).init(device),
            layout_embed: shape.layout.then(|| layout_layer(shape, w, device)),
            blocks: (0..shape.depth)
                .map(|_| DiTBlock::new(config, shape, device))
                .collect(),
            out_modulation: zeroed(config.cond_dim, 2 * w, device),
            out: zeroed(w, shape.patch_values(), device),
            guidance: shape
                .guidance
                .then(|| ScalarLayers::new(config.cond_dim, device)),
            step_size: shape
                .step_size
                .then(|| ScalarLayers::new(config.cond_dim, device)),
            trained_grid: None,
        }
    }

    /// The layers that read `scalar`, if the network has them.
    pub(crate) fn scalar(&self, scalar: Scalar) -> Option<&ScalarLayers> {
        match scalar {
            Scalar::Guidance => self.guidance.as_ref(),
            Scalar::StepSize => self.step_size.as_ref(),
        }
    }

    /// This network, reading `scalar` from now on: the layers that read it end at zero, so
    /// it draws as before until they are trained (one that has them comes back as it is).
    pub(crate) fn with_scalar(mut self, scalar: Scalar, cond_dim: usize) -> Self {
        if self.scalar(scalar).is_none() {
            let device = self.embed.weight.device();
            let trainable = self.embed.weight.is_require_grad();
            let layers = ScalarLayers::new(cond_dim, &device);
            let train = |layer: Linear| Linear {
                weight: layer.weight.map(|w| w.set_require_grad(trainable)),
                bias: layer.bias.map(|b| b.map(|b| b.set_require_grad(trainable))),
            };
            let layers = Some(ScalarLayers {
                input: train(layers.input),
                output: train(layers.output),
            });
            match scalar {
                Scalar::Guidance => self.guidance = layers,
                Scalar::StepSize => self.step_size = layers,
            }
        }
        self
    }

    /// This network, reading a layout from now on: the layer that does starts at zero, so the
    /// network's output is unchanged until it is trained (one that reads a layout already
    /// comes back as it is).
    pub(crate) fn with_layout(mut self, shape: &DiTShape) -> Self {
        if self.layout_embed.is_none() {
            let device = self.embed.weight.device();
            let width = self.embed.weight.dims()[1];
            let layer = layout_layer(shape, width, &device);
            let trainable = self.embed.weight.is_require_grad();
            self.layout_embed = Some(Linear {
                weight: layer.weight.map(|w| w.set_require_grad(trainable)),
                bias: None,
            });
        }
        self
    }

    /// See [`super::Generator::forward`]; h and w multiples of the patch. `layout`, for a
    /// network that reads one: [batch, factor², h, w], the edge map as a latent grid (see
    /// [`crate::layout::to_latent_grid`]); a network without the layer ignores it.
    pub fn forward(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layout: Option<Tensor<4>>,
    ) -> Tensor<4> {
        let [batch, channels, height, breadth] = x.dims();
        let p = self.patch;
        let (rows, columns) = (height / p, breadth / p);
        let dtype = self.embed.weight.val().dtype();
        let cond = silu(self.labels().forward(t, conditions));
        // [b, c, rows, p, columns, p] -> [b, rows, columns, c, p, p]: one token per patch.
        let patches = |x: Tensor<4>| {
            let channels = x.dims()[1];
            x.cast(dtype)
                .reshape([batch, channels, rows, p, columns, p])
                .permute([0, 2, 4, 1, 3, 5])
                .reshape([batch, rows * columns, channels * p * p])
        };
        let tokens = patches(x);
        let width = self.embed.weight.dims()[1];
        let spacing = position_spacing(self.trained_grid, rows, columns);
        let positions = sine_positions(rows, columns, width, spacing, &tokens.device()).cast(dtype);
        let mut h = self.embed.forward(tokens) + positions.unsqueeze_dim::<3>(0);
        if let (Some(layer), Some(layout)) = (&self.layout_embed, layout) {
            h = h + layer.forward(patches(layout));
        }
        for block in &self.blocks {
            h = block.forward(h, &cond);
        }
        let [shift, scale]: [Tensor<2>; 2] = self
            .out_modulation
            .forward(cond)
            .chunk(2, 1)
            .try_into()
            .expect("two chunks of the modulation");
        self.out
            .forward(modulate(layer_norm(h), shift, scale))
            .reshape([batch, rows, columns, channels, p, p])
            .permute([0, 3, 1, 4, 2, 5])
            .reshape([batch, channels, height, breadth])
    }
}

/// The layout's layer: zero and without bias (see the module's note).
fn layout_layer(shape: &DiTShape, width: usize, device: &Device) -> Linear {
    LinearConfig::new(shape.layout_values(), width)
        .with_bias(false)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

/// Fixed 2-D sine positions, [rows * columns, width]: the first half of the width encodes the
/// row, the second the column, each as sines then cosines over a range of frequencies; token
/// (r, c) sits at (r, c) x `spacing`.
fn sine_positions(
    rows: usize,
    columns: usize,
    width: usize,
    spacing: f32,
    device: &Device,
) -> Tensor<2> {
    let values = sine_position_values(rows, columns, width, spacing);
    Tensor::<1>::from_floats(values.as_slice(), device).reshape([rows * columns, width])
}

/// How far apart a grid of `rows` x `columns` tokens sits: 1 up to the grid the network was
/// trained on, and closer beyond it, so that a larger grid spans the positions it has seen.
/// Measured (BENCHMARKS.md, fourteenth session): at twice its trained grid, whole positions
/// drew a seam at every patch; interpolated ones draw none.
pub(crate) fn position_spacing(trained_grid: Option<usize>, rows: usize, columns: usize) -> f32 {
    let grid = rows.max(columns);
    match trained_grid {
        Some(trained) if grid > trained => trained as f32 / grid as f32,
        _ => 1.0,
    }
}

/// [`sine_positions`]' values, row-major.
pub(crate) fn sine_position_values(
    rows: usize,
    columns: usize,
    width: usize,
    spacing: f32,
) -> Vec<f32> {
    let quarter = width / 4;
    let frequency = |i: usize| (-(10_000f32.ln()) * i as f32 / quarter as f32).exp();
    let mut values = Vec::with_capacity(rows * columns * width);
    for r in 0..rows {
        for c in 0..columns {
            for position in [r, c] {
                let position = position as f32 * spacing;
                let angles = (0..quarter).map(|i| position * frequency(i));
                values.extend(angles.clone().map(f32::sin));
                values.extend(angles.map(f32::cos));
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_past_the_trained_one_spans_the_trained_positions() {
        assert_eq!(position_spacing(Some(16), 16, 16), 1.0);
        assert_eq!(
            position_spacing(Some(16), 8, 8),
            1.0,
            "smaller grids keep theirs"
        );
        assert_eq!(position_spacing(None, 32, 32), 1.0, "a network in training");
        assert_eq!(position_spacing(Some(16), 32, 32), 0.5);
        let width = 16;
        let trained = sine_position_values(4, 4, width, 1.0);
        let twice = sine_position_values(8, 8, width, position_spacing(Some(4), 8, 8));
        // Token (2r, 2c) of the doubled grid sits where token (r, c) did.
        for (r, c) in [(0, 0), (1, 3), (3, 2)] {
            let at = |values: &[f32], columns: usize, r: usize, c: usize| {
                values[(r * columns + c) * width..][..width].to_vec()
            };
            assert_eq!(at(&twice, 8, 2 * r, 2 * c), at(&trained, 4, r, c));
        }
        // ... and the tokens between are positions of their own: the last is not the trained
        // grid's last.
        let last = &twice[(8 * 8 - 1) * width..][..width];
        let trained_last = &trained[(4 * 4 - 1) * width..][..width];
        assert_ne!(last, trained_last);
    }
}
