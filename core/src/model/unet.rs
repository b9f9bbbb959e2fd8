//! Generator v2's denoiser: a conditional U-Net of the usual diffusion shape, with
//! self-attention at its lowest resolutions so that some part of it sees the whole room.
//!
//! Each level has `blocks` residual blocks on the way down and one more on the way up (each
//! taking a skip connection), a stride-2 convolution between levels down and nearest
//! upsampling plus a convolution up; the middle is block, attention, block. Conditioning
//! (time + room type + style) scales and shifts every block's second GroupNorm. The last
//! convolution of every block, of every attention and of the output start at zero, so a
//! fresh network is the identity on its residual paths (what lets a deep one train fast).
//!
//! A second image condition (a layout map, for restyling photos) can be added later as
//! extra input channels of `stem` whose weights start at zero: the trained network is then
//! unchanged until training teaches it to read them.

use super::autoencoder::AutoencoderShape;
use super::{Condition, ModelConfig, conv_parameters, linear_parameters, normalise, upsample};
use crate::labels::Vocabulary;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Embedding, GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Generator v2's shape, beside [`ModelConfig`]'s base channels, conditioning width and groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UNetShape {
    /// Channels of each level as multiples of the base channels, full resolution first; each
    /// level halves the resolution.
    pub multipliers: Vec<usize>,
    /// Residual blocks per level on the way down (one more on the way up).
    pub blocks: usize,
    /// Levels from this one down, and the middle, have self-attention after each block.
    pub attention_from: usize,
    /// Channels per attention head.
    pub head_channels: usize,
    /// `None`: the network works on pixels; else on the latents of this autoencoder.
    #[serde(default)]
    pub autoencoder: Option<AutoencoderShape>,
}

/// The most levels and blocks a weights file may ask for.
const MAX_LEVELS: usize = 6;
const MAX_BLOCKS: usize = 4;
const MAX_MULTIPLIER: usize = 16;

/// One residual block of the plan: channels in and out, and whether attention follows.
#[derive(Clone, Copy)]
struct BlockPlan {
    cin: usize,
    cout: usize,
    attention: bool,
}

/// The network's layers in order, so that building it and counting its parameters cannot
/// disagree.
struct Plan {
    input: usize,
    channels: Vec<usize>,
    /// Per level: its blocks down, then whether a downsampling follows.
    down: Vec<(Vec<BlockPlan>, bool)>,
    middle: [BlockPlan; 2],
    /// Per level, lowest first: its blocks up, then whether an upsampling follows.
    up: Vec<(Vec<BlockPlan>, bool)>,
}

impl UNetShape {
    pub(crate) fn validate(&self, base: usize, groups: usize) -> Result<(), String> {
        let levels = self.multipliers.len();
        if !(1..=MAX_LEVELS).contains(&levels) {
            return Err(format!(
                "multipliers must name 1 to {MAX_LEVELS} levels, got {levels}"
            ));
        }
        if let Some(m) = self
            .multipliers
            .iter()
            .find(|m| !(1..=MAX_MULTIPLIER).contains(*m))
        {
            return Err(format!(
                "multipliers must be from 1 to {MAX_MULTIPLIER}, got {m}"
            ));
        }
        if !(1..=MAX_BLOCKS).contains(&self.blocks) {
            return Err(format!(
                "blocks must be from 1 to {MAX_BLOCKS}, got {}",
                self.blocks
            ));
        }
        if self.attention_from > levels {
            return Err(format!(
                "attention_from must be a level (0 to {levels}), got {}",
                self.attention_from
            ));
        }
        let attended = self.multipliers[self.attention_from.min(levels - 1)..]
            .iter()
            .map(|m| m * base);
        if self.head_channels == 0 || attended.clone().any(|c| c % self.head_channels != 0) {
            return Err(format!(
                "head_channels ({}) must divide the channels of every level with attention",
                self.head_channels
            ));
        }
        if let Some(a) = &self.autoencoder {
            a.validate(groups)?;
        }
        Ok(())
    }

