//! The Lambda bootstrap: JSON logs, the runtime loop, and `aurora_migrate::lambda` for each event.
//!
//! Nothing here can fail before the first event: configuration problems are answered per event
//! (FAILED to CloudFormation, an error to a manual invoke), so that a custom resource never waits
//! for an answer that will not come.

use std::sync::Arc;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

use aurora_migrate::{Handler, Settings};

fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let handler = Arc::new(Handler::new(Settings::from_env()));
    runtime.block_on(lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            handler
                .handle(event.payload, event.context.deadline)
                .await
                .map_err(|e| Diagnostic { error_type: e.kind().to_owned(), error_message: e.to_string() })
        }
    })))
}

/// Lambda's advanced logging controls: JSON lines on stdout unless `AWS_LAMBDA_LOG_FORMAT` is
/// `Text`; the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. Lambda stamps the
/// time itself.
fn init_logging() {
    let filter = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(level) => {
            let level = match level.to_ascii_lowercase().as_str() {
                "fatal" => "error".to_owned(),
                other => other.to_owned(),
            };
            EnvFilter::builder()
                .with_default_directive(level.parse().unwrap_or(LevelFilter::INFO.into()))
                .parse_lossy("")
        }
        Err(_) => EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env_lossy(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_target(false)
        .without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text")) {
        builder.with_ansi(false).init();
    } else {
        builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init();
    }
}
