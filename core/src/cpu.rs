//! The generator's forward pass written out for the CPU: the same network as
//! first U-Net ([`UNetV1`](crate::model::unet_v1::UNetV1)), with its parameters copied out once, run without
//! burn's general-purpose operators.
//!
//! Why by hand: on burn's CPU backend less than a third of a generation was arithmetic. Its
//! convolutions copy every input nine times (im2col) around the matrix product, its SiLU calls a
//! scalar `exp` per element, and every operator zeroes a fresh output (BENCHMARKS.md, "CPU
//! inference"). Here activations stay channels-last with a zero border of one pixel, so each row
//! of a 3x3 kernel reads the input as an ordinary strided matrix: a convolution is three matrix
//! products (`gemm`, the kernels burn uses too) straight from the input, with no copies. GroupNorm,
//! the conditioning add and SiLU are one pass with a vectorisable `exp`; the residual add is the
//! second convolution accumulating onto the skip path.
//!
//! The result matches the burn model within float rounding (tested against it), so the two are
//! interchangeable; [`crate::generate::Designer`] uses this one on the CPU device.

use crate::labels::Vocabulary;
use crate::model::Condition;
use crate::model::unet_v1::{ResBlock, UNetV1};
use crate::sampler::VelocityModel;
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use std::cell::RefCell;

/// The generator's parameters in the layouts the pass below reads.
pub struct CpuGenerator {
    vocabulary: Vocabulary,
    time_freqs: Vec<f32>,
    time_in: Dense,
    time_out: Dense,
    room_embedding: Table,
    style_embedding: Table,
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

fn values<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f32> {
    param
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("parameters converted to f32 read back as f32")
}

/// A linear layer, weight [inputs, outputs] row-major (burn's layout).
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    fn new(linear: &Linear) -> Self {
        let weight = values(&linear.weight);
        let outputs = linear.weight.dims()[1];
        Self {
            weight,
            bias: linear
                .bias
                .as_ref()
                .map_or_else(|| vec![0.0; outputs], values),
        }
    }

    fn forward(&self, input: &[f32]) -> Vec<f32> {
        let mut out = self.bias.clone();
        let outputs = out.len();
        for (x, row) in input.iter().zip(self.weight.chunks_exact(outputs)) {
            for (o, w) in out.iter_mut().zip(row) {
                *o += x * w;
            }
        }
        out
    }
}

/// Embedding rows.
struct Table {
    weight: Vec<f32>,
    width: usize,
}

impl Table {
    fn new(embedding: &Embedding) -> Self {
        Self {
            width: embedding.weight.dims()[1],
            weight: values(&embedding.weight),
        }
    }

    fn row(&self, id: usize) -> &[f32] {
        &self.weight[id * self.width..(id + 1) * self.width]
    }
}

/// GroupNorm's affine parameters.
struct Norm {
    groups: usize,
    epsilon: f64,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn new(norm: &GroupNorm) -> Self {
        let channels = norm.num_channels;
        Self {
            groups: norm.num_groups,
            epsilon: norm.epsilon,
            gamma: norm
                .gamma
                .as_ref()
                .map_or_else(|| vec![1.0; channels], values),
            beta: norm
                .beta
                .as_ref()
                .map_or_else(|| vec![0.0; channels], values),
        }
    }

    /// `dst = silu(groupnorm(src + add))`, `add` one value per channel (the conditioning).
    fn silu(&self, src: &Map, add: Option<&[f32]>, dst: &mut Map) {
        let channels = src.channels;
        let (sums, squares) = vectorised(
            #[inline(always)]
            || channel_sums(src),
        );
        let count = (src.height * src.width) as f64;
        let add = |c: usize| add.map_or(0.0, |a| a[c] as f64);
        let per_group = channels / self.groups;
        let mut scale = vec![0f32; channels];
        let mut shift = vec![0f32; channels];
        for group in 0..self.groups {
            let members = group * per_group..(group + 1) * per_group;
            // Sums of (v + a) and (v + a)^2 from those of v: the add never needs its own pass.
            let (sum, square) = members.clone().fold((0.0, 0.0), |(s, q), c| {
                let a = add(c);
                (
                    s + sums[c] + count * a,
                    q + squares[c] + 2.0 * a * sums[c] + count * a * a,
                )
            });
            let n = count * per_group as f64;
            let mean = sum / n;
            let variance = (square / n - mean * mean).max(0.0);
            let inv = 1.0 / (variance + self.epsilon).sqrt();
            for c in members {
                let s = self.gamma[c] as f64 * inv;
                scale[c] = s as f32;
                shift[c] = (self.beta[c] as f64 + (add(c) - mean) * s) as f32;
            }
        }
        vectorised(
            #[inline(always)]
            || {
                for (out, pixel) in dst.interior_mut().zip(src.interior()) {
                    for (((o, &v), &s), &b) in out.iter_mut().zip(pixel).zip(&scale).zip(&shift) {
                        *o = silu(v * s + b);
                    }
                }
            },
        );
    }
}