    fn plan(&self, base: usize) -> Plan {
        let channels: Vec<usize> = self.multipliers.iter().map(|m| m * base).collect();
        let levels = channels.len();
        let attention = |level: usize| level >= self.attention_from;
        let mut skips = vec![channels[0]];
        let mut down = Vec::new();
        let mut cin = channels[0];
        for (level, &c) in channels.iter().enumerate() {
            let mut blocks = Vec::new();
            for _ in 0..self.blocks {
                blocks.push(BlockPlan {
                    cin,
                    cout: c,
                    attention: attention(level),
                });
                cin = c;
                skips.push(c);
            }
            let downsample = level + 1 < levels;
            if downsample {
                skips.push(c);
            }
            down.push((blocks, downsample));
        }
        let last = channels[levels - 1];
        let middle = [
            BlockPlan {
                cin: last,
                cout: last,
                attention: true,
            },
            BlockPlan {
                cin: last,
                cout: last,
                attention: false,
            },
        ];
        let mut up = Vec::new();
        let mut cin = last;
        for (level, &c) in channels.iter().enumerate().rev() {
            let mut blocks = Vec::new();
            for _ in 0..=self.blocks {
                let skip = skips.pop().expect("one skip per block up");
                blocks.push(BlockPlan {
                    cin: cin + skip,
                    cout: c,
                    attention: attention(level),
                });
                cin = c;
            }
            up.push((blocks, level > 0));
        }
        Plan {
            input: self.autoencoder.as_ref().map_or(3, |a| a.latent_channels),
            channels,
            down,
            middle,
            up,
        }
    }

    /// Parameters of the denoiser (the conditioning layers are counted by the caller).
    pub(crate) fn parameter_count(&self, config: &ModelConfig) -> usize {
        let plan = self.plan(config.base_channels);
        let d = config.cond_dim;
        let block = |b: &BlockPlan| {
            let res = 2 * b.cin
                + conv_parameters(b.cin, b.cout, 3)
                + linear_parameters(d, 2 * b.cout)
                + 2 * b.cout
                + conv_parameters(b.cout, b.cout, 3)
                + if b.cin == b.cout {
                    0
                } else {
                    conv_parameters(b.cin, b.cout, 1)
                };
            let attention = if b.attention {
                2 * b.cout
                    + conv_parameters(b.cout, 3 * b.cout, 1)
                    + conv_parameters(b.cout, b.cout, 1)
            } else {
                0
            };
            res + attention
        };
        let c0 = plan.channels[0];
        let mut count =
            conv_parameters(plan.input, c0, 3) + 2 * c0 + conv_parameters(c0, plan.input, 3);
        for (level, (blocks, downsample)) in plan.down.iter().enumerate() {
            count += blocks.iter().map(block).sum::<usize>();
            if *downsample {
                let c = plan.channels[level];
                count += conv_parameters(c, c, 3);
            }
        }
        count += plan.middle.iter().map(block).sum::<usize>();
        for (i, (blocks, upsample)) in plan.up.iter().enumerate() {
            count += blocks.iter().map(block).sum::<usize>();
            if *upsample {
                let c = plan.channels[plan.channels.len() - 1 - i];
                count += conv_parameters(c, c, 3);
            }
        }
        count
    }
}

impl UNetShape {
    /// Multiply-adds of one forward pass over a `side` x `side` input (the network's own
    /// space: pixels, or latents), convolutions and attention (norms and activations are
    /// a few operations per value, left out).
    pub(crate) fn forward_macs(&self, base: usize, side: usize) -> u64 {
        let plan = self.plan(base);
        let conv = |cin: usize, cout: usize, k: usize, side: usize| {
            (side * side * cin * cout * k * k) as u64
        };
        let block = |b: &BlockPlan, side: usize| {
            let res = conv(b.cin, b.cout, 3, side)
                + conv(b.cout, b.cout, 3, side)
                + if b.cin == b.cout {
                    0
                } else {
                    conv(b.cin, b.cout, 1, side)
                };
            let positions = side * side;
            let attention = if b.attention {
                conv(b.cout, 4 * b.cout, 1, side) + 2 * (positions * positions * b.cout) as u64
            } else {
                0
            };
            res + attention
        };
        let c0 = plan.channels[0];
        let mut macs = conv(plan.input, c0, 3, side) + conv(c0, plan.input, 3, side);
        let mut s = side;
        for (level, (blocks, downsample)) in plan.down.iter().enumerate() {
            macs += blocks.iter().map(|b| block(b, s)).sum::<u64>();
            if *downsample {
                let c = plan.channels[level];
                s /= 2;
                macs += conv(c, c, 3, s);
            }
        }
        macs += plan.middle.iter().map(|b| block(b, s)).sum::<u64>();
        for (i, (blocks, upsample)) in plan.up.iter().enumerate() {
            macs += blocks.iter().map(|b| block(b, s)).sum::<u64>();
            if *upsample {
                let c = plan.channels[plan.channels.len() - 1 - i];
                s *= 2;
                macs += conv(c, c, 3, s);
            }
        }
        macs
    }
}

