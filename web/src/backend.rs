//! Which device runs the generator: WebGPU through burn's wgpu backend when the browser offers an
//! adapter, else the CPU (the core's hand-written pass on wasm SIMD). wgpu traps (`unreachable`) rather than erroring
//! when WebGPU is missing, so the adapter is asked for here first.

use burn::tensor::Device;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub struct Choice {
    pub device: Device,
    pub name: &'static str,
    pub reason: String,
}

fn cpu(reason: impl Into<String>) -> Choice {
    Choice {
        device: Device::flex(),
        name: "cpu",
        reason: reason.into(),
    }
}

/// `wanted`: "auto", "webgpu" (an error if unavailable) or "cpu".
pub async fn choose(wanted: &str) -> Result<Choice, JsError> {
    match wanted {
        "cpu" => Ok(cpu("the CPU backend was asked for")),
        "auto" => Ok(match webgpu().await {
            Ok(choice) => choice,
            Err(why) => cpu(format!(
                "WebGPU is not available ({why}); running on the CPU"
            )),
        }),
        "webgpu" => webgpu()
            .await
            .map_err(|why| JsError::new(&format!("WebGPU is not available: {why}"))),
        other => Err(JsError::new(&format!(
            "options.backend must be auto, webgpu or cpu, got '{other}'"
        ))),
    }
}

async fn webgpu() -> Result<Choice, String> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into())
        .map_err(|_| "no navigator".to_string())?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("navigator.gpu is missing".into());
    }
    let request_adapter = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: Promise = request_adapter
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("navigator.gpu.requestAdapter() gave no adapter".into());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("burn could not set up WebGPU: {e}"))?;
    Ok(Choice {
        device,
        name: "webgpu",
        reason: "navigator.gpu gave an adapter".into(),
    })
}
