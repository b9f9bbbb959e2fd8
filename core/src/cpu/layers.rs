//! The pieces the CPU passes are made of: dense layers, convolutions over bordered
//! channels-last maps, GroupNorm, LayerNorm, attention and their activations, each reading its
//! parameters once from the burn module it mirrors.

use crate::labels::Vocabulary;
use crate::model::{Condition, LabelLayers, Scalar, sine_frequencies};
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, Linear};
use burn::tensor::Tensor;
use std::cell::RefCell;

/// A parameter's values. Given the only handle on them (a module the CPU pass takes over),
/// the buffer the weights file was widened into moves here uncopied; a shared one is copied
/// (twice, by burn: two thirds of building the 256 px transformer's pass took such copies).
pub(super) fn values<const D: usize>(param: Param<Tensor<D>>) -> Vec<f32> {
    param
        .into_value()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("parameters converted to f32 read back as f32")
}

/// A linear layer, weight [inputs, outputs] row-major (burn's layout).
pub(super) struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    pub(super) fn new(linear: Linear) -> Self {
        let outputs = linear.weight.dims()[1];
        Self {
            weight: values(linear.weight),
            bias: linear.bias.map_or_else(|| vec![0.0; outputs], values),
        }
    }

    pub(super) fn forward(&self, input: &[f32]) -> Vec<f32> {
        let mut out = self.bias.clone();
        let outputs = out.len();
        vectorised(
            #[inline(always)]
            || {
                for (x, row) in input.iter().zip(self.weight.chunks_exact(outputs)) {
                    for (o, w) in out.iter_mut().zip(row) {
                        *o += x * w;
                    }
                }
            },
        );
        out
    }
}

/// Embedding rows.
pub(super) struct Table {
    weight: Vec<f32>,
    width: usize,
}

impl Table {
    pub(super) fn new(embedding: &Embedding) -> Self {
        Self {
            width: embedding.weight.dims()[1],
            weight: values(embedding.weight.clone()),
        }
    }

    pub(super) fn row(&self, id: usize) -> &[f32] {
        &self.weight[id * self.width..(id + 1) * self.width]
    }
}

/// GroupNorm's affine parameters.
pub(super) struct Norm {
    groups: usize,
    epsilon: f64,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    pub(super) fn new(norm: &GroupNorm) -> Self {
        let channels = norm.num_channels;
        Self {
            groups: norm.num_groups,
            epsilon: norm.epsilon,
            gamma: norm
                .gamma
                .clone()
                .map_or_else(|| vec![1.0; channels], values),
            beta: norm
                .beta
                .clone()
                .map_or_else(|| vec![0.0; channels], values),
        }
    }