/// Per channel, the sum and the sum of squares of a map's pixels: in f32 along a row (at most
/// a few hundred values), in f64 across rows.
#[inline(always)]
fn channel_sums(map: &Map) -> (Vec<f64>, Vec<f64>) {
    let channels = map.channels;
    let mut sums = vec![0f64; channels];
    let mut squares = vec![0f64; channels];
    let mut row_sums = vec![0f32; channels];
    let mut row_squares = vec![0f32; channels];
    for y in 0..map.height {
        row_sums.fill(0.0);
        row_squares.fill(0.0);
        for pixel in map.data[map.row_range(y)].chunks_exact(channels) {
            for ((s, q), &v) in row_sums.iter_mut().zip(&mut row_squares).zip(pixel) {
                *s += v;
                *q += v * v;
            }
        }
        for c in 0..channels {
            sums[c] += row_sums[c] as f64;
            squares[c] += row_squares[c] as f64;
        }
    }
    (sums, squares)
}

/// Runs `body` compiled for AVX2 where the CPU has it (twice the vector width of the x86-64
/// baseline the binary is built for; the loops here are the ones the compiler vectorises),
/// else as built. Same operations either way, so the same results.
#[inline(always)]
fn vectorised<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(body: impl FnOnce() -> R) -> R {
            body()
        }
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { avx2(body) };
    }
    body()
}

/// A convolution's weights as one [kernel x inputs, outputs] matrix per kernel row: what a row
/// of taps reads from a bordered channels-last map is `kernel` neighbouring pixels' channels,
/// which lie next to each other.
struct Conv {
    kernel: usize,
    stride: usize,
    inputs: usize,
    outputs: usize,
    rows: Vec<Vec<f32>>,
    bias: Vec<f32>,
}

impl Conv {
    fn new(conv: &Conv2d) -> Self {
        let [outputs, inputs, kernel, kernel_w] = conv.weight.dims();
        assert_eq!(kernel, kernel_w, "square kernels");
        assert!(kernel == 1 || kernel == 3, "1x1 or 3x3 kernels");
        let weight = values(&conv.weight);
        let rows = (0..kernel)
            .map(|ky| {
                let mut row = vec![0f32; kernel * inputs * outputs];
                for kx in 0..kernel {
                    for i in 0..inputs {
                        for o in 0..outputs {
                            row[(kx * inputs + i) * outputs + o] =
                                weight[((o * inputs + i) * kernel + ky) * kernel + kx];
                        }
                    }
                }
                row
            })
            .collect();
        Self {
            kernel,
            stride: conv.stride[0],
            inputs,
            outputs,
            rows,
            bias: conv
                .bias
                .as_ref()
                .map_or_else(|| vec![0.0; outputs], values),
        }
    }

    /// A fresh map holding this convolution of `src` (padding 1 for 3x3 kernels).
    fn apply(&self, src: &Map) -> Map {
        let mut dst = Map::zeros(
            src.height / self.stride,
            src.width / self.stride,
            self.outputs,
        );
        self.accumulate(src, &mut dst);
        dst
    }

