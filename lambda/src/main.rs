//! designer-lambda: the generator on AWS Lambda. Init loads the weights once per container; each
//! invocation is `generate` (default), `train` or `info`, by direct invoke or function URL.

mod app;
mod cache;
mod error;
mod event;
mod settings;
mod store;
mod train;

use app::App;
use lambda_runtime::tower::util::MapRequestLayer;
use lambda_runtime::{Error, Runtime, service_fn};
use std::sync::Arc;
use std::time::Instant;

/// JSON lines, as CloudWatch parses them, unless AWS_LAMBDA_LOG_FORMAT says `text`; the level
/// from AWS_LAMBDA_LOG_LEVEL or RUST_LOG (default info).
fn init_logging() {
    use lambda_runtime::tracing::subscriber::{EnvFilter, filter::LevelFilter, fmt};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = fmt()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_target(false)
        .with_ansi(false);
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    if text {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = Instant::now();
    init_logging();
    let settings = settings::Settings::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let app = Arc::new(
        App::init(settings, started)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "init failed"))?,
    );
    Runtime::new(service_fn(move |event| app.clone().handle(event)))
        .layer(MapRequestLayer::new(event::carry_raw_payload))
        .run()
        .await
}
