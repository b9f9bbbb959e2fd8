//! The first generator network: a small conditional U-Net over RGB pixels (three levels,
//! one block each, no attention), the 64 and 128 px models.

use super::{Condition, ModelConfig, conv_parameters, linear_parameters, normalise, upsample};
use crate::labels::Vocabulary;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

/// Parameters of the network itself (the conditioning layers are counted by the caller).
pub(crate) fn parameter_count(config: &ModelConfig) -> usize {
    let (c, d) = (config.base_channels, config.cond_dim);
    let conv = conv_parameters;
    let block = |cin: usize, cout: usize| {
        2 * cin
            + conv(cin, cout, 3)
            + linear_parameters(d, cout)
            + 2 * cout
            + conv(cout, cout, 3)
            + if cin == cout { 0 } else { conv(cin, cout, 1) }
    };
    conv(3, c, 3)
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

#[derive(Module, Debug)]
pub struct UNetV1 {
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

super::conditioned_by_labels!(UNetV1);

impl UNetV1 {
    pub(crate) fn new(config: &ModelConfig, device: &Device) -> Self {
        let c = config.base_channels;
        let block = |cin, cout| ResBlock::new(cin, cout, config.cond_dim, config.groups, device);
        let conv = |cin, cout, stride| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let (time_in, time_out, room_embedding, style_embedding) =
            super::label_layers(config, device);
        Self {
            time_freqs: config.cond_dim / 2,
            time_in,
            time_out,
            vocabulary: config.vocabulary.clone(),
            room_embedding,
            style_embedding,
            stem: conv(3, c, 1),
            down0: block(c, c),
            pool0: conv(c, c, 2),
            down1: block(c, 2 * c),
            pool1: conv(2 * c, 2 * c, 2),
            mid0: block(2 * c, 4 * c),
            mid1: block(4 * c, 4 * c),
            up1: block(4 * c + 2 * c, 2 * c),
            up0: block(2 * c + c, c),
            out_norm: GroupNormConfig::new(config.groups, c).init(device),
            out: conv(c, 3, 1),
        }
    }

    /// See [`super::Generator::forward`]; h and w multiples of 4.
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, conditions: &[Condition]) -> Tensor<4> {
        let cond = self.labels().forward(t, conditions);
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
