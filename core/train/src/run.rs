//! One way to drive a training run, for the CLI and the Lambda's `train` action alike: start
//! (resume a checkpoint, else begin from weights or a fresh model), train epoch by epoch until
//! the run is done, out of time or at the caller's step budget, hand a checkpoint to the caller
//! after every epoch, and export the weights.

use crate::checkpoint::Checkpoint;
use crate::dataset::ExampleSource;
use crate::train::{Provenance, StepReport, TrainConfig, TrainError, Trainer};
use designer_core::Device;
use designer_core::model::ModelConfig;
use designer_core::weights::Weights;

/// Where a run begins.
pub enum Start {
    /// Exactly where a checkpointed run stopped.
    Resume(Checkpoint),
    /// From these parameters, with a fresh optimizer at step 0.
    Weights(Weights),
    /// From a freshly initialised model of this shape.
    Fresh(ModelConfig),
    /// From a fresh latent network of this shape over the trained autoencoder of these
    /// weights (which stays as it is: only the denoiser learns).
    OverAutoencoder(ModelConfig, Weights),
}

impl Start {
    /// A checkpoint wins (a chained run's later chunks); else the weights to start from (its
    /// first chunk), else a fresh model.
    pub fn choose(
        checkpoint: Option<Checkpoint>,
        init: Option<Weights>,
        fresh: ModelConfig,
    ) -> Self {
        match (checkpoint, init) {
            (Some(checkpoint), _) => Start::Resume(checkpoint),
            (None, Some(weights)) => Start::Weights(weights),
            (None, None) => Start::Fresh(fresh),
        }
    }
}

/// What a run is asked to do.
pub struct RunPlan {
    pub config: TrainConfig,
    /// A checkpoint is handed over after every this many steps (and when the call ends).
    pub steps_per_epoch: u64,
    /// At most this many steps in this call (a Lambda chunk's budget); `None`: until the run
    /// is finished or out of time.
    pub max_steps: Option<u64>,
    /// The name the weights carry.
    pub name: String,
    /// Also export the last step's parameters beside the moving average.
    pub export_trained: bool,
    /// What guidance distillation learns from (see `Objective::Guidance`).
    pub teacher: Option<Weights>,
}

/// Told after every epoch (and after the call's last, shorter stretch).
pub struct EpochEnd<'a> {
    /// 1-based, of `epochs`.
    pub epoch: u64,
    pub epochs: u64,
    pub step: u64,
    /// The last loss read, if any was.
    pub loss: Option<f32>,
    pub source: &'a dyn ExampleSource,
    /// Where the checkpoint went, as the caller's `save` said.
    pub saved: &'a str,
}

/// What a run reports as it goes; every method has a silent default.
pub trait RunObserver {
    fn step(&mut self, _report: &StepReport) {}
    fn epoch(&mut self, _end: &EpochEnd) {}
}

/// Observes nothing.
pub struct Quiet;
impl RunObserver for Quiet {}

/// How far a call got.
pub struct RunOutcome {
    /// The step the call started at and the one it stopped at.
    pub first_step: u64,
    pub step: u64,
    pub total_steps: u64,
    /// The last loss read, if any was.
    pub loss: Option<f32>,
    /// Every step of the run is done (not merely this call's budget or time).
    pub finished: bool,
    /// The weights to serve: the moving average of the parameters if the run keeps one.
    pub weights: Vec<u8>,
    /// The last step's parameters, when the plan asked for them.
    pub trained_weights: Option<Vec<u8>>,
}

/// Runs `plan` from `start` on `device` over `source`. After every epoch the checkpoint goes to
/// `save`, which says where it went (a path, an object URI); a run stopped at any point loses
/// at most the epoch in progress.
pub fn run(
    start: Start,
    device: Device,
    plan: &RunPlan,
    source: &mut dyn ExampleSource,
    save: &mut dyn FnMut(Checkpoint) -> Result<String, TrainError>,
    observer: &mut dyn RunObserver,
) -> Result<RunOutcome, TrainError> {
    let config = plan.config.clone();
    let mut trainer = match start {
        Start::Resume(checkpoint) => Trainer::resume(&checkpoint, device, config, source)?,
        Start::Weights(weights) => Trainer::from_weights(&weights, device, config)?,
        Start::Fresh(model) => Trainer::fresh(model, device, config)?,
        Start::OverAutoencoder(model, weights) => {
            Trainer::over_autoencoder(model, &weights, device, config)?
        }
    };
    if let Some(teacher) = &plan.teacher {
        trainer = trainer.with_teacher(teacher)?;
    }
    let provenance = Provenance {
        name: plan.name.clone(),
        image_size: source.image_size(),
        trained_on: source.describe(),
    };
    let per_epoch = plan.steps_per_epoch.max(1);
    let epochs = plan.config.steps.div_ceil(per_epoch);
    let first_step = trainer.step_count();
    let stop = plan
        .max_steps
        .map_or(u64::MAX, |n| first_step.saturating_add(n));
    let mut loss = None;
    while !trainer.is_finished() && !trainer.out_of_time() && trainer.step_count() < stop {
        let epoch_end = ((trainer.step_count() / per_epoch + 1) * per_epoch).min(stop);
        trainer.run_until(epoch_end, source, &mut |report| {
            loss = report.loss.or(loss);
            observer.step(report);
        })?;
        let saved = save(trainer.checkpoint(&provenance, source)?)?;
        observer.epoch(&EpochEnd {
            epoch: trainer.step_count().div_ceil(per_epoch),
            epochs,
            step: trainer.step_count(),
            loss,
            source,
            saved: &saved,
        });
    }
    Ok(RunOutcome {
        first_step,
        step: trainer.step_count(),
        total_steps: plan.config.steps,
        loss,
        finished: trainer.is_finished(),
        weights: trainer.to_weights(&provenance)?,
        trained_weights: if plan.export_trained {
            Some(trainer.to_trained_weights(&provenance)?)
        } else {
            None
        },
    })
}
