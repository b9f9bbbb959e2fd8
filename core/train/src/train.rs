//! The training loop: flow matching (rectified flow) with label dropout for classifier-free
//! guidance, Adam with warm-up and cosine decay. One step is one batch; a run can stop at any
//! step boundary, be checkpointed, and resume bit for bit.

use crate::checkpoint::{Checkpoint, CheckpointError, TrainerState};
use crate::config::TrainSettings;
use crate::critic::Adversary;
use crate::dataset::{Example, ExampleSource, SourceError};
use crate::ema::Ema;
use crate::latents::{LatentRing, RING_BATCHES};
use crate::precision::TrainingPrecision;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, DType, Device, Tensor, TensorData};
use designer_core::labels::{NotInVocabulary, RoomType, Style, Vocabulary};
use designer_core::model::{
    Condition, DISTILLED_GUIDANCE, DISTILLED_STEPS, Generator, ModelConfig, Scalar,
};
use designer_core::sampler::seeded_noise;
use designer_core::weights::{Weights, WeightsError, WeightsHeader};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use rayon::prelude::*;
use std::time::Duration;
use web_time::Instant;

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Total steps of the run (epochs x steps per epoch); the learning-rate schedule spans them.
    pub steps: u64,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Share of examples trained without labels, so the model also learns the unconditional
    /// velocity that guidance needs.
    pub label_dropout: f64,
    /// Decay of the moving average of the parameters that the run's weights are taken from;
    /// `None` exports the last step's parameters.
    pub ema_decay: Option<f64>,
    pub warmup_steps: u64,
    pub seed: u64,
    /// Reading the loss waits for the device, so it is read only every this many steps.
    pub report_every: u64,
    /// Stop after this long (counted from the trainer's creation) even if steps remain: a
    /// Lambda's deadline, a device lease.
    pub time_limit: Option<Duration>,
    /// What a step's forward and backward passes compute in.
    pub precision: TrainingPrecision,
    /// What the step teaches.
    pub objective: Objective,
    /// The autoencoder objective learns from a random window of this side of each batch
    /// (the same window for the whole batch): convolutions see the renders' detail at their
    /// own scale for a fraction of the cost. `None`: whole images.
    pub autoencoder_crop: Option<usize>,
    /// The flow over an autoencoder's latents trains on each encoded render this many times
    /// on average (see `latents`): a step encodes batch / reuse new renders. 1: every step
    /// encodes its whole batch. A ring is not checkpointed: a resumed run refills it, so it
    /// does not repeat an uninterrupted one bit for bit.
    pub latent_reuse: usize,
    /// Give a transformer that has no layout layer one (see `Generator::with_layout`). A
    /// network that has one is trained to follow the edge map of each render (see
    /// `designer_core::layout`), shown for all but [`LAYOUT_DROPOUT`] of the examples, so the
    /// same weights serve plain requests and restyled photos.
    pub learn_layout: bool,
    /// With the autoencoder or decoder objective: the weight of a patch critic's judgement in
    /// the reconstruction loss (see `critic`), learnt beside it. `None`: L1 and edges alone.
    pub adversarial: Option<f32>,
}

/// Share of examples a layout-reading network sees without their edge map.
pub const LAYOUT_DROPOUT: f64 = 0.5;

/// What a training step teaches the generator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// The flow's velocity (over pixels, or over the frozen autoencoder's latents).
    #[default]
    Flow,
    /// The autoencoder's reconstruction of the images (L1 on pixels and on their horizontal
    /// and vertical differences, which keeps edges sharp); the denoiser is left as it is.
    Autoencoder,
    /// The same reconstruction, learnt by the decoder alone: the encoder is frozen, so the
    /// latents a denoiser was trained over stay what they were, and its designs gain what
    /// the decoder learns (the eval's autoencoder floor, its reconstruction Fréchet
    /// distance, is most of the trained transformer's).
    Decoder,
    /// Guidance distillation (Meng et al. 2023): a transformer that gains the layers reading
    /// the guidance weight (`designer_core::model::Scalar::Guidance`) learns to give, in one
    /// evaluation told the weight w, the teacher's guided velocity v_u + w (v_c - v_u) at the
    /// same point, for w drawn uniformly from `DISTILLED_GUIDANCE` (see
    /// [`Trainer::with_teacher`]). Rows without labels (the label dropout) learn the
    /// teacher's unconditional velocity.
    Guidance,
    /// Step distillation: a transformer that also gains the layers reading the step size
    /// (`Scalar::StepSize`) learns, told a step d of 1/K (K in `DISTILLED_STEPS`), the jump
    /// its teacher's guided Euler sampler makes over [t, t + d] in [`TEACHER_SUBSTEPS`]
    /// steps of its own: the target velocity is the mean of the teacher's. Like shortcut
    /// models (Frans et al. 2024) one network serves every step count it was told, but the
    /// targets come from the teacher, not from the student's own half steps, so a short run
    /// cannot drift. Half the stepped rows start on the sampler's grid (t = i d), the rest
    /// anywhere in [0, 1 - d] (restyled photos start off the grid); one row in
    /// [`UNSTEPPED_SHARE`]'s share is told no step and keeps the teacher's velocity, which
    /// `"sampler": "teacher"` samples with.
    Steps,
}

