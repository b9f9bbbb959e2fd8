//! Designer's core: everything the browser and the Lambda share. A [`request::DesignRequest`]
//! goes through [`generate::Designer`] (labels -> sampler over the model -> images) and comes
//! back as a [`request::DesignResponse`] of base64 PNGs.
//!
//! The default build is target-neutral and compiles for `wasm32-unknown-unknown`; native-only
//! parts (training, the furniture catalog, the CLI) sit behind features.

pub mod cpu;
pub mod generate;
pub mod image;
pub mod labels;
pub mod model;
pub mod request;
pub mod sampler;
pub mod weights;

#[cfg(feature = "train")]
pub mod checkpoint;
#[cfg(feature = "train")]
pub mod config;
#[cfg(feature = "train")]
pub mod dataset;
#[cfg(feature = "train")]
pub mod ema;
#[cfg(feature = "train")]
pub mod eval;
#[cfg(feature = "train")]
pub mod precision;
#[cfg(feature = "train")]
pub mod shuffle;
#[cfg(feature = "train")]
pub mod train;

#[cfg(feature = "catalog")]
pub mod catalog;
#[cfg(feature = "download")]
pub mod download;
#[cfg(feature = "interop")]
pub mod interop;
#[cfg(feature = "scene")]
pub mod scene;

/// The compute device the generator and trainer run on (burn's), for adapters to pick.
pub use burn::tensor::Device;
pub use generate::Designer;
pub use labels::{RoomType, Style};
pub use request::{DesignError, DesignRequest, DesignResponse};
