//! Integrates the flow ODE from noise (t = 0) to an image (t = 1) with classifier-free
//! guidance. The starting noise is drawn on the CPU from a seeded RNG, so one seed gives the
//! same image on every backend.

use crate::model::{Condition, DISTILLED_GUIDANCE, Generator, Scalar};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// How the flow ODE is integrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// One model evaluation per step.
    #[default]
    Euler,
    /// Two evaluations per step, second-order accurate: better images for the same step count.
    Heun,
    /// Euler steps with the velocity a step-distilled student learnt from (not told the step
    /// it takes): the teacher's sampler, 20 steps unless told, its quality reference. For
    /// other networks the same as Euler.
    Teacher,
}

/// How to integrate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerSettings {
    pub steps: u32,
    pub guidance: f32,
    pub kind: SamplerKind,
}

impl SamplerSettings {
    /// Model evaluations a run makes (each over a batch doubled when guidance needs both the
    /// conditional and the unconditional velocity): what a progress bar counts.
    pub fn evaluations(&self) -> u32 {
        match self.kind {
            SamplerKind::Euler | SamplerKind::Teacher => self.steps,
            SamplerKind::Heun => 2 * self.steps,
        }
    }
}

/// Standard normal noise for one sample of `shape` ([channels, h, w]: an image's, or its
/// latents'), row-major, from `seed` alone.
pub fn seeded_noise(seed: u64, shape: [usize; 3]) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..shape.iter().product())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect()
}

/// A batch of seeded noise, [seeds.len(), channels, h, w].
pub fn noise_batch(seeds: &[u64], shape: [usize; 3], device: &Device) -> Tensor<4> {
    let data: Vec<f32> = seeds
        .iter()
        .flat_map(|&seed| seeded_noise(seed, shape))
        .collect();
    let [c, h, w] = shape;
    Tensor::from_data(TensorData::new(data, [seeds.len(), c, h, w]), device)
}

/// The point on the straight path between noise and image at time t; training and photo
/// restyling (which starts the ODE part-way) share it.
pub fn interpolate_path(noise: Tensor<4>, image: Tensor<4>, t: f32) -> Tensor<4> {
    noise.mul_scalar(1.0 - t) + image.mul_scalar(t)
}

/// What every row of a sampled batch follows: its labels and, for a restyled photo, its layout
/// ([1, factor², h, w]: the photo's edge map as a latent grid, see [`crate::layout`]).
#[derive(Clone)]
pub struct Guide {
    pub condition: Condition,
    pub layout: Option<Tensor<4>>,
}

impl Guide {
    pub fn labels(condition: Condition) -> Self {
        Self {
            condition,
            layout: None,
        }
    }
}

/// What the sampler integrates: the network's velocity at `x` ([batch, channels, h, w], in the
/// network's space) and time `t` ([batch]), one condition per row, and one layout for every
/// row (a [`Guide`]'s) that a network without a layout layer does not read. [`Generator`] runs
/// on any burn device; [`crate::cpu`] has passes written out for the CPU.
pub trait VelocityModel: Send + Sync {
    fn velocity(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layout: Option<&Tensor<4>>,
    ) -> Tensor<4>;
    /// Images ([batch, 3, size, size] in [-1, 1]) in the space the velocity lives in (a
    /// photo's starting point); pixel networks take them as they are.
    fn to_sample_space(&self, images: Tensor<4>) -> Tensor<4> {
        images
    }
    /// What the ODE ends with, as images.
    fn to_image(&self, x: Tensor<4>) -> Tensor<4> {
        x
    }
    /// Whether the network reads `scalar` from a condition (a distilled student's).
    fn reads(&self, _scalar: Scalar) -> bool {
        false
    }
}

impl VelocityModel for Generator {
    fn velocity(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        conditions: &[Condition],
        layout: Option<&Tensor<4>>,
    ) -> Tensor<4> {
        let batch = x.dims()[0];
        let layout = layout.map(|l| l.clone().repeat_dim(0, batch));
        self.forward_with_layout(x, t, conditions, layout)
    }
    fn to_sample_space(&self, images: Tensor<4>) -> Tensor<4> {
        Generator::to_sample_space(self, images)
    }
    fn to_image(&self, x: Tensor<4>) -> Tensor<4> {
        Generator::to_image(self, x)
    }
    fn reads(&self, scalar: Scalar) -> bool {
        Generator::reads(self, scalar)
    }
}

