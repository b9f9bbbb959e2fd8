//! The quality metric: a small room-type + style classifier, trained on rendered rooms the
//! generator never saw (its own seed range) and kept apart from the generator's weights.
//! Its accuracy on held-out renders is the ceiling; its accuracy on generated images for the
//! same labels says how recognisable the designs are; the Fréchet distance between its
//! features of real and generated images says how alike the two sets look overall. A third
//! head names the furniture a picture shows (each role covering at least
//! [`designer_scene::SHOWN`] of a render), so the eval can say how often a room type's anchor
//! piece (the bed of a bedroom, a bathroom's tub or shower) is found in designs against renders.

use crate::dataset::Example;
use crate::scenes::example;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use designer_core::Designer;
use designer_core::image::{encode_png, rgb_to_tensor, tensor_to_rgb, to_base64};
use designer_core::labels::{RoomType, Style, Vocabulary};
use designer_core::layout::{edge_f1, edge_map};
use designer_core::progress::Progress;
use designer_core::request::{DesignError, DesignRequest, Keep};
use designer_scene::bulk::{render_many_at, render_scenes};
use designer_scene::compose::Extremes;
use designer_scene::compose::anchor_roles;
use designer_scene::furniture::Role;
use designer_scene::{Render, SceneEngine, SceneError};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Channels after each stride-2 convolution: 64 px in, 4 x 4 x 64 at the end, averaged.
const CHANNELS: [usize; 4] = [16, 32, 64, 64];
pub const FEATURES: usize = 64;

/// The side the classifier reads pictures at. A room's type and style show at 64 px (the
/// classifier names 99 % of real renders' styles there, BENCHMARKS.md), while the same small
/// network read 128 px renders worse (67.5 % both right against 80.0 %: its last features no
/// longer see the whole room) and at 4x the cost. So larger pictures are averaged down to
/// about this first, and the eval of every size judges the same thing at the same cost; the
/// detail a size adds is judged by the autoencoder's PSNR and the contact sheets.
pub const VIEW_SIDE: usize = 64;

/// How many pixels a side of the classifier's view averages: the largest k that divides
/// `size` and leaves at least [`VIEW_SIDE`] (1 at 64 px and below).
fn view_factor(size: usize) -> usize {
    (1..=size / VIEW_SIDE)
        .rev()
        .find(|k| size.is_multiple_of(*k))
        .unwrap_or(1)
}

/// The side of [`classifier_view`]'s pictures for `size` px examples.
pub fn view_side(size: usize) -> usize {
    size / view_factor(size)
}

/// `example` (`size` x `size`) as the classifier reads it: means of k x k blocks.
pub fn classifier_view(example: &Example, size: usize) -> Example {
    let k = view_factor(size);
    let side = size / k;
    let mut pixels = vec![0.0; 3 * side * side];
    for (i, value) in example.pixels.iter().enumerate() {
        let (c, y, x) = (i / (size * size), i / size % size, i % size);
        pixels[(c * side + y / k) * side + x / k] += value;
    }
    let scale = 1.0 / (k * k) as f32;
    pixels.iter_mut().for_each(|v| *v *= scale);
    Example {
        pixels,
        room: example.room,
        style: example.style,
    }
}

fn classifier_views(examples: &[Example], size: usize) -> Vec<Example> {
    examples.iter().map(|e| classifier_view(e, size)).collect()
}

#[derive(Module, Debug)]
pub struct Classifier {
    convs: Vec<Conv2d>,
    norms: Vec<GroupNorm>,
    room: Linear,
    style: Linear,
    /// One logit per furniture role (`Role::ALL` order): shown or not.
    roles: Linear,
}

impl Classifier {
    pub fn new(device: &Device) -> Self {
        let mut cin = 3;
        let (mut convs, mut norms) = (Vec::new(), Vec::new());
        for cout in CHANNELS {
            convs.push(
                Conv2dConfig::new([cin, cout], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
            );
            norms.push(GroupNormConfig::new(8, cout).init(device));
            cin = cout;
        }
        Self {
            convs,
            norms,
            room: LinearConfig::new(FEATURES, RoomType::ALL.len()).init(device),
            style: LinearConfig::new(FEATURES, Style::ALL.len()).init(device),
            roles: LinearConfig::new(FEATURES, Role::ALL.len()).init(device),
        }
    }

    /// Globally averaged features, [n, FEATURES].
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = silu(norm.forward(conv.forward(x)));
        }
        let [n, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([n, c])
    }
}

fn images(examples: &[&Example], size: usize, device: &Device) -> Tensor<4> {
    let pixels: Vec<f32> = examples
        .iter()
        .flat_map(|e| e.pixels.iter().copied())
        .collect();
    Tensor::from_data(
        TensorData::new(pixels, [examples.len(), 3, size, size]),
        device,
    )
}

fn labels(
    examples: &[&Example],
    id: impl Fn(&Example) -> usize,
    device: &Device,
) -> Tensor<1, Int> {
    let ids: Vec<i64> = examples.iter().map(|e| id(e) as i64).collect();
    Tensor::from_data(TensorData::new(ids, [examples.len()]), device)
}

