//! Generator v2's autoencoder's decoder written out for the CPU: latents to pixels, once per
//! design.

use super::floats;
use super::layers::{Block, Conv, Map, Norm};
use crate::model::autoencoder::Autoencoder;
use burn::tensor::{Tensor, TensorData};

struct Up {
    conv: Conv,
    block: Block,
}

pub(super) struct CpuDecoder {
    latent_mean: Vec<f32>,
    latent_std: Vec<f32>,
    stem: Conv,
    block: Block,
    up: Vec<Up>,
    out_norm: Norm,
    out: Conv,
}

fn unconditioned(block: &crate::model::unet::ResBlock) -> Block {
    Block::unconditioned(block).expect("the autoencoder's blocks take no conditioning")
}

impl CpuDecoder {
    pub(super) fn new(autoencoder: &Autoencoder) -> Self {
        let d = &autoencoder.decoder;
        Self {
            latent_mean: floats(autoencoder.latent_mean.val().into_data()),
            latent_std: floats(autoencoder.latent_std.val().into_data()),
            stem: Conv::new(&d.stem),
            block: unconditioned(&d.block),
            up: d
                .up
                .iter()
                .map(|up| Up {
                    conv: Conv::new(&up.conv),
                    block: unconditioned(&up.block),
                })
                .collect(),
            out_norm: Norm::new(&d.out_norm),
            out: Conv::new(&d.out),
        }
    }

    /// Standardised latents [batch, channels, h, w] to images (see [`Autoencoder::decode`]).
    pub(super) fn decode(&self, latents: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = latents.dims();
        let device = latents.device();
        let z = floats(latents.into_data());
        let plane = height * width;
        let mut images = Vec::new();
        for latent in z.chunks_exact(channels * plane) {
            let raw: Vec<f32> = latent
                .iter()
                .enumerate()
                .map(|(i, v)| v * self.latent_std[i / plane] + self.latent_mean[i / plane])
                .collect();
            let h = self
                .stem
                .apply(&Map::from_planes(&raw, channels, height, width));
            let mut h = self.block.forward(&h, &[]);
            for up in &self.up {
                h = up
                    .block
                    .forward(&up.conv.apply(&Map::upsampled(&h, None)), &[]);
            }
            let mut a = Map::zeros(h.height, h.width, h.channels);
            self.out_norm.silu(&h, None, &mut a);
            self.out.apply(&a).to_planes(&mut images);
        }
        let side = |s: usize| s << self.up.len();
        let shape = [batch, 3, side(height), side(width)];
        Tensor::from_data(TensorData::new(images, shape), &device)
    }
}