/// Runs the ODE from `x` at time `t_start` to t = 1. `on_evaluation` is called after each
/// model evaluation with (done, total).
pub fn sample(
    model: &dyn VelocityModel,
    mut x: Tensor<4>,
    t_start: f32,
    guide: &Guide,
    settings: SamplerSettings,
    on_evaluation: &mut dyn FnMut(u32, u32),
) -> Tensor<4> {
    let total = settings.evaluations();
    let mut done = 0;
    let dt = (1.0 - t_start) / settings.steps as f32;
    // A step-distilled student is told how far each step jumps, unless the teacher's sampler
    // is asked for.
    let step =
        (settings.kind != SamplerKind::Teacher && model.reads(Scalar::StepSize)).then_some(dt);
    let mut evaluate = |x: &Tensor<4>, t: f32| {
        let v = guided_velocity(model, x.clone(), t, guide, settings.guidance, step);
        done += 1;
        on_evaluation(done, total);
        v
    };
    for step in 0..settings.steps {
        let t = t_start + dt * step as f32;
        let v = evaluate(&x, t);
        x = match settings.kind {
            SamplerKind::Euler | SamplerKind::Teacher => x + v.mul_scalar(dt),
            SamplerKind::Heun => {
                let predicted = x.clone() + v.clone().mul_scalar(dt);
                let v_next = evaluate(&predicted, t + dt);
                x + (v + v_next).mul_scalar(dt / 2.0)
            }
        };
    }
    x
}

