//! `Designer`: weights loaded once on a device, then request -> designs. The one entry point
//! the CLI, the browser and the Lambda call.

use crate::image::{self, encode_png, rgb_to_tensor, square, tensor_to_rgb, to_base64};
use crate::model::{Condition, Scalar};
use crate::request::{
    Design, DesignError, DesignRequest, DesignResponse, Keep, MAX_PHOTO_BYTES, MIN_PHOTO_SIDE,
    PhotoUse,
};
use crate::sampler::{self, Guide, SamplerSettings, VelocityModel, interpolate_path, noise_batch};
use crate::weights::{Weights, WeightsError, WeightsHeader};
use ::image::RgbImage;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use web_time::Instant;

/// How much of the path a design larger than the model's trained size redraws at its own
/// size, after the trained size's design is upscaled: enough for texture and edges at the new
/// scale, little enough that the composition holds (0.3 and 0.5 looked alike on two rooms;
/// 0.3 keeps more of the first stage and takes fewer steps: BENCHMARKS.md, fourteenth
/// session).
pub const REFINE_STRENGTH: f32 = 0.3;

pub struct Designer {
    /// The network: on the CPU device its hand-written pass (several times faster than burn's
    /// operators there), else burn's model on the device.
    model: Box<dyn VelocityModel>,
    device: Device,
    backend: String,
    model_version: String,
    /// What the weights say about the model: its shape, provenance and trained size.
    header: WeightsHeader,
    /// Variations are split over this many threads: the CPU pass runs one image at a time on
    /// one core, so each core takes a share of the batch.
    threads: usize,
}

fn cpu_threads() -> usize {
    #[cfg(not(target_family = "wasm"))]
    return std::thread::available_parallelism().map_or(1, |n| n.get());
    #[cfg(target_family = "wasm")]
    return 1;
}

/// A request's sampling as floats (see [`Designer::sample_tensors`]).
pub struct SampledTensors {
    /// The starting tensor's shape: a latent network's is its latents', not the images'.
    pub start_shape: [usize; 4],
    pub start: Vec<f32>,
    pub t_start: f32,
    pub images_shape: [usize; 4],
    pub images: Vec<f32>,
}

/// A tensor read back from the device, as f32 values.
fn floats(data: TensorData) -> Result<Vec<f32>, DesignError> {
    data.try_into_vec::<f32>()
        .map_err(|e| DesignError::model(format!("{e:?}")))
}

/// A started generation: the sampled batch, not yet read back from the device.
struct Pending {
    images: Tensor<4>,
    started: Instant,
    photo: Option<PhotoUse>,
}

/// A request's photo, decoded once and fitted to the design's square.
struct Photo {
    /// [3, size, size] in [-1, 1].
    pixels: Vec<f32>,
    used: PhotoUse,
}

impl Designer {
    /// Loads `weights` onto `device`; `backend` is the name responses report ("cpu", "webgpu").
    pub fn new(weights: &Weights, device: Device, backend: &str) -> Result<Self, WeightsError> {
        let trained = weights.header.image_size as usize;
        let network = weights
            .build(&device)?
            .trained_at(&weights.header.model, trained);
        let model = crate::cpu::velocity_model(network, &device);
        Ok(Self {
            model,
            device,
            backend: backend.to_string(),
            model_version: weights.version().to_string(),
            header: weights.header.clone(),
            threads: 1,
        })
    }

    /// `weights` on the CPU backend, the batch split over every core.
    pub fn cpu(weights: &Weights) -> Result<Self, WeightsError> {
        let mut designer = Self::new(weights, Device::flex(), "cpu")?;
        designer.threads = cpu_threads();
        Ok(designer)
    }

    /// The small embedded model (64 px, every build's) on the CPU backend.
    pub fn small_cpu() -> Result<Self, WeightsError> {
        Self::cpu(&Weights::embedded_small()?)
    }

    /// Splits each request's variations over `threads` threads (1: no splitting).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    /// The labels the model was trained on.
    pub fn vocabulary(&self) -> &crate::labels::Vocabulary {
        &self.header.model.vocabulary
    }

    /// Whether the model follows a photo's layout (`keep: layout`).
    pub fn follows_layouts(&self) -> bool {
        self.header.model.architecture.layout_factor().is_some()
    }

