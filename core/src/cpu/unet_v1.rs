//! The first U-Net ([`UNetV1`]) written out for the CPU: the 64 and 128 px models.

use super::layers::{Block, Conditioning, Conv, Map, Norm};
use super::per_image;
use crate::model::Condition;
use crate::model::unet_v1::UNetV1;
use crate::sampler::VelocityModel;
use burn::tensor::Tensor;

/// The first U-Net's parameters in the layouts the pass below reads.
pub struct CpuUNetV1 {
    conditioning: Conditioning,
    stem: Conv,
    down0: Block,
    pool0: Conv,
    down1: Block,
    pool1: Conv,
    mid0: Block,
    mid1: Block,
    up1: Block,
    up0: Block,
    out_norm: Norm,
    out: Conv,
}

impl CpuUNetV1 {
    pub fn new(model: &UNetV1) -> Self {
        Self {
            conditioning: Conditioning::new(model.labels()),
            stem: Conv::new(&model.stem),
            down0: Block::new(&model.down0),
            pool0: Conv::new(&model.pool0),
            down1: Block::new(&model.down1),
            pool1: Conv::new(&model.pool1),
            mid0: Block::new(&model.mid0),
            mid1: Block::new(&model.mid1),
            up1: Block::new(&model.up1),
            up0: Block::new(&model.up0),
            out_norm: Norm::new(&model.out_norm),
            out: Conv::new(&model.out),
        }
    }

    /// One image ([3, height, width]) to its velocity, appended to `out`.
    fn forward_image(
        &self,
        x: &[f32],
        height: usize,
        width: usize,
        t: f32,
        condition: Condition,
        out: &mut Vec<f32>,
    ) {
        let cond = self.conditioning.silu(t, condition);
        let x = Map::from_planes(x, 3, height, width);
        let h0 = self.down0.forward(&self.stem.apply(&x), &cond);
        let h1 = self.down1.forward(&self.pool0.apply(&h0), &cond);
        let h = self.mid0.forward(&self.pool1.apply(&h1), &cond);
        let h = self.mid1.forward(&h, &cond);
        let h = self.up1.forward(&Map::upsampled(&h, Some(&h1)), &cond);
        let h = self.up0.forward(&Map::upsampled(&h, Some(&h0)), &cond);
        let mut a = Map::zeros(h.height, h.width, h.channels);
        self.out_norm.silu(&h, None, &mut a);
        self.out.apply(&a).to_planes(out);
    }
}

impl VelocityModel for CpuUNetV1 {
    /// The first U-Net reads no layout.
    fn velocity(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        _layout: Option<&Tensor<4>>,
    ) -> Tensor<4> {
        let [_, channels, height, width] = x.dims();
        assert_eq!(channels, 3, "RGB input");
        assert!(height % 4 == 0 && width % 4 == 0, "sides multiples of 4");
        per_image(x, t, conditions, |x, t, condition, out| {
            self.forward_image(x, height, width, t, condition, out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Generator, ModelConfig};

    #[test]
    fn matches_the_burn_model() {
        let model = super::super::tests::scrambled(ModelConfig::default());
        let Generator::V1(unet) = &model else {
            unreachable!("the default is the first U-Net")
        };
        let fast = CpuUNetV1::new(unet);
        super::super::tests::agree(&model, &fast, [3, 16, 16], None);
    }
}
