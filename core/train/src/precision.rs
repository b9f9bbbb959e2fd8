//! Mixed-precision training: the convolutions, linear layers and embeddings compute in f16
//! (half the memory traffic, and the GPU's tensor-core kernels), while the parameters the
//! optimizer updates, its moments, GroupNorm and the loss stay in f32.
//!
//! Each step casts the f32 parameters into a compute copy of the model. burn's cast is
//! differentiable (the gradient is cast back), so the gradients land on the f32 parameters.
//! The loss is multiplied by [`LOSS_SCALE`] before the backward pass so that the small
//! gradients survive f16 (below 6e-5 they lose precision, below 6e-8 they vanish), and the
//! gradients are divided by it again in f32 before the optimizer sees them.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{FloatDType, Tensor};

/// What a training step computes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrainingPrecision {
    /// Everything in the device's float type.
    #[default]
    Uniform,
    /// f16 compute from f32 parameters, with a scaled loss (see the module's documentation).
    MixedF16,
}

/// The loss multiplier of [`TrainingPrecision::MixedF16`]. The mean-squared loss over a batch of
/// b x 3 x 64 x 64 values gives each prediction a gradient near 1e-6 (b = 64); scaled, it sits
/// near 1e-3, well inside f16's normal range, while a weight's gradient (a sum over the batch's
/// pixels) stays far below f16's limit of 65,504. A fixed scale keeps a step free of host
/// reads; an overflow makes the loss non-finite, which stops the run when the loss is next
/// read (`TrainError::Diverged`).
pub const LOSS_SCALE: f32 = 1024.0;

impl TrainingPrecision {
    /// The model a step's forward pass runs: `model` itself, or its compute copy.
    pub fn compute_model<M: Module>(self, model: &M) -> M {
        match self {
            TrainingPrecision::Uniform => model.clone(),
            TrainingPrecision::MixedF16 => model.clone().map(&mut CastOutsideNorms {
                dtype: FloatDType::F16,
                owners: Vec::new(),
            }),
        }
    }

    /// The factor the loss is multiplied by before the backward pass.
    pub fn loss_scale(self) -> f32 {
        match self {
            TrainingPrecision::Uniform => 1.0,
            TrainingPrecision::MixedF16 => LOSS_SCALE,
        }
    }

    /// Divides `gradients` (of `model`'s parameters) by the loss scale.
    pub fn unscale<M: Module>(self, gradients: GradientsParams, model: &M) -> GradientsParams {
        let scale = self.loss_scale();
        if scale == 1.0 {
            return gradients;
        }
        let mut unscale = Unscale {
            gradients,
            factor: 1.0 / scale,
        };
        model.visit(&mut unscale);
        unscale.gradients
    }
}

/// Casts every float parameter except GroupNorm's, whose statistics need f32's range.
struct CastOutsideNorms {
    dtype: FloatDType,
    /// The struct owning each module entered, innermost last.
    owners: Vec<String>,
}

impl ModuleMapper for CastOutsideNorms {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        self.owners.push(container_type.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.owners.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self
            .owners
            .last()
            .is_some_and(|owner| owner == "Struct:GroupNorm")
        {
            param
        } else {
            let dtype = self.dtype;
            param.map(|tensor| tensor.cast(dtype))
        }
    }
}

struct Unscale {
    gradients: GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Unscale {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(gradient) = self.gradients.remove::<D>(param.id) {
            self.gradients.register(param.id, gradient * self.factor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{DType, Device};
    use designer_core::model::ModelConfig;

    struct Dtypes(Vec<(String, DType)>, Vec<String>);

    impl ModuleVisitor for Dtypes {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.1.push(name.to_owned());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.1.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push((self.1.join("."), param.val().dtype()));
        }
    }

    #[test]
    fn the_compute_copy_is_f16_outside_group_norms() {
        let model = ModelConfig::default().init(&Device::flex());
        let mut dtypes = Dtypes(Vec::new(), Vec::new());
        TrainingPrecision::MixedF16
            .compute_model(&model)
            .visit(&mut dtypes);
        let norms = dtypes.0.iter().filter(|(path, _)| path.contains("norm"));
        assert!(norms.clone().count() >= 2 * 6 * 2 + 2);
        for (path, dtype) in dtypes.0.iter() {
            let expected = if path.contains("norm") {
                DType::F32
            } else {
                DType::F16
            };
            assert_eq!(*dtype, expected, "{path}");
        }
        // The master copy itself is untouched.
        let mut master = Dtypes(Vec::new(), Vec::new());
        model.visit(&mut master);
        assert!(master.0.iter().all(|(_, dtype)| *dtype == DType::F32));
    }

    #[test]
    fn unscaling_divides_each_gradient_by_the_loss_scale() {
        /// A gradient of LOSS_SCALE everywhere for every parameter.
        struct Scaled<'a>(&'a mut GradientsParams, Device);
        impl ModuleVisitor for Scaled<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let ones = Tensor::<D>::ones(param.val().shape(), &self.1);
                self.0.register(param.id, ones * LOSS_SCALE);
            }
        }
        /// Every unscaled gradient's values.
        struct Values<'a>(&'a GradientsParams, Vec<f32>);
        impl ModuleVisitor for Values<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let gradient = self.0.get::<D>(param.id).expect("registered");
                self.1.extend(gradient.into_data().iter::<f32>());
            }
        }
        let device = Device::flex();
        let model = ModelConfig::default().init(&device);
        let mut gradients = GradientsParams::new();
        model.visit(&mut Scaled(&mut gradients, device));
        let gradients = TrainingPrecision::MixedF16.unscale(gradients, &model);
        let mut values = Values(&gradients, Vec::new());
        model.visit(&mut values);
        assert!(!values.1.is_empty());
        assert!(values.1.iter().all(|v| *v == 1.0));
    }
}
