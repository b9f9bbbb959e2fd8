//! A patch critic for training the autoencoder's decoder adversarially.
//!
//! An L1 (and edge) loss alone teaches the decoder the mean of every image a latent could
//! stand for, which is blur: fabric checks, thin chair legs and wood grain are what it
//! loses, and what the eval's autoencoder floor measures (BENCHMARKS.md, fifteenth session:
//! 1.77x the real-vs-real Fréchet distance). A critic that tells decoded crops from renders
//! patch by patch (PatchGAN, Isola et al. 2017; the adversarial term of VQGAN, Esser et al.
//! 2021, and of TAESD) pushes the decoder towards detail a render would have, while the L1
//! term keeps it on the latent's content. Hinge losses, as in those works.
//!
//! The critic is not part of the weights and is not checkpointed: a resumed run starts a
//! fresh one, ramped in again (see [`ADVERSARIAL_RAMP`]).
//!
//! Not yet a win: its first GPU run (weight 0.1) made the decoder far worse, with critic
//! losses read there that a hinge cannot give, while more L1 steps alone made it better
//! (BENCHMARKS.md, sixteenth session).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, activation};

/// Channels of the critic's stride-2 convolutions (4x4 kernels): a 128 px crop becomes 16 x 16
/// patch scores, each seeing 38 px of it.
const CHANNELS: [usize; 4] = [3, 64, 128, 256];

/// Critic steps over which the decoder's adversarial weight rises from 0 to its full value:
/// a fresh critic's judgement is noise until it has seen some renders.
pub const ADVERSARIAL_RAMP: u64 = 500;

/// A small patch discriminator: stride-2 convolutions with leaky ReLUs, group-normalised
/// after the first (so that no layer's scores can grow without bound while the decoder
/// chases them), and a last convolution to one score per patch.
#[derive(Module, Debug)]
pub struct Critic {
    blocks: Vec<Block>,
    score: Conv2d,
}

#[derive(Module, Debug)]
struct Block {
    conv: Conv2d,
    norm: Option<GroupNorm>,
}

impl Critic {
    pub fn new(device: &Device) -> Self {
        let blocks = CHANNELS
            .windows(2)
            .enumerate()
            .map(|(i, pair)| Block {
                conv: Conv2dConfig::new([pair[0], pair[1]], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                norm: (i > 0).then(|| GroupNormConfig::new(32, pair[1]).init(device)),
            })
            .collect();
        let score = Conv2dConfig::new([CHANNELS[CHANNELS.len() - 1], 1], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device);
        Self { blocks, score }
    }

    /// One score per patch of `images` ([n, 3, h, w], the renders' value range): high for
    /// what looks rendered.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let features = self.blocks.iter().fold(images, |x, block| {
            let x = block.conv.forward(x);
            let x = match &block.norm {
                Some(norm) => norm.forward(x),
                None => x,
            };
            activation::leaky_relu(x, 0.2)
        });
        self.score.forward(features)
    }
}

/// The critic, its optimizer, and how much its judgement weighs in the decoder's loss.
pub struct Adversary {
    critic: Option<Critic>,
    optimizer: ModuleOptimizer,
    weight: f32,
    steps: u64,
}

impl Adversary {
    /// A fresh critic on `device` (an autodiff device: it learns); `weight` is the decoder's
    /// adversarial term's once ramped in.
    pub fn new(weight: f32, device: &Device) -> Self {
        Self {
            critic: Some(Critic::new(device)),
            // β1 = 0.5, as GANs are usually trained: momentum lags a moving opponent.
            optimizer: AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9).init(),
            weight,
            steps: 0,
        }
    }

    fn critic(&self) -> &Critic {
        self.critic
            .as_ref()
            .expect("the critic is only absent during its step")
    }

    /// The decoder's adversarial loss on its `decoded` crops: the critic's scores, negated
    /// (hinge generator loss), times the ramped weight. Its gradient reaches the decoder
    /// through `decoded`; the critic's own parameters are not stepped by it.
    pub fn decoder_loss(&self, decoded: Tensor<4>) -> Tensor<1> {
        let ramp = (self.steps as f32 / ADVERSARIAL_RAMP as f32).min(1.0);
        -self.critic().forward(decoded).mean() * (self.weight * ramp)
    }

    /// One step of the critic at learning rate `lr`: `renders` are real, `decoded` (the
    /// decoder's output for them, cut from its graph here) is not. Returns the critic's
    /// hinge loss, without waiting for it.
    pub fn step(&mut self, lr: f64, renders: Tensor<4>, decoded: Tensor<4>) -> Tensor<1> {
        let critic = self
            .critic
            .take()
            .expect("the critic is only absent during its step");
        let real = activation::relu(-critic.forward(renders) + 1.0).mean();
        let fake = activation::relu(critic.forward(decoded.detach()) + 1.0).mean();
        let loss = real + fake;
        let gradients = GradientsParams::from_grads(loss.backward(), &critic);
        self.critic = Some(self.optimizer.step(lr, critic, gradients));
        self.steps += 1;
        loss.detach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn device() -> Device {
        Device::flex().autodiff()
    }

    #[test]
    fn the_critic_scores_one_patch_per_eighth_of_the_side() {
        let device = device();
        let images = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, &device);
        assert_eq!(Critic::new(&device).forward(images).dims(), [2, 1, 8, 8]);
    }

    #[test]
    fn the_critic_learns_to_tell_sharp_from_flat() {
        // Renders with detail (noise) against the same images flattened to their mean: what
        // a blurring decoder makes of them. A critic that learns lowers its hinge loss and
        // scores the flat ones below the sharp ones.
        let device = device();
        device.seed(7);
        let mut adversary = Adversary::new(0.1, &device);
        let sharp = Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
        let flat = sharp
            .clone()
            .mean_dim(2)
            .mean_dim(3)
            .repeat_dim(2, 32)
            .repeat_dim(3, 32);
        let first = adversary
            .step(2e-4, sharp.clone(), flat.clone())
            .into_scalar::<f32>();
        let mut last = first;
        for _ in 0..40 {
            last = adversary
                .step(2e-4, sharp.clone(), flat.clone())
                .into_scalar::<f32>();
        }
        assert!(last < first * 0.5, "hinge loss {first} -> {last}");
        let score = |x: Tensor<4>| adversary.critic().forward(x).mean().into_scalar::<f32>();
        assert!(score(sharp) > score(flat.clone()));
        // The decoder's term pushes towards what the critic calls real: its gradient on the
        // flat images is not zero once ramped in.
        let flat = Tensor::<4>::from_data(flat.into_data(), &device).require_grad();
        let gradients = adversary.decoder_loss(flat.clone()).backward();
        let gradient: TensorData = flat.grad(&gradients).expect("a gradient").into_data();
        assert!(gradient.iter::<f32>().any(|g| g != 0.0));
    }
}
