//! The generators' forward passes written out for the CPU, with their parameters copied out
//! once, run without burn's general-purpose operators: the first U-Net ([`CpuUNetV1`]) and
//! generator v2's transformer with its autoencoder's decoder ([`CpuGeneratorV2`]).
//!
//! Why by hand: on burn's CPU backend less than a third of a generation was arithmetic. Its
//! convolutions copy every input nine times (im2col) around the matrix product, its SiLU calls a
//! scalar `exp` per element, and every operator zeroes a fresh output (BENCHMARKS.md, "CPU
//! inference"). Here activations stay channels-last with a zero border of one pixel, so each row
//! of a 3x3 kernel reads the input as an ordinary strided matrix: a convolution is three matrix
//! products (`gemm`, the kernels burn uses too) straight from the input, with no copies. GroupNorm,
//! the conditioning add and SiLU are one pass with a vectorisable `exp`; the residual add is the
//! second convolution accumulating onto the skip path. The transformer's attention reads its
//! heads in place from the projected tokens, with no transposed copies.
//!
//! Each result matches its burn model within float rounding (tested against it with every
//! parameter scrambled), so the two are interchangeable; [`velocity_model`] picks this one on
//! the CPU device wherever a network has a pass here.

mod decoder;
mod dit;
mod layers;
mod unet_v1;

pub use dit::CpuGeneratorV2;
pub use unet_v1::CpuUNetV1;

use crate::model::{Condition, Denoiser, Generator, GeneratorV2};
use crate::sampler::VelocityModel;
use burn::tensor::{Device, Tensor, TensorData};

/// What samples `generator` on `device`: its CPU pass on the CPU device where it has one, else
/// the burn model.
pub fn velocity_model(generator: Generator, device: &Device) -> Box<dyn VelocityModel> {
    if *device != Device::flex() {
        return Box::new(generator);
    }
    match generator {
        Generator::V1(unet) => Box::new(CpuUNetV1::new(&unet)),
        Generator::V2(GeneratorV2 {
            denoiser: Denoiser::DiT(dit),
            autoencoder,
        }) => Box::new(CpuGeneratorV2::new(dit, autoencoder)),
        model => Box::new(model),
    }
}

/// The values of a CPU tensor as f32.
fn floats(data: TensorData) -> Vec<f32> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .expect("CPU tensors read back as f32")
}

/// Runs `image` over each image of the batch `x` (its values, its time and condition,
/// appending as many values as it read): the velocities, in `x`'s shape.
fn per_image(
    x: Tensor<4>,
    t: Tensor<1>,
    conditions: &[Condition],
    image: impl Fn(&[f32], f32, Condition, &mut Vec<f32>),
) -> Tensor<4> {
    let shape = x.dims();
    let device = x.device();
    let (x, t) = (floats(x.into_data()), floats(t.into_data()));
    assert!(t.len() == shape[0] && conditions.len() == shape[0]);
    let mut out = Vec::with_capacity(x.len());
    let values = shape[1..].iter().product();
    for ((x, &t), &condition) in x.chunks_exact(values).zip(&t).zip(conditions) {
        image(x, t, condition, &mut out);
    }
    Tensor::from_data(TensorData::new(out, shape), &device)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::layers::{exp, gelu, silu};
    use crate::labels::{RoomType, Style};
    use crate::model::{Condition, Generator, ModelConfig};
    use crate::sampler::{VelocityModel, seeded_noise};
    use burn::module::{Module, ModuleMapper, Param};
    use burn::tensor::{Device, Tensor, TensorData};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn exp_is_accurate_over_the_range_silu_sees() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.04;
            let (ours, std) = (exp(x), x.exp());
            assert!(
                ((ours - std) / std).abs() < 4e-7,
                "exp({x}) = {ours}, std {std}"
            );
        }
        assert!(exp(-200.0) < 1e-37 && exp(200.0) > 1e38 && exp(200.0).is_finite());
        assert!(silu(-200.0).abs() < 1e-30);
        assert_eq!(silu(200.0), 200.0);
    }

    #[test]
    fn gelu_matches_burns() {
        let xs: Vec<f32> = (-800..=800).map(|i| i as f32 * 0.01).collect();
        let device = Device::flex();
        let expected =
            burn::tensor::activation::gelu(Tensor::<1>::from_floats(xs.as_slice(), &device))
                .into_data()
                .try_into_vec::<f32>()
                .unwrap();
        for (x, e) in xs.iter().zip(expected) {
            assert!(
                (gelu(*x) - e).abs() < 1e-6,
                "gelu({x}) = {} not {e}",
                gelu(*x)
            );
        }
    }

    /// `config`'s model with noise added to every parameter (biases, norms and zero-initialised
    /// layers included), so that a misplaced parameter shows.
    pub(crate) fn scrambled(config: ModelConfig) -> Generator {
        struct Scramble(ChaCha8Rng);
        impl ModuleMapper for Scramble {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                param.map(|t| {
                    let shape = t.dims();
                    let count = shape.iter().product();
                    let noise: Vec<f32> = (0..count)
                        .map(|_| 0.2 * Distribution::<f32>::sample(&StandardNormal, &mut self.0))
                        .collect();
                    let device = t.device();
                    t + Tensor::from_data(TensorData::new(noise, shape), &device)
                })
            }
        }
        config
            .init(&Device::flex())
            .map(&mut Scramble(ChaCha8Rng::seed_from_u64(5)))
    }

    /// `ours` is within float rounding of `expected`, which is not degenerate.
    pub(crate) fn assert_close(expected: &[f32], ours: &[f32]) {
        assert_eq!(ours.len(), expected.len());
        let scale = expected.iter().map(|v| v.abs()).fold(0f32, f32::max);
        assert!(scale > 0.1, "a degenerate model proves nothing ({scale})");
        let worst = ours
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-4 * scale.max(1.0),
            "max difference {worst} (scale {scale})"
        );
    }

    /// `fast`'s velocities agree with `burn`'s for a batch of three inputs of `shape`, at three
    /// times, with conditional and unconditional rows, following `layout` if given.
    pub(crate) fn agree(
        burn: &dyn VelocityModel,
        fast: &dyn VelocityModel,
        shape: [usize; 3],
        layout: Option<Tensor<4>>,
    ) {
        let device = Device::flex();
        let conditions = [
            Condition::new(RoomType::ALL[1], Style::ALL[2]),
            Condition::UNCONDITIONAL,
            Condition::new(RoomType::ALL[0], Style::ALL[0]),
            // What a guidance-distilled network reads (and the others ignore).
            Condition::new(RoomType::ALL[2], Style::ALL[1]).guided(3.5),
            // And a step-distilled one.
            Condition::new(RoomType::ALL[1], Style::ALL[0])
                .guided(2.0)
                .stepping(Some(0.25)),
        ];
        let batch = conditions.len();
        let x: Vec<f32> = (0..batch as u64)
            .flat_map(|s| seeded_noise(s, shape))
            .collect();
        let t = [0.0, 0.35, 0.9, 0.6, 0.5];
        let dims = [batch, shape[0], shape[1], shape[2]];
        let velocity = |model: &dyn VelocityModel| {
            model
                .velocity(
                    Tensor::from_data(TensorData::new(x.clone(), dims), &device),
                    Tensor::from_data(TensorData::new(t.to_vec(), [batch]), &device),
                    &conditions,
                    layout.as_ref(),
                )
                .into_data()
                .try_into_vec::<f32>()
                .unwrap()
        };
        assert_close(&velocity(burn), &velocity(fast));
    }
}
