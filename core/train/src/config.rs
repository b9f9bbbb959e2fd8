//! Training configuration from the environment, with the original system's variable names and
//! defaults. Flags (the CLI) or an event (the Lambda) override what the environment says.

use std::path::PathBuf;

/// Everything a training run is configured by; `Default` is the documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    /// EPOCHS: passes of STEPS_PER_EPOCH batches.
    pub epochs: u64,
    /// BATCH_SIZE: images per step.
    pub batch_size: usize,
    /// STEPS_PER_EPOCH: batches per epoch; a checkpoint is written after each epoch.
    pub steps_per_epoch: u64,
    /// LEARNING_RATE: Adam's peak learning rate.
    pub learning_rate: f64,
    /// IMAGE_SIZE: the side, in pixels, that training images are resized to.
    pub image_size: u32,
    /// MAX_IMAGE_SIZE: downloads larger than this many bytes are skipped.
    pub max_image_size: u64,
    /// CHECKPOINT_DIR: where checkpoints are written and resumed from.
    pub checkpoint_dir: PathBuf,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 50,
            batch_size: 32,
            steps_per_epoch: 100,
            learning_rate: 2e-3,
            image_size: 64,
            max_image_size: 10 * 1024 * 1024,
            checkpoint_dir: PathBuf::from("checkpoints"),
        }
    }
}

/// The variables [`TrainSettings::from_env`] reads, with what each means, for help texts.
pub const VARIABLES: &[(&str, &str)] = &[
    ("EPOCHS", "epochs to train (default 50)"),
    ("BATCH_SIZE", "images per step, at most 1024 (default 32)"),
    (
        "STEPS_PER_EPOCH",
        "steps per epoch; a checkpoint follows each epoch (default 100)",
    ),
    ("LEARNING_RATE", "peak learning rate (default 0.002)"),
    (
        "IMAGE_SIZE",
        "training image side in pixels, a multiple of 16 from 16 to 256 (default 64)",
    ),
    (
        "MAX_IMAGE_SIZE",
        "largest image download in bytes (default 10485760)",
    ),
    ("CHECKPOINT_DIR", "checkpoint folder (default checkpoints)"),
];

/// Larger batches do not fit a step's memory at 256 px.
pub const MAX_BATCH_SIZE: u64 = 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{variable} {expected}, got '{value}'")]
pub struct ConfigError {
    pub variable: &'static str,
    pub expected: &'static str,
    pub value: String,
}

