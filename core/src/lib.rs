//! Designer's serving core: everything the browser, the Lambda and the CLI share to turn a
//! request into designs. A [`request::DesignRequest`] goes through [`generate::Designer`]
//! (labels -> sampler over the model -> images) and comes back as a
//! [`request::DesignResponse`] of base64 PNGs.
//!
//! Target-neutral: it compiles for `wasm32-unknown-unknown` with no features. The scene engine
//! (`designer-scene`), training (`designer-train`) and the CLI (`designer-cli`) are crates of
//! their own that build on this one.

pub mod cpu;
pub mod generate;
pub mod image;
pub mod int8;
pub mod labels;
pub mod layout;
pub mod model;
pub mod progress;
pub mod request;
pub mod sampler;
pub mod sheet;
pub mod weights;

/// The compute device the generator and trainer run on (burn's), for adapters to pick.
pub use burn::tensor::Device;
pub use generate::Designer;
pub use labels::{RoomType, Style};
pub use request::{DesignError, DesignRequest, DesignResponse};