    /// Whether the network works over an autoencoder's latents (see [`Self::autoencode`]).
    pub fn works_in_latents(&self) -> bool {
        self.header.model.architecture.autoencoder().is_some()
    }

    /// The size the model was trained at, and so generates best at.
    pub fn trained_size(&self) -> u32 {
        self.header.image_size
    }

    /// What a client needs to know to build requests for this model: its version and
    /// provenance, the labels and the request limits (`designer info`, the Lambda's `info`),
    /// and for generator v2 what a design of its trained size costs (billions of
    /// multiply-adds per network evaluation, and for the decoder once per design).
    pub fn describe(&self) -> serde_json::Value {
        let mut description = serde_json::json!({
            "model": self.model_version,
            "weights": self.header,
            "room_types": crate::labels::RoomType::ALL,
            "styles": crate::labels::Style::ALL,
            "limits": crate::request::LIMITS,
        });
        let size = self.header.image_size;
        if let Some((evaluation, decode)) = self.header.model.forward_macs(size as usize) {
            description["cost"] = serde_json::json!({
                "size": size,
                "parameters": self.header.model.parameter_count(),
                "evaluation_gmacs": evaluation as f64 / 1e9,
                "decode_gmacs": decode as f64 / 1e9,
            });
        }
        let architecture = &self.header.model.architecture;
        if architecture.reads(Scalar::Guidance) {
            // Guidance weights one evaluation per step serves; others take two.
            let range = crate::model::DISTILLED_GUIDANCE;
            description["distilled_guidance"] = serde_json::json!([range.start(), range.end()]);
        }
        if architecture.reads(Scalar::StepSize) {
            // The step counts the student was trained for; the first is the default.
            description["distilled_steps"] = serde_json::json!(crate::model::DISTILLED_STEPS);
        }
        description
    }

    /// The steps `request` takes with this model (see [`DesignRequest::steps_for`]).
    pub fn steps(&self, request: &DesignRequest) -> u32 {
        request.steps_for(self.header.model.architecture.reads(Scalar::StepSize))
    }

    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Generates the request's designs, blocking until they are read back (CPU and native GPU).
    pub fn generate(&self, request: &DesignRequest) -> Result<DesignResponse, DesignError> {
        self.generate_with_progress(request, &mut |_, _| {})
    }

