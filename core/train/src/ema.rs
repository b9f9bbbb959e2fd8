//! An exponential moving average of the generator's parameters, updated after every training
//! step. Sampling from the average instead of the last step's parameters smooths away the
//! step-to-step noise of the optimizer (a standard trick for diffusion and flow models).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use designer_core::model::Generator;

pub struct Ema {
    /// Plain (no autodiff) copy of the parameters; `None` only during an update.
    average: Option<Generator>,
    decay: f64,
}

impl Ema {
    /// Starts the average at `model`'s parameters (autodiff is dropped).
    pub fn new(model: &Generator, decay: f64) -> Self {
        Self {
            average: Some(model.valid()),
            decay,
        }
    }

    /// The weight the average keeps at `step`: the configured decay, ramped up over the first
    /// steps so the starting parameters do not linger in a short run (the average spans about
    /// a ninth of the steps taken until that reaches the configured horizon).
    pub fn decay_at(&self, step: u64) -> f64 {
        self.decay.min((1 + step) as f64 / (10 + step) as f64)
    }

    /// average += (1 - decay) x (trained - average): the same blend as decay x average +
    /// (1 - decay) x trained, written so that a parameter the step left alone (a frozen
    /// encoder's) keeps its exact value, where the sum of two products drifts by rounding.
    pub fn update(&mut self, trained: &Generator, step: u64) {
        let mut flatten = Flatten(Vec::new());
        trained.valid().visit(&mut flatten);
        let decay = self.decay_at(step);
        let average = self
            .average
            .take()
            .expect("the average is only absent during an update");
        self.average = Some(average.map(&mut Blend {
            trained: flatten.0.into_iter(),
            decay,
        }));
    }

    pub fn average(&self) -> &Generator {
        self.average
            .as_ref()
            .expect("the average is present between updates")
    }
}

/// The float parameters in visiting order, flattened (their shapes are the average's).
struct Flatten(Vec<Tensor<1>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().flatten(0, D - 1));
    }
}

/// Blends each parameter with the next of `trained`: the same module type is visited and
/// mapped in the same order.
struct Blend<I> {
    trained: I,
    decay: f64,
}

impl<I: Iterator<Item = Tensor<1>>> ModuleMapper for Blend<I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let trained = self
            .trained
            .next()
            .expect("the trained model has the average's parameters");
        let decay = self.decay;
        param.map(|average| {
            let shape = average.shape();
            average.clone() + (trained.reshape(shape) - average) * (1.0 - decay)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use designer_core::model::ModelConfig;

    fn values(model: &Generator) -> Vec<f32> {
        let mut flatten = Flatten(Vec::new());
        model.visit(&mut flatten);
        flatten
            .0
            .into_iter()
            .flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn the_average_moves_towards_the_trained_parameters_by_one_minus_the_decay() {
        let config = ModelConfig {
            base_channels: 8,
            cond_dim: 16,
            groups: 4,
            ..ModelConfig::default()
        };
        let device = Device::flex();
        let start = config.init(&device);
        let trained = config.init(&device);
        let mut ema = Ema::new(&start, 0.999);
        // Ramped: 0.1 at the first step, 0.5 at the eighth, the configured decay much later.
        assert_eq!(ema.decay_at(0), 0.1);
        assert_eq!(ema.decay_at(8), 0.5);
        assert_eq!(ema.decay_at(1_000_000), 0.999);
        ema.update(&trained, 8);
        let (a, b, blended) = (values(&start), values(&trained), values(ema.average()));
        assert_eq!(blended.len(), a.len());
        assert!(a != b, "two initialisations differ");
        for ((a, b), m) in a.iter().zip(&b).zip(&blended) {
            assert!(
                (m - (a + b) / 2.0).abs() < 1e-6,
                "{m} is not halfway from {a} to {b}"
            );
        }
    }
}
