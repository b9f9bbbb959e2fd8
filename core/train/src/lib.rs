//! Training Designer's generator: the loop ([`train`]) and the one way to drive a run
//! ([`run`]: resume or start, train until done or out of time, checkpoint, export), its data
//! sources ([`dataset`]: labelled folders; [`scenes`]: the scene engine; [`download`]: URL
//! manifests), checkpoints, the moving average, mixed precision, and the eval that judges a
//! model. Native only; the CLI and the Lambda's `train` action both drive it.

pub mod checkpoint;
pub mod config;
pub mod critic;
pub mod dataset;
#[cfg(feature = "download")]
pub mod download;
pub mod ema;
pub mod eval;
#[cfg(feature = "interop")]
pub mod interop;
pub mod latents;
pub mod precision;
pub mod run;
pub mod scenes;
pub mod shuffle;
pub mod train;
