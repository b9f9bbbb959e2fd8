//! Generator v2's transformer ([`DiT`]) written out for the CPU, with its autoencoder's decoder.

use super::decoder::CpuDecoder;
use super::layers::{
    Conditioning, Dense, View, gelu, map_in_place, modulated_layer_norm, product, softmax_rows,
};
use super::{floats, per_image};
use crate::model::autoencoder::Autoencoder;
use crate::model::dit::{DiT, DiTBlock, position_spacing, sine_position_values};
use crate::model::{Condition, Scalar};
use crate::sampler::VelocityModel;
use burn::tensor::Tensor;

struct Block {
    heads: usize,
    modulation: Dense,
    qkv: Dense,
    proj: Dense,
    fc1: Dense,
    fc2: Dense,
}

/// `h` += `update` x `gate`, the gate one value per column.
fn add_gated(h: &mut [f32], update: &[f32], gate: &[f32]) {
    for (row, u) in h
        .chunks_exact_mut(gate.len())
        .zip(update.chunks_exact(gate.len()))
    {
        for ((h, u), g) in row.iter_mut().zip(u).zip(gate) {
            *h += u * g;
        }
    }
}

impl Block {
    fn new(block: DiTBlock) -> Self {
        Self {
            heads: block.heads,
            modulation: Dense::new(block.modulation),
            qkv: Dense::new(block.qkv),
            proj: Dense::new(block.proj),
            fc1: Dense::new(block.fc1),
            fc2: Dense::new(block.fc2),
        }
    }

    /// `h` ([tokens, width]) through the block; `cond` is silu(conditioning).
    fn forward(&self, h: &mut [f32], tokens: usize, cond: &[f32]) {
        let width = self.proj.outputs();
        let m = self.modulation.forward(cond);
        let [shift1, scale1, gate1, shift2, scale2, gate2]: [&[f32]; 6] = m
            .chunks_exact(width)
            .collect::<Vec<_>>()
            .try_into()
            .expect("six chunks of the modulation");

        let qkv = self
            .qkv
            .forward_rows(&modulated_layer_norm(h, width, shift1, scale1), tokens);
        // Each head's queries, keys and values are column blocks of `qkv`, read in place.
        let d = width / self.heads;
        let head = |part: usize, head: usize| {
            View::strided(&qkv[part * width + head * d..], tokens, d, 3 * width)
        };
        let mut attended = vec![0f32; tokens * width];
        let mut scores = vec![0f32; tokens * tokens];
        for i in 0..self.heads {
            product(
                &mut scores,
                tokens,
                head(0, i),
                head(1, i).transposed(),
                false,
            );
            softmax_rows(&mut scores, tokens, 1.0 / (d as f32).sqrt());
            product(
                &mut attended[i * d..],
                width,
                View::rows(&scores, tokens, tokens),
                head(2, i),
                false,
            );
        }
        add_gated(h, &self.proj.forward_rows(&attended, tokens), gate1);

        let mut hidden = self
            .fc1
            .forward_rows(&modulated_layer_norm(h, width, shift2, scale2), tokens);
        map_in_place(&mut hidden, gelu);
        add_gated(h, &self.fc2.forward_rows(&hidden, tokens), gate2);
    }
}

/// The transformer's parameters in the layouts the pass below reads, and its autoencoder
/// (the decoder written out; photos are encoded by the burn module, once per request).
pub struct CpuGeneratorV2 {
    conditioning: Conditioning,
    patch: usize,
    embed: Dense,
    /// The layout's layer, for a network that reads one.
    layout_embed: Option<Dense>,
    blocks: Vec<Block>,
    out_modulation: Dense,
    out: Dense,
    decoder: Option<CpuDecoder>,
    autoencoder: Option<Autoencoder>,
    /// See [`DiT::trained_grid`].
    trained_grid: Option<usize>,
}