/// Euler steps of the teacher a step-distilled student's one jump stands for: five over a
/// quarter of the path is the teacher's own 20-step grid.
pub const TEACHER_SUBSTEPS: usize = 5;

/// Share of a step-distillation batch told no step (see [`Objective::Steps`]).
pub const UNSTEPPED_SHARE: f64 = 0.25;

impl Default for TrainConfig {
    /// The run [`TrainSettings::default`] describes, with the loop's own defaults.
    fn default() -> Self {
        TrainSettings::default().train_config()
    }
}

impl TrainSettings {
    /// The loop's configuration for a run of these settings (steps, batch, learning rate); the
    /// rest is the loop's defaults, for callers to adjust (seed, average, precision, time).
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.total_steps(),
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            label_dropout: 0.1,
            ema_decay: Some(0.999),
            warmup_steps: 100,
            seed: 0,
            report_every: 10,
            time_limit: None,
            precision: TrainingPrecision::Uniform,
            objective: Objective::Flow,
            autoencoder_crop: None,
            latent_reuse: 1,
            learn_layout: false,
            adversarial: None,
        }
    }
}

impl TrainConfig {
    /// Linear warm-up, then cosine decay to a tenth of the peak.
    pub fn learning_rate_at(&self, step: u64) -> f64 {
        let warm = ((step + 1) as f64 / self.warmup_steps.max(1) as f64).min(1.0);
        let progress = step as f64 / self.steps.max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.learning_rate * warm * (0.1 + 0.9 * cosine)
    }
}

/// One seed per (run, step, example), spread so that neighbouring steps share no stream.
fn noise_seed(seed: u64, step: u64, example: u64) -> u64 {
    let mut x = seed
        ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ example.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    // splitmix64's finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What the weights written by a run say about themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    pub name: String,
    pub image_size: u32,
    pub trained_on: String,
}

/// What the loop tells its observer after each step.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub step: u64,
    pub total: u64,
    /// Present on the steps where the loss was read.
    pub loss: Option<f32>,
    /// The patch critic's hinge loss on those steps, in a run that has one (2 when it cannot
    /// tell reconstructions from renders, 0 when it always can).
    pub critic_loss: Option<f32>,
    /// Since this stretch of steps began (a run's epoch: see `run`).
    pub images_per_second: f64,
    /// Since the trainer was made: what a metrics file's speed between two of its lines is
    /// computed from.
    pub seconds: f64,
    /// Where this stretch's wall time went on the host, so a slow step says what bound it.
    pub phases: Phases,
}

/// Seconds of one stretch of steps: waiting for the data source's batch, recording a step
/// (the device runs it asynchronously: this is burn's host work of building, fusing and
/// launching it), and waiting for the device when a loss is read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    pub data: f64,
    pub record: f64,
    pub read: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A checkpoint of a model older than a label, resumed on data that has the label.
    #[error("{0}: start a new run from its weights (--init), which teaches the model every label")]
    Label(NotInVocabulary),
    /// Images of a size the network cannot halve down to its lowest level.
    #[error(
        "the network needs image sizes that are multiples of {multiple}, the data is {size} px"
    )]
    Size { size: u32, multiple: usize },
    /// A crop the autoencoder cannot encode whole.
    #[error("the autoencoder's crop must be a multiple of its factor {factor}, got {crop}")]
    Crop { crop: usize, factor: usize },
    /// A new latent network over an autoencoder of another shape (or none).
    #[error(
        "the network's autoencoder and the one given differ: it wants {wanted}, the weights hold {given}"
    )]
    AutoencoderShape { wanted: String, given: String },
    /// The autoencoder objective asked of a network that has none.
    #[error("the model has no autoencoder to train (its network works on pixels)")]
    NoAutoencoder,
    /// A critic asked of a run that does not reconstruct images.
    #[error("an adversarial loss needs the autoencoder or decoder objective")]
    Adversarial,
    /// A layout or guidance layers asked of a network that cannot have them.
    #[error("{0}")]
    Layers(String),
    /// Guidance distillation without a teacher, or with one over other latents.
    #[error("{0}")]
    Teacher(String),
    /// The loss stopped being a number: the parameters are lost, so the run stops before a
    /// checkpoint or weights file could keep them.
    #[error(
        "training diverged at step {step} (loss {loss}); the last checkpoint is intact: \
         resume with a lower learning rate (or in f32 if the run was in mixed precision)"
    )]
    Diverged { step: u64, loss: f32 },
}

pub struct Trainer {
    model: Option<Generator>,
    /// The moving average of the parameters, when the config asks for one.
    ema: Option<Ema>,
    model_config: ModelConfig,
    optimizer: ModuleOptimizer,
    device: Device,
    config: TrainConfig,
    rng: ChaCha8Rng,
    step: u64,
    created: Instant,
    /// Whether the autoencoder's latent statistics still have to be measured (on the first
    /// flow step's images) before the denoiser can learn over its latents.
    uncalibrated: bool,
    /// Encoded latents reused across steps, when the config asks for reuse.
    ring: Option<LatentRing>,
    /// What guidance distillation learns from, in its compute precision, without autodiff.
    teacher: Option<Generator>,
    /// The critic an adversarial reconstruction learns against, and its last step's loss.
    adversary: Option<Adversary>,
    critic_loss: Option<Tensor<1>>,
}

