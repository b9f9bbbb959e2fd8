//! The function: what init loads once per container, and each invocation's dispatch.

use crate::cache::{self, ResponseCache};
use crate::error::{ApiError, ErrorKind};
use crate::event::{Action, Call, RawPayload, Reply, Transport, respond};
use crate::settings::Settings;
use crate::store::Location;
use crate::train;
use designer_core::weights::{self, Weights};
use designer_core::{DesignRequest, Designer};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Instant;

pub struct App {
    /// The models requests are served by, one per trained size (see `weights::serving`).
    designers: Vec<Designer>,
    /// The small embedded model (or MODEL_URI's), which training starts from.
    weights: Arc<Weights>,
    settings: Settings,
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
    /// Loads the models onto the CPU backend: MODEL_URI's for every size, or the embedded
    /// ones (generator v2 for 256 px, the default; the 128 px and 64 px U-Nets below it).
    pub async fn init(settings: Settings, started: Instant) -> Result<Self, InitError> {
        let all = match &settings.model_uri {
            None => Weights::embedded_all()?,
            Some(uri) => {
                let bytes = Location::parse(uri)?
                    .get()
                    .await?
                    .ok_or_else(|| InitError::MissingModel(uri.clone()))?;
                vec![Weights::from_bytes(&bytes)?]
            }
        };
        // Each model built on a thread of its own: the 256 px one is most of init, and the
        // cores a function has build the smaller ones beside it.
        let designers = std::thread::scope(|scope| {
            let building: Vec<_> = all
                .iter()
                .map(|weights| scope.spawn(|| Designer::cpu(weights)))
                .collect();
            building
                .into_iter()
                .map(|model| model.join().expect("building a model does not panic"))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let weights = Arc::new(all.into_iter().next().expect("at least one model"));
        let cache = ResponseCache::new(settings.cache_bytes);
        let init_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            models = ?designers.iter().map(Designer::model_version).collect::<Vec<_>>(),
            init_ms,
            threads = std::thread::available_parallelism().map_or(1, |n| n.get()),
            "initialised"
        );
        Ok(Self {
            designers,
            weights,
            settings,
            cache,
            init_ms,
        })
    }

    pub async fn handle(
        self: Arc<Self>,
        event: LambdaEvent<RawPayload>,
    ) -> Result<Value, Diagnostic> {
        let (payload, context) = event.into_parts();
        let request_id = context.request_id.clone();
        // A payload that is not JSON can only be a direct invoke's: HTTP events are AWS's own.
        let (transport, call) = match payload.parse() {
            Ok(payload) => {
                let transport = Transport::of(&payload);
                (transport, Call::parse(payload, transport))
            }
            Err(error) => (Transport::Direct, Err(error)),
        };
        let result = match call {
            Err(error) => Err(error),
            Ok(call) => {
                tracing::info!(request_id, action = ?call.action, ?transport, "invocation");
                match (call.action, transport) {
                    (Action::Generate, _) => self.generate(call.arguments, &request_id).await,
                    (Action::Info, transport) => Ok(Reply {
                        body: self.info(transport),
                        cache_hit: None,
                    }),
                    (Action::Train, Transport::Http) => Err(ApiError::new(
                        ErrorKind::Forbidden,
                        "train is only available through a direct (IAM-authorised) invocation",
                    )),
                    (Action::Train, Transport::Direct) => {
                        train::train(
                            &self.settings,
                            self.weights.clone(),
                            call.arguments,
                            &context,
                        )
                        .await
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
        let mut request = DesignRequest::from_json(&Value::Object(arguments).to_string())
            .map_err(|e| ApiError::from_design(e, request_id))?;
        // Unset steps are the serving model's (4 for a step-distilled one, else 20): filled in
        // before the cache key, so a request that spells them out shares its entry.
        request.steps = Some(self.designer_for(request.size).steps(&request));
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
        let generated =
            tokio::task::spawn_blocking(move || app.designer_for(request.size).generate(&request))
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

    fn designer_for(&self, size: u32) -> &Designer {
        weights::serving(&self.designers, Designer::trained_size, size)
            .expect("init loads at least one model")
    }

    /// The default request's model, every model, the limits and cache; where training reads
    /// and writes only for direct (IAM-authorised) callers: a function URL may be public,
    /// bucket paths are not its business.
    fn info(&self, transport: Transport) -> Value {
        let default = self.designer_for(designer_core::request::DEFAULT_SIZE);
        let mut info = default.describe();
        info["backend"] = json!(default.backend());
        info["models"] = self
            .designers
            .iter()
            .map(|d| json!({"model": d.model_version(), "trained_size": d.trained_size()}))
            .collect();
        info["init_ms"] = json!(self.init_ms);
        info["cache"] = json!(self.cache.stats());
        let configured = self.settings.checkpoint_uri.is_some();
        info["training"] = match transport {
            Transport::Direct => json!({
                "configured": configured,
                "checkpoint": self.settings.checkpoint_uri,
                "manifest": self.settings.training_manifest,
            }),
            Transport::Http => json!({ "configured": configured }),
        };
        info
    }
}
