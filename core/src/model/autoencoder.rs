//! Generator v2's autoencoder: images to small latents (f = 2^(levels - 1): 8 with four
//! levels, so a 256 px picture is 32 x 32 latents) and back, convolutions only, in the spirit
//! of TAESD (a tiny autoencoder for latent diffusion). Trained first, on renders, with an
//! L1 + edge loss; the denoiser then learns the flow over its latents, standardised per
//! channel by statistics measured once on renders and kept with the weights.

use super::unet::{ResBlock, conv3};
use super::{conv_parameters, normalise, upsample};
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoencoderShape {
    /// Channels of a latent.
    pub latent_channels: usize,
    /// Channels at full resolution, then after each halving.
    pub channels: Vec<usize>,
}

const MAX_LATENT_CHANNELS: usize = 64;
const MAX_CHANNELS: usize = 512;

impl AutoencoderShape {
    /// How many times smaller a latent's side is than the picture's.
    pub fn factor(&self) -> usize {
        1 << (self.channels.len() - 1)
    }

    pub(crate) fn validate(&self, groups: usize) -> Result<(), String> {
        if !(1..=MAX_LATENT_CHANNELS).contains(&self.latent_channels) {
            return Err(format!(
                "latent_channels must be from 1 to {MAX_LATENT_CHANNELS}, got {}",
                self.latent_channels
            ));
        }
        if !(2..=5).contains(&self.channels.len()) {
            return Err(format!(
                "the autoencoder's channels must name 2 to 5 levels, got {}",
                self.channels.len()
            ));
        }
        if let Some(c) = self
            .channels
            .iter()
            .find(|c| !(1..=MAX_CHANNELS).contains(*c) || !c.is_multiple_of(groups))
        {
            return Err(format!(
                "the autoencoder's channels must be from 1 to {MAX_CHANNELS} and multiples of groups ({groups}), got {c}"
            ));
        }
        Ok(())
    }

    /// Multiply-adds of encoding and of decoding one `side` px picture (see
    /// [`super::ModelConfig::forward_macs`]).
    pub(crate) fn macs(&self, side: usize) -> (u64, u64) {
        let conv = |cin: usize, cout: usize, side: usize| (side * side * cin * cout * 9) as u64;
        let c = &self.channels;
        let last = *c.last().expect("validated: at least two levels");
        let (mut encode, mut s) = (conv(3, c[0], side), side);
        for p in c.windows(2) {
            s /= 2;
            encode += conv(p[0], p[1], s) + 2 * conv(p[1], p[1], s);
        }
        encode += conv(last, self.latent_channels, s);
        let mut decode = conv(self.latent_channels, last, s) + 2 * conv(last, last, s);
        for p in c.windows(2).rev() {
            s *= 2;
            decode += conv(p[1], p[0], s) + 2 * conv(p[0], p[0], s);
        }
        decode += conv(c[0], 3, s);
        (encode, decode)
    }

    pub(crate) fn parameter_count(&self, _groups: usize) -> usize {
        let block = |c: usize| 4 * c + 2 * conv_parameters(c, c, 3);
        let c = &self.channels;
        let last = *c.last().expect("validated: at least two levels");
        let encoder = conv_parameters(3, c[0], 3)
            + c.windows(2)
                .map(|p| conv_parameters(p[0], p[1], 3) + block(p[1]))
                .sum::<usize>()
            + 2 * last
            + conv_parameters(last, self.latent_channels, 3);
        let decoder = conv_parameters(self.latent_channels, last, 3)
            + block(last)
            + c.windows(2)
                .map(|p| conv_parameters(p[1], p[0], 3) + block(p[0]))
                .sum::<usize>()
            + 2 * c[0]
            + conv_parameters(c[0], 3, 3);
        encoder + decoder + 2 * self.latent_channels
    }
}

/// A stride-2 convolution to the level's channels, then a residual block.
#[derive(Module, Debug)]
pub struct Down {
    pub(crate) conv: Conv2d,
    pub(crate) block: ResBlock,
}

/// Nearest upsampling, a convolution to the level's channels, then a residual block.
#[derive(Module, Debug)]
pub struct Up {
    pub(crate) conv: Conv2d,
    pub(crate) block: ResBlock,
}

#[derive(Module, Debug)]
pub struct Encoder {
    pub(crate) stem: Conv2d,
    pub(crate) down: Vec<Down>,
    pub(crate) out_norm: GroupNorm,
    pub(crate) out: Conv2d,
}

#[derive(Module, Debug)]
pub struct Decoder {
    pub(crate) stem: Conv2d,
    pub(crate) block: ResBlock,
    pub(crate) up: Vec<Up>,
    pub(crate) out_norm: GroupNorm,
    pub(crate) out: Conv2d,
}