/// Which roles each of `examples` shows, as [n, roles] 0/1 targets.
fn shown_targets(shown: &[&Shown], device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = shown
        .iter()
        .flat_map(|s| s.iter().map(|&b| i64::from(b)))
        .collect();
    Tensor::from_data(
        TensorData::new(values, [shown.len(), Role::ALL.len()]),
        device,
    )
}

/// Which furniture roles a picture shows, in `Role::ALL` order.
pub type Shown = Vec<bool>;

fn shown(render: &Render) -> Shown {
    Role::ALL.iter().map(|r| render.seen.shows(*r)).collect()
}

/// Trains a classifier on `examples`, which show the furniture `shown` says (room type and
/// style: cross-entropy; roles: binary cross-entropy; summed), seeded.
pub fn train_classifier(
    examples: &[Example],
    shown: &[Shown],
    size: usize,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Classifier {
    let device = device.clone().autodiff();
    // burn draws initial parameters from the device's generator (process-wide on the CPU):
    // seeding it makes a lone `designer eval` repeatable.
    device.seed(seed);
    let mut model = Classifier::new(&device);
    let mut optimizer = AdamConfig::new().init();
    let loss = CrossEntropyLossConfig::new().init(&device);
    let role_loss = BinaryCrossEntropyLossConfig::new()
        .with_logits(true)
        .init(&device);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let total = epochs * examples.len().div_ceil(batch_size);
    let mut step = 0;
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(batch_size) {
            let batch: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
            let batch_shown: Vec<&Shown> = chunk.iter().map(|&i| &shown[i]).collect();
            let features = model.features(images(&batch, size, &device));
            let (room, style) = (
                model.room.forward(features.clone()),
                model.style.forward(features.clone()),
            );
            let value = loss.forward(room, labels(&batch, |e| e.room.id(), &device))
                + loss.forward(style, labels(&batch, |e| e.style.id(), &device))
                + role_loss.forward(
                    model.roles.forward(features),
                    shown_targets(&batch_shown, &device),
                );
            let gradients = GradientsParams::from_grads(value.backward(), &model);
            model = optimizer.step(2e-3, model, gradients);
            step += 1;
            if step % 20 == 0 || step == total {
                progress(step, total, value.into_scalar::<f32>());
            }
        }
    }
    model.valid()
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    pub room_type: f64,
    pub style: f64,
    /// Both right at once.
    pub both: f64,
}

/// What the classifier makes of a set of pictures.
pub struct Judgement {
    pub accuracy: Accuracy,
    /// Each picture's features.
    pub features: Vec<Vec<f64>>,
    /// Whether the classifier finds the anchor piece of the picture's room type in it.
    pub anchor_found: Vec<bool>,
}

/// Accuracy of the label heads on `examples`, the features of each example and whether its
/// room type's anchor piece is found.
pub fn evaluate(
    classifier: &Classifier,
    examples: &[Example],
    size: usize,
    device: &Device,
) -> Judgement {
    let (mut room_right, mut style_right, mut both_right) = (0, 0, 0);
    let mut features = Vec::with_capacity(examples.len());
    let mut anchor_found = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(64) {
        let batch: Vec<&Example> = chunk.iter().collect();
        let x = images(&batch, size, device);
        let f = classifier.features(x);
        let rooms = classifier.room.forward(f.clone()).argmax(1);
        let styles = classifier.style.forward(f.clone()).argmax(1);
        let roles: Vec<f32> = classifier
            .roles
            .forward(f.clone())
            .into_data()
            .iter::<f32>()
            .collect();
        let rooms: Vec<i64> = rooms.into_data().iter::<i64>().collect();
        let styles: Vec<i64> = styles.into_data().iter::<i64>().collect();
        let values: Vec<f32> = f.into_data().iter::<f32>().collect();
        for (i, e) in chunk.iter().enumerate() {
            let room_ok = rooms[i] as usize == e.room.id();
            let style_ok = styles[i] as usize == e.style.id();
            room_right += usize::from(room_ok);
            style_right += usize::from(style_ok);
            both_right += usize::from(room_ok && style_ok);
            // A positive logit: more likely shown than not.
            let logits = &roles[i * Role::ALL.len()..(i + 1) * Role::ALL.len()];
            anchor_found.push(
                anchor_roles(e.room)
                    .iter()
                    .any(|r| logits[*r as usize] > 0.0),
            );
            features.push(
                values[i * FEATURES..(i + 1) * FEATURES]
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
            );
        }
    }
    let n = examples.len().max(1) as f64;
    Judgement {
        accuracy: Accuracy {
            room_type: room_right as f64 / n,
            style: style_right as f64 / n,
            both: both_right as f64 / n,
        },
        features,
        anchor_found,
    }
}