/// A 3x3 convolution with a one-pixel border (the autoencoder's too).
pub(crate) fn conv3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// A layer that starts at zero: its block adds nothing until training says what to add.
fn zeroed(config: Conv2dConfig, device: &Device) -> Conv2d {
    config.with_initializer(Initializer::Zeros).init(device)
}

/// Two 3x3 convolutions with GroupNorm and SiLU, the second norm's output scaled and shifted
/// by the conditioning (when there is one), and a residual path (1x1 convolution where the
/// channel count changes). The autoencoder uses it unconditioned.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub(crate) norm1: GroupNorm,
    pub(crate) conv1: Conv2d,
    pub(crate) cond: Option<Linear>,
    pub(crate) norm2: GroupNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) skip: Option<Conv2d>,
}

impl ResBlock {
    pub(crate) fn new(
        cin: usize,
        cout: usize,
        cond_dim: Option<usize>,
        groups: usize,
        device: &Device,
    ) -> Self {
        Self {
            norm1: GroupNormConfig::new(groups, cin).init(device),
            conv1: conv3(cin, cout, 1, device),
            cond: cond_dim.map(|d| LinearConfig::new(d, 2 * cout).init(device)),
            norm2: GroupNormConfig::new(groups, cout).init(device),
            conv2: zeroed(
                Conv2dConfig::new([cout, cout], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
                device,
            ),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        }
    }

    /// `cond` is the conditioning vector after its SiLU, [batch, cond_dim].
    pub(crate) fn forward(&self, x: Tensor<4>, cond: Option<&Tensor<2>>) -> Tensor<4> {
        let h = self.conv1.forward(silu(normalise(&self.norm1, x.clone())));
        let h = normalise(&self.norm2, h);
        let h = match (&self.cond, cond) {
            (Some(layer), Some(cond)) => {
                let [batch, channels, _, _] = h.dims();
                let ss = layer
                    .forward(cond.clone())
                    .reshape([batch, 2 * channels, 1, 1]);
                let scale = ss.clone().narrow(1, 0, channels);
                let shift = ss.narrow(1, channels, channels);
                h.clone() * scale + h + shift
            }
            _ => h,
        };
        let h = self.conv2.forward(silu(h));
        let residual = match &self.skip {
            Some(skip) => skip.forward(x),
            None => x,
        };
        residual + h
    }
}

/// Multi-head self-attention over every position of a feature map, added to its input.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub(crate) heads: usize,
    pub(crate) norm: GroupNorm,
    pub(crate) qkv: Conv2d,
    pub(crate) out: Conv2d,
}

