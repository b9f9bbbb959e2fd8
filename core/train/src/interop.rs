//! The network's weights and sampled tensors as safetensors, in PyTorch's layout and names, so
//! other implementations of the same network (`bench/`'s PyTorch and ONNX Runtime references)
//! can load exactly our parameters and check their outputs against ours.

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use designer_core::Designer;
use designer_core::model::Generator;
use designer_core::request::{DesignError, DesignRequest};
use designer_core::weights::{Precision, Weights, WeightsError};
use safetensors::{Dtype, tensor::TensorView};
use std::collections::HashMap;

/// Metadata key holding the weights header (model shape, provenance) as JSON.
pub const HEADER_KEY: &str = "designer";

/// Metadata key holding the label names in embedding-row order (`room_types`, `styles`).
pub const LABELS_KEY: &str = "labels";

fn labels() -> serde_json::Value {
    serde_json::json!({
        "room_types": designer_core::labels::RoomType::ALL,
        "styles": designer_core::labels::Style::ALL,
    })
}

/// The parameters as safetensors: PyTorch's names (`weight`/`bias` for norms) and layouts
/// (Linear weights [out, in]); the header JSON, version and label names under metadata.
pub fn weights_to_safetensors(
    weights: &Weights,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    let model = weights.build_as(&Device::flex(), precision)?;
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .metadata(HEADER_KEY, serde_json::to_string(&weights.header)?)
        .metadata("version", weights.version())
        .metadata(LABELS_KEY, serde_json::to_string(&labels())?);
    // Under the network's own names, as in the weights file (see `Generator::into_parameters`).
    match model {
        Generator::V1(network) => network.save_into(&mut store),
        Generator::V2(network) => network.save_into(&mut store),
    }
    .map_err(|e| WeightsError::Record(e.to_string()))?;
    store
        .get_bytes()
        .map_err(|e| WeightsError::Record(e.to_string()))
}

/// A named f32 tensor to write.
pub struct NamedTensor<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub values: &'a [f32],
}

/// f32 tensors (little-endian, as safetensors stores them) with string metadata.
pub fn tensors_to_safetensors(
    tensors: &[NamedTensor<'_>],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, bytes)| Ok((t.name, TensorView::new(Dtype::F32, t.shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize(views, Some(metadata))
}

#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    #[error(transparent)]
    Design(#[from] DesignError),
    #[error("cannot write safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
}

/// `request`'s starting tensor (`start`) and sampled images (`images`, floats in [-1, 1]
/// before rounding to pixels) as safetensors, with the request, the time the ODE started at
/// and the model under metadata (`designer generate --tensors`): what another implementation
/// of the network needs to reproduce our output and check it.
pub fn sampled_tensors(
    designer: &Designer,
    request: &DesignRequest,
) -> Result<Vec<u8>, InteropError> {
    let sampled = designer.sample_tensors(request)?;
    let metadata = HashMap::from([
        (
            "request".to_string(),
            serde_json::to_string(request).expect("a request serialises"),
        ),
        ("t_start".to_string(), sampled.t_start.to_string()),
        ("model".to_string(), designer.model_version().to_string()),
    ]);
    Ok(tensors_to_safetensors(
        &[
            NamedTensor {
                name: "start",
                shape: sampled.start_shape.to_vec(),
                values: &sampled.start,
            },
            NamedTensor {
                name: "images",
                shape: sampled.images_shape.to_vec(),
                values: &sampled.images,
            },
        ],
        metadata,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::SafeTensors;

    #[test]
    fn weights_use_pytorch_names_and_layouts() {
        let weights = Weights::embedded_small().unwrap();
        let bytes = weights_to_safetensors(&weights, Precision::F32).unwrap();
        let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
        let header: designer_core::weights::WeightsHeader =
            serde_json::from_str(&metadata.metadata().as_ref().unwrap()[HEADER_KEY]).unwrap();
        assert_eq!(header, weights.header);
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let c = header.model.base_channels;
        let cond = header.model.cond_dim;
        // A ResBlock's conditioning Linear maps cond_dim -> its channels: PyTorch keeps [out, in].
        let linear = file.tensor("down1.cond.weight").unwrap();
        assert_eq!(linear.shape(), [2 * c, cond]);
        assert_eq!(linear.dtype(), Dtype::F32);
        assert_eq!(file.tensor("stem.weight").unwrap().shape(), [c, 3, 3, 3]);
        // GroupNorm's gamma/beta are PyTorch's weight/bias.
        assert_eq!(file.tensor("out_norm.weight").unwrap().shape(), [c]);
        assert!(file.tensor("out_norm.gamma").is_err());
        // The residual 1x1 convolution exists only where channels change.
        assert!(file.tensor("down1.skip.weight").is_ok());
        assert!(file.tensor("down0.skip.weight").is_err());
    }

    #[test]
    fn tensors_round_trip() {
        let values = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0];
        let bytes = tensors_to_safetensors(
            &[NamedTensor {
                name: "x",
                shape: vec![2, 3],
                values: &values,
            }],
            HashMap::from([("k".to_string(), "v".to_string())]),
        )
        .unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let x = file.tensor("x").unwrap();
        assert_eq!(x.shape(), [2, 3]);
        let read: Vec<f32> = x
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(read, values);
    }
}