impl CpuGeneratorV2 {
    pub fn new(dit: DiT, autoencoder: Option<Autoencoder>) -> Self {
        // The layers by value, so their weights move in uncopied (see `values`).
        Self {
            conditioning: Conditioning::new(dit.labels()),
            patch: dit.patch,
            embed: Dense::new(dit.embed),
            layout_embed: dit.layout_embed.map(Dense::new),
            blocks: dit.blocks.into_iter().map(Block::new).collect(),
            out_modulation: Dense::new(dit.out_modulation),
            out: Dense::new(dit.out),
            decoder: autoencoder.as_ref().map(CpuDecoder::new),
            autoencoder,
            trained_grid: dit.trained_grid,
        }
    }

    /// One input ([channels, height, width]) to its velocity, appended to `out`; `added` is
    /// what every token gains beside its patch's embedding ([tokens, width]: the sine
    /// positions for this size, and the layout's tokens if there is one).
    fn forward_image(
        &self,
        x: &[f32],
        shape: [usize; 3],
        added: &[f32],
        t: f32,
        condition: Condition,
        out: &mut Vec<f32>,
    ) {
        let tokens = added.len() / self.embed.outputs();
        let mut h = self
            .embed
            .forward_rows(&patches(x, shape, self.patch), tokens);
        h.iter_mut().zip(added).for_each(|(h, a)| *h += a);

        let cond = self.conditioning.silu(t, condition);
        for block in &self.blocks {
            block.forward(&mut h, tokens, &cond);
        }
        let m = self.out_modulation.forward(&cond);
        let (shift, scale) = m.split_at(m.len() / 2);
        let token_width = self.embed.outputs();
        let y = self
            .out
            .forward_rows(&modulated_layer_norm(&h, token_width, shift, scale), tokens);
        let start = out.len();
        out.resize(start + x.len(), 0.0);
        let velocity = &mut out[start..];
        let at = patch_index(shape, self.patch);
        let patch_values = y.len() / tokens;
        for (token, values) in y.chunks_exact(patch_values).enumerate() {
            for (i, v) in values.iter().enumerate() {
                velocity[at(token, i)] = *v;
            }
        }
    }
}

/// Where value i of token `token`'s patch lies in `[channels, height, width]` planes cut into
/// `p` x `p` patches: a token holds its patch's values in (channel, row, column) order, as
/// the burn model's reshape gives them.
fn patch_index([_, height, width]: [usize; 3], p: usize) -> impl Fn(usize, usize) -> usize {
    let columns = width / p;
    move |token, i| {
        let (r, c) = (token / columns, token % columns);
        let (ch, py, px) = (i / (p * p), i / p % p, i % p);
        (ch * height + r * p + py) * width + c * p + px
    }
}

/// `x` ([channels, height, width]) as its tokens' patch values, [tokens, channels * p * p].
fn patches(x: &[f32], shape: [usize; 3], p: usize) -> Vec<f32> {
    let at = patch_index(shape, p);
    let patch_values = shape[0] * p * p;
    let mut out = vec![0f32; x.len()];
    for (token, values) in out.chunks_exact_mut(patch_values).enumerate() {
        for (i, v) in values.iter_mut().enumerate() {
            *v = x[at(token, i)];
        }
    }
    out
}

impl VelocityModel for CpuGeneratorV2 {
    fn velocity(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layout: Option<&Tensor<4>>,
    ) -> Tensor<4> {
        let [_, channels, height, width] = x.dims();
        let p = self.patch;
        assert!(
            height % p == 0 && width % p == 0,
            "sides multiples of the patch"
        );
        let tokens = (height / p) * (width / p);
        let (rows, columns) = (height / p, width / p);
        let spacing = position_spacing(self.trained_grid, rows, columns);
        let mut added = sine_position_values(rows, columns, self.embed.outputs(), spacing);
        // The layout is the same for every row: its tokens are added with the positions.
        if let (Some(layer), Some(layout)) = (&self.layout_embed, layout) {
            let [_, grid_channels, rows, columns] = layout.dims();
            let grid = floats(layout.clone().into_data());
            let layout_tokens =
                layer.forward_rows(&patches(&grid, [grid_channels, rows, columns], p), tokens);
            added
                .iter_mut()
                .zip(layout_tokens)
                .for_each(|(a, l)| *a += l);
        }
        per_image(x, t, conditions, |x, t, condition, out| {
            self.forward_image(x, [channels, height, width], &added, t, condition, out)
        })
    }