    /// `dst += conv(src)`.
    fn accumulate(&self, src: &Map, dst: &mut Map) {
        debug_assert_eq!(src.channels, self.inputs);
        debug_assert_eq!(dst.channels, self.outputs);
        // Output pixel (y, x) sits at bordered position (y + 1, x + 1); its kernel row ky
        // starts at input position (stride y + ky + r, stride x + r), r = 1 for a 1x1 kernel
        // (no padding). Runs are stretches of outputs whose inputs advance by `stride` pixels.
        let r = (3 - self.kernel) / 2;
        let runs: Vec<(usize, usize, usize)> = if self.stride == 1 {
            // One run over every row, border columns included: the inputs of the next row
            // follow on at the same stride. What lands on the border is cleared after.
            vec![(dst.pitch + 1, r * src.pitch + r, dst.height * dst.pitch)]
        } else {
            (0..dst.height)
                .map(|y| {
                    (
                        (y + 1) * dst.pitch + 1,
                        (self.stride * y + r) * src.pitch + r,
                        dst.width,
                    )
                })
                .collect()
        };
        for &(dst_at, _, len) in &runs {
            for out in dst.data[dst_at * self.outputs..(dst_at + len) * self.outputs]
                .chunks_exact_mut(self.outputs)
            {
                for (o, b) in out.iter_mut().zip(&self.bias) {
                    *o += b;
                }
            }
        }
        for (ky, row) in self.rows.iter().enumerate() {
            for &(dst_at, src_at, len) in &runs {
                let src_start = (src_at + ky * src.pitch) * self.inputs;
                let dst_start = dst_at * self.outputs;
                // The last output's taps end inside the map (whose slack covers the run over
                // the border columns): checked here, as gemm reads through raw pointers.
                let last_read =
                    src_start + (len - 1) * self.stride * self.inputs + self.kernel * self.inputs;
                assert!(
                    last_read <= src.data.len() && dst_start + len * self.outputs <= dst.data.len()
                );
                // SAFETY: the matrices are inside the two buffers (asserted above) and do not
                // overlap, as `src` and `dst` are distinct borrows.
                unsafe {
                    gemm::gemm(
                        len,
                        self.outputs,
                        self.kernel * self.inputs,
                        dst.data.as_mut_ptr().add(dst_start),
                        1,
                        self.outputs as isize,
                        true,
                        src.data.as_ptr().add(src_start),
                        1,
                        (self.stride * self.inputs) as isize,
                        row.as_ptr(),
                        1,
                        self.outputs as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        }
        if self.stride == 1 {
            dst.clear_border();
        }
    }
}

/// A residual block (see [`ResBlock`]).
struct Block {
    norm1: Norm,
    conv1: Conv,
    cond: Dense,
    norm2: Norm,
    conv2: Conv,
    skip: Option<Conv>,
}

impl Block {
    fn new(block: &ResBlock) -> Self {
        Self {
            norm1: Norm::new(&block.norm1),
            conv1: Conv::new(&block.conv1),
            cond: Dense::new(&block.cond),
            norm2: Norm::new(&block.norm2),
            conv2: Conv::new(&block.conv2),
            skip: block.skip.as_ref().map(Conv::new),
        }
    }

    /// `silu_cond` is silu(conditioning vector), shared by every block.
    fn forward(&self, x: &Map, silu_cond: &[f32]) -> Map {
        let mut a = Map::zeros(x.height, x.width, x.channels);
        self.norm1.silu(x, None, &mut a);
        let h = self.conv1.apply(&a);
        let mut b = Map::zeros(h.height, h.width, h.channels);
        self.norm2
            .silu(&h, Some(&self.cond.forward(silu_cond)), &mut b);
        let mut out = match &self.skip {
            Some(skip) => skip.apply(x),
            None => x.copy(),
        };
        self.conv2.accumulate(&b, &mut out);
        out
    }
}

/// An activation map: `channels` values per pixel (channels-last), with a zero border one pixel
/// wide around the `height x width` image, and two pixels of slack at the end that the last
/// row's taps may read.
struct Map {
    height: usize,
    width: usize,
    channels: usize,
    /// Pixels per bordered row (width + 2).
    pitch: usize,
    data: Vec<f32>,
}

thread_local! {
    /// Buffers of dropped maps, for the next ones: fresh allocations of this size went to mmap
    /// and back, and their page faults and TLB flushes took ~8 % of a generation.
    static SPARE_BUFFERS: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Map {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        SPARE_BUFFERS.with_borrow_mut(|spare| {
            if spare.len() < 16 {
                spare.push(data);
            }
        });
    }
}

impl Map {
    fn zeros(height: usize, width: usize, channels: usize) -> Self {
        let pitch = width + 2;
        let mut data = SPARE_BUFFERS.with_borrow_mut(Vec::pop).unwrap_or_default();
        data.clear();
        data.resize(((height + 2) * pitch + 2) * channels, 0.0);
        Self {
            height,
            width,
            channels,
            pitch,
            data,
        }
    }

    fn copy(&self) -> Self {
        let mut map = Self::zeros(self.height, self.width, self.channels);
        map.data.copy_from_slice(&self.data);
        map
    }

    fn row_range(&self, y: usize) -> std::ops::Range<usize> {
        let start = ((y + 1) * self.pitch + 1) * self.channels;
        start..start + self.width * self.channels
    }

    /// The image's pixels, row by row, each a slice of `channels` values.
    fn interior(&self) -> impl Iterator<Item = &[f32]> {
        (0..self.height).flat_map(move |y| self.data[self.row_range(y)].chunks_exact(self.channels))
    }

    fn interior_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        let (channels, pitch, width) = (self.channels, self.pitch, self.width);
        self.data
            .chunks_exact_mut(pitch * channels)
            .skip(1)
            .take(self.height)
            .flat_map(move |row| row[channels..(width + 1) * channels].chunks_exact_mut(channels))
    }

    /// Zeroes the left and right border columns, where a run over whole rows also writes.
    fn clear_border(&mut self) {
        let c = self.channels;
        for y in 1..=self.height {
            let left = y * self.pitch * c;
            let right = (y * self.pitch + self.pitch - 1) * c;
            self.data[left..left + c].fill(0.0);
            self.data[right..right + c].fill(0.0);
        }
    }

    /// From one image of an NCHW batch.
    fn from_planes(planes: &[f32], channels: usize, height: usize, width: usize) -> Self {
        let mut map = Self::zeros(height, width, channels);
        for (i, pixel) in map.interior_mut().enumerate() {
            for (c, v) in pixel.iter_mut().enumerate() {
                *v = planes[c * height * width + i];
            }
        }
        map
    }

    /// Back to NCHW, appended to `out`.
    fn to_planes(&self, out: &mut Vec<f32>) {
        let start = out.len();
        let plane = self.height * self.width;
        out.resize(start + self.channels * plane, 0.0);
        for (i, pixel) in self.interior().enumerate() {
            for (c, &v) in pixel.iter().enumerate() {
                out[start + c * plane + i] = v;
            }
        }
    }

    /// Nearest-neighbour 2x upsampling of `low`, its channels followed by `skip`'s (the U-Net's
    /// `cat([upsample(low), skip], 1)`).
    fn upsample_beside(low: &Map, skip: &Map) -> Map {
        let channels = low.channels + skip.channels;
        let mut map = Self::zeros(skip.height, skip.width, channels);
        let width = skip.width;
        for (i, (out, s)) in map.interior_mut().zip(skip.interior()).enumerate() {
            let (y, x) = (i / width, i % width);
            let l = &low.data[low.row_range(y / 2)][(x / 2) * low.channels..][..low.channels];
            out[..low.channels].copy_from_slice(l);
            out[low.channels..].copy_from_slice(s);
        }
        map
    }
}

/// x sigmoid(x), with an `exp` the compiler can vectorise.
#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// e^x to about 2 ulp, branch-free (Cephes' polynomial): 2^n e^r with n = round(x / ln 2).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 x 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes' 5.0000001e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    // n sits in the low bits of `shifted`; moved into the exponent field it is 2^n.
    let two_n = f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    e * two_n
}

impl CpuGenerator {
    pub fn new(model: &UNetV1) -> Self {
        let freqs = model.time_freqs;
        Self {
            time_freqs: (0..freqs)
                .map(|i| (-(10_000f32.ln()) * i as f32 / freqs as f32).exp() * 1000.0)
                .collect(),
            vocabulary: model.vocabulary.clone(),
            time_in: Dense::new(&model.time_in),
            time_out: Dense::new(&model.time_out),
            room_embedding: Table::new(&model.room_embedding),
            style_embedding: Table::new(&model.style_embedding),
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

    /// silu of the conditioning vector (time features + room + style), as every block takes it.
    fn silu_conditioning(&self, t: f32, condition: Condition) -> Vec<f32> {
        let angles = self.time_freqs.iter().map(|f| t * f);
        let features: Vec<f32> = angles
            .clone()
            .map(f32::sin)
            .chain(angles.map(f32::cos))
            .collect();
        let mut hidden = self.time_in.forward(&features);
        hidden.iter_mut().for_each(|h| *h = silu(*h));
        let mut cond = self.time_out.forward(&hidden);
        let (room, style) = condition.rows(&self.vocabulary);
        let room = self.room_embedding.row(room);
        let style = self.style_embedding.row(style);
        for ((c, r), s) in cond.iter_mut().zip(room).zip(style) {
            *c = silu(*c + (r + s));
        }
        cond
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
        let cond = self.silu_conditioning(t, condition);
        let x = Map::from_planes(x, 3, height, width);
        let h0 = self.down0.forward(&self.stem.apply(&x), &cond);
        let h1 = self.down1.forward(&self.pool0.apply(&h0), &cond);
        let h = self.mid0.forward(&self.pool1.apply(&h1), &cond);
        let h = self.mid1.forward(&h, &cond);
        let h = self.up1.forward(&Map::upsample_beside(&h, &h1), &cond);
        let h = self.up0.forward(&Map::upsample_beside(&h, &h0), &cond);
        let mut a = Map::zeros(h.height, h.width, h.channels);
        self.out_norm.silu(&h, None, &mut a);
        self.out.apply(&a).to_planes(out);
    }

    /// Velocities for a batch of images ([batch, 3, height, width] as floats), one time and
    /// condition per image.
    pub fn velocity(
        &self,
        x: &[f32],
        [batch, channels, height, width]: [usize; 4],
        t: &[f32],
        conditions: &[Condition],
    ) -> Vec<f32> {
        assert_eq!(channels, 3, "RGB input");
        assert!(height % 4 == 0 && width % 4 == 0, "sides multiples of 4");
        assert!(t.len() == batch && conditions.len() == batch);
        let image = 3 * height * width;
        let mut out = Vec::with_capacity(x.len());
        for (i, x) in x.chunks_exact(image).enumerate() {
            self.forward_image(x, height, width, t[i], conditions[i], &mut out);
        }
        out
    }
}

impl VelocityModel for CpuGenerator {
    fn velocity(&self, x: Tensor<4>, t: Tensor<1>, conditions: &[Condition]) -> Tensor<4> {
        let shape = x.dims();
        let device: Device = x.device();
        let floats = |data: TensorData| {
            data.convert::<f32>()
                .try_into_vec::<f32>()
                .expect("CPU tensors read back as f32")
        };
        let v = CpuGenerator::velocity(
            self,
            &floats(x.into_data()),
            shape,
            &floats(t.into_data()),
            conditions,
        );
        Tensor::from_data(TensorData::new(v, shape), &device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{RoomType, Style};
    use crate::model::ModelConfig;
    use crate::sampler::seeded_noise;
    use burn::module::{Module, ModuleMapper};
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

    /// A model with noise added to every parameter (biases and norms included), so that a
    /// misplaced parameter shows.
    fn scrambled_model() -> UNetV1 {
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
        let crate::model::Generator::V1(model) = ModelConfig::default().init(&Device::flex())
        else {
            unreachable!("the default is the first U-Net")
        };
        model.map(&mut Scramble(ChaCha8Rng::seed_from_u64(5)))
    }

    #[test]
    fn matches_the_burn_model() {
        let size = 16;
        let model = scrambled_model();
        let fast = CpuGenerator::new(&model);
        let device = Device::flex();
        let conditions = [
            Condition::new(RoomType::ALL[1], Style::ALL[2]),
            Condition::UNCONDITIONAL,
            Condition::new(RoomType::ALL[0], Style::ALL[0]),
        ];
        let batch = conditions.len();
        let x: Vec<f32> = (0..batch as u64)
            .flat_map(|s| seeded_noise(s, [3, size, size]))
            .collect();
        let t = [0.0, 0.35, 0.9];
        let shape = [batch, 3, size, size];
        let expected = model
            .forward(
                Tensor::from_data(TensorData::new(x.clone(), shape), &device),
                Tensor::from_data(TensorData::new(t.to_vec(), [batch]), &device),
                &conditions,
            )
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let ours = fast.velocity(&x, shape, &t, &conditions);
        assert_eq!(ours.len(), expected.len());
        let scale = expected.iter().map(|v| v.abs()).fold(0f32, f32::max);
        assert!(scale > 0.1, "a degenerate model proves nothing ({scale})");
        let worst = ours
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-4 * scale.max(1.0),
            "max difference {worst} (scale {scale})"
        );
    }
}
