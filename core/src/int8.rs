//! int8 weights files (`designer export --precision int8`): each weight matrix and convolution
//! kernel stored as signed bytes with one f32 scale per output channel (symmetric: the
//! channel's largest magnitude maps to 127, or to 63 for `--precision int7`, whose bytes
//! compress better), every other parameter (biases, norms) as f16.
//! Building a model from such a file widens them back to f32 first, so every backend and the
//! hand-written CPU pass compute exactly as they do from an f16 file: int8 is what the browser
//! downloads and the Lambda's zip holds, not what the arithmetic sees.
//!
//! Hand-written beside burn's own quantization, which scales blocks along a tensor's innermost
//! axis: for burn's Linear weights ([inputs, outputs]) that is one scale per input row, not per
//! output channel; and quantized tensors inside the model would change the kernels each backend
//! runs, where only the file needs to shrink.

use burn::tensor::{Bytes, DType, f16};
use burn_pack::{Reader, Tensor, Writer};
use half::slice::HalfFloatSliceExt;

/// What a quantized tensor's scales are called: its own name and this.
const SCALES: &str = ".int8_scales";

/// Tensors with fewer values stay f16: their scales would cost about what int8 saves.
const LEAST_QUANTIZED: usize = 1024;

/// The axis of a parameter's output channels: burn's Linear weights are [inputs, outputs]
/// (embedding tables, [rows, features], get a scale per feature), convolution kernels
/// [outputs, inputs, height, width]. Vectors are biases and norms, left f16.
fn output_axis(shape: &[usize]) -> Option<usize> {
    match shape.len() {
        2 => Some(1),
        4 => Some(0),
        _ => None,
    }
}

/// Which output channel each value of a row-major tensor of `shape` belongs to.
fn channel_of(shape: &[usize], axis: usize) -> impl Fn(usize) -> usize {
    let stride: usize = shape[axis + 1..].iter().product();
    let channels = shape[axis];
    move |index| (index / stride) % channels
}

fn floats(dtype: DType, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        DType::F32 => Some(match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(values) => values.to_vec(),
            Err(_) => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        }),
        DType::F16 => {
            // The slice conversion uses the CPU's F16C instructions where it has them: a
            // value-at-a-time loop was a sixth of loading the 256 px model.
            let mut values = vec![0f32; bytes.len() / 2];
            match bytemuck::try_cast_slice::<u8, f16>(bytes) {
                Ok(halves) => halves.convert_to_f32_slice(&mut values),
                Err(_) => {
                    let halves = bytes
                        .chunks_exact(2)
                        .map(|b| f16::from_le_bytes([b[0], b[1]]));
                    values
                        .iter_mut()
                        .zip(halves)
                        .for_each(|(v, h)| *v = h.to_f32());
                }
            }
            Some(values)
        }
        _ => None,
    }
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> Bytes {
    Bytes::from_bytes_vec(values.flat_map(f32::to_le_bytes).collect())
}

/// A burnpack of float parameters as the int8 file stores them, each quantized weight within
/// `levels` steps of zero (127 uses every byte value; fewer leave bytes a compressor
/// shortens).
pub fn narrow(pack: Bytes, levels: u8) -> Result<Bytes, String> {
    let levels = f32::from(levels.clamp(1, 127));
    let mut stored = Vec::new();
    for tensor in tensors(pack)? {
        let (name, dtype, shape, id, bytes) = tensor.into_parts().map_err(|e| e.to_string())?;
        let Some(values) = floats(dtype, &bytes) else {
            stored.push(Tensor::new(name, dtype, shape, id, bytes));
            continue;
        };
        let dims = shape.to_vec();
        let Some(axis) = output_axis(&dims).filter(|_| values.len() >= LEAST_QUANTIZED) else {
            let half = values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes());
            stored.push(Tensor::new(
                name,
                DType::F16,
                shape,
                id,
                Bytes::from_bytes_vec(half.collect()),
            ));
            continue;
        };
        let channel = channel_of(&dims, axis);
        let mut scales = vec![0f32; dims[axis]];
        for (i, v) in values.iter().enumerate() {
            let c = channel(i);
            scales[c] = scales[c].max(v.abs() / levels);
        }
        let quantized = values.iter().enumerate().map(|(i, v)| {
            let scale = scales[channel(i)];
            // An all-zero channel (a zero-initialised layer) has scale 0 and stays 0.
            let q = if scale > 0.0 {
                (v / scale).round().clamp(-levels, levels)
            } else {
                0.0
            };
            q as i8 as u8
        });
        let quantized = Bytes::from_bytes_vec(quantized.collect());
        stored.push(Tensor::new(name.clone(), DType::I8, shape, id, quantized));
        let scales_shape = vec![scales.len()];
        stored.push(Tensor::new(
            name + SCALES,
            DType::F32,
            scales_shape,
            None,
            f32_bytes(scales.into_iter()),
        ));
    }
    Writer::new(stored).into_bytes().map_err(|e| e.to_string())
}