impl Trainer {
    /// A fresh model on `device` (autodiff is enabled on it here).
    pub fn new(model_config: ModelConfig, device: Device, config: TrainConfig) -> Self {
        let device = device.autodiff();
        // Parameter initialisation draws from the device's generator.
        device.seed(config.seed);
        let model = model_config.init(&device);
        Self::assemble(
            model,
            None,
            model_config,
            AdamConfig::new().init(),
            device,
            config,
            0,
        )
    }

    /// A fresh network of `model_config`'s shape over the trained autoencoder in `weights`
    /// (see [`Generator::with_autoencoder_of`]); both must name the same autoencoder.
    pub fn over_autoencoder(
        model_config: ModelConfig,
        weights: &Weights,
        device: Device,
        config: TrainConfig,
    ) -> Result<Self, TrainError> {
        let wanted = model_config.architecture.autoencoder();
        let given = weights.header.model.architecture.autoencoder();
        if wanted.is_none() || wanted != given {
            return Err(TrainError::AutoencoderShape {
                wanted: format!("{wanted:?}"),
                given: format!("{given:?}"),
            });
        }
        let trainer = Self::new(model_config, device, config);
        let donor = weights.build(&trainer.device)?;
        Self::remade(trainer, |model| model.with_autoencoder_of(donor))
    }

    /// A fresh model of `model_config`, learning a layout if the config asks (see
    /// [`TrainConfig::learn_layout`]).
    pub fn fresh(
        model_config: ModelConfig,
        device: Device,
        config: TrainConfig,
    ) -> Result<Self, TrainError> {
        Self::remade(Self::new(model_config, device, config), |model| model)
    }

    /// A new `trainer` with its model passed through `change`, and then given the layout
    /// layer if its config asks for one.
    fn remade(
        mut trainer: Self,
        change: impl FnOnce(Generator) -> Generator,
    ) -> Result<Self, TrainError> {
        let model = change(trainer.model.take().expect("a new trainer has its model"));
        let (model, model_config) = gaining_layers(model, trainer.model_config, &trainer.config)?;
        Ok(Self::assemble(
            model,
            None,
            model_config,
            trainer.optimizer,
            trainer.device,
            trainer.config,
            0,
        ))
    }

    /// Continues training from existing weights, with a fresh optimizer and step count.
    pub fn from_weights(
        weights: &Weights,
        device: Device,
        config: TrainConfig,
    ) -> Result<Self, TrainError> {
        let device = device.autodiff();
        // A model older than a label learns it here: its rows are kept by name and the new
        // labels' rows start from its unconditional one.
        let vocabulary = Vocabulary::default();
        let model = weights.build(&device)?.with_vocabulary(&vocabulary);
        let (model, model_config) = gaining_layers(
            model,
            ModelConfig {
                vocabulary,
                ..weights.header.model.clone()
            },
            &config,
        )?;
        Ok(Self::assemble(
            model,
            None,
            model_config,
            AdamConfig::new().init(),
            device,
            config,
            0,
        ))
    }

    /// Continues a checkpointed run exactly where it stopped: same parameters, optimizer
    /// moments, step and data order (`source` is put back where the checkpoint left it).
    pub fn resume(
        checkpoint: &Checkpoint,
        device: Device,
        config: TrainConfig,
        source: &mut dyn ExampleSource,
    ) -> Result<Self, TrainError> {
        let device = device.autodiff();
        let weights = Weights::from_bytes(&checkpoint.weights)?;
        let model = weights.build(&device)?;
        let optimizer = AdamConfig::new()
            .init()
            .from_bytes(Bytes::from_bytes_vec(checkpoint.optimizer.clone()))
            .map_err(|e| CheckpointError::Mismatch(format!("optimizer state: {e}")))?;
        let state = &checkpoint.state;
        // A step past the run's end would export at once, whatever the parameters hold.
        if state.step > state.total_steps || state.step > config.steps {
            return Err(CheckpointError::Mismatch(format!(
                "the checkpoint is at step {} of {}, past this run's {} steps",
                state.step, state.total_steps, config.steps
            ))
            .into());
        }
        if state.seed != config.seed {
            return Err(CheckpointError::Mismatch(format!(
                "the checkpoint was trained with seed {}, this run asks for seed {}",
                state.seed, config.seed
            ))
            .into());
        }
        // A checkpoint written without an average starts one from its parameters.
        let average = match &checkpoint.averaged {
            Some(bytes) => Some(Weights::from_bytes(bytes)?.build(&device)?),
            None => None,
        };
        let mut trainer = Self::assemble(
            model,
            average,
            weights.header.model.clone(),
            optimizer,
            device,
            config,
            state.step,
        );
        let word_pos = state.rng_word_pos.parse::<u128>().map_err(|_| {
            CheckpointError::Mismatch(format!("bad RNG position '{}'", state.rng_word_pos))
        })?;
        trainer.rng.set_word_pos(word_pos);
        if let Some(position) = &state.source {
            source.restore(position)?;
        }
        Ok(trainer)
    }