    /// `dst = silu(groupnorm(src + add))`, `add` one value per channel (the conditioning).
    pub(super) fn silu(&self, src: &Map, add: Option<&[f32]>, dst: &mut Map) {
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
pub(super) fn vectorised<R>(body: impl FnOnce() -> R) -> R {
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
pub(super) struct Conv {
    kernel: usize,
    stride: usize,
    inputs: usize,
    outputs: usize,
    rows: Vec<Vec<f32>>,
    bias: Vec<f32>,
}

impl Conv {
    pub(super) fn new(conv: &Conv2d) -> Self {
        let [outputs, inputs, kernel, kernel_w] = conv.weight.dims();
        assert_eq!(kernel, kernel_w, "square kernels");
        assert!(kernel == 1 || kernel == 3, "1x1 or 3x3 kernels");
        let weight = values(conv.weight.clone());
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
            bias: conv.bias.clone().map_or_else(|| vec![0.0; outputs], values),
        }
    }

    /// A fresh map holding this convolution of `src` (padding 1 for 3x3 kernels).
    pub(super) fn apply(&self, src: &Map) -> Map {
        let mut dst = Map::zeros(
            src.height / self.stride,
            src.width / self.stride,
            self.outputs,
        );
        self.accumulate(src, &mut dst);
        dst
    }

    /// `dst += conv(src)`.
    pub(super) fn accumulate(&self, src: &Map, dst: &mut Map) {
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

/// A residual block: the first U-Net's (its conditioning added before the second norm) or
/// generator v2's without conditioning (the autoencoder's).
pub(super) struct Block {
    norm1: Norm,
    conv1: Conv,
    cond: Option<Dense>,
    norm2: Norm,
    conv2: Conv,
    skip: Option<Conv>,
}

impl Block {
    pub(super) fn new(block: &crate::model::unet_v1::ResBlock) -> Self {
        Self {
            norm1: Norm::new(&block.norm1),
            conv1: Conv::new(&block.conv1),
            cond: Some(Dense::new(block.cond.clone())),
            norm2: Norm::new(&block.norm2),
            conv2: Conv::new(&block.conv2),
            skip: block.skip.as_ref().map(Conv::new),
        }
    }

    /// A generator v2 block that takes no conditioning (`None` for one that does: its scale
    /// and shift have no pass here).
    pub(super) fn unconditioned(block: &crate::model::unet::ResBlock) -> Option<Self> {
        block.cond.is_none().then(|| Self {
            norm1: Norm::new(&block.norm1),
            conv1: Conv::new(&block.conv1),
            cond: None,
            norm2: Norm::new(&block.norm2),
            conv2: Conv::new(&block.conv2),
            skip: block.skip.as_ref().map(Conv::new),
        })
    }

    /// `silu_cond` is silu(conditioning vector), shared by every block (ignored by a block
    /// without conditioning).
    pub(super) fn forward(&self, x: &Map, silu_cond: &[f32]) -> Map {
        let mut a = Map::zeros(x.height, x.width, x.channels);
        self.norm1.silu(x, None, &mut a);
        let h = self.conv1.apply(&a);
        let mut b = Map::zeros(h.height, h.width, h.channels);
        let cond = self.cond.as_ref().map(|c| c.forward(silu_cond));
        self.norm2.silu(&h, cond.as_deref(), &mut b);
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
pub(super) struct Map {
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) channels: usize,
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
    pub(super) fn zeros(height: usize, width: usize, channels: usize) -> Self {
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

    pub(super) fn copy(&self) -> Self {
        let mut map = Self::zeros(self.height, self.width, self.channels);
        map.data.copy_from_slice(&self.data);
        map
    }

    fn row_range(&self, y: usize) -> std::ops::Range<usize> {
        let start = ((y + 1) * self.pitch + 1) * self.channels;
        start..start + self.width * self.channels
    }

    /// The image's pixels, row by row, each a slice of `channels` values.
    pub(super) fn interior(&self) -> impl Iterator<Item = &[f32]> {
        (0..self.height).flat_map(move |y| self.data[self.row_range(y)].chunks_exact(self.channels))
    }

    pub(super) fn interior_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
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
    pub(super) fn from_planes(
        planes: &[f32],
        channels: usize,
        height: usize,
        width: usize,
    ) -> Self {
        let mut map = Self::zeros(height, width, channels);
        for (i, pixel) in map.interior_mut().enumerate() {
            for (c, v) in pixel.iter_mut().enumerate() {
                *v = planes[c * height * width + i];
            }
        }
        map
    }

    /// Back to NCHW, appended to `out`.
    pub(super) fn to_planes(&self, out: &mut Vec<f32>) {
        let start = out.len();
        let plane = self.height * self.width;
        out.resize(start + self.channels * plane, 0.0);
        for (i, pixel) in self.interior().enumerate() {
            for (c, &v) in pixel.iter().enumerate() {
                out[start + c * plane + i] = v;
            }
        }
    }

    /// Nearest-neighbour 2x upsampling of `low`, its channels followed by those of `beside`
    /// when given (the U-Net's `cat([upsample(low), skip], 1)`).
    pub(super) fn upsampled(low: &Map, beside: Option<&Map>) -> Map {
        let extra = beside.map_or(0, |b| b.channels);
        let channels = low.channels + extra;
        let (height, width) = (2 * low.height, 2 * low.width);
        if let Some(b) = beside {
            assert!(
                b.height == height && b.width == width,
                "the skip is twice the size"
            );
        }
        let mut map = Self::zeros(height, width, channels);
        let beside_pixels = beside.map(|b| b.interior());
        let mut beside_pixels = beside_pixels.into_iter().flatten();
        for (i, out) in map.interior_mut().enumerate() {
            let (y, x) = (i / width, i % width);
            let l = &low.data[low.row_range(y / 2)][(x / 2) * low.channels..][..low.channels];
            out[..low.channels].copy_from_slice(l);
            if let Some(s) = beside_pixels.next() {
                out[low.channels..].copy_from_slice(s);
            }
        }
        map
    }
}

/// x sigmoid(x), with an `exp` the compiler can vectorise.
#[inline(always)]
pub(super) fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// e^x to about 2 ulp, branch-free (Cephes' polynomial): 2^n e^r with n = round(x / ln 2).
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
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
/// GELU as burn computes it, x Φ(x) = x (1 + erf(x / √2)) / 2, with a vectorisable erf.
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf(x) to 1.5e-7 (Abramowitz & Stegun 7.1.26), branch-free.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut p = 1.061_405_4;
    p = p * t - 1.453_152;
    p = p * t + 1.421_413_8;
    p = p * t - 0.284_496_74;
    p = p * t + 0.254_829_6;
    (1.0 - p * t * exp(-a * a)).copysign(x)
}

/// The conditioning vector's layers (time features, two dense layers, the label tables, and a
/// distilled network's layers for its scalars), as every network has them (see
/// [`LabelLayers`]).
pub(super) struct Conditioning {
    vocabulary: Vocabulary,
    time_freqs: Vec<f32>,
    time_in: Dense,
    time_out: Dense,
    room_embedding: Table,
    style_embedding: Table,
    scalars: Vec<(Scalar, Dense, Dense)>,
}

/// Sines then cosines of `value` at `freqs`.
fn sine_features(value: f32, freqs: &[f32]) -> Vec<f32> {
    let angles = freqs.iter().map(|f| value * f);
    angles
        .clone()
        .map(f32::sin)
        .chain(angles.map(f32::cos))
        .collect()
}

/// `second`(silu(`first`(x))).
fn two_layers(first: &Dense, second: &Dense, x: &[f32]) -> Vec<f32> {
    let mut hidden = first.forward(x);
    hidden.iter_mut().for_each(|h| *h = silu(*h));
    second.forward(&hidden)
}

impl Conditioning {
    pub(super) fn new(layers: LabelLayers<'_>) -> Self {
        Self {
            vocabulary: layers.vocabulary.clone(),
            time_freqs: sine_frequencies(layers.time_in.weight.dims()[0] / 2),
            time_in: Dense::new(layers.time_in.clone()),
            time_out: Dense::new(layers.time_out.clone()),
            room_embedding: Table::new(layers.room_embedding),
            style_embedding: Table::new(layers.style_embedding),
            scalars: layers
                .scalars
                .iter()
                .map(|(scalar, l)| {
                    let dense = |linear: &Linear| Dense::new(linear.clone());
                    (*scalar, dense(&l.input), dense(&l.output))
                })
                .collect(),
        }
    }

    /// Whether the network reads `scalar` from a condition.
    pub(super) fn reads(&self, scalar: Scalar) -> bool {
        self.scalars.iter().any(|(s, ..)| *s == scalar)
    }

    /// silu of the conditioning vector (time features + room + style, + the features of the
    /// scalars a distilled network reads), as the blocks take it.
    pub(super) fn silu(&self, t: f32, condition: Condition) -> Vec<f32> {
        let features = sine_features(t, &self.time_freqs);
        let mut cond = two_layers(&self.time_in, &self.time_out, &features);
        for (scalar, input, output) in &self.scalars {
            if let Some(value) = scalar.of(&condition) {
                let features = sine_features(scalar.feature(value), &self.time_freqs);
                let added = two_layers(input, output, &features);
                cond.iter_mut().zip(added).for_each(|(c, a)| *c += a);
            }
        }
        let (room, style) = condition.rows(&self.vocabulary);
        let room = self.room_embedding.row(room);
        let style = self.style_embedding.row(style);
        for ((c, r), s) in cond.iter_mut().zip(room).zip(style) {
            *c = silu(*c + (r + s));
        }
        cond
    }
}

/// A matrix inside a slice: element (r, c) at `r * row_stride + c * column_stride`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a> View<'a> {
    /// `data` as a row-major `rows` x `columns` matrix.
    pub(super) fn rows(data: &'a [f32], rows: usize, columns: usize) -> Self {
        Self::strided(data, rows, columns, columns)
    }

    /// Rows `row_stride` apart in `data`, of `columns` contiguous values each (a block of
    /// columns of a wider matrix, `data` starting at its first).
    pub(super) fn strided(data: &'a [f32], rows: usize, columns: usize, row_stride: usize) -> Self {
        let view = Self {
            data,
            rows,
            columns,
            row_stride,
            column_stride: 1,
        };
        assert!(
            rows == 0 || columns == 0 || view.last() < data.len(),
            "the matrix lies inside its slice"
        );
        view
    }

    pub(super) fn transposed(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }

    fn last(&self) -> usize {
        (self.rows - 1) * self.row_stride + (self.columns - 1) * self.column_stride
    }
}

/// `out` (row-major, rows `out_stride` apart) = or += `a` · `b`, through gemm on one thread
/// (each image of a batch has a core of its own, see [`crate::generate::Designer`]).
pub(super) fn product(out: &mut [f32], out_stride: usize, a: View, b: View, accumulate: bool) {
    assert_eq!(a.columns, b.rows, "inner dimensions agree");
    let (m, n, k) = (a.rows, b.columns, a.columns);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * out_stride + n <= out.len(),
        "the product lies inside its slice"
    );
    // SAFETY: the three matrices lie inside their slices (asserted here and by `View`), and
    // `out` is borrowed mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            out_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.column_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.column_stride as isize,
            b.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl Dense {
    pub(super) fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// The layer applied to each of `rows` rows of `input` (row-major).
    pub(super) fn forward_rows(&self, input: &[f32], rows: usize) -> Vec<f32> {
        let (inputs, outputs) = (input.len() / rows.max(1), self.outputs());
        // Row by row: a flattened iterator of the rows fills at a fraction of memcpy's speed.
        let mut out = Vec::with_capacity(rows * outputs);
        for _ in 0..rows {
            out.extend_from_slice(&self.bias);
        }
        product(
            &mut out,
            outputs,
            View::rows(input, rows, inputs),
            View::rows(&self.weight, inputs, outputs),
            true,
        );
        out
    }
}

/// Each row (token) of `x` through LayerNorm without parameters (biased variance, as burn's
/// `var_mean_bias`), then scaled by (1 + scale) and shifted: DiT's modulated norm.
pub(super) fn modulated_layer_norm(
    x: &[f32],
    width: usize,
    shift: &[f32],
    scale: &[f32],
) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    vectorised(
        #[inline(always)]
        || {
            for (o, row) in out.chunks_exact_mut(width).zip(x.chunks_exact(width)) {
                let mean = lane_sum(row, |v| v) / width as f32;
                let var = lane_sum(row, |v| (v - mean) * (v - mean)) / width as f32;
                let inv = 1.0 / (var + 1e-6).sqrt();
                for (((o, &v), &s), &b) in o.iter_mut().zip(row).zip(scale).zip(shift) {
                    *o = (v - mean) * inv * (1.0 + s) + b;
                }
            }
        },
    );
    out
}

/// Each row of `scores` replaced by the softmax of the row times `scale`.
pub(super) fn softmax_rows(scores: &mut [f32], width: usize, scale: f32) {
    vectorised(
        #[inline(always)]
        || {
            for row in scores.chunks_exact_mut(width) {
                let max = lane_max(row);
                row.iter_mut().for_each(|v| *v = exp((*v - max) * scale));
                let inv = 1.0 / lane_sum(row, |v| v);
                row.iter_mut().for_each(|v| *v *= inv);
            }
        },
    );
}

/// Accumulators of the reductions below. A float sum in one accumulator is a chain of
/// dependent adds that the compiler may not reorder, and a loop that holds one (the softmax's
/// exponentials beside their sum, before) stays scalar entirely; a vector's worth of partial
/// results keeps every lane busy. The order is fixed, so results stay the same on every
/// target and thread count.
const LANES: usize = 16;

/// The sum of `f` over `x`, in `LANES` partial sums.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut partial = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder().iter().map(|&v| f(v)).sum::<f32>();
    for chunk in chunks {
        for (p, &v) in partial.iter_mut().zip(chunk) {
            *p += f(v);
        }
    }
    partial.iter().sum::<f32>() + rest
}

/// The largest value of `x` (negative infinity for none), in `LANES` partial maxima.
#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut partial = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for chunk in chunks {
        for (p, &v) in partial.iter_mut().zip(chunk) {
            *p = p.max(v);
        }
    }
    partial.iter().copied().fold(rest, f32::max)
}

/// `x` with each value through `f`, in the vectorised loop.
pub(super) fn map_in_place(x: &mut [f32], f: impl Fn(f32) -> f32) {
    vectorised(
        #[inline(always)]
        || x.iter_mut().for_each(|v| *v = f(*v)),
    );
}
