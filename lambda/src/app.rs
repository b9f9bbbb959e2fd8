//! The function: what init loads once per container, and each invocation's dispatch.

use crate::cache::{self, ResponseCache};
use crate::error::{ApiError, ErrorKind};
use crate::event::{Action, Call, Reply, Transport, respond};
use crate::settings::Settings;
use crate::store::Location;
use crate::train;
use designer_core::weights::Weights;
use designer_core::{DesignRequest, Designer};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Instant;

pub struct App {
    pub designer: Designer,
    pub weights: Weights,
    pub settings: Settings,
    cache: ResponseCache,
    /// How long init took (weights loaded, model built), reported by `info`.
    init_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("MODEL_URI {0} holds no object")]
    MissingModel(String),
    #[error(transparent)]
    Weights(#[from] designer_core::weights::WeightsError),
}

impl App {
    /// Loads the weights (MODEL_URI's, or the embedded default) onto the CPU backend.
    pub async fn init(settings: Settings, started: Instant) -> Result<Self, InitError> {
        let weights = match &settings.model_uri {
            None => Weights::embedded()?,
            Some(uri) => {
                let bytes = Location::parse(uri)?
                    .get()
                    .await?
                    .ok_or_else(|| InitError::MissingModel(uri.clone()))?;
                Weights::from_bytes(&bytes)?
            }
        };
        let designer = Designer::cpu(&weights)?;
        let cache = ResponseCache::new(settings.cache_bytes);
        let init_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            model = designer.model_version(),
            init_ms,
            threads = std::thread::available_parallelism().map_or(1, |n| n.get()),
            "initialised"
        );
        Ok(Self {
            designer,
            weights,
            settings,
            cache,
            init_ms,
        })
    }

    pub async fn handle(self: Arc<Self>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let (payload, context) = event.into_parts();
        let request_id = context.request_id.clone();
        let transport = Transport::of(&payload);
        let result = match Call::parse(payload, transport) {
            Err(error) => Err(error),
            Ok(call) => {
                tracing::info!(request_id, action = ?call.action, ?transport, "invocation");
                match (call.action, transport) {
                    (Action::Generate, _) => self.generate(call.arguments, &request_id).await,
                    (Action::Info, _) => Ok(Reply {
                        body: self.info(),
                        cache_hit: None,
                    }),
                    (Action::Train, Transport::Http) => Err(ApiError::new(
                        ErrorKind::Forbidden,
                        "train is only available through a direct (IAM-authorised) invocation",
                    )),
                    (Action::Train, Transport::Direct) => {
                        train::train(self.clone(), call.arguments, &context).await
                    }
                }
            }
        };
        if let Err(error) = &result {
            tracing::warn!(
                request_id,
                kind = error.kind.code(),
                field = error.field,
                reason = error.message,
                "refused"
            );
        }
        respond(transport, result)
    }

    async fn generate(
        self: Arc<Self>,
        arguments: Map<String, Value>,
        request_id: &str,
    ) -> Result<Reply, ApiError> {
        let started = Instant::now();
        // Through the core's parser, so that errors name the field exactly as the browser's do.
        let request = DesignRequest::from_json(&Value::Object(arguments).to_string())
            .map_err(|e| ApiError::from_design(e, request_id))?;
        let key = cache::key(&request);
        if let Some(mut response) = self.cache.get(&key) {
            response.elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(request_id, "cache hit");
            return Ok(Reply {
                body: serde_json::to_value(response).expect("a response serializes"),
                cache_hit: Some(true),
            });
        }
        let app = self.clone();
        let generated = tokio::task::spawn_blocking(move || app.designer.generate(&request))
            .await
            .map_err(|e| ApiError::internal(request_id, e))?
            .map_err(|e| ApiError::from_design(e, request_id))?;
        tracing::info!(
            request_id,
            variations = generated.designs.len(),
            elapsed_ms = generated.elapsed_ms,
            "generated"
        );
        self.cache.put(key, generated.clone());
        Ok(Reply {
            body: serde_json::to_value(generated).expect("a response serializes"),
            cache_hit: Some(false),
        })
    }

    fn info(&self) -> Value {
        let mut info = self.weights.describe();
        info["backend"] = json!(self.designer.backend());
        info["init_ms"] = json!(self.init_ms);
        info["cache"] = json!(self.cache.stats());
        info["training"] = json!({
            "checkpoint": self.settings.checkpoint_uri,
            "manifest": self.settings.training_manifest,
        });
        info
    }
}
