//! Process start-up and orderly shutdown, shared by every role.
//!
//! Start: logging is set up by the binary; here the Prometheus recorder (with upkeep and
//! process metrics), the HTTP endpoint, the NATS connection (starting an embedded
//! nats-server if allowed and needed) and the streams.
//! Stop: readiness goes 503, loops stop pulling and finish what they hold, publishes are
//! flushed, the NATS client drains, the endpoint lingers for a last scrape, then exit.

use std::time::Duration;

use actors::health::Readiness;
use actors::telemetry::{self, Telemetry};
use actors::Shutdown;

use crate::bus::embedded::{self, EmbeddedNats};
use crate::bus::{self, BusError, BusErrorKind, Topology};
use crate::pipeline::Config;

/// Why the process (or one of its roles) could not start. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot install the metrics recorder: {0}")]
    Telemetry(#[from] actors::telemetry::TelemetryError),
    #[error("{0} (set http.listen or FLARE__HTTP__LISTEN)")]
    ListenAddress(String),
    #[error("cannot serve HTTP on {addr}: {source} (set http.listen or FLARE__HTTP__LISTEN)")]
    Http {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}; and no nats-server on PATH to start one (install it, e.g. apt-get install nats-server)")]
    NoNatsServer(BusError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("feature engine: {0}")]
    Engine(#[from] crate::features::EngineError),
    #[error("rebuilding the feature state from the stream: {0}")]
    Rebuild(#[from] crate::pipeline::features::core::FeatureError),
    #[error("ingest: {0}")]
    Ingest(#[from] crate::pipeline::ingest::core::IngestError),
    #[error("the {0} actor thread stopped while connecting")]
    ThreadGone(&'static str),
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
    #[error("the HTTP client for the live feeds: {0}")]
    Fetch(#[from] crate::sources::fetch::FetchError),
}

/// The shared pieces of a running process.
pub struct Runtime {
    pub config: Config,
    pub shutdown: Shutdown,
    pub telemetry: Telemetry,
    pub readiness: Readiness,
    pub nats: async_nats::Client,
    pub topology: Topology,
    /// Local address of the HTTP endpoint (the configured one, or the port the OS picked).
    pub http_addr: std::net::SocketAddr,
    /// Unready until the caller has started every role of the process (checks are added as
    /// roles start, so without this /readyz could answer 200 before the last one exists).
    pub roles_started: actors::health::ReadyFlag,
    http_stop: Shutdown,
    http_task: tokio::task::JoinHandle<()>,
    embedded: Option<EmbeddedNats>,
}

impl Runtime {
    /// Brings up telemetry, HTTP, NATS and the topology for a process named `role`.
    pub async fn start(
        config: Config,
        role: &str,
        allow_embedded_nats: bool,
    ) -> Result<Runtime, StartError> {
        let telemetry = telemetry::install(&crate::pipeline::metrics::histogram_buckets())?;
        crate::pipeline::metrics::describe();
        let shutdown = Shutdown::new();
        telemetry.spawn_upkeep(Duration::from_secs(5), shutdown.clone());

        let readiness = Readiness::new();
        // Registered before the endpoint serves: with no checks yet, /readyz would answer 200
        // while NATS and the topology are still coming up.
        let roles_started = readiness.add_flag("roles started");
        let http_stop = Shutdown::new();
        let addr = config
            .http
            .listen_addr()
            .map_err(StartError::ListenAddress)?;
        let stop = http_stop.clone();
        let endpoint =
            actors::http::serve(addr, telemetry.clone(), readiness.clone(), async move {
                stop.cancelled().await
            })
            .await
            .map_err(|source| StartError::Http {
                addr: config.http.listen.clone(),
                source,
            })?;
        tracing::info!(addr = %endpoint.local_addr, "serving /metrics, /healthz, /readyz");

        let (nats, embedded) = connect_nats(&config, role, allow_embedded_nats).await?;
        let js = async_nats::jetstream::new(nats.clone());
        let topology = bus::ensure_topology(&js, &config.nats).await?;
        let state = nats.clone();
        readiness.add_check("nats", move || {
            let connected = state.connection_state() == async_nats::connection::State::Connected;
            async move {
                if connected {
                    Ok(())
                } else {
                    Err("NATS not connected".to_string())
                }
            }
        });
        Ok(Runtime {
            config,
            shutdown,
            telemetry,
            readiness,
            nats,
            topology,
            http_addr: endpoint.local_addr,
            roles_started,
            http_stop,
            http_task: endpoint.task,
            embedded,
        })
    }

    /// First half of a stop: readiness goes 503, every loop is told to stop, and the tracked
    /// tasks (the pull sources, which wait for their actors to finish and ack what they hold)
    /// get up to the configured limit. Returns false if the limit was hit. NATS stays
    /// connected, so roles can flush and checkpoint afterwards.
    pub async fn drain(&self) -> bool {
        self.readiness.set_draining();
        self.shutdown.trigger();
        let limit = self.config.shutdown.limit;
        let finished = self.shutdown.wait_finished(limit).await;
        if !finished {
            tracing::error!(
                limit_secs = limit.as_secs(),
                "drain limit reached with work still in flight"
            );
        }
        finished
    }

    /// Second half: drains the NATS client (pending publishes and acks reach the server),
    /// keeps serving /metrics for the final-scrape delay, stops the endpoint and the embedded
    /// nats-server.
    pub async fn close(self) {
        if let Err(e) = tokio::time::timeout(Duration::from_secs(5), self.nats.drain())
            .await
            .unwrap_or(Ok(()))
        {
            tracing::warn!(error = %e, "draining the NATS client failed");
        }
        let delay = self.config.shutdown.final_scrape_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.http_stop.trigger();
        let _ = self.http_task.await;
        if let Some(server) = self.embedded {
            server.stop().await;
        }
    }

    /// [`Runtime::drain`] then [`Runtime::close`], for processes with nothing to flush in
    /// between. Returns false if the drain limit was hit.
    pub async fn finish(self) -> bool {
        let drained = self.drain().await;
        self.close().await;
        drained
    }
}

/// Connects to the configured NATS; if nothing answers, embedded mode is allowed and
/// `nats-server` is installed, starts one and connects to it.
async fn connect_nats(
    config: &Config,
    role: &str,
    allow_embedded: bool,
) -> Result<(async_nats::Client, Option<EmbeddedNats>), StartError> {
    match bus::connect(&config.nats, role).await {
        Ok(client) => Ok((client, None)),
        Err(e)
            if e.kind() == BusErrorKind::Unreachable && allow_embedded && config.nats.embedded =>
        {
            let urls = config.nats.urls();
            let Some(binary) = embedded::find_nats_server() else {
                return Err(StartError::NoNatsServer(e));
            };
            let url = urls.first().cloned().unwrap_or_default();
            let server = embedded::start(&binary, &url, &config.nats.embedded_store_dir).await?;
            let client = bus::connect(&config.nats, role).await?;
            Ok((client, Some(server)))
        }
        Err(e) => Err(e.into()),
    }
}
