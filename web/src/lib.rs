//! designer-web: the generator in the browser. A thin wasm-bindgen adapter over
//! `designer_core::Designer`: it picks WebGPU when the browser gives an adapter, else the CPU
//! backend, and speaks the same JSON request and response as the Lambda, with the same error
//! messages. Meant to run in a Web Worker (see `www/worker.js`) so the page never freezes.
#![cfg(target_family = "wasm")]

mod backend;

use backend::Choice;
use designer_core::weights::Weights;
use designer_core::{DesignError, DesignRequest};
use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The generator, loaded once on the chosen backend.
#[wasm_bindgen]
pub struct Designer {
    inner: designer_core::Designer,
    reason: String,
}

#[wasm_bindgen]
impl Designer {
    /// `options`: `{ backend?: "auto" | "webgpu" | "cpu", weights?: Uint8Array }`. `auto` (the
    /// default) takes WebGPU when `navigator.gpu` gives an adapter, else the CPU. Without
    /// `weights`, the embedded default model.
    pub async fn create(options: JsValue) -> Result<Designer, JsError> {
        let wanted = string_option(&options, "backend")?.unwrap_or_else(|| "auto".into());
        let weights = match Reflect::get(&options, &"weights".into()).ok() {
            Some(bytes) if bytes.is_instance_of::<Uint8Array>() => {
                Weights::from_bytes(&Uint8Array::new(&bytes).to_vec())
            }
            Some(other) if !other.is_undefined() && !other.is_null() => {
                return Err(JsError::new("options.weights must be a Uint8Array"));
            }
            _ => Weights::embedded_small(),
        }
        .map_err(|e| JsError::new(&e.to_string()))?;
        let Choice {
            device,
            name,
            reason,
        } = backend::choose(&wanted).await?;
        let inner = designer_core::Designer::new(&weights, device, name)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Designer { inner, reason })
    }

    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.backend().to_string()
    }

    /// Why that backend was chosen (for example, why WebGPU was not available).
    #[wasm_bindgen(getter)]
    pub fn reason(&self) -> String {
        self.reason.clone()
    }

    /// The weights' name and hash, as responses report it.
    #[wasm_bindgen(getter)]
    pub fn model(&self) -> String {
        self.inner.model_version().to_string()
    }

    /// Model, labels and request limits: what the Lambda's `info` says.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.describe())
    }

    /// Generates the designs of `request` (an object or a JSON string, the Lambda's format),
    /// calling `onProgress(done, total)` after each model evaluation. Rejects with an `Error`
    /// whose message is the Lambda's (`invalid style: ...`), and `field` and `status`
    /// properties.
    pub async fn generate(
        &self,
        request: JsValue,
        on_progress: Option<Function>,
    ) -> Result<JsValue, JsValue> {
        let json = match request.as_string() {
            Some(text) => text,
            None => js_sys::JSON::stringify(&request)
                .map(String::from)
                .map_err(|_| design_error(&DesignError::invalid("request", "is not JSON")))?,
        };
        let request = DesignRequest::from_json(&json).map_err(|e| design_error(&e))?;
        let mut progress = |done: u32, total: u32| {
            if let Some(callback) = &on_progress {
                let _ = callback.call2(&JsValue::NULL, &done.into(), &total.into());
            }
        };
        let response = self
            .inner
            .generate_async(&request, &mut progress)
            .await
            .map_err(|e| design_error(&e))?;
        to_js(&response).map_err(JsValue::from)
    }
}

fn string_option(options: &JsValue, name: &str) -> Result<Option<String>, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    let value = Reflect::get(options, &name.into()).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| JsError::new(&format!("options.{name} must be a string")))
}

/// Plain JS objects and numbers (not Maps or BigInts), as `JSON.parse` would give.
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// An `Error` with the Lambda's message, plus `field` (invalid requests) and `status`.
fn design_error(error: &DesignError) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    if let DesignError::Invalid { field, .. } = error {
        let _ = Reflect::set(&js, &"field".into(), &field.into());
    }
    let _ = Reflect::set(&js, &"status".into(), &error.status().into());
    js.into()
}