#[derive(Module, Debug)]
pub struct Autoencoder {
    pub(crate) encoder: Encoder,
    pub(crate) decoder: Decoder,
    /// Per-channel mean and standard deviation of the encoder's output over renders: the
    /// denoiser sees (z - mean) / std. Not trained; measured by
    /// [`Autoencoder::with_statistics`] (0 and 1 until then).
    pub(crate) latent_mean: Param<Tensor<1>>,
    pub(crate) latent_std: Param<Tensor<1>>,
}

impl Autoencoder {
    pub(crate) fn new(shape: &AutoencoderShape, groups: usize, device: &Device) -> Self {
        let c = &shape.channels;
        let last = *c.last().expect("validated: at least two levels");
        let block = |c: usize| ResBlock::new(c, c, None, groups, device);
        let encoder = Encoder {
            stem: conv3(3, c[0], 1, device),
            down: c
                .windows(2)
                .map(|p| Down {
                    conv: conv3(p[0], p[1], 2, device),
                    block: block(p[1]),
                })
                .collect(),
            out_norm: GroupNormConfig::new(groups, last).init(device),
            out: conv3(last, shape.latent_channels, 1, device),
        };
        let decoder = Decoder {
            stem: conv3(shape.latent_channels, last, 1, device),
            block: block(last),
            up: c
                .windows(2)
                .rev()
                .map(|p| Up {
                    conv: conv3(p[1], p[0], 1, device),
                    block: block(p[0]),
                })
                .collect(),
            out_norm: GroupNormConfig::new(groups, c[0]).init(device),
            out: conv3(c[0], 3, 1, device),
        };
        let constant = |value: f32| {
            Param::from_tensor(Tensor::<1>::full([shape.latent_channels], value, device))
                .set_require_grad(false)
        };
        Self {
            encoder,
            decoder,
            latent_mean: constant(0.0),
            latent_std: constant(1.0),
        }
    }

    /// The encoder's raw latents, [batch, latent_channels, h / f, w / f].
    pub fn encode_raw(&self, images: Tensor<4>) -> Tensor<4> {
        let e = &self.encoder;
        let mut h = e.stem.forward(images.cast(e.stem.weight.val().dtype()));
        for down in &e.down {
            h = down.block.forward(down.conv.forward(h), None);
        }
        e.out.forward(silu(normalise(&e.out_norm, h)))
    }

    /// Raw latents back to images in [-1, 1] (roughly: the decoder is not clamped).
    pub fn decode_raw(&self, latents: Tensor<4>) -> Tensor<4> {
        let d = &self.decoder;
        let h = d.stem.forward(latents.cast(d.stem.weight.val().dtype()));
        let mut h = d.block.forward(h, None);
        for up in &d.up {
            h = up.block.forward(up.conv.forward(upsample(h)), None);
        }
        d.out.forward(silu(normalise(&d.out_norm, h)))
    }

    fn statistics(&self, dtype: burn::tensor::DType) -> (Tensor<4>, Tensor<4>) {
        let shape = |p: &Param<Tensor<1>>| {
            let c = p.dims()[0];
            p.val().cast(dtype).reshape([1, c, 1, 1])
        };
        (shape(&self.latent_mean), shape(&self.latent_std))
    }

    /// Images to standardised latents: what the denoiser learns the flow over.
    pub fn encode(&self, images: Tensor<4>) -> Tensor<4> {
        let z = self.encode_raw(images);
        let (mean, std) = self.statistics(z.dtype());
        (z - mean) / std
    }

    /// Standardised latents to images.
    pub fn decode(&self, latents: Tensor<4>) -> Tensor<4> {
        let (mean, std) = self.statistics(latents.dtype());
        self.decode_raw(latents * std + mean)
    }

    /// Whether the latent statistics have been measured (they start at exactly 0 and 1).
    pub fn has_statistics(&self) -> bool {
        let values = |p: &Param<Tensor<1>>| {
            p.val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default()
        };
        values(&self.latent_mean).iter().any(|&m| m != 0.0)
            || values(&self.latent_std).iter().any(|&s| s != 1.0)
    }

    /// The autoencoder with its latent statistics measured on `images`.
    pub fn with_statistics(mut self, images: Tensor<4>) -> Self {
        let z = self
            .encode_raw(images)
            .detach()
            .cast(burn::tensor::DType::F32);
        let c = z.dims()[1];
        // Per channel over batch and positions: [c, everything else].
        let flat = z.swap_dims(0, 1).reshape([c as i32, -1]);
        let mean = flat.clone().mean_dim(1);
        let std = (flat - mean.clone())
            .powi_scalar(2)
            .mean_dim(1)
            .sqrt()
            .clamp_min(1e-4);
        let device = self.latent_mean.device();
        // The same ids, so an optimizer state or checkpoint keyed by them stays valid.
        let param = |id, t: Tensor<2>| {
            Param::initialized(id, t.reshape([c]).to_device(&device)).set_require_grad(false)
        };
        self.latent_mean = param(self.latent_mean.id, mean);
        self.latent_std = param(self.latent_std.id, std);
        self
    }
}