fn mean_and_covariance(samples: &[Vec<f64>]) -> (DVector<f64>, DMatrix<f64>) {
    let d = samples[0].len();
    let n = samples.len() as f64;
    let x = DMatrix::from_fn(samples.len(), d, |i, j| samples[i][j]);
    let mean = DVector::from_fn(d, |j, _| x.column(j).sum() / n);
    let centred = DMatrix::from_fn(samples.len(), d, |i, j| x[(i, j)] - mean[j]);
    let covariance = centred.transpose() * &centred / (n - 1.0).max(1.0);
    (mean, covariance)
}

/// Square root of a symmetric positive semi-definite matrix (negative rounding noise in its
/// eigenvalues clipped to zero).
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = m.clone().symmetric_eigen();
    let roots = eigen.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

/// The Fréchet distance between Gaussians fitted to two sets of feature vectors:
/// |m1 - m2|^2 + Tr(C1 + C2 - 2 (C1 C2)^1/2), with Tr((C1 C2)^1/2) computed as the trace of
/// the root of the symmetric C1^1/2 C2 C1^1/2.
pub fn frechet_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let (m1, c1) = mean_and_covariance(a);
    let (m2, c2) = mean_and_covariance(b);
    let root1 = psd_sqrt(&c1);
    let middle = &root1 * &c2 * &root1;
    let middle = (&middle + middle.transpose()) / 2.0;
    let cross = psd_sqrt(&middle).trace();
    ((&m1 - &m2).norm_squared() + c1.trace() + c2.trace() - 2.0 * cross).max(0.0)
}

/// Seeds of the classifier's renders: far from 0.. (the CLI's datasets) and drawn from by the
/// generator's training (uniform over u64) with odds of about 1e-13 per run.
const EVAL_TRAIN_SEEDS: u64 = 1 << 62;
const EVAL_TEST_SEEDS: u64 = (1 << 62) + (1 << 40);
/// Generated designs of pair i start from seed GENERATED_SEEDS + 100 i.
const GENERATED_SEEDS: u64 = 7_000;
/// The restyled design of photo i has seed RESTYLE_SEEDS + i.
const RESTYLE_SEEDS: u64 = 9_000;
/// Seeds of the renders at the composer's range ends restyled as photos: held out like the
/// test renders, in a range of their own.
const RANGE_END_SEEDS: u64 = EVAL_TEST_SEEDS + (1 << 39);

/// How a model is judged: how many renders train and test the classifier, how many designs
/// it judges, and how they are generated (`like`'s steps, guidance, sampler and size, which
/// is also the renders' size).
#[derive(Clone, Debug)]
pub struct EvalPlan {
    /// Classifier training renders per (room type, style) pair.
    pub train_per_label: u64,
    /// Held-out test renders per pair.
    pub test_per_label: u64,
    /// Generated designs per pair.
    pub generated_per_label: u32,
    /// Passes of the classifier over its training renders.
    pub epochs: usize,
    /// Held-out renders restyled as photos, for a model that follows layouts (0: none).
    pub restyle_photos: usize,
    pub like: DesignRequest,
    /// Each model is judged again at each of these guidance weights (after `like`'s), by the
    /// same classifier: guidance trades variety for fidelity, which the Fréchet distance and
    /// the accuracy read from opposite sides.
    pub also_guidance: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0} must be at least 1")]
    Empty(&'static str),
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error(transparent)]
    Design(#[from] DesignError),
    /// Models judged together must draw the same labels.
    #[error("models judged together must share a vocabulary: {0} differs from the first")]
    Vocabulary(String),
}

/// What [`evaluate_model`] found; serialises as `designer eval --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub size: u32,
    pub classifier: ClassifierSummary,
    pub real: RealSummary,
    pub generated: GeneratedSummary,
    /// Generated designs classified right, as a share of real renders classified right.
    pub generated_vs_real_accuracy: f64,
    pub frechet_distance: f64,
    /// Between two sets of real renders of the generated set's size: what "as close as real"
    /// reads on this scale.
    pub frechet_distance_real_vs_real: f64,
    /// Per room type: how often its anchor piece shows and is found, in renders and designs.
    pub anchors: Vec<AnchorSummary>,
    /// PSNR (dB) of the held-out renders through the model's autoencoder and back, for a
    /// network over latents: the detail its latents keep.
    pub autoencoder_psnr_db: Option<f64>,
    /// For a model over latents: the Fréchet distance of the real set designs are held
    /// against, through the autoencoder and back (the floor the model's designs can reach).
    pub autoencoder_frechet_distance: Option<f64>,
    /// For a model that follows layouts: held-out renders restyled as if they were photos.
    pub restyle: Option<RestyleSummary>,
}

