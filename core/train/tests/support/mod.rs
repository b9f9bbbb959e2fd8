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

/// A labelled folder of 8 small images in two clearly different classes: bedrooms with a red
/// top half, kitchens with a blue left half.
pub fn write_two_class_folder(dir: &std::path::Path, side: u32) {
    use designer_core::{RoomType, Style};
    use designer_train::dataset::LabelledFolderWriter;
    use image::{Rgb, RgbImage};
    let mut folder = LabelledFolderWriter::create(dir).unwrap();
    for i in 0..8u32 {
        let (room, style) = if i % 2 == 0 {
            (RoomType::Bedroom, Style::Rustic)
        } else {
            (RoomType::Kitchen, Style::Modern)
        };
        let image = RgbImage::from_fn(side, side, |x, y| match room {
            RoomType::Bedroom if y < side / 2 => Rgb([220, 40 + i as u8, 40]),
            RoomType::Kitchen if x < side / 2 => Rgb([30, 60, 200 + i as u8]),
            _ => Rgb([240, 240, 240]),
        });
        folder
            .add(
                &image,
                &serde_json::json!({ "room_type": room, "style": style }),
            )
            .unwrap();
    }
    assert_eq!(folder.finish().unwrap(), 8);
}