/// A parameter as a model loads it: its module path, its id (the optimizer's key) and its
/// values as f32.
pub struct Parameter {
    pub path: String,
    pub id: Option<u64>,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The parameters of a burnpack as f32, whatever the file stores: int8 times its channel's
/// scale, f16 widened. f32 is what every backend computes in (WebGPU on SwiftShader has no
/// f16), and a model given its own dtype is loaded without burn's cast-to-module policy,
/// which draws a random initialisation of every parameter only to read its dtype (15 % of
/// building the 256 px model; BENCHMARKS.md, eleventh session).
pub fn widen(pack: Bytes) -> Result<Vec<Parameter>, String> {
    let mut scales = std::collections::HashMap::new();
    let mut stored = Vec::new();
    for tensor in tensors(pack)? {
        match tensor.name.strip_suffix(SCALES) {
            Some(owner) => {
                scales.insert(owner.to_owned(), tensor);
            }
            None => stored.push(tensor),
        }
    }
    let mut parameters = Vec::with_capacity(stored.len());
    for tensor in stored {
        let (path, dtype, shape, id, bytes) = tensor.into_parts().map_err(|e| e.to_string())?;
        let shape = shape.to_vec();
        let values = if dtype == DType::I8 {
            let axis = output_axis(&shape).ok_or_else(|| {
                format!("int8 tensor {path} has shape {shape:?}, which has no output channels")
            })?;
            let channel_scales = scales
                .remove(&path)
                .and_then(|s| s.to_bytes().ok().and_then(|b| floats(s.dtype, &b)))
                .filter(|s| s.len() == shape[axis])
                .ok_or_else(|| {
                    format!("int8 tensor {path} lacks one f32 scale per output channel")
                })?;
            dequantize(&bytes, &channel_scales, shape[axis + 1..].iter().product())
        } else {
            floats(dtype, &bytes)
                .ok_or_else(|| format!("tensor {path} is stored as {dtype:?}, not as floats"))?
        };
        parameters.push(Parameter {
            path,
            id,
            shape,
            values,
        });
    }
    if let Some(owner) = scales.keys().next() {
        return Err(format!("scales for {owner}, which is not an int8 tensor"));
    }
    Ok(parameters)
}

/// int8 values of a row-major tensor times their output channel's scale, the channel axis's
/// elements `stride` values apart: a convolution kernel's channels are contiguous blocks
/// (stride = inputs x height x width), a Linear weight's are the columns of each row
/// (stride 1).
fn dequantize(quantized: &[u8], scales: &[f32], stride: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(quantized.len());
    if stride == 1 {
        for row in quantized.chunks(scales.len()) {
            values.extend(row.iter().zip(scales).map(|(q, s)| *q as i8 as f32 * s));
        }
    } else {
        for (block, values_of_block) in quantized.chunks(stride).enumerate() {
            let scale = scales[block % scales.len()];
            values.extend(values_of_block.iter().map(|q| *q as i8 as f32 * scale));
        }
    }
    values
}

fn tensors(pack: Bytes) -> Result<Vec<Tensor>, String> {
    Reader::from_bytes(pack)
        .and_then(Reader::into_tensors)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(tensors: Vec<(&str, Vec<usize>, Vec<f32>)>) -> Bytes {
        let tensors = tensors
            .into_iter()
            .enumerate()
            .map(|(id, (name, shape, values))| {
                Tensor::new(
                    name.into(),
                    DType::F32,
                    shape,
                    Some(id as u64),
                    f32_bytes(values.into_iter()),
                )
            })
            .collect();
        Writer::new(tensors).into_bytes().unwrap()
    }

    /// A stored tensor: name, dtype, shape, parameter id and values (empty for int8).
    type Read = (String, DType, Vec<usize>, Option<u64>, Vec<f32>);

    fn read(pack: Bytes) -> Vec<Read> {
        tensors(pack)
            .unwrap()
            .into_iter()
            .map(|t| {
                let (name, dtype, shape, id, bytes) = t.into_parts().unwrap();
                let values = floats(dtype, &bytes).unwrap_or_default();
                (name, dtype, shape.to_vec(), id, values)
            })
            .collect()
    }

    fn widened(pack: Bytes) -> Vec<Read> {
        widen(pack)
            .unwrap()
            .into_iter()
            .map(|p| (p.path, DType::F32, p.shape, p.id, p.values))
            .collect()
    }

    #[test]
    fn matrices_keep_each_value_within_half_a_step_of_its_output_channels_scale() {
        // A Linear weight [inputs = 64, outputs = 32]: output channel j is column j, with values
        // up to j + 1 in magnitude, so a per-row (per-input) scale would get every column wrong
        // but the largest. The last column is all zeros (a zero-initialised layer).
        let (inputs, outputs) = (64, 32);
        let value = |i: usize, j: usize| {
            if j == outputs - 1 {
                0.0
            } else {
                (j + 1) as f32 * ((i * 7 + j * 3) % 11) as f32 / 10.0 - 0.5
            }
        };
        let weight: Vec<f32> = (0..inputs * outputs)
            .map(|k| value(k / outputs, k % outputs))
            .collect();
        let bias: Vec<f32> = (0..outputs).map(|j| j as f32 * 0.001 + 1e-4).collect();
        let original = pack(vec![
            ("proj.weight", vec![inputs, outputs], weight.clone()),
            ("proj.bias", vec![outputs], bias.clone()),
        ]);
        let narrowed = narrow(original.clone(), 127).unwrap();
        assert!(
            narrowed.len() * 3 < original.len(),
            "{} vs {} bytes",
            narrowed.len(),
            original.len()
        );

        // burnpack keeps its tensors in name order.
        let stored: Vec<_> = read(narrowed.clone())
            .into_iter()
            .map(|t| (t.0, t.1))
            .collect();
        let stored: Vec<_> = stored.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        assert_eq!(
            stored,
            [
                ("proj.bias", DType::F16),
                ("proj.weight", DType::I8),
                ("proj.weight.int8_scales", DType::F32)
            ]
        );

        let widened = widened(narrowed);
        assert_eq!(widened.len(), 2, "the scales are folded back in");
        let (name, dtype, shape, id, values) = &widened[1];
        assert_eq!(
            (name.as_str(), *dtype, shape.clone(), *id),
            ("proj.weight", DType::F32, vec![inputs, outputs], Some(0))
        );
        for (k, (got, want)) in values.iter().zip(&weight).enumerate() {
            let j = k % outputs;
            let column_max = (0..inputs).map(|i| value(i, j).abs()).fold(0.0, f32::max);
            let half_step = column_max / 127.0 / 2.0;
            assert!(
                (got - want).abs() <= half_step * 1.001,
                "({}, {j}): {got} vs {want}",
                k / outputs
            );
        }
        assert!(
            values[outputs - 1..]
                .iter()
                .step_by(outputs)
                .all(|v| *v == 0.0)
        );
        assert_eq!(widened[0].1, DType::F32, "f16 is widened too");
        for (got, want) in widened[0].4.iter().zip(&bias) {
            assert!((got - want).abs() <= want.abs() / 1000.0, "{got} vs {want}");
        }
    }

    #[test]
    fn convolution_kernels_scale_their_first_axis_in_as_many_levels_as_asked() {
        // [outputs = 4, inputs = 32, 3, 3] (enough values to be quantized): each output
        // channel a different magnitude.
        let (shape, per_channel) = (vec![4, 32, 3, 3], 32 * 9);
        let largest = |k: usize| 2.0 * 10f32.powi((k / per_channel) as i32) / 0.7;
        let weight: Vec<f32> = (0..4 * per_channel)
            .map(|k| largest(k) * ((k % 5) as f32 - 2.0) / 2.0)
            .collect();
        for levels in [127u8, 63] {
            let narrowed = narrow(
                pack(vec![("conv.weight", shape.clone(), weight.clone())]),
                levels,
            )
            .unwrap();
            let stored = tensors(narrowed.clone()).unwrap();
            let quantized = stored
                .iter()
                .find(|t| t.dtype == DType::I8)
                .expect("quantized");
            let most = quantized
                .to_bytes()
                .unwrap()
                .iter()
                .map(|q| (*q as i8).unsigned_abs())
                .max();
            assert_eq!(
                most,
                Some(levels),
                "the largest weight takes the last level"
            );
            let widened = widened(narrowed);
            for (k, (got, want)) in widened[0].4.iter().zip(&weight).enumerate() {
                let half_step = largest(k) / f32::from(levels) / 2.0;
                assert!(
                    (got - want).abs() <= half_step * 1.001,
                    "{levels} levels, {k}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn every_float_pack_loads_as_f32_and_broken_ones_are_refused() {
        let plain = pack(vec![("w", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])]);
        assert_eq!(widened(plain.clone()), read(plain));
        let half = |v: f32| f16::from_f32(v).to_le_bytes();
        let halves = Writer::new(vec![Tensor::new(
            "w".into(),
            DType::F16,
            vec![5],
            Some(3),
            Bytes::from_bytes_vec([0.5, -2.0, 1e-3, 0.0, 65504.0].map(half).concat()),
        )])
        .into_bytes()
        .unwrap();
        assert_eq!(
            widened(halves),
            [(
                "w".to_string(),
                DType::F32,
                vec![5],
                Some(3),
                vec![0.5, -2.0, f16::from_f32(1e-3).to_f32(), 0.0, 65504.0]
            )],
            "an f16 pack is widened to f32, ids kept"
        );

        let q = |name: &str, shape: Vec<usize>| {
            Tensor::new(
                name.into(),
                DType::I8,
                shape,
                None,
                Bytes::from_bytes_vec(vec![1; 4]),
            )
        };
        let s = |name: &str, n: usize| {
            Tensor::new(
                format!("{name}{SCALES}"),
                DType::F32,
                vec![n],
                None,
                f32_bytes(std::iter::repeat_n(0.5, n)),
            )
        };
        let refused = |tensors: Vec<Tensor>| {
            widen(Writer::new(tensors).into_bytes().unwrap())
                .err()
                .expect("refused")
        };
        assert!(
            refused(vec![q("a", vec![2, 2]), s("b", 2)])
                .contains("a lacks one f32 scale per output channel")
        );
        assert!(refused(vec![q("a", vec![2, 2]), s("a", 3)]).contains("lacks one f32 scale"));
        assert!(refused(vec![q("a", vec![4]), s("a", 4)]).contains("no output channels"));
        let counts = Tensor::new(
            "n".into(),
            DType::I32,
            vec![1],
            None,
            Bytes::from_bytes_vec(vec![0; 4]),
        );
        assert!(refused(vec![counts]).contains("tensor n is stored as I32, not as floats"));
        assert!(
            refused(vec![
                Tensor::new(
                    "a".into(),
                    DType::F32,
                    vec![1],
                    None,
                    f32_bytes([1.0].into_iter())
                ),
                s("b", 2)
            ])
            .contains("scales for b")
        );
    }
}
