//! The `train` action: one resumable chunk of the core's training loop per invocation. It holds a
//! lease on the checkpoint, resumes from it (or from the served weights), trains until the
//! deadline nears, saves, and says how far the run has come; the next invocation continues.

use crate::error::{ApiError, ErrorKind};
use crate::event::Reply;
use crate::settings::Settings;
use crate::store::{Acquired, Lease, Location, now_ms};
use designer_core::weights::Weights;
use designer_train::checkpoint::Checkpoint;
use designer_train::config::TrainSettings;
use designer_train::dataset::{ExampleSource, SourceError};
use designer_train::download::{DownloadConfig, UrlSource};
use designer_train::run::{Quiet, RunPlan, Start, run};
use designer_train::train::{TrainConfig, TrainError};
use lambda_runtime::Context;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The invocation's own arguments; the run's shape (epochs, batch, ...) is the environment's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainArguments {
    /// Stop after this many steps even if time remains (for short, predictable chunks).
    max_steps: Option<u64>,
}

/// What a finished chunk reports.
struct Chunk {
    step: u64,
    total_steps: u64,
    steps_done: u64,
    loss: Option<f32>,
    skipped: Value,
    /// The last epoch's checkpoint (none if the chunk took no step).
    checkpoint: Option<Vec<u8>>,
    /// The exported weights, once the run has done all its steps.
    weights: Option<Vec<u8>>,
}

/// Trains one chunk, configured by the `function`'s settings and training's own variables,
/// starting from `weights` when there is no checkpoint yet.
pub async fn train(
    function: &Settings,
    weights: Arc<Weights>,
    arguments: Map<String, Value>,
    context: &Context,
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let request_id = context.request_id.as_str();
    let arguments: TrainArguments = serde_json::from_value(Value::Object(arguments))
        .map_err(|e| ApiError::invalid("train", e.to_string()))?;
    if arguments.max_steps == Some(0) {
        return Err(ApiError::invalid("max_steps", "must be at least 1"));
    }
    let settings = TrainSettings::from_env()
        .map_err(|e| ApiError::new(ErrorKind::NotConfigured, e.to_string()))?;
    let store_error = |e: crate::store::StoreError| ApiError::internal(request_id, e);
    let checkpoint_at = configured(
        &function.checkpoint_uri,
        "CHECKPOINT_URI",
        "an s3:// or file:// object URI",
    )?;
    let manifest_at = configured(
        &function.training_manifest,
        "TRAINING_MANIFEST",
        "a JSONL object of image URLs",
    )?;

    let budget = time_budget(context.deadline, function)?;
    let lease_until = now_ms() + (budget + function.save_margin).as_millis() as u64 + 60_000;
    let lease = match Lease::acquire(checkpoint_at.with_suffix(".lock"), request_id, lease_until)
        .await
        .map_err(store_error)?
    {
        Acquired::Held(lease) => lease,
        Acquired::Busy(holder) => {
            return Err(ApiError::new(
                ErrorKind::Busy,
                format!(
                    "checkpoint {} is being trained by invocation {} (lease ends in {} s); try again later",
                    checkpoint_at.uri(),
                    holder.holder,
                    holder.expires_ms.saturating_sub(now_ms()) / 1000
                ),
            ));
        }
    };
    let result = train_holding_lease(
        function,
        weights,
        RunObjects {
            checkpoint: &checkpoint_at,
            manifest: &manifest_at,
        },
        settings,
        arguments,
        budget,
        request_id,
    )
    .await;
    // Given back on failure too, so that the next invocation need not wait out the lease.
    if let Err(e) = lease.release().await {
        tracing::warn!(request_id, error = %e, "could not release the checkpoint lease");
    }
    let (chunk, weights_uri) = result?;
    tracing::info!(
        request_id,
        step = chunk.step,
        steps_done = chunk.steps_done,
        loss = chunk.loss,
        "trained"
    );
    Ok(Reply {
        body: json!({
            "step": chunk.step,
            "total_steps": chunk.total_steps,
            "steps_done": chunk.steps_done,
            "finished": chunk.step >= chunk.total_steps,
            "loss": chunk.loss,
            "skipped": chunk.skipped,
            "checkpoint": checkpoint_at.uri(),
            "weights": weights_uri,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        }),
        cache_hit: None,
    })
}

/// The object an environment variable names; a clear error if it is unset or not a URI.
fn configured(uri: &Option<String>, variable: &str, what: &str) -> Result<Location, ApiError> {
    let not_configured = |message: String| ApiError::new(ErrorKind::NotConfigured, message);
    let uri = uri.as_deref().ok_or_else(|| {
        not_configured(format!(
            "train needs {variable} ({what}) in the function's environment"
        ))
    })?;
    Location::parse(uri).map_err(|e| not_configured(format!("{variable}: {e}")))
}

/// The training time this invocation has: until its deadline less the saving margin.
fn time_budget(deadline_ms: u64, settings: &Settings) -> Result<Duration, ApiError> {
    let now = now_ms();
    // Emulators pass no real deadline (cargo lambda's is a constant in 1970).
    if deadline_ms <= now {
        return Ok(settings.train_without_deadline);
    }
    Duration::from_millis(deadline_ms - now)
        .checked_sub(settings.save_margin)
        .filter(|left| !left.is_zero())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotConfigured,
                format!(
                    "the function's timeout leaves no time to train after the {} s saving margin (TRAIN_SAVE_MARGIN_SECONDS)",
                    settings.save_margin.as_secs()
                ),
            )
        })
}