/// v = v_uncond + g (v_cond - v_uncond), with both halves in one batch; g = 1 and g = 0 need
/// only one of them, and so does a guidance-distilled network for g in
/// [`DISTILLED_GUIDANCE`], told g. Guidance is over the labels: both halves follow the layout.
fn guided_velocity(
    model: &dyn VelocityModel,
    x: Tensor<4>,
    t: f32,
    guide: &Guide,
    guidance: f32,
    step: Option<f32>,
) -> Tensor<4> {
    let batch = x.dims()[0];
    let device = x.device();
    let times = |n: usize| Tensor::<1>::full([n], t, &device);
    let layout = guide.layout.as_ref();
    let unconditional = Condition::UNCONDITIONAL.stepping(step);
    let once = |condition: Condition| {
        model.velocity(x.clone(), times(batch), &vec![condition; batch], layout)
    };
    if guidance == 0.0 {
        return once(unconditional);
    }
    let labels = guide.condition.stepping(step);
    if model.reads(Scalar::Guidance) && DISTILLED_GUIDANCE.contains(&guidance) {
        return once(labels.guided(guidance));
    }
    // A distilled network's velocity at weight 1 is its conditional one.
    let condition = labels.guided(1.0);
    if guidance == 1.0 {
        return once(condition);
    }
    let mut conditions = vec![condition; batch];
    conditions.extend(std::iter::repeat_n(unconditional, batch));
    let both = model.velocity(
        Tensor::cat(vec![x.clone(), x], 0),
        times(2 * batch),
        &conditions,
        layout,
    );
    let conditional = both.clone().narrow(0, 0, batch);
    let unconditional = both.narrow(0, batch, batch);
    unconditional.clone() + (conditional - unconditional).mul_scalar(guidance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_depends_on_the_seed_alone() {
        let a = seeded_noise(7, [3, 8, 8]);
        assert_eq!(a, seeded_noise(7, [3, 8, 8]));
        assert_ne!(a, seeded_noise(8, [3, 8, 8]));
        assert_eq!(a.len(), 3 * 64);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(
            mean.abs() < 0.2 && (var - 1.0).abs() < 0.3,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn heun_costs_two_evaluations_a_step() {
        let s = SamplerSettings {
            steps: 10,
            guidance: 3.0,
            kind: SamplerKind::Heun,
        };
        assert_eq!(s.evaluations(), 20);
        assert_eq!(
            SamplerSettings {
                kind: SamplerKind::Euler,
                ..s
            }
            .evaluations(),
            10
        );
    }

    /// Records the conditions of every evaluation; its velocity is zero.
    struct Recorder {
        distils: bool,
        jumps: bool,
        seen: std::sync::Mutex<Vec<Vec<Condition>>>,
    }

    impl VelocityModel for Recorder {
        fn velocity(
            &self,
            x: Tensor<4>,
            _t: Tensor<1>,
            conditions: &[Condition],
            _layout: Option<&Tensor<4>>,
        ) -> Tensor<4> {
            assert_eq!(x.dims()[0], conditions.len());
            self.seen.lock().unwrap().push(conditions.to_vec());
            x.zeros_like()
        }
        fn reads(&self, scalar: Scalar) -> bool {
            match scalar {
                Scalar::Guidance => self.distils,
                Scalar::StepSize => self.jumps,
            }
        }
    }

    /// The conditions of each evaluation a 2-step sample of 3 seeds makes from `t_start`.
    fn sampled(
        model: Recorder,
        guidance: f32,
        kind: SamplerKind,
        t_start: f32,
    ) -> Vec<Vec<Condition>> {
        use crate::labels::{RoomType, Style};
        let x = noise_batch(&[1, 2, 3], [3, 4, 4], &Device::flex());
        let labels = Condition::new(RoomType::ALL[0], Style::ALL[0]);
        let settings = SamplerSettings {
            steps: 2,
            guidance,
            kind,
        };
        sample(
            &model,
            x,
            t_start,
            &Guide::labels(labels),
            settings,
            &mut |_, _| {},
        );
        model.seen.into_inner().unwrap()
    }

    fn evaluations_of(distils: bool, guidance: f32) -> Vec<Vec<Condition>> {
        let model = Recorder {
            distils,
            jumps: false,
            seen: Default::default(),
        };
        sampled(model, guidance, SamplerKind::Euler, 0.0)
    }

    #[test]
    fn a_guidance_distilled_network_is_evaluated_once_a_step_told_the_weight() {
        use crate::labels::{RoomType, Style};
        let labels = Condition::new(RoomType::ALL[0], Style::ALL[0]);
        // In the distilled range: one batch of the seeds, told the weight.
        assert_eq!(
            evaluations_of(true, 3.0),
            vec![vec![labels.guided(3.0); 3]; 2]
        );
        // Outside it, and for any other network: the doubled batch of classifier-free
        // guidance, the labelled half at weight 1 (what a distilled network learnt as its
        // conditional velocity, and what the others ignore).
        let doubled = [
            vec![labels.guided(1.0); 3],
            vec![Condition::UNCONDITIONAL; 3],
        ]
        .concat();
        assert_eq!(evaluations_of(true, 9.0), vec![doubled.clone(); 2]);
        assert_eq!(evaluations_of(false, 3.0), vec![doubled; 2]);
        // Weight 0 is the unconditional velocity alone, for both.
        for distils in [true, false] {
            assert_eq!(
                evaluations_of(distils, 0.0),
                vec![vec![Condition::UNCONDITIONAL; 3]; 2]
            );
        }
    }

    #[test]
    fn a_step_distilled_network_is_told_each_step_unless_the_teacher_samples() {
        use crate::labels::{RoomType, Style};
        let labels = Condition::new(RoomType::ALL[0], Style::ALL[0]).guided(3.0);
        let student = |kind, t_start| {
            let model = Recorder {
                distils: true,
                jumps: true,
                seen: Default::default(),
            };
            sampled(model, 3.0, kind, t_start)
        };
        // Two steps over the whole path jump half of it each; from a photo noised to
        // t = 0.5, a quarter.
        assert_eq!(
            student(SamplerKind::Euler, 0.0),
            vec![vec![labels.stepping(Some(0.5)); 3]; 2]
        );
        assert_eq!(
            student(SamplerKind::Euler, 0.5),
            vec![vec![labels.stepping(Some(0.25)); 3]; 2]
        );
        // The teacher's sampler asks for the velocity itself.
        assert_eq!(student(SamplerKind::Teacher, 0.0), vec![vec![labels; 3]; 2]);
        // Guided outside the distilled range, both halves are told the step.
        let model = Recorder {
            distils: true,
            jumps: true,
            seen: Default::default(),
        };
        let told = Some(0.5);
        let doubled = [
            vec![labels.guided(1.0).stepping(told); 3],
            vec![Condition::UNCONDITIONAL.stepping(told); 3],
        ]
        .concat();
        assert_eq!(
            sampled(model, 9.0, SamplerKind::Euler, 0.0),
            vec![doubled; 2]
        );
    }
}