    /// As [`generate`](Self::generate), calling `on_progress(done, total)` after each model
    /// evaluation.
    pub fn generate_with_progress(
        &self,
        request: &DesignRequest,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Result<DesignResponse, DesignError> {
        let pending = self.start(request, on_progress)?;
        let (started, photo) = (pending.started, pending.photo.clone());
        self.respond(request, read(pending)?, started, photo)
    }

    /// The request's designs as images, one per variation in seed order: the pixels the
    /// responses' PNGs encode, for callers that look at them (the eval, contact sheets).
    pub fn generate_images(&self, request: &DesignRequest) -> Result<Vec<RgbImage>, DesignError> {
        let values = floats(read(self.start(request, &mut |_, _| {})?)?)?;
        Ok((0..request.variations as usize)
            .map(|i| image_of(request, &values, i))
            .collect())
    }

    /// As [`generate_with_progress`](Self::generate_with_progress), reading the result back
    /// asynchronously, as WebGPU in a browser requires.
    pub async fn generate_async(
        &self,
        request: &DesignRequest,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Result<DesignResponse, DesignError> {
        let pending = self.start(request, on_progress)?;
        let data = pending
            .images
            .into_data_async()
            .await
            .map_err(|e| DesignError::model(e.to_string()))?;
        self.respond(request, data, pending.started, pending.photo)
    }

    fn start(
        &self,
        request: &DesignRequest,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Result<Pending, DesignError> {
        request.validate()?;
        self.check_labels(request)?;
        self.check_size(request)?;
        let started = Instant::now();
        // A design larger than the model's trained size is drawn at that size first, then
        // redrawn at its own (see `refine`).
        let refined = self.refines(request);
        let first = if refined {
            DesignRequest {
                size: self.trained_size(),
                ..request.clone()
            }
        } else {
            request.clone()
        };
        let settings = self.settings(&first);
        let refinement = refined.then(|| self.refine_settings(settings));
        let total = settings.evaluations() + refinement.map_or(0, |r| r.evaluations());
        let photo = self.photo(&first)?;
        let (start, t_start) = self.starting_point(&first, photo.as_ref());
        let mut images = self.sample_from(
            &first,
            start,
            t_start,
            photo.as_ref(),
            settings,
            &mut |done, _| on_progress(done, total),
        );
        if let Some(refinement) = refinement {
            let offset = settings.evaluations();
            images = self.refine(request, images, refinement, &mut |done, _| {
                on_progress(offset + done, total)
            });
        }
        Ok(Pending {
            images,
            started,
            photo: photo.map(|p| p.used),
        })
    }

    /// Refuses a room type or style the model was not trained on (a model older than the
    /// label), naming the model and the labels it knows.
    fn check_labels(&self, request: &DesignRequest) -> Result<(), DesignError> {
        self.header
            .model
            .vocabulary
            .check(&self.model_version, request.room_type, request.style)
            .map_err(|e| {
                let field = if e.what == crate::labels::RoomType::WHAT {
                    "room_type"
                } else {
                    "style"
                };
                DesignError::invalid(field, e.to_string())
            })
    }

    /// `images` ([batch, 3, size, size] values in [-1, 1], row-major) through the model's
    /// autoencoder and back: what its latents keep of a picture. `None` for a network over
    /// pixels.
    pub fn autoencode(&self, images: &[f32], batch: usize, size: usize) -> Option<Vec<f32>> {
        self.header.model.architecture.autoencoder()?;
        let x = Tensor::<4>::from_data(
            TensorData::new(images.to_vec(), [batch, 3, size, size]),
            &self.device,
        );
        let back = self.model.to_image(self.model.to_sample_space(x));
        floats(back.into_data()).ok()
    }

    /// Refuses a size the network cannot halve down to its lowest level.
    fn check_size(&self, request: &DesignRequest) -> Result<(), DesignError> {
        let multiple = self.header.model.size_multiple() as u32;
        if request.size.is_multiple_of(multiple) {
            return Ok(());
        }
        Err(DesignError::invalid(
            "size",
            format!(
                "the model {} draws sizes that are multiples of {multiple}, got {}",
                self.model_version, request.size
            ),
        ))
    }

    /// Where the ODE starts for a request: seeded noise at t = 0, or, keeping a photo's
    /// colours, the noise mixed with the photo at t = 1 - strength (both in the network's
    /// space).
    fn starting_point(&self, request: &DesignRequest, photo: Option<&Photo>) -> (Tensor<4>, f32) {
        let shape = self.header.model.sample_shape(request.size as usize);
        let seeds: Vec<u64> = request.seeds().collect();
        let noise = noise_batch(&seeds, shape, &self.device);
        match photo {
            Some(photo) if photo.used.keep.colours() => {
                let size = request.size as usize;
                let pixels = Tensor::from_data(
                    TensorData::new(photo.pixels.clone(), [1, 3, size, size]),
                    &self.device,
                );
                // Encoded once, for every variation.
                let photo = self
                    .model
                    .to_sample_space(pixels)
                    .repeat_dim(0, seeds.len());
                let t_start = 1.0 - request.strength;
                (interpolate_path(noise, photo, t_start), t_start)
            }
            _ => (noise, 0.0),
        }
    }

    /// What the designs follow: the request's labels, and the photo's layout when it is kept
    /// (its edge map as the network's latent grid, computed here on every target alike).
    fn guide(&self, request: &DesignRequest, photo: Option<&Photo>) -> Guide {
        let mut guide = Guide::labels(Condition::new(request.room_type, request.style));
        if let (Some(photo), Some(factor)) = (photo, self.header.model.architecture.layout_factor())
            && photo.used.keep.layout()
        {
            let size = request.size as usize;
            let grid = crate::layout::latent_layout(&photo.pixels, size, size, factor);
            let shape = [1, factor * factor, size / factor, size / factor];
            guide.layout = Some(Tensor::from_data(
                TensorData::new(grid, shape),
                &self.device,
            ));
        }
        guide
    }

    /// The request's designs from `start` at `t_start`, following its labels and its photo's
    /// layout where kept.
    fn sample_from(
        &self,
        request: &DesignRequest,
        start: Tensor<4>,
        t_start: f32,
        photo: Option<&Photo>,
        settings: SamplerSettings,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Tensor<4> {
        let guide = self.guide(request, photo);
        self.sample_split(start, t_start, &guide, settings, on_progress)
    }

    /// How a request's ODE is integrated.
    fn settings(&self, request: &DesignRequest) -> SamplerSettings {
        SamplerSettings {
            steps: self.steps(request),
            guidance: request.guidance,
            kind: request.sampler,
        }
    }

    /// Whether `request` is drawn in two stages: a network over latents asked for more than
    /// its trained size (one it can draw: a header may name a size its network cannot halve).
    fn refines(&self, request: &DesignRequest) -> bool {
        let trained = self.trained_size();
        self.header.model.architecture.autoencoder().is_some()
            && request.size > trained
            && trained.is_multiple_of(self.header.model.size_multiple() as u32)
    }

    /// The second stage's integration: the first's, over the last `REFINE_STRENGTH` of the
    /// path in steps as long as the first's (at least one).
    fn refine_settings(&self, first: SamplerSettings) -> SamplerSettings {
        SamplerSettings {
            steps: (first.steps as f32 * REFINE_STRENGTH).ceil().max(1.0) as u32,
            ..first
        }
    }

    /// A design's second stage at the asked size: the first stage's `images` (at the trained
    /// size) upscaled (bilinear), encoded, noised back to t = 1 - [`REFINE_STRENGTH`] with the
    /// variation's seed and drawn to the end there, the transformer's positions spaced over
    /// the grid it was trained on. The composition stays; texture and edges are drawn at the
    /// new scale (BENCHMARKS.md, fourteenth session).
    fn refine(
        &self,
        request: &DesignRequest,
        images: Tensor<4>,
        settings: SamplerSettings,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Tensor<4> {
        let size = request.size as usize;
        let upscaled = interpolate(
            images.clamp(-1.0, 1.0),
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size([size, size]),
        );
        let latents = self.model.to_sample_space(upscaled);
        let seeds: Vec<u64> = request.seeds().collect();
        let noise = noise_batch(&seeds, self.header.model.sample_shape(size), &self.device);
        let t_start = 1.0 - REFINE_STRENGTH;
        let guide = Guide::labels(Condition::new(request.room_type, request.style));
        let start = interpolate_path(noise, latents, t_start);
        self.sample_split(start, t_start, &guide, settings, on_progress)
    }

    /// The request's starting tensor (in the network's space) and sampled images as floats
    /// (images [batch, 3, size, size] in [-1, 1] before rounding to pixels), with the time the
    /// ODE started at: what another implementation of the network needs to reproduce and
    /// check our output.
    pub fn sample_tensors(&self, request: &DesignRequest) -> Result<SampledTensors, DesignError> {
        request.validate()?;
        self.check_labels(request)?;
        self.check_size(request)?;
        if self.refines(request) {
            return Err(DesignError::invalid(
                "size",
                format!(
                    "sampled tensors are written for one stage, up to the model's trained size {}",
                    self.trained_size()
                ),
            ));
        }
        let photo = self.photo(request)?;
        let (start, t_start) = self.starting_point(request, photo.as_ref());
        let read = |tensor: Tensor<4>| {
            floats(
                tensor
                    .try_into_data()
                    .map_err(|e| DesignError::model(e.to_string()))?,
            )
        };
        let images = self.sample_from(
            request,
            start.clone(),
            t_start,
            photo.as_ref(),
            self.settings(request),
            &mut |_, _| {},
        );
        Ok(SampledTensors {
            start_shape: start.dims(),
            start: read(start)?,
            t_start,
            images_shape: images.dims(),
            images: read(images)?,
        })
    }

    /// Samples the batch in up to `threads` contiguous parts at once, each part's thread
    /// decoding its own images too (a latent network's decoder costs about as much as its 8
    /// steps on the CPU). Rows of a batch never interact, so the images are the same however the batch
    /// is split (tested).
    fn sample_split(
        &self,
        start: Tensor<4>,
        t_start: f32,
        guide: &Guide,
        settings: SamplerSettings,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Tensor<4> {
        let batch = start.dims()[0];
        let parts = self.threads.min(batch);
        let model = self.model.as_ref();
        let images = |part, on_progress: &mut dyn FnMut(u32, u32)| {
            model.to_image(sampler::sample(
                model,
                part,
                t_start,
                guide,
                settings,
                on_progress,
            ))
        };
        if parts <= 1 || cfg!(target_family = "wasm") {
            return images(start, on_progress);
        }
        let chunk = batch.div_ceil(parts);
        let mut chunks: Vec<Tensor<4>> = (0..batch)
            .step_by(chunk)
            .map(|first| start.clone().narrow(0, first, chunk.min(batch - first)))
            .collect();
        let first = chunks.remove(0);
        std::thread::scope(|scope| {
            let others: Vec<_> = chunks
                .into_iter()
                .map(|part| scope.spawn(move || images(part, &mut |_, _| {})))
                .collect();
            // The calling thread takes the first part and reports progress for all.
            let mut sampled = vec![images(first, on_progress)];
            sampled.extend(
                others
                    .into_iter()
                    .map(|h| h.join().expect("sampling thread panicked")),
            );
            Tensor::cat(sampled, 0)
        })
    }

    /// The request's photo, if it has one: decoded under the input limits, turned upright,
    /// its centre square at the design's size, and what of it the designs keep.
    fn photo(&self, request: &DesignRequest) -> Result<Option<Photo>, DesignError> {
        let Some(photo) = &request.photo else {
            return Ok(None);
        };
        let invalid = |message: String| DesignError::invalid("photo", message);
        let keep = self.keep(request.keep)?;
        let bytes = image::from_base64(photo).map_err(|e| invalid(e.to_string()))?;
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(invalid(format!("must be at most {MAX_PHOTO_BYTES} bytes")));
        }
        let decoded = image::decode_bounded(&bytes).map_err(|e| invalid(e.to_string()))?;
        let (width, height) = decoded.dimensions();
        if width.min(height) < MIN_PHOTO_SIDE {
            return Err(invalid(format!(
                "must be at least {MIN_PHOTO_SIDE} x {MIN_PHOTO_SIDE} pixels, got {width} x {height}"
            )));
        }
        let fit = if width == height {
            "as is"
        } else {
            "centre-cropped"
        };
        Ok(Some(Photo {
            pixels: rgb_to_tensor(&square(&decoded, request.size)),
            used: PhotoUse {
                keep,
                width,
                height,
                fit: fit.to_string(),
            },
        }))
    }

    /// What a photo's designs keep: as asked, or unasked its layout where the network can
    /// follow one and else its colours. A layout asked of a network that cannot is refused.
    fn keep(&self, asked: Option<Keep>) -> Result<Keep, DesignError> {
        let follows_layouts = self.follows_layouts();
        match asked {
            Some(keep) if keep.layout() && !follows_layouts => Err(DesignError::invalid(
                "keep",
                format!(
                    "the model {} was not trained to follow a photo's layout; ask to keep \"colours\"",
                    self.model_version
                ),
            )),
            Some(keep) => Ok(keep),
            None if follows_layouts => Ok(Keep::Layout),
            None => Ok(Keep::Colours),
        }
    }

    /// The response for the sampled batch: one PNG per variation.
    fn respond(
        &self,
        request: &DesignRequest,
        data: TensorData,
        started: Instant,
        photo: Option<PhotoUse>,
    ) -> Result<DesignResponse, DesignError> {
        let values = floats(data)?;
        let designs = request
            .seeds()
            .enumerate()
            .map(|(i, seed)| Design {
                seed,
                width: request.size,
                height: request.size,
                png_base64: to_base64(&encode_png(&image_of(request, &values, i))),
            })
            .collect();
        Ok(DesignResponse {
            designs,
            model: self.model_version.clone(),
            backend: self.backend.clone(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            photo,
        })
    }
}

/// The sampled batch, read back from the device (blocking).
fn read(pending: Pending) -> Result<TensorData, DesignError> {
    pending
        .images
        .try_into_data()
        .map_err(|e| DesignError::model(e.to_string()))
}

/// Variation `i` of the sampled batch's values as an image.
fn image_of(request: &DesignRequest, values: &[f32], i: usize) -> RgbImage {
    tensor_to_rgb(values, i, request.size, request.size)
}