    /// `average` is where the moving average stands (the model's parameters if `None`).
    fn assemble(
        model: Generator,
        average: Option<Generator>,
        model_config: ModelConfig,
        optimizer: ModuleOptimizer,
        device: Device,
        config: TrainConfig,
        step: u64,
    ) -> Self {
        let ema = config
            .ema_decay
            .map(|decay| Ema::new(average.as_ref().unwrap_or(&model), decay));
        let latent_flow = config.objective == Objective::Flow && model.autoencoder().is_some();
        let uncalibrated = latent_flow && model.autoencoder().is_some_and(|a| !a.has_statistics());
        let ring = (latent_flow && config.latent_reuse > 1)
            .then(|| LatentRing::new(RING_BATCHES * config.batch_size));
        let adversary = config
            .adversarial
            .map(|weight| Adversary::new(weight, &device));
        Self {
            model: Some(model),
            ema,
            model_config,
            optimizer,
            device,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            step,
            created: Instant::now(),
            uncalibrated,
            ring,
            teacher: None,
            adversary,
            critic_loss: None,
        }
    }

    /// This trainer distilling `teacher`'s guidance (see [`Objective::Guidance`]); the
    /// teacher must work over the same latents as the student.
    pub fn with_teacher(mut self, teacher: &Weights) -> Result<Self, TrainError> {
        let (wanted, given) = (
            self.model_config.architecture.autoencoder(),
            teacher.header.model.architecture.autoencoder(),
        );
        if wanted != given {
            return Err(TrainError::Teacher(format!(
                "the teacher works over other latents than the student: {given:?}, not {wanted:?}"
            )));
        }
        let model = teacher.build(&self.device)?.valid();
        let model = model.with_vocabulary(&self.model_config.vocabulary);
        self.teacher = Some(self.config.precision.compute_model(&model));
        Ok(self)
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    pub fn is_finished(&self) -> bool {
        self.step >= self.config.steps
    }

    pub fn out_of_time(&self) -> bool {
        self.config
            .time_limit
            .is_some_and(|limit| self.created.elapsed() >= limit)
    }

    /// Runs to the configured number of steps (or the time limit), reporting each step.
    pub fn run(
        &mut self,
        source: &mut dyn ExampleSource,
        observer: &mut dyn FnMut(&StepReport),
    ) -> Result<(), TrainError> {
        self.run_until(self.config.steps, source, observer)
    }

    /// Runs until step `stop` (at most the configured total) or the time limit. A loss that is
    /// read (every `report_every` steps) and is not finite ends the run with
    /// [`TrainError::Diverged`].
    pub fn run_until(
        &mut self,
        stop: u64,
        source: &mut dyn ExampleSource,
        observer: &mut dyn FnMut(&StepReport),
    ) -> Result<(), TrainError> {
        let started = Instant::now();
        let first = self.step;
        let stop = stop.min(self.config.steps);
        if matches!(
            self.config.objective,
            Objective::Autoencoder | Objective::Decoder
        ) && self.model.as_ref().and_then(|m| m.autoencoder()).is_none()
        {
            return Err(TrainError::NoAutoencoder);
        }
        let (size, multiple) = (source.image_size(), self.model_config.size_multiple());
        let factor = self
            .model_config
            .architecture
            .autoencoder()
            .map_or(1, |a| a.factor());
        if self.adversary.is_some()
            && !matches!(
                self.config.objective,
                Objective::Autoencoder | Objective::Decoder
            )
        {
            return Err(TrainError::Adversarial);
        }
        if let Some(crop) = self.config.autoencoder_crop
            && (crop == 0 || !crop.is_multiple_of(factor))
        {
            return Err(TrainError::Crop { crop, factor });
        }
        if !(size as usize).is_multiple_of(multiple) {
            return Err(TrainError::Size { size, multiple });
        }
        if self.teacher.is_none() {
            let needs = match self.config.objective {
                Objective::Guidance => Some("guidance"),
                Objective::Steps => Some("step"),
                Objective::Flow | Objective::Autoencoder | Objective::Decoder => None,
            };
            if let Some(what) = needs {
                return Err(TrainError::Teacher(format!(
                    "{what} distillation needs a teacher (--teacher)"
                )));
            }
        }
        let mut phases = Phases::default();
        while self.step < stop && !self.out_of_time() {
            let clock = Instant::now();
            let batch = source.next_batch(self.examples_per_step(), &mut self.rng)?;
            phases.data += clock.elapsed().as_secs_f64();
            let vocabulary = &self.model_config.vocabulary;
            if let Some(error) = batch
                .iter()
                .find_map(|e| vocabulary.check("being trained", e.room, e.style).err())
            {
                return Err(TrainError::Label(error));
            }
            let clock = Instant::now();
            let loss = self.train_step(&batch, source.image_size() as usize);
            phases.record += clock.elapsed().as_secs_f64();
            let read = self.step.is_multiple_of(self.config.report_every)
                || self.step == stop
                || self.out_of_time();
            let clock = Instant::now();
            let loss = read.then(|| loss.into_scalar::<f32>());
            let critic_loss = self
                .critic_loss
                .take()
                .filter(|_| read)
                .map(|loss| loss.into_scalar::<f32>());
            phases.read += clock.elapsed().as_secs_f64();
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            observer(&StepReport {
                step: self.step,
                total: self.config.steps,
                loss,
                critic_loss,
                images_per_second: ((self.step - first) as usize * self.config.batch_size) as f64
                    / seconds,
                seconds: self.created.elapsed().as_secs_f64(),
                phases,
            });
            if let Some(loss) = loss.filter(|loss| !loss.is_finite()) {
                return Err(TrainError::Diverged {
                    step: self.step,
                    loss,
                });
            }
        }
        Ok(())
    }

    /// New examples a step draws: the batch, or its share of new renders once a ring of
    /// latents has a batch to draw from.
    fn examples_per_step(&self) -> usize {
        let batch = self.config.batch_size;
        match &self.ring {
            Some(ring) if ring.len() >= batch => batch.div_ceil(self.config.latent_reuse),
            _ => batch,
        }
    }

    /// One optimisation step on `batch`; returns the loss without waiting for it.
    pub fn train_step(&mut self, batch: &[Example], size: usize) -> Tensor<1> {
        let n = batch.len();
        let pixels: Vec<f32> = batch
            .iter()
            .flat_map(|e| e.pixels.iter().copied())
            .collect();
        let images =
            Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, size, size]), &self.device);
        if self.uncalibrated {
            self.calibrate(images.clone());
        }
        let model = self
            .model
            .take()
            .expect("the model is only absent during a step");
        let precision = self.config.precision;
        let compute = precision.compute_model(&model);
        let lr = self.config.learning_rate_at(self.step);
        // The critic's judgement of this step's reconstruction, when the run has one.
        let mut adversarial = None;
        let loss = match self.config.objective {
            Objective::Flow => self.flow_loss(&compute, images, batch),
            Objective::Guidance => self.guidance_loss(&compute, images, batch),
            Objective::Steps => self.steps_loss(&compute, images, batch),
            Objective::Autoencoder | Objective::Decoder => {
                let images = self.crop(images);
                let frozen_encoder = self.config.objective == Objective::Decoder;
                let decoded = reconstruct(&compute, images.clone(), frozen_encoder);
                if let Some(adversary) = &mut self.adversary {
                    // The critic steps first, on its own graph, then judges for the decoder.
                    self.critic_loss = Some(adversary.step(lr, images.clone(), decoded.clone()));
                    adversarial = Some(adversary.decoder_loss(decoded.clone()));
                }
                reconstruction_loss(decoded, images)
            }
        };
        // The reported loss stays the reconstruction's, comparable with runs without a critic.
        let trained = match adversarial {
            Some(adversarial) => loss.clone() + adversarial,
            None => loss.clone(),
        };
        let scaled = trained * precision.loss_scale();
        let gradients = GradientsParams::from_grads(scaled.backward(), &model);
        let gradients = precision.unscale(gradients, &model);
        let model = self.optimizer.step(lr, model, gradients);
        if let Some(ema) = &mut self.ema {
            ema.update(&model, self.step);
        }
        self.model = Some(model);
        self.step += 1;
        loss.detach()
    }

    /// What the flow is learnt over this step, with its labels and, for a network that reads
    /// one, the edge maps as latent grids: the images, or latents (of this batch, or drawn
    /// from the ring it was added to, where each latent keeps its map beside it).
    fn flow_data(&mut self, model: &Generator, images: Tensor<4>, batch: &[Example]) -> FlowData {
        let labels = batch.iter().map(|e| (e.room, e.style)).collect();
        let layouts = model
            .reads_layout()
            .then(|| self.layouts(batch, images.dims()));
        let Some(autoencoder) = model.autoencoder() else {
            return FlowData {
                data: images,
                layouts,
                labels,
            };
        };
        // The autoencoder is not trained here: its latents are data, encoded outside autodiff
        // (a forward pass over tracked parameters that no backward pass consumes keeps its
        // graph alive: on the GPU that ran out of memory within ten steps).
        let latents = autoencoder.valid().encode(images.without_autodiff());
        let channels = latents.dims()[1];
        let latents = match layouts {
            Some(maps) => Tensor::cat(vec![latents.clone(), maps.cast(latents.dtype())], 1),
            None => latents,
        };
        let (latents, labels) = match &mut self.ring {
            Some(ring) => {
                ring.push(latents, labels);
                ring.draw(self.config.batch_size, &mut self.rng)
            }
            None => (latents, labels),
        };
        let maps = (latents.dims()[1] > channels).then(|| {
            latents
                .clone()
                .narrow(1, channels, latents.dims()[1] - channels)
        });
        FlowData {
            data: latents.narrow(1, 0, channels).cast(DType::F32).autodiff(),
            layouts: maps,
            labels,
        }
    }

    /// The edge maps of `batch` as latent grids ([n, factor², h / factor, w / factor]), on
    /// the device without autodiff.
    fn layouts(&self, batch: &[Example], [n, _, h, w]: [usize; 4]) -> Tensor<4> {
        let factor = self
            .model_config
            .architecture
            .autoencoder()
            .map_or(1, |a| a.factor());
        let grids: Vec<f32> = batch
            .par_iter()
            .flat_map_iter(|e| designer_core::layout::latent_layout(&e.pixels, w, h, factor))
            .collect();
        let shape = [n, factor * factor, h / factor, w / factor];
        Tensor::<4>::from_data(TensorData::new(grids, shape), &self.device).without_autodiff()
    }

    /// A random `autoencoder_crop` window of `images` (all of them if the crop is not smaller).
    fn crop(&mut self, images: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = images.dims();
        match self.config.autoencoder_crop {
            Some(side) if side < h.min(w) => {
                let y = self.rng.random_range(0..=h - side);
                let x = self.rng.random_range(0..=w - side);
                images.narrow(2, y, side).narrow(3, x, side)
            }
            _ => images,
        }
    }

    /// Measures the autoencoder's latent statistics on `images`, in the model and its average
    /// alike (the average restarts from the calibrated model: before, it had nothing to learn
    /// over).
    fn calibrate(&mut self, images: Tensor<4>) {
        let model = self
            .model
            .take()
            .expect("the model is present between steps");
        let model = model.with_latent_statistics(images);
        if let Some(decay) = self.config.ema_decay {
            self.ema = Some(Ema::new(&model, decay));
        }
        self.model = Some(model);
        self.uncalibrated = false;
    }

    /// A point on the straight path between noise and this step's data, for every example:
    /// where the network is asked for the velocity, and the velocity there (data minus noise).
    fn flow_point(&mut self, model: &Generator, images: Tensor<4>, batch: &[Example]) -> FlowPoint {
        let FlowData {
            data,
            layouts,
            labels,
        } = self.flow_data(model, images, batch);
        let n = labels.len();
        let [_, c, h, w] = data.dims();
        // Noise is drawn on the host from (seed, step, example): the same whether or not the
        // run was interrupted, and free of the device generator's global state.
        let (seed, step) = (self.config.seed, self.step);
        let noise: Vec<f32> = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| seeded_noise(noise_seed(seed, step, i as u64), [c, h, w]))
            .collect();
        let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, c, h, w]), &self.device);
        let times: Vec<f32> = (0..n).map(|_| self.logit_normal_time()).collect();
        let conditions: Vec<Condition> = labels
            .iter()
            .map(|&(room, style)| {
                if self.rng.random_bool(self.config.label_dropout) {
                    Condition::UNCONDITIONAL
                } else {
                    Condition::new(room, style)
                }
            })
            .collect();
        let t = Tensor::<1>::from_floats(times.as_slice(), &self.device);
        let t4 = t.clone().reshape([n, 1, 1, 1]);
        let x_t = noise.clone() * (t4.clone().neg() + 1.0) + data.clone() * t4;
        let layouts = layouts.map(|maps| {
            let shown: Vec<f32> = (0..n)
                .map(|_| f32::from(!self.rng.random_bool(LAYOUT_DROPOUT)))
                .collect();
            let shown = Tensor::<1>::from_floats(shown.as_slice(), &self.device)
                .reshape([n, 1, 1, 1])
                .cast(maps.dtype());
            (maps * shown.without_autodiff()).cast(DType::F32)
        });
        FlowPoint {
            velocity: data - noise,
            x_t,
            t,
            conditions,
            layouts,
        }
    }

    /// A logit-normal time: more training where the velocity is hardest to guess, mid-path.
    fn logit_normal_time(&mut self) -> f32 {
        let z: f32 = StandardNormal.sample(&mut self.rng);
        1.0 / (1.0 + (-z).exp())
    }

    /// The flow-matching loss: the mean squared error of the predicted velocity (data minus
    /// noise) at a point of the straight path between them.
    fn flow_loss(&mut self, model: &Generator, images: Tensor<4>, batch: &[Example]) -> Tensor<1> {
        let point = self.flow_point(model, images, batch);
        let target = point.velocity;
        let predicted = model
            .forward_with_layout(
                point.x_t,
                point.t,
                &point.conditions,
                point.layouts.map(|l| l.autodiff()),
            )
            .cast(target.dtype());
        (predicted - target).powi_scalar(2).mean()
    }

    /// Guidance weights for a distillation batch: drawn from `DISTILLED_GUIDANCE` for
    /// labelled rows and folded into their conditions; unlabelled rows stay as they are.
    fn draw_guidance(&mut self, conditions: &[Condition]) -> Vec<Condition> {
        conditions
            .iter()
            .map(|c| match c.room {
                Some(_) => c.guided(self.rng.random_range(DISTILLED_GUIDANCE)),
                None => *c,
            })
            .collect()
    }

    /// The teacher's guided velocity at (x, t) for `conditions` (each with its weight; none
    /// is 1), in f32 without autodiff: one evaluation for a teacher that reads the weight,
    /// else the conditional and unconditional halves in one doubled batch.
    fn teacher_velocity(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layouts: Option<Tensor<4>>,
    ) -> Tensor<4> {
        let teacher = self.teacher.as_ref().expect("checked before the run");
        let (x, t) = (x.without_autodiff(), t.without_autodiff());
        if teacher.reads(Scalar::Guidance) {
            return teacher
                .forward_with_layout(x, t, conditions, layouts)
                .cast(DType::F32);
        }
        let n = conditions.len();
        let weights: Vec<f32> = conditions
            .iter()
            .map(|c| c.guidance.unwrap_or(1.0))
            .collect();
        let mut both: Vec<Condition> = conditions
            .iter()
            .map(|c| Condition {
                guidance: None,
                ..*c
            })
            .collect();
        both.extend(std::iter::repeat_n(Condition::UNCONDITIONAL, n));
        let velocities = teacher
            .forward_with_layout(
                Tensor::cat(vec![x.clone(), x], 0),
                Tensor::cat(vec![t.clone(), t], 0),
                &both,
                layouts.map(|l| Tensor::cat(vec![l.clone(), l], 0)),
            )
            .cast(DType::F32);
        let (conditional, unconditional) = (
            velocities.clone().narrow(0, 0, n),
            velocities.narrow(0, n, n),
        );
        let w = Tensor::<1>::from_floats(weights.as_slice(), &self.device)
            .without_autodiff()
            .reshape([n, 1, 1, 1]);
        unconditional.clone() + (conditional - unconditional) * w
    }

    /// See [`Objective::Guidance`]: the student's velocity told w against the teacher's
    /// guided one.
    fn guidance_loss(
        &mut self,
        model: &Generator,
        images: Tensor<4>,
        batch: &[Example],
    ) -> Tensor<1> {
        let point = self.flow_point(model, images, batch);
        let student = self.draw_guidance(&point.conditions);
        let target = self
            .teacher_velocity(
                point.x_t.clone(),
                point.t.clone(),
                &student,
                point.layouts.clone(),
            )
            .autodiff();
        let predicted = model
            .forward_with_layout(
                point.x_t,
                point.t,
                &student,
                point.layouts.map(|l| l.autodiff()),
            )
            .cast(DType::F32);
        (predicted - target).powi_scalar(2).mean()
    }

    /// See [`Objective::Steps`]: the student's one jump against the teacher's sub-steps.
    fn steps_loss(&mut self, model: &Generator, images: Tensor<4>, batch: &[Example]) -> Tensor<1> {
        let point = self.flow_point(model, images, batch);
        let n = point.conditions.len();
        // Each row's step (0: told none) and where it starts; the point moves along its own
        // straight path to the new time, so it stays a sample of the data at that time.
        let (steps, times): (Vec<f32>, Vec<f32>) = (0..n)
            .map(|_| {
                if self.rng.random_bool(UNSTEPPED_SHARE) {
                    return (0.0, self.logit_normal_time());
                }
                let count = DISTILLED_STEPS[self.rng.random_range(0..DISTILLED_STEPS.len())];
                let d = 1.0 / count as f32;
                let start = if self.rng.random_bool(0.5) {
                    self.rng.random_range(0..count) as f32 * d
                } else {
                    self.rng.random_range(0.0..=1.0 - d)
                };
                (d, start)
            })
            .unzip();
        let device = self.device.clone();
        let column = |values: &[f32]| Tensor::<1>::from_floats(values, &device).without_autodiff();
        let t = column(&times);
        let moved = (t.clone() - point.t.clone().without_autodiff()).reshape([n, 1, 1, 1]);
        let x = point.x_t.clone().without_autodiff().cast(DType::F32)
            + point.velocity.clone().without_autodiff().cast(DType::F32) * moved;
        let conditions: Vec<Condition> = self
            .draw_guidance(&point.conditions)
            .into_iter()
            .zip(&steps)
            .map(|(c, &d)| c.stepping((d > 0.0).then_some(d)))
            .collect();
        let h = column(&steps) / TEACHER_SUBSTEPS as f32;
        let h4 = h.clone().reshape([n, 1, 1, 1]);
        let mut teacher_x = x.clone();
        let mut sum = teacher_x.zeros_like();
        for k in 0..TEACHER_SUBSTEPS {
            let at = t.clone() + h.clone() * k as f32;
            let v =
                self.teacher_velocity(teacher_x.clone(), at, &conditions, point.layouts.clone());
            teacher_x = teacher_x + v.clone() * h4.clone();
            sum = sum + v;
        }
        let target = (sum / TEACHER_SUBSTEPS as f32).autodiff();
        let predicted = model
            .forward_with_layout(
                x.autodiff(),
                t.autodiff(),
                &conditions,
                point.layouts.map(|l| l.autodiff()),
            )
            .cast(DType::F32);
        (predicted - target).powi_scalar(2).mean()
    }

    /// The model to sample from, without autodiff: the moving average of the parameters if
    /// the run keeps one, else the last step's.
    pub fn model(&self) -> Generator {
        match &self.ema {
            Some(ema) => ema.average().clone(),
            None => self.trained_model(),
        }
    }

    /// The last step's parameters, without autodiff.
    pub fn trained_model(&self) -> Generator {
        self.model
            .as_ref()
            .expect("model present between steps")
            .valid()
    }

    /// [`Self::model`] as a weights file.
    pub fn to_weights(&self, provenance: &Provenance) -> Result<Vec<u8>, WeightsError> {
        self.encode(self.model(), provenance)
    }

    /// [`Self::trained_model`] as a weights file.
    pub fn to_trained_weights(&self, provenance: &Provenance) -> Result<Vec<u8>, WeightsError> {
        self.encode(self.trained_model(), provenance)
    }

    fn encode(&self, model: Generator, provenance: &Provenance) -> Result<Vec<u8>, WeightsError> {
        let header = WeightsHeader {
            format: designer_core::weights::FORMAT_VERSION,
            name: provenance.name.clone(),
            model: self.model_config.clone(),
            image_size: provenance.image_size,
            trained_on: provenance.trained_on.clone(),
            training_steps: self.step,
        };
        Weights::encode(model, &header)
    }

    /// Everything needed to resume this run at this step, with `source`'s position.
    pub fn checkpoint(
        &self,
        provenance: &Provenance,
        source: &dyn ExampleSource,
    ) -> Result<Checkpoint, TrainError> {
        let optimizer = self
            .optimizer
            .into_bytes()
            .map_err(|e| CheckpointError::Mismatch(format!("optimizer state: {e}")))?;
        Ok(Checkpoint {
            state: TrainerState {
                step: self.step,
                total_steps: self.config.steps,
                seed: self.config.seed,
                rng_word_pos: self.rng.get_word_pos().to_string(),
                source: source.state(),
            },
            weights: self.to_trained_weights(provenance)?,
            averaged: match &self.ema {
                Some(ema) => Some(self.encode(ema.average().clone(), provenance)?),
                None => None,
            },
            optimizer: optimizer.to_vec(),
        })
    }
}