/// Held-out renders used as photos, each restyled into another style of the vocabulary (its
/// room type kept), keeping the layout, and once more keeping the colours instead (SDEdit at
/// the plan's strength: the baseline).
#[derive(Clone, Debug, Serialize)]
pub struct RestyleSummary {
    pub photos: usize,
    /// Of them, renders with the room's size and the camera at the ends of the composer's
    /// ranges (the smallest and largest rooms, the lowest and highest, nearest and farthest,
    /// narrowest and widest views).
    pub range_end_photos: usize,
    /// Tolerance of the edge F1 in pixels: 2 at 256 px, in proportion at other sizes.
    pub tolerance_px: usize,
    /// Mean edge F1 of the layout-keeping designs against their photos.
    pub edge_f1: f64,
    /// The same of the colour-keeping designs.
    pub edge_f1_colours: f64,
    /// Both, over the range-end photos alone.
    pub edge_f1_range_ends: f64,
    pub edge_f1_colours_range_ends: f64,
    /// Layout-keeping designs whose style the classifier names as the requested one (not the
    /// photo's).
    pub style_accuracy: f64,
    /// That, as a share of the classifier's style accuracy on real renders.
    pub style_vs_real: f64,
}

/// One room type's anchor piece (see `designer_scene::compose::anchor_roles`) in held-out
/// renders and in the designs generated for the type.
#[derive(Clone, Debug, Serialize)]
pub struct AnchorSummary {
    pub room_type: RoomType,
    /// Renders in which the anchor covers at least `designer_scene::SHOWN` of the picture.
    pub real_shown: f64,
    /// Renders in which the classifier finds it.
    pub real_found: f64,
    /// Designs in which the classifier finds it.
    pub generated_found: f64,
}