/// Where a training run's objects are: its checkpoint and its manifest of images.
#[derive(Clone, Copy)]
struct RunObjects<'a> {
    checkpoint: &'a Location,
    manifest: &'a Location,
}

async fn train_holding_lease(
    function: &Settings,
    weights: Arc<Weights>,
    objects: RunObjects<'_>,
    settings: TrainSettings,
    arguments: TrainArguments,
    budget: Duration,
    request_id: &str,
) -> Result<(Chunk, Option<String>), ApiError> {
    let store_error = |e: crate::store::StoreError| ApiError::internal(request_id, e);
    let checkpoint = match objects.checkpoint.get().await.map_err(store_error)? {
        None => None,
        Some(bytes) => Some(Checkpoint::decode(&bytes).map_err(|e| {
            ApiError::new(
                ErrorKind::BadTrainingData,
                format!(
                    "the checkpoint at {} cannot be read: {e}",
                    objects.checkpoint.uri()
                ),
            )
        })?),
    };
    let manifest = objects
        .manifest
        .get()
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotConfigured,
                format!(
                    "TRAINING_MANIFEST {} holds no object",
                    objects.manifest.uri()
                ),
            )
        })?;
    // The URL source reads its manifest pass after pass from a file; /tmp is Lambda's scratch.
    let manifest_file = std::env::temp_dir().join(format!("designer-manifest-{request_id}.jsonl"));
    std::fs::write(&manifest_file, manifest).map_err(|e| ApiError::internal(request_id, e))?;

    let id = request_id.to_string();
    let file = manifest_file.clone();
    let chunk = tokio::task::spawn_blocking(move || {
        train_chunk(&weights, checkpoint, &file, settings, arguments, budget)
    })
    .await
    .map_err(|e| ApiError::internal(&id, e));
    let _ = std::fs::remove_file(&manifest_file);
    let mut chunk = chunk?.map_err(|e| match e {
        TrainError::Source(SourceError::NothingUsable { skipped, .. }) => ApiError::new(
            ErrorKind::BadTrainingData,
            format!(
                "TRAINING_MANIFEST {}: a whole pass gave no usable image (skipped: {skipped})",
                objects.manifest.uri()
            ),
        ),
        TrainError::Checkpoint(_) | TrainError::Diverged { .. } => {
            ApiError::new(ErrorKind::BadTrainingData, e.to_string())
        }
        other => ApiError::internal(request_id, other),
    })?;
    if let Some(bytes) = chunk.checkpoint.take() {
        objects.checkpoint.put(bytes).await.map_err(store_error)?;
    }
    let weights_uri = match chunk.weights.take() {
        None => None,
        Some(bytes) => {
            let at = match &function.weights_uri {
                Some(uri) => Location::parse(uri).map_err(|e| {
                    ApiError::new(ErrorKind::NotConfigured, format!("WEIGHTS_URI: {e}"))
                })?,
                None => objects.checkpoint.with_suffix(".weights"),
            };
            at.put(bytes).await.map_err(store_error)?;
            Some(at.uri().to_string())
        }
    };
    Ok((chunk, weights_uri))
}

/// The blocking part: the core's trainer on the CPU, over the manifest's images.
fn train_chunk(
    weights: &Weights,
    checkpoint: Option<Checkpoint>,
    manifest: &std::path::Path,
    settings: TrainSettings,
    arguments: TrainArguments,
    budget: Duration,
) -> Result<Chunk, TrainError> {
    let mut source = UrlSource::for_training(manifest, &settings, DownloadConfig::default())
        .map_err(|e| SourceError::Render(e.to_string()))?;
    let plan = RunPlan {
        config: TrainConfig {
            time_limit: Some(budget),
            ..settings.train_config()
        },
        steps_per_epoch: settings.steps_per_epoch,
        max_steps: arguments.max_steps,
        name: weights.header.name.clone(),
        export_trained: false,
        teacher: None,
    };
    let start = match checkpoint {
        Some(checkpoint) => Start::Resume(checkpoint),
        None => Start::Weights(weights.clone()),
    };
    // Only the chunk's last checkpoint is stored: one whole-object PUT when the chunk ends.
    let mut last = None;
    let outcome = run(
        start,
        designer_core::Device::flex(),
        &plan,
        &mut source,
        &mut |checkpoint| {
            last = Some(checkpoint);
            Ok(String::new())
        },
        &mut Quiet,
    )?;
    let skipped = json!(
        source
            .skipped()
            .0
            .iter()
            .map(|(reason, count)| (reason.name(), *count))
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    Ok(Chunk {
        step: outcome.step,
        total_steps: outcome.total_steps,
        steps_done: outcome.step - outcome.first_step,
        loss: outcome.loss,
        skipped,
        checkpoint: last.map(|c| c.encode()).transpose()?,
        weights: outcome.finished.then_some(outcome.weights),
    })
}
