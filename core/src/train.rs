//! The training loop: flow matching (rectified flow) with label dropout for classifier-free
//! guidance, Adam with warm-up and cosine decay. One step is one batch.

use crate::dataset::{Example, ExampleSource};
use crate::model::{Condition, Generator, ModelConfig};
use crate::weights::{Weights, WeightsError, WeightsHeader};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use web_time::Instant;

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub steps: u64,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Share of examples trained without labels, so the model also learns the unconditional
    /// velocity that guidance needs.
    pub label_dropout: f64,
    pub warmup_steps: u64,
    pub seed: u64,
    /// Reading the loss waits for the device, so it is read only every this many steps.
    pub report_every: u64,
    /// Stop after this long even if steps remain (a Lambda's deadline, a device lease).
    pub time_limit: Option<std::time::Duration>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 32,
            learning_rate: 2e-3,
            label_dropout: 0.1,
            warmup_steps: 100,
            seed: 0,
            report_every: 10,
            time_limit: None,
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

/// What the loop tells its observer after each step.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub step: u64,
    pub total: u64,
    /// Present on the steps where the loss was read.
    pub loss: Option<f32>,
    pub images_per_second: f64,
}

pub struct Trainer {
    model: Option<Generator>,
    model_config: ModelConfig,
    optimizer: ModuleOptimizer,
    device: Device,
    config: TrainConfig,
    rng: ChaCha8Rng,
    step: u64,
}

impl Trainer {
    /// A fresh model on `device` (autodiff is enabled on it here).
    pub fn new(model_config: ModelConfig, device: Device, config: TrainConfig) -> Self {
        let device = device.autodiff();
        device.seed(config.seed);
        let model = model_config.init(&device);
        Self::with_model(model, model_config, device, config)
    }

    /// Continues training from existing weights.
    pub fn from_weights(weights: &Weights, device: Device, config: TrainConfig) -> Result<Self, WeightsError> {
        let device = device.autodiff();
        device.seed(config.seed);
        let model = weights.build(&device)?;
        Ok(Self::with_model(model, weights.header.model.clone(), device, config))
    }

    fn with_model(model: Generator, model_config: ModelConfig, device: Device, config: TrainConfig) -> Self {
        Self {
            model: Some(model),
            model_config,
            optimizer: AdamConfig::new().init(),
            device,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            step: 0,
        }
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Runs the configured number of steps, or until the time limit, reporting each.
    pub fn run(&mut self, source: &mut dyn ExampleSource, observer: &mut dyn FnMut(&StepReport)) {
        let started = Instant::now();
        let first = self.step;
        let time_limit = self.config.time_limit;
        let out_of_time = || time_limit.is_some_and(|limit| started.elapsed() >= limit);
        while self.step < self.config.steps && !out_of_time() {
            let batch = source.next_batch(self.config.batch_size, &mut self.rng);
            let loss = self.train_step(&batch, source.image_size() as usize);
            let read = self.step % self.config.report_every == 0 || self.step == self.config.steps || out_of_time();
            let loss = read.then(|| loss.into_scalar::<f32>());
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            observer(&StepReport {
                step: self.step,
                total: self.config.steps,
                loss,
                images_per_second: ((self.step - first) as usize * self.config.batch_size) as f64 / seconds,
            });
        }
    }

    /// One optimisation step on `batch`; returns the loss without waiting for it.
    pub fn train_step(&mut self, batch: &[Example], size: usize) -> Tensor<1> {
        let n = batch.len();
        let pixels: Vec<f32> = batch.iter().flat_map(|e| e.pixels.iter().copied()).collect();
        let images = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, size, size]), &self.device);
        let noise = Tensor::<4>::random([n, 3, size, size], Distribution::Normal(0.0, 1.0), &self.device);
        // Logit-normal times: more training where the velocity is hardest to guess, mid-path.
        let times: Vec<f32> = (0..n)
            .map(|_| {
                let z: f32 = StandardNormal.sample(&mut self.rng);
                1.0 / (1.0 + (-z).exp())
            })
            .collect();
        let conditions: Vec<Condition> = batch
            .iter()
            .map(|e| {
                if self.rng.random_bool(self.config.label_dropout) {
                    Condition::UNCONDITIONAL
                } else {
                    Condition::new(e.room, e.style)
                }
            })
            .collect();
        let t = Tensor::<1>::from_floats(times.as_slice(), &self.device);
        let t4 = t.clone().reshape([n, 1, 1, 1]);
        let x_t = noise.clone() * (t4.clone().neg() + 1.0) + images.clone() * t4;
        let target = images - noise;

        let model = self.model.take().expect("the model is only absent during a step");
        let predicted = model.forward(x_t, t, &conditions);
        let loss = (predicted - target).powi_scalar(2).mean();
        let gradients = GradientsParams::from_grads(loss.backward(), &model);
        let lr = self.config.learning_rate_at(self.step);
        self.model = Some(self.optimizer.step(lr, model, gradients));
        self.step += 1;
        loss.detach()
    }

    /// The trained model, without autodiff, for sampling.
    pub fn model(&self) -> Generator {
        self.model.as_ref().expect("model present between steps").valid()
    }

    /// The trained model as a weights file.
    pub fn to_weights(&self, name: &str, image_size: u32, trained_on: &str) -> Result<Vec<u8>, WeightsError> {
        let header = WeightsHeader {
            format: crate::weights::FORMAT_VERSION,
            name: name.to_string(),
            model: self.model_config.clone(),
            image_size,
            trained_on: trained_on.to_string(),
            training_steps: self.step,
        };
        Weights::encode(self.model(), &header)
    }
}