/// What a flow step learns over: its data (images or latents), their edge maps if the network
/// reads them, and their labels.
struct FlowData {
    data: Tensor<4>,
    layouts: Option<Tensor<4>>,
    labels: Vec<(RoomType, Style)>,
}

/// Where a flow step asks the network for the velocity (see [`Trainer::flow_point`]); the
/// layouts without autodiff, already masked by the layout dropout.
struct FlowPoint {
    x_t: Tensor<4>,
    t: Tensor<1>,
    conditions: Vec<Condition>,
    layouts: Option<Tensor<4>>,
    velocity: Tensor<4>,
}

/// `model` with the layers `config` asks it to gain (the layout's, a distilled scalar's), and
/// its config saying so.
fn gaining_layers(
    mut model: Generator,
    mut model_config: ModelConfig,
    config: &TrainConfig,
) -> Result<(Generator, ModelConfig), TrainError> {
    if config.learn_layout {
        model = model
            .with_layout(&mut model_config)
            .map_err(TrainError::Layers)?;
    }
    let scalars: &[Scalar] = match config.objective {
        Objective::Guidance => &[Scalar::Guidance],
        Objective::Steps => &[Scalar::Guidance, Scalar::StepSize],
        Objective::Flow | Objective::Autoencoder | Objective::Decoder => &[],
    };
    for &scalar in scalars {
        model = model
            .with_scalar(scalar, &mut model_config)
            .map_err(TrainError::Layers)?;
    }
    Ok((model, model_config))
}

