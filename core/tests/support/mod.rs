//! Helpers shared by the integration tests.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use designer_core::weights::Weights;

/// Every parameter value of the model a weights file holds, in visiting order. Two weights
/// files with equal values can still differ in bytes: burn gives each parameter a random id.
pub fn parameter_values(weights_file: &[u8]) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().into_data().iter::<f32>());
        }
    }
    let model = Weights::from_bytes(weights_file)
        .unwrap()
        .build(&burn::tensor::Device::flex())
        .unwrap();
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}