impl SelfAttention {
    fn new(channels: usize, head_channels: usize, groups: usize, device: &Device) -> Self {
        Self {
            heads: channels / head_channels,
            norm: GroupNormConfig::new(groups, channels).init(device),
            qkv: Conv2dConfig::new([channels, 3 * channels], [1, 1]).init(device),
            out: zeroed(Conv2dConfig::new([channels, channels], [1, 1]), device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, h, w] = x.dims();
        let d = channels / self.heads;
        let qkv = self
            .qkv
            .forward(normalise(&self.norm, x.clone()))
            .reshape([batch, 3 * self.heads, d, h * w])
            .swap_dims(2, 3);
        let part = |i: usize| qkv.clone().narrow(1, i * self.heads, self.heads);
        let attended = attention(
            part(0),
            part(1),
            part(2),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        let attended = attended.swap_dims(2, 3).reshape([batch, channels, h, w]);
        x + self.out.forward(attended)
    }
}

/// A residual block and the attention after it, if its level has one.
#[derive(Module, Debug)]
pub struct Block {
    pub(crate) res: ResBlock,
    pub(crate) attention: Option<SelfAttention>,
}

impl Block {
    fn new(plan: &BlockPlan, config: &ModelConfig, head_channels: usize, device: &Device) -> Self {
        Self {
            res: ResBlock::new(
                plan.cin,
                plan.cout,
                Some(config.cond_dim),
                config.groups,
                device,
            ),
            attention: plan
                .attention
                .then(|| SelfAttention::new(plan.cout, head_channels, config.groups, device)),
        }
    }

    fn forward(&self, x: Tensor<4>, cond: &Tensor<2>) -> Tensor<4> {
        let h = self.res.forward(x, Some(cond));
        match &self.attention {
            Some(attention) => attention.forward(h),
            None => h,
        }
    }
}

/// A level's blocks and the resampling after them (stride-2 convolution down, nearest
/// upsampling then a convolution up).
#[derive(Module, Debug)]
pub struct Level {
    pub(crate) blocks: Vec<Block>,
    pub(crate) resample: Option<Conv2d>,
}

#[derive(Module, Debug)]
pub struct UNet {
    /// The labels behind the embeddings' rows.
    #[module(skip)]
    pub(crate) vocabulary: Vocabulary,
    pub(crate) time_in: Linear,
    pub(crate) time_out: Linear,
    pub(crate) room_embedding: Embedding,
    pub(crate) style_embedding: Embedding,
    pub(crate) stem: Conv2d,
    pub(crate) down: Vec<Level>,
    pub(crate) middle: Vec<Block>,
    pub(crate) up: Vec<Level>,
    pub(crate) out_norm: GroupNorm,
    pub(crate) out: Conv2d,
}

super::conditioned_by_labels!(UNet);

impl UNet {
    pub(crate) fn new(config: &ModelConfig, shape: &UNetShape, device: &Device) -> Self {
        let plan = shape.plan(config.base_channels);
        let block = |b: &BlockPlan| Block::new(b, config, shape.head_channels, device);
        let (time_in, time_out, room_embedding, style_embedding) =
            super::label_layers(config, device);
        let c0 = plan.channels[0];
        let down = plan
            .down
            .iter()
            .enumerate()
            .map(|(level, (blocks, downsample))| Level {
                blocks: blocks.iter().map(block).collect(),
                resample: downsample.then(|| {
                    let c = plan.channels[level];
                    conv3(c, c, 2, device)
                }),
            })
            .collect();
        let up = plan
            .up
            .iter()
            .enumerate()
            .map(|(i, (blocks, upsample))| Level {
                blocks: blocks.iter().map(block).collect(),
                resample: upsample.then(|| {
                    let c = plan.channels[plan.channels.len() - 1 - i];
                    conv3(c, c, 1, device)
                }),
            })
            .collect();
        Self {
            vocabulary: config.vocabulary.clone(),
            time_in,
            time_out,
            room_embedding,
            style_embedding,
            stem: conv3(plan.input, c0, 1, device),
            down,
            middle: plan.middle.iter().map(block).collect(),
            up,
            out_norm: GroupNormConfig::new(config.groups, c0).init(device),
            out: zeroed(
                Conv2dConfig::new([c0, plan.input], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
                device,
            ),
        }
    }

    /// See [`super::Generator::forward`]; h and w multiples of 2^(levels - 1).
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, conditions: &[Condition]) -> Tensor<4> {
        // Every block reads the conditioning after a SiLU: applied once here.
        let cond = silu(self.labels().forward(t, conditions));
        let x = x.cast(self.stem.weight.val().dtype());
        let mut h = self.stem.forward(x);
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for block in &level.blocks {
                h = block.forward(h, &cond);
                skips.push(h.clone());
            }
            if let Some(down) = &level.resample {
                h = down.forward(h);
                skips.push(h.clone());
            }
        }
        for block in &self.middle {
            h = block.forward(h, &cond);
        }
        for level in &self.up {
            for block in &level.blocks {
                let skip = skips.pop().expect("one skip per block up");
                h = block.forward(Tensor::cat(vec![h, skip], 1), &cond);
            }
            if let Some(up) = &level.resample {
                h = up.forward(upsample(h));
            }
        }
        self.out.forward(silu(normalise(&self.out_norm, h)))
    }
}