/// See [`AnchorSummary`]: the test renders (`shown`: what each truly shows) and the designs,
/// with the classifier's judgement of each set, per room type of the vocabulary.
fn anchor_summaries(
    vocabulary: &Vocabulary,
    test: &[Example],
    shown: &[Shown],
    real: &Judgement,
    generated: &[Example],
    fake: &Judgement,
) -> Vec<AnchorSummary> {
    let share = |examples: &[Example], of: &dyn Fn(usize) -> bool, room: RoomType| {
        let ids: Vec<usize> = (0..examples.len())
            .filter(|i| examples[*i].room == room)
            .collect();
        ids.iter().filter(|i| of(**i)).count() as f64 / ids.len().max(1) as f64
    };
    vocabulary
        .room_types
        .iter()
        .map(|&room| AnchorSummary {
            room_type: room,
            real_shown: share(
                test,
                &|i| anchor_roles(room).iter().any(|r| shown[i][*r as usize]),
                room,
            ),
            real_found: share(test, &|i| real.anchor_found[i], room),
            generated_found: share(generated, &|i| fake.anchor_found[i], room),
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassifierSummary {
    pub train_renders: usize,
    pub epochs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RealSummary {
    pub count: usize,
    pub accuracy: Accuracy,
}

#[derive(Clone, Debug, Serialize)]
pub struct GeneratedSummary {
    pub count: usize,
    pub steps: u32,
    pub guidance: f32,
    pub accuracy: Accuracy,
}

/// One in this many of the classifier's training renders is drawn with its anchor piece taken
/// out of the room: the composer always shows the anchor (every test render of the first runs
/// did), so without them the furniture head could find a bed by recognising a bedroom.
const WITHOUT_ANCHOR: u64 = 4;

/// Whether the `round`th round of training renders (one room of every pair) lacks anchors.
fn anchorless(round: u64) -> bool {
    round % WITHOUT_ANCHOR == WITHOUT_ANCHOR - 1
}

/// Renders one room of every (room type, style) pair for each of `rounds`, seeds from `base`,
/// each kept as `keep` makes it (the classifier's training renders are kept only as its
/// views), with the furniture each shows; with `drop_anchors`, the [`anchorless`] rounds'
/// rooms without their anchor pieces.
#[allow(clippy::too_many_arguments)]
fn render_pairs(
    engine: &SceneEngine,
    pairs: &[(RoomType, Style)],
    rounds: &[u64],
    base: u64,
    size: u32,
    what: &str,
    drop_anchors: bool,
    keep: &dyn Fn(Example) -> Example,
    progress: &mut dyn Progress,
) -> Result<(Vec<Example>, Vec<Shown>), SceneError> {
    let total = (rounds.len() * pairs.len()) as u64;
    progress.stage(what, total);
    let (mut examples, mut shows) = (Vec::new(), Vec::new());
    for &k in rounds {
        let without_anchor = drop_anchors && anchorless(k);
        let scenes = pairs
            .iter()
            .enumerate()
            .map(|(i, &(room, style))| {
                let mut scene = engine.compose(room, style, base + k * 1000 + i as u64);
                if without_anchor {
                    scene
                        .items
                        .retain(|item| !anchor_roles(room).contains(&item.role));
                }
                scene
            })
            .collect();
        for render in render_scenes(engine, scenes, size)? {
            examples.push(keep(example(&render)));
            shows.push(shown(&render));
        }
        progress.set(examples.len() as u64, total);
    }
    Ok((examples, shows))
}

/// Every (room type, style) pair of the model's vocabulary: the eval judges a model on what
/// it was trained to draw.
fn label_pairs(vocabulary: &Vocabulary) -> Vec<(RoomType, Style)> {
    vocabulary
        .room_types
        .iter()
        .flat_map(|r| vocabulary.styles.iter().map(move |s| (*r, *s)))
        .collect()
}

/// The eval protocol (`designer eval`): a classifier trained on renders of seeds the
/// generator's training never draws, its accuracy on held-out renders (the ceiling) and on
/// `designer`'s designs for every pair, and the Fréchet distance between the two sets'
/// features beside the distance between two real sets of the same size.
pub fn evaluate_model(
    engine: &SceneEngine,
    designer: &Designer,
    plan: &EvalPlan,
    progress: &mut dyn Progress,
) -> Result<EvalReport, EvalError> {
    let mut reports = evaluate_models(engine, std::slice::from_ref(designer), plan, progress)?;
    Ok(reports.remove(0))
}

/// [`evaluate_model`] for several models of one vocabulary, judged by one classifier on the
/// same renders (which are most of an eval's time): their numbers differ only by the models.
pub fn evaluate_models(
    engine: &SceneEngine,
    designers: &[Designer],
    plan: &EvalPlan,
    progress: &mut dyn Progress,
) -> Result<Vec<EvalReport>, EvalError> {
    let Some(first) = designers.first() else {
        return Err(EvalError::Empty("models"));
    };
    if let Some(other) = designers
        .iter()
        .find(|d| d.vocabulary() != first.vocabulary())
    {
        return Err(EvalError::Vocabulary(other.model_version().to_string()));
    }
    for (count, name) in [
        (plan.train_per_label, "train renders per label"),
        (plan.test_per_label, "test renders per label"),
        (
            u64::from(plan.generated_per_label),
            "generated designs per label",
        ),
    ] {
        if count == 0 {
            return Err(EvalError::Empty(name));
        }
    }
    let size = plan.like.size;
    let side = size as usize;
    let view = view_side(side);
    let pairs = label_pairs(first.vocabulary());
    let rounds = |count: u64| (0..count).collect::<Vec<u64>>();
    let (training, training_shown) = render_pairs(
        engine,
        &pairs,
        &rounds(plan.train_per_label),
        EVAL_TRAIN_SEEDS,
        size,
        "renders",
        true,
        &|render| classifier_view(&render, side),
        progress,
    )?;
    let (test, test_shown) = render_pairs(
        engine,
        &pairs,
        &rounds(plan.test_per_label),
        EVAL_TEST_SEEDS,
        size,
        "test renders",
        false,
        &|render| render,
        progress,
    )?;
    // Real renders as the generator learnt them, as many as the designs: the classifier's
    // first training rooms that keep their anchors, rendered again whole (a latent model's
    // autoencoder reads them whole; 14,400 whole training renders would not fit in memory).
    let designs = generated_count(plan, pairs.len());
    let intact_rounds: Vec<u64> = (0..)
        .filter(|k| !anchorless(*k))
        .take(designs.div_ceil(pairs.len()))
        .collect();
    let (mut intact, _) = render_pairs(
        engine,
        &pairs,
        &intact_rounds,
        EVAL_TRAIN_SEEDS,
        size,
        "reference renders",
        false,
        &|render| render,
        progress,
    )?;
    intact.truncate(designs);
    let device = Device::flex();
    progress.stage("classifier", 0);
    let classifier = train_classifier(
        &training,
        &training_shown,
        view,
        plan.epochs,
        64,
        0,
        &device,
        &mut |step, total, loss| {
            progress.set(step as u64, total as u64);
            progress.message(&format!("loss {loss:.3}"));
        },
    );
    let train_renders = training.len();
    drop(training);
    let real = evaluate(&classifier, &classifier_views(&test, side), view, &device);
    let reference = evaluate(&classifier, &classifier_views(&intact, side), view, &device);
    let judge = Judge {
        pairs,
        test,
        test_shown,
        intact,
        classifier,
        real,
        reference,
        train_renders,
    };
    let mut reports = Vec::new();
    for designer in designers {
        let floor = AutoencoderFloor {
            psnr_db: autoencoder_psnr(designer, &judge.test, side),
            frechet_distance: autoencoder_frechet_distance(designer, &judge, side, progress),
        };
        for (i, &guidance) in std::iter::once(&plan.like.guidance)
            .chain(&plan.also_guidance)
            .enumerate()
        {
            let plan = EvalPlan {
                // The restyle is judged at the plan's own guidance only: it is most of a
                // layout model's generating time, and the guidance sweep asks about designs.
                restyle_photos: if i == 0 { plan.restyle_photos } else { 0 },
                like: DesignRequest {
                    guidance,
                    ..plan.like.clone()
                },
                ..plan.clone()
            };
            reports.push(judge_model(
                engine, designer, &judge, &plan, &floor, progress,
            )?);
        }
    }
    Ok(reports)
}

/// The Fréchet distance of the reference renders through `designer`'s autoencoder and back
/// against the held-out renders: what a latent model scores if it drew exactly the rooms it
/// was trained on, so the floor its designs can reach on this scale (`None` without an
/// autoencoder).
fn autoencoder_frechet_distance(
    designer: &Designer,
    judge: &Judge,
    side: usize,
    progress: &mut dyn Progress,
) -> Option<f64> {
    if !designer.works_in_latents() {
        return None;
    }
    let total = judge.intact.len() as u64;
    progress.stage("autoencoding", total);
    let mut views = Vec::with_capacity(judge.intact.len());
    autoencoded(designer, &judge.intact, side, &mut |render, back| {
        let whole = Example {
            pixels: back.to_vec(),
            room: render.room,
            style: render.style,
        };
        views.push(classifier_view(&whole, side));
        progress.set(views.len() as u64, total);
    })?;
    let judged = evaluate(&judge.classifier, &views, view_side(side), &Device::flex());
    Some(frechet_distance(&judge.real.features, &judged.features))
}

/// Designs an eval generates: the plan's per pair, for every pair.
fn generated_count(plan: &EvalPlan, pairs: usize) -> usize {
    plan.generated_per_label as usize * pairs
}

/// What every model of an eval is judged by: the classifier, the held-out renders and its
/// judgement of them, and of the real set a model's designs are held against.
struct Judge {
    pairs: Vec<(RoomType, Style)>,
    test: Vec<Example>,
    test_shown: Vec<Shown>,
    /// The real renders designs are held against, whole (`reference` is their judgement).
    intact: Vec<Example>,
    classifier: Classifier,
    real: Judgement,
    reference: Judgement,
    train_renders: usize,
}

/// What a latent model's autoencoder keeps of real renders, measured once per model (it does
/// not depend on how the designs are sampled): see [`EvalReport`]'s fields of these names.
struct AutoencoderFloor {
    psnr_db: Option<f64>,
    frechet_distance: Option<f64>,
}

/// One model's part of [`evaluate_models`], at one way of sampling (`plan.like`).
fn judge_model(
    engine: &SceneEngine,
    designer: &Designer,
    judge: &Judge,
    plan: &EvalPlan,
    floor: &AutoencoderFloor,
    progress: &mut dyn Progress,
) -> Result<EvalReport, EvalError> {
    let (pairs, test, real) = (&judge.pairs, &judge.test, &judge.real);
    let size = plan.like.size;
    let side = size as usize;
    let view = view_side(side);
    let device = Device::flex();
    progress.stage("generating", pairs.len() as u64);
    let mut generated = Vec::new();
    for (i, (room, style)) in pairs.iter().enumerate() {
        let request = DesignRequest {
            room_type: *room,
            style: *style,
            variations: plan.generated_per_label,
            seed: GENERATED_SEEDS + i as u64 * 100,
            ..plan.like.clone()
        };
        for image in designer.generate_images(&request)? {
            let design = Example {
                pixels: rgb_to_tensor(&image),
                room: *room,
                style: *style,
            };
            generated.push(classifier_view(&design, side));
        }
        progress.set(i as u64 + 1, pairs.len() as u64);
    }
    let fake = evaluate(&judge.classifier, &generated, view, &device);
    let anchors = anchor_summaries(
        designer.vocabulary(),
        test,
        &judge.test_shown,
        real,
        &generated,
        &fake,
    );
    let restyle = if designer.follows_layouts() && plan.restyle_photos > 0 {
        Some(restyle(
            engine,
            designer,
            &judge.classifier,
            test,
            real.accuracy.style,
            plan,
            progress,
        )?)
    } else {
        None
    };
    let (real_features, fake_features) = (&real.features, &fake.features);
    let (real, fake) = (real.accuracy, fake.accuracy);
    Ok(EvalReport {
        model: designer.model_version().to_string(),
        size,
        classifier: ClassifierSummary {
            train_renders: judge.train_renders,
            epochs: plan.epochs,
        },
        real: RealSummary {
            count: test.len(),
            accuracy: real,
        },
        generated: GeneratedSummary {
            count: generated.len(),
            steps: designer.steps(&plan.like),
            guidance: plan.like.guidance,
            accuracy: fake,
        },
        generated_vs_real_accuracy: fake.both / real.both.max(1e-9),
        frechet_distance: frechet_distance(real_features, fake_features),
        frechet_distance_real_vs_real: frechet_distance(real_features, &judge.reference.features),
        anchors,
        autoencoder_psnr_db: floor.psnr_db,
        autoencoder_frechet_distance: floor.frechet_distance,
        restyle,
    })
}

/// Renders of the composer's range ends used as photos: one in this many of the restyled.
const RANGE_END_SHARE: usize = 4;

/// See [`RestyleSummary`]: `plan.restyle_photos` photos, three in four of `renders` evenly
/// spaced over them (so over every pair), one in four rendered for it with the room's size
/// and the camera at the ends of the composer's ranges (each of the four combinations in
/// turn, going round the pairs).
fn restyle(
    engine: &SceneEngine,
    designer: &Designer,
    classifier: &Classifier,
    renders: &[Example],
    real_style_accuracy: f64,
    plan: &EvalPlan,
    progress: &mut dyn Progress,
) -> Result<RestyleSummary, EvalError> {
    let size = plan.like.size;
    let side = size as usize;
    let tolerance = (2 * side).div_ceil(256).max(1);
    let styles = &designer.vocabulary().styles;
    let at_ends = plan.restyle_photos / RANGE_END_SHARE;
    let ordinary = plan.restyle_photos - at_ends;
    let step = (renders.len() / ordinary.max(1)).max(1);
    let pairs = label_pairs(designer.vocabulary());
    let jobs = (0..at_ends).map(|i| {
        let (room, style) = pairs[(i * 7) % pairs.len()];
        let extremes = Extremes::CORNERS[i % Extremes::CORNERS.len()];
        (room, style, RANGE_END_SEEDS + i as u64, extremes)
    });
    progress.stage("range-end renders", 0);
    let range_ends: Vec<Example> = render_many_at(engine, jobs, size)?
        .iter()
        .map(example)
        .collect();
    let photos: Vec<(&Example, bool)> = renders
        .iter()
        .step_by(step)
        .take(ordinary)
        .map(|p| (p, false))
        .chain(range_ends.iter().map(|p| (p, true)))
        .collect();
    progress.stage("restyling", photos.len() as u64);
    let mut f1 = Vec::with_capacity(photos.len());
    let mut restyled = Vec::with_capacity(photos.len());
    for (i, (photo, _)) in photos.iter().enumerate() {
        // Another style than the photo's, going round the others.
        let own = styles.iter().position(|s| *s == photo.style).unwrap_or(0);
        let shift = 1 + i % (styles.len() - 1).max(1);
        let style = styles[(own + shift) % styles.len()];
        let request = DesignRequest {
            room_type: photo.room,
            style,
            variations: 1,
            seed: RESTYLE_SEEDS + i as u64,
            photo: Some(to_base64(&encode_png(&tensor_to_rgb(
                &photo.pixels,
                0,
                size,
                size,
            )))),
            keep: Some(Keep::Layout),
            ..plan.like.clone()
        };
        let photo_edges = edge_map(&photo.pixels, side, side);
        let score =
            |pixels: &[f32]| edge_f1(&edge_map(pixels, side, side), &photo_edges, side, tolerance);
        let design = rgb_to_tensor(&designer.generate_images(&request)?[0]);
        let sdedit = DesignRequest {
            keep: Some(Keep::Colours),
            ..request
        };
        let baseline = rgb_to_tensor(&designer.generate_images(&sdedit)?[0]);
        f1.push((score(&design), score(&baseline)));
        restyled.push(classifier_view(
            &Example {
                pixels: design,
                room: photo.room,
                style,
            },
            side,
        ));
        progress.set(i as u64 + 1, photos.len() as u64);
    }
    let accuracy = evaluate(classifier, &restyled, view_side(side), &Device::flex()).accuracy;
    let mean = |at_end: Option<bool>, pick: fn(&(f64, f64)) -> f64| {
        let chosen: Vec<f64> = f1
            .iter()
            .zip(&photos)
            .filter(|(_, (_, end))| at_end.is_none_or(|want| *end == want))
            .map(|(scores, _)| pick(scores))
            .collect();
        chosen.iter().sum::<f64>() / chosen.len().max(1) as f64
    };
    Ok(RestyleSummary {
        photos: photos.len(),
        range_end_photos: range_ends.len(),
        tolerance_px: tolerance,
        edge_f1: mean(None, |s| s.0),
        edge_f1_colours: mean(None, |s| s.1),
        edge_f1_range_ends: mean(Some(true), |s| s.0),
        edge_f1_colours_range_ends: mean(Some(true), |s| s.1),
        style_accuracy: accuracy.style,
        style_vs_real: accuracy.style / real_style_accuracy.max(1e-9),
    })
}

/// PSNR of `renders` through the designer's autoencoder, in dB on the 0-255 scale (values
/// are in [-1, 1], a range of 2), over all of them at once; `None` without an autoencoder.
fn autoencoder_psnr(designer: &Designer, renders: &[Example], size: usize) -> Option<f64> {
    let mut squared = 0.0;
    let mut count = 0usize;
    autoencoded(designer, renders, size, &mut |render, back| {
        squared += render
            .pixels
            .iter()
            .zip(back)
            .map(|(a, b)| f64::from((a.clamp(-1.0, 1.0) - b).powi(2)))
            .sum::<f64>();
        count += back.len();
    })?;
    let mse = squared / count.max(1) as f64;
    Some(10.0 * (4.0 / mse.max(1e-12)).log10())
}

/// Passes each of `renders` through the designer's autoencoder and back (16 at a time),
/// handing `each` the render and its reconstruction clamped to [-1, 1]; `None` without an
/// autoencoder.
fn autoencoded(
    designer: &Designer,
    renders: &[Example],
    size: usize,
    each: &mut dyn FnMut(&Example, &[f32]),
) -> Option<()> {
    for chunk in renders.chunks(16) {
        let pixels: Vec<f32> = chunk
            .iter()
            .flat_map(|e| e.pixels.iter().copied())
            .collect();
        let mut back = designer.autoencode(&pixels, chunk.len(), size)?;
        back.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0));
        for (render, back) in chunk.iter().zip(back.chunks(pixels.len() / chunk.len())) {
            each(render, back);
        }
    }
    Some(())
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (real, fake) = (&self.real.accuracy, &self.generated.accuracy);
        write!(
            f,
            "{}: classifier on {} held-out renders: room {:.1} %, style {:.1} %, both {:.1} %\n\
             generated ({} designs): room {:.1} %, style {:.1} %, both {:.1} % ({:.0} % of real)\n\
             Frechet distance on classifier features: {:.3} (two real sets: {:.3})",
            self.model,
            self.real.count,
            real.room_type * 100.0,
            real.style * 100.0,
            real.both * 100.0,
            self.generated.count,
            fake.room_type * 100.0,
            fake.style * 100.0,
            fake.both * 100.0,
            self.generated_vs_real_accuracy * 100.0,
            self.frechet_distance,
            self.frechet_distance_real_vs_real,
        )?;
        if !self.anchors.is_empty() {
            write!(
                f,
                "\nanchor piece found (renders where it shows / renders / designs):"
            )?;
            for a in &self.anchors {
                write!(
                    f,
                    "\n  {}: {:.0} / {:.0} / {:.0} %",
                    a.room_type,
                    a.real_shown * 100.0,
                    a.real_found * 100.0,
                    a.generated_found * 100.0
                )?;
            }
        }
        if let Some(psnr) = self.autoencoder_psnr_db {
            write!(
                f,
                "\nautoencoder on the held-out renders: PSNR {psnr:.1} dB"
            )?;
        }
        if let Some(distance) = self.autoencoder_frechet_distance {
            write!(
                f,
                "\nautoencoder on the reference renders: Frechet distance {distance:.3} ({:.2}x the floor)",
                distance / self.frechet_distance_real_vs_real.max(1e-12)
            )?;
        }
        if let Some(r) = &self.restyle {
            write!(
                f,
                "\nrestyled ({} held-out renders as photos): edge F1 {:.3} at {} px keeping the layout, \
                 {:.3} keeping the colours; at the composer's range ends ({} of them) {:.3} and {:.3}; \
                 requested style named {:.1} % ({:.0} % of real)",
                r.photos,
                r.edge_f1,
                r.tolerance_px,
                r.edge_f1_colours,
                r.range_end_photos,
                r.edge_f1_range_ends,
                r.edge_f1_colours_range_ends,
                r.style_accuracy * 100.0,
                r.style_vs_real * 100.0,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn gaussian(n: usize, d: usize, shift: f64, scale: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        // Sum of uniforms: near-normal, mean 0, variance 1.
                        let u: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
                        shift + scale * u
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_classifier_reads_large_pictures_as_means_of_blocks() {
        assert_eq!(
            [16, 64, 96, 128, 200, 256, 512].map(view_side),
            [16, 64, 96, 64, 100, 64, 64]
        );
        // A 128 px picture whose red channel is its column's index: each view pixel is the
        // mean of two columns; green and blue stay where they were.
        let size = 128;
        let mut pixels = vec![0.5; 3 * size * size];
        for y in 0..size {
            for x in 0..size {
                pixels[y * size + x] = x as f32;
            }
        }
        let example = Example {
            pixels,
            room: RoomType::Kitchen,
            style: Style::Coastal,
        };
        let view = classifier_view(&example, size);
        assert_eq!(view.pixels.len(), 3 * 64 * 64);
        assert_eq!((view.room, view.style), (RoomType::Kitchen, Style::Coastal));
        assert_eq!(view.pixels[5], 10.5);
        assert_eq!(view.pixels[64 * 63 + 63], 126.5);
        assert!(view.pixels[64 * 64..].iter().all(|&v| v == 0.5));
    }

    #[test]
    fn frechet_distance_is_zero_for_one_set_and_grows_with_the_gap() {
        let a = gaussian(2000, 4, 0.0, 1.0, 1);
        assert!(frechet_distance(&a, &a) < 1e-6);
        let b = gaussian(2000, 4, 0.0, 1.0, 2);
        let same = frechet_distance(&a, &b);
        assert!(same < 0.1, "two samples of one distribution: {same}");
        // A mean shift of 1 in each of 4 dimensions adds 4.
        let shifted = frechet_distance(&a, &gaussian(2000, 4, 1.0, 1.0, 3));
        assert!((shifted - 4.0).abs() < 0.3, "{shifted}");
        // Doubling the spread: per dimension 1 + 4 - 2 * 2 = 1.
        let wider = frechet_distance(&a, &gaussian(2000, 4, 0.0, 2.0, 4));
        assert!((wider - 4.0).abs() < 0.5, "{wider}");
    }
}
