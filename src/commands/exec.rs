//! What every command needs around its work: log output, a runtime to run on, an output
//! file or standard output, and an error message that says each cause once.

use std::future::Future;
use std::io::Write;
use std::path::Path;

use crate::pipeline::config::LoggingConfig;
use crate::profiling::spans::{span_filter, SpanTimer, StageTable};

/// Logs to stderr; `RUST_LOG` overrides the configured level. With `logging.slow_operation`
/// above zero, or `record_stages` (the profile command), the span timer
/// (src/profiling/spans.rs) is installed beside the log output with its own filter, so it
/// times the project's DEBUG spans whatever the log level; otherwise it is not installed.
pub fn init_logging(logging: &LoggingConfig, record_stages: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&logging.level));
    // Colours only on a terminal: log files and collectors get plain text.
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let timer = SpanTimer::new(
        logging.slow_operation,
        record_stages.then(StageTable::global),
    )
    .map(|t| t.with_filter(span_filter()));
    let _ = tracing_subscriber::registry()
        .with(output)
        .with(timer)
        .try_init();
}

/// Runs `main` inside an actix System on a multi-thread tokio runtime (actors get their own
/// arbiters; NATS and database clients live on the shared runtime).
pub fn in_actor_system<F>(main: F) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the tokio runtime starts (threads and timers are available)")
    });
    system.block_on(main)
}

/// Runs a future to completion on a small single-threaded runtime (commands that only need
/// one database connection, no actors).
pub fn on_current_thread<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// Runs `write` against the output file (created) or standard output.
pub fn with_output<T>(
    out: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match out {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            write(&mut file)
        }
        None => write(&mut std::io::stdout().lock()),
    }
}

/// The error and its causes, each said once. Many errors quote their source in their own
/// message (`"{path}: {source}"`) and also return it as `source()`; printing the chain as
/// is would then repeat every cause. A cause whose text the message already holds is left
/// out.
pub fn report(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Quoting {
        path: String,
        source: Inner,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("payload looks like an HTML page, not JSON")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("loading the input")]
    struct Silent(#[source] Inner);

    #[test]
    fn each_cause_is_said_once() {
        let quoting = anyhow::Error::new(Quoting {
            path: "xrays.json".into(),
            source: Inner,
        });
        assert_eq!(
            report(&quoting),
            "xrays.json: payload looks like an HTML page, not JSON"
        );
        let silent = anyhow::Error::new(Silent(Inner));
        assert_eq!(
            report(&silent),
            "loading the input: payload looks like an HTML page, not JSON"
        );
    }
}
