//! The process-wide Prometheus recorder: real histograms (explicit buckets, not the exporter's
//! default summaries), an upkeep task (without it histogram buffers grow until a scrape), and
//! process metrics (RSS, CPU, threads, fds).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::metrics::{ActorMetricName, LATENCY_BUCKETS};
use crate::shutdown::Shutdown;

/// Buckets for one histogram, matched by full name, prefix or suffix.
#[derive(Debug, Clone)]
pub struct HistogramBuckets {
    pub matcher: Matcher,
    pub buckets: Vec<f64>,
}

impl HistogramBuckets {
    pub fn full(name: &str, buckets: &[f64]) -> HistogramBuckets {
        HistogramBuckets {
            matcher: Matcher::Full(name.to_string()),
            buckets: buckets.to_vec(),
        }
    }
}

/// Handle on the installed recorder.
#[derive(Clone)]
pub struct Telemetry {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the Prometheus recorder: {0}")]
    Build(#[from] metrics_exporter_prometheus::BuildError),
}

static INSTALLED: OnceLock<Telemetry> = OnceLock::new();

/// Installs the global recorder once per process (later calls return the first one: tests in
/// one binary share it). The actor histograms always get [`LATENCY_BUCKETS`]; `extra` adds
/// buckets for the application's own histograms. Any histogram without buckets would render
/// as a summary, so every histogram name must be covered here.
pub fn install(extra: &[HistogramBuckets]) -> Result<Telemetry, TelemetryError> {
    if let Some(t) = INSTALLED.get() {
        return Ok(t.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for name in [
        ActorMetricName::MailboxLatencySeconds,
        ActorMetricName::HandlerSeconds,
    ] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.as_str().to_string()), LATENCY_BUCKETS)?;
    }
    for h in extra {
        builder = builder.set_buckets_for_metric(h.matcher.clone(), &h.buckets)?;
    }
    let handle = match builder.install_recorder() {
        Ok(handle) => handle,
        // Lost a race with another thread installing at the same time.
        Err(_) if INSTALLED.get().is_some() => {
            return Ok(INSTALLED.get().cloned().expect("checked above"))
        }
        Err(e) => return Err(e.into()),
    };
    let process = metrics_process::Collector::default();
    process.describe();
    crate::metrics::describe();
    let telemetry = Telemetry { handle, process };
    Ok(INSTALLED.get_or_init(|| telemetry).clone())
}

impl Telemetry {
    /// Prometheus text exposition, with fresh process metrics.
    pub fn render(&self) -> String {
        self.process.collect();
        self.handle.render()
    }

    /// Runs the exporter's upkeep every `every` until shutdown. The recorder is installed
    /// without the exporter's own runtime, so this task is what keeps histogram buffers from
    /// growing between scrapes.
    pub fn spawn_upkeep(&self, every: Duration, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let handle = self.handle.clone();
        let process = self.process.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        handle.run_upkeep();
                        process.collect();
                    }
                    _ = shutdown.cancelled() => break,
                }
            }
        })
    }
}