impl TrainSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (the environment, or a test's map); unset or empty
    /// variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::resolve(lookup, |_| None)
    }

    /// As [`TrainSettings::from_lookup`], with `flag(VARIABLE)` giving a command-line flag's
    /// name and value where one overrides the variable: both ways in go through the same
    /// checks, and an error names the flag or the variable the bad value came from.
    pub fn resolve(
        lookup: impl Fn(&str) -> Option<String>,
        flag: impl Fn(&'static str) -> Option<(&'static str, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let get = |name: &'static str| -> Option<(&'static str, String)> {
            flag(name).or_else(|| {
                lookup(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
        };
        // A positive whole number that also `fits` (else `expected` says what would).
        let bounded = |name: &'static str,
                       default: u64,
                       fits: fn(u64) -> bool,
                       expected: &'static str|
         -> Result<u64, ConfigError> {
            let Some((label, v)) = get(name) else {
                return Ok(default);
            };
            let error = |expected| ConfigError {
                variable: label,
                expected,
                value: v.clone(),
            };
            match v.trim().parse::<u64>().ok().filter(|n| *n > 0) {
                None => Err(error("must be a positive integer")),
                Some(n) if !fits(n) => Err(error(expected)),
                Some(n) => Ok(n),
            }
        };
        let positive = |name, default| bounded(name, default, |_| true, "");
        let learning_rate = match get("LEARNING_RATE") {
            None => defaults.learning_rate,
            Some((label, v)) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r < 1.0)
                .ok_or(ConfigError {
                    variable: label,
                    expected: "must be a number between 0 and 1",
                    value: v,
                })?,
        };
        let image_size = bounded(
            "IMAGE_SIZE",
            defaults.image_size.into(),
            |n| (16..=256).contains(&n) && n % 16 == 0,
            "must be a multiple of 16 from 16 to 256",
        )?;
        let batch_size = bounded(
            "BATCH_SIZE",
            defaults.batch_size as u64,
            |n| n <= MAX_BATCH_SIZE,
            "must be at most 1024",
        )?;
        Ok(Self {
            epochs: positive("EPOCHS", defaults.epochs)?,
            batch_size: batch_size as usize,
            steps_per_epoch: positive("STEPS_PER_EPOCH", defaults.steps_per_epoch)?,
            learning_rate,
            image_size: image_size as u32,
            max_image_size: positive("MAX_IMAGE_SIZE", defaults.max_image_size)?,
            checkpoint_dir: get("CHECKPOINT_DIR")
                .map(|(_, dir)| PathBuf::from(dir))
                .unwrap_or(defaults.checkpoint_dir),
        })
    }

    pub fn total_steps(&self) -> u64 {
        self.epochs * self.steps_per_epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<TrainSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TrainSettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_seed_systems() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.epochs, s.batch_size, s.steps_per_epoch), (50, 32, 100));
        assert_eq!(s.total_steps(), 5000);
        assert_eq!(settings(&[("EPOCHS", "")]).unwrap(), s, "empty means unset");
    }

    #[test]
    fn variables_override_defaults() {
        let s = settings(&[
            ("EPOCHS", "3"),
            ("BATCH_SIZE", "8"),
            ("STEPS_PER_EPOCH", "20"),
            ("LEARNING_RATE", "0.0005"),
            ("IMAGE_SIZE", "32"),
            ("MAX_IMAGE_SIZE", "1000"),
            ("CHECKPOINT_DIR", "/tmp/ck"),
        ])
        .unwrap();
        assert_eq!(s.epochs, 3);
        assert_eq!(s.batch_size, 8);
        assert_eq!(s.steps_per_epoch, 20);
        assert_eq!(s.learning_rate, 0.0005);
        assert_eq!(s.image_size, 32);
        assert_eq!(s.max_image_size, 1000);
        assert_eq!(s.checkpoint_dir, PathBuf::from("/tmp/ck"));
    }

    #[test]
    fn flags_take_the_variables_checks_and_are_named_in_errors() {
        let flag = |name: &'static str| -> Option<(&'static str, String)> {
            match name {
                "EPOCHS" => Some(("--epochs", "0".to_string())),
                "IMAGE_SIZE" => Some(("--size", "64".to_string())),
                _ => None,
            }
        };
        let env = |name: &str| (name == "EPOCHS").then(|| "7".to_string());
        let err = TrainSettings::resolve(env, flag).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--epochs must be a positive integer, got '0'"
        );
        for (variable, label, value, message) in [
            (
                "IMAGE_SIZE",
                "--size",
                "50",
                "--size must be a multiple of 16",
            ),
            (
                "IMAGE_SIZE",
                "--size",
                "100000",
                "--size must be a multiple of 16 from 16 to 256",
            ),
            (
                "BATCH_SIZE",
                "--batch-size",
                "0",
                "--batch-size must be a positive integer",
            ),
            (
                "BATCH_SIZE",
                "--batch-size",
                "5000",
                "--batch-size must be at most 1024",
            ),
            (
                "STEPS_PER_EPOCH",
                "--steps-per-epoch",
                "0",
                "--steps-per-epoch must be a positive",
            ),
        ] {
            let flag = |name: &'static str| (name == variable).then(|| (label, value.to_string()));
            let err = TrainSettings::resolve(|_| None, flag)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(message), "{err}");
        }
        // A flag wins over its variable.
        let flag = |name: &'static str| (name == "EPOCHS").then(|| ("--epochs", "3".to_string()));
        assert_eq!(TrainSettings::resolve(env, flag).unwrap().epochs, 3);
        assert_eq!(TrainSettings::resolve(env, |_| None).unwrap().epochs, 7);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            (
                "EPOCHS",
                "ten",
                "EPOCHS must be a positive integer, got 'ten'",
            ),
            (
                "BATCH_SIZE",
                "0",
                "BATCH_SIZE must be a positive integer, got '0'",
            ),
            (
                "STEPS_PER_EPOCH",
                "-5",
                "STEPS_PER_EPOCH must be a positive integer",
            ),
            (
                "LEARNING_RATE",
                "fast",
                "LEARNING_RATE must be a number between 0 and 1",
            ),
            (
                "LEARNING_RATE",
                "2",
                "LEARNING_RATE must be a number between 0 and 1",
            ),
            ("IMAGE_SIZE", "50", "IMAGE_SIZE must be a multiple of 16"),
            (
                "MAX_IMAGE_SIZE",
                "1e6",
                "MAX_IMAGE_SIZE must be a positive integer",
            ),
        ];
        for (name, value, message) in cases {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(message), "{name}={value}: {err}");
        }
    }
}