    fn to_sample_space(&self, images: Tensor<4>) -> Tensor<4> {
        match &self.autoencoder {
            Some(a) => a.encode(images),
            None => images,
        }
    }

    fn to_image(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.decoder {
            Some(decoder) => decoder.decode(x),
            None => x,
        }
    }

    fn reads(&self, scalar: Scalar) -> bool {
        self.conditioning.reads(scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{agree, assert_close, scrambled};
    use super::*;
    use crate::labels::{RoomType, Style};
    use crate::model::dit::DiTShape;
    use crate::model::{Architecture, Denoiser, Generator, GeneratorV2, ModelConfig};
    use crate::sampler::seeded_noise;
    use burn::tensor::{Device, TensorData};

    /// A small transformer of the shipped shape's kind: two blocks, two heads, over the
    /// latents of a two-level autoencoder (or over pixels).
    fn small(latents: bool) -> ModelConfig {
        let mut config = ModelConfig::preset("dit-latent").expect("a preset");
        config.base_channels = 32;
        config.cond_dim = 32;
        let Architecture::DiT(shape) = &mut config.architecture else {
            unreachable!("the preset is a transformer")
        };
        *shape = DiTShape {
            depth: 2,
            head_channels: 16,
            mlp_ratio: 2,
            autoencoder: latents.then(|| crate::model::autoencoder::AutoencoderShape {
                latent_channels: 4,
                channels: vec![8, 16],
            }),
            ..shape.clone()
        };
        config
    }

    fn parts(model: Generator) -> (DiT, Option<Autoencoder>) {
        let Generator::V2(GeneratorV2 {
            denoiser: Denoiser::DiT(dit),
            autoencoder,
        }) = model
        else {
            unreachable!("a transformer")
        };
        (dit, autoencoder)
    }

    /// `model`'s velocity at one seeded noise input of `shape`, t = 0.5.
    fn probe(
        model: &dyn VelocityModel,
        shape: [usize; 3],
        condition: Condition,
        layout: Option<&Tensor<4>>,
    ) -> Vec<f32> {
        let [c, h, w] = shape;
        let x = Tensor::<4>::from_data(
            TensorData::new(seeded_noise(1, shape), [1, c, h, w]),
            &Device::flex(),
        );
        let t = Tensor::<1>::from_floats([0.5], &Device::flex());
        let v = model.velocity(x, t, &[condition], layout).into_data();
        v.try_into_vec::<f32>().unwrap()
    }

    /// The largest difference between two velocities.
    fn moved(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
    }

    #[test]
    fn the_transformer_matches_the_burn_model() {
        for (latents, shape) in [(true, [4, 8, 12]), (false, [3, 8, 8])] {
            let model = scrambled(small(latents));
            let fast = CpuGeneratorV2::new(parts(model.clone()).0, None);
            agree(&model, &fast, shape, None);
        }
    }

    #[test]
    fn past_its_trained_grid_the_transformer_matches_the_burn_model() {
        let config = small(true);
        // Trained at 8 px: 4 x 4 latents (the autoencoder halves), 2 x 2 tokens; 8 x 12
        // latents are past it.
        let model = scrambled(config.clone()).trained_at(&config, 8);
        let (dit, _) = parts(model.clone());
        assert_eq!(dit.trained_grid, Some(2));
        let fast = CpuGeneratorV2::new(dit, None);
        agree(&model, &fast, [4, 8, 12], None);
        // The spacing moves the velocity: the same weights without it give another.
        let plain = scrambled(config);
        let unconditional =
            |model: &dyn VelocityModel| probe(model, [4, 8, 12], Condition::UNCONDITIONAL, None);
        let moved = moved(&unconditional(&model), &unconditional(&plain));
        assert!(moved > 0.01, "the spacing moved the velocity by {moved}");
    }

    /// A transformer reading `scalars`, its CPU pass checked against burn's, and how far two
    /// values of each scalar move the CPU pass's velocity.
    fn scalar_reading(scalars: &[Scalar], values: [f32; 2]) -> f32 {
        let mut config = small(true);
        let Architecture::DiT(shape) = &mut config.architecture else {
            unreachable!("a transformer")
        };
        for &scalar in scalars {
            *shape.reads_mut(scalar) = true;
        }
        let model = scrambled(config);
        let fast = CpuGeneratorV2::new(parts(model.clone()).0, None);
        for scalar in [Scalar::Guidance, Scalar::StepSize] {
            assert_eq!(model.reads(scalar), scalars.contains(&scalar));
            assert_eq!(fast.reads(scalar), scalars.contains(&scalar));
        }
        agree(&model, &fast, [4, 8, 8], None);
        let labels = Condition::new(RoomType::ALL[0], Style::ALL[3]).guided(3.0);
        let with = |value: f32| match scalars.last() {
            Some(Scalar::StepSize) => labels.stepping(Some(value)),
            _ => labels.guided(value),
        };
        let velocity = |value: f32| probe(&fast, [4, 8, 8], with(value), None);
        moved(&velocity(values[0]), &velocity(values[1]))
    }

    #[test]
    fn the_guided_transformer_matches_the_burn_model_and_reads_the_weight() {
        let moved = scalar_reading(&[Scalar::Guidance], [2.0, 5.0]);
        assert!(moved > 0.01, "the weight moved the velocity by {moved}");
    }

    #[test]
    fn the_step_distilled_transformer_matches_the_burn_model_and_reads_the_step() {
        let moved = scalar_reading(&[Scalar::Guidance, Scalar::StepSize], [0.125, 0.25]);
        assert!(moved > 0.01, "the step moved the velocity by {moved}");
    }

    #[test]
    fn the_transformer_follows_a_layout_as_the_burn_model_does() {
        let mut config = small(true);
        let Architecture::DiT(shape) = &mut config.architecture else {
            unreachable!("a transformer")
        };
        shape.layout = true;
        let factor = shape.factor();
        let model = scrambled(config);
        let fast = CpuGeneratorV2::new(parts(model.clone()).0, None);
        let [rows, columns] = [8, 12];
        let grid: Vec<f32> = seeded_noise(9, [factor * factor, rows, columns])
            .into_iter()
            .map(|v| f32::from(v > 0.5))
            .collect();
        let layout = Tensor::<4>::from_data(
            TensorData::new(grid, [1, factor * factor, rows, columns]),
            &Device::flex(),
        );
        agree(&model, &fast, [4, rows, columns], Some(layout.clone()));
        // ... and the layout matters: the velocity without it is another.
        let velocity = |layout: Option<&Tensor<4>>| {
            probe(&fast, [4, rows, columns], Condition::UNCONDITIONAL, layout)
        };
        let moved = moved(&velocity(Some(&layout)), &velocity(None));
        assert!(moved > 0.01, "the layout moved the velocity by {moved}");
    }

    #[test]
    fn the_decoder_matches_the_burn_model() {
        let model = scrambled(small(true));
        let (dit, autoencoder) = parts(model.clone());
        let fast = CpuGeneratorV2::new(dit, autoencoder);
        let device = Device::flex();
        let shape = [2, 4, 6, 4];
        let z: Vec<f32> = (0..2).flat_map(|s| seeded_noise(s, [4, 6, 4])).collect();
        let latents = || Tensor::<4>::from_data(TensorData::new(z.clone(), shape), &device);
        let expected = model.to_image(latents()).into_data().try_into_vec::<f32>();
        let ours = fast.to_image(latents()).into_data().try_into_vec::<f32>();
        assert_close(&expected.unwrap(), &ours.unwrap());
    }
}
