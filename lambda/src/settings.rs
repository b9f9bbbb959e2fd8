//! The function's configuration, from its environment (set in `[package.metadata.lambda.deploy]`
//! or the console). Training's own variables (EPOCHS, BATCH_SIZE, ...) are the core's
//! [`designer_train::config::TrainSettings`], read when a `train` invocation needs them.

use designer_train::config::ConfigError;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// MODEL_URI: weights to serve instead of the embedded default (s3://, file://, /path).
    pub model_uri: Option<String>,
    /// CHECKPOINT_URI: the checkpoint object `train` resumes from and saves to.
    pub checkpoint_uri: Option<String>,
    /// TRAINING_MANIFEST: a JSONL object of `{"url", "room_type", "style"}` lines.
    pub training_manifest: Option<String>,
    /// WEIGHTS_URI: where `train` writes the weights once the run is finished (default: the
    /// checkpoint URI with `.weights` appended).
    pub weights_uri: Option<String>,
    /// GENERATION_CACHE_BYTES: the response cache's capacity (0 turns it off).
    pub cache_bytes: usize,
    /// TRAIN_SAVE_MARGIN_SECONDS: time kept back before the deadline to finish a step and save.
    pub save_margin: Duration,
    /// TRAIN_SECONDS_WITHOUT_DEADLINE: how long to train when the runtime gives no usable
    /// deadline (local emulators).
    pub train_without_deadline: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.trim().parse().map_err(|_| ConfigError {
                    variable: name,
                    expected: "must be a whole number",
                    value: v,
                })
            })
        };
        Ok(Self {
            model_uri: get("MODEL_URI"),
            checkpoint_uri: get("CHECKPOINT_URI"),
            training_manifest: get("TRAINING_MANIFEST"),
            weights_uri: get("WEIGHTS_URI"),
            cache_bytes: number("GENERATION_CACHE_BYTES", 64 << 20)? as usize,
            save_margin: Duration::from_secs(number("TRAIN_SAVE_MARGIN_SECONDS", 30)?),
            train_without_deadline: Duration::from_secs(number(
                "TRAIN_SECONDS_WITHOUT_DEADLINE",
                60,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_variable() {
        let none = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(none.cache_bytes, 64 << 20);
        assert_eq!(none.model_uri, None);
        let err = Settings::from_lookup(|name| {
            (name == "GENERATION_CACHE_BYTES").then(|| "lots".to_string())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "GENERATION_CACHE_BYTES must be a whole number, got 'lots'"
        );
    }
}