/// `images` through the model's autoencoder and back, in f32. With `frozen_encoder`, the
/// latents are encoded outside autodiff (as the flow's are), so only the decoder learns.
fn reconstruct(model: &Generator, images: Tensor<4>, frozen_encoder: bool) -> Tensor<4> {
    let autoencoder = model
        .autoencoder()
        .expect("the objective is checked before the run");
    let latents = if frozen_encoder {
        autoencoder
            .valid()
            .encode_raw(images.without_autodiff())
            .autodiff()
    } else {
        autoencoder.encode_raw(images)
    };
    autoencoder.decode_raw(latents).cast(DType::F32)
}

/// The autoencoder's loss on `images` and their reconstruction `decoded`: L1 on the pixels and
/// on their differences to the right and below (an edge term: an L1 on pixels alone smears
/// thin chair legs and fabric checks, which are all edge).
fn reconstruction_loss(decoded: Tensor<4>, images: Tensor<4>) -> Tensor<1> {
    let [_, _, h, w] = images.dims();
    let dx = |x: Tensor<4>| x.clone().narrow(3, 1, w - 1) - x.narrow(3, 0, w - 1);
    let dy = |x: Tensor<4>| x.clone().narrow(2, 1, h - 1) - x.narrow(2, 0, h - 1);
    let pixels = (decoded.clone() - images.clone()).abs().mean();
    let edges = (dx(decoded.clone()) - dx(images.clone())).abs().mean()
        + (dy(decoded) - dy(images)).abs().mean();
    pixels + edges
}
