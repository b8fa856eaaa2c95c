//! One way to run a process's roles. [`Pipeline::start`] starts the roles a [`Role`] names
//! on a started [`Runtime`], in the order that keeps `/readyz` honest, and [`Pipeline::stop`]
//! takes them down in the order that loses nothing. [`run`] is the whole life of a process
//! that serves until told to stop: `flare-plus run` without `--replay`, and tests that run
//! roles in-process.

use std::future::Future;

use super::features::FeaturesRole;
use super::ingest::poller::{self, poll_specs};
use super::ingest::IngestRole;
use super::writer::WriterRole;
use super::{Config, Runtime, StartError};
use crate::bus::Checkpoints;
use crate::sources::fetch::{install_crypto_provider, Fetcher};
use crate::sources::SourceKind;

/// Which part of the pipeline a process runs; any number of writer and features processes
/// can join the same NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    Ingest,
    Writer,
    Features,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Writer => "writer",
            Role::Features => "features",
        }
    }

    pub fn ingests(self) -> bool {
        matches!(self, Role::All | Role::Ingest)
    }

    pub fn writes(self) -> bool {
        matches!(self, Role::All | Role::Writer)
    }

    pub fn computes_features(self) -> bool {
        matches!(self, Role::All | Role::Features)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        [Role::All, Role::Ingest, Role::Writer, Role::Features]
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("role {s:?}: expected all, ingest, writer or features"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A process's running roles and the shared pieces under them.
pub struct Pipeline {
    pub runtime: Runtime,
    pub writer: Option<WriterRole>,
    pub features: Option<FeaturesRole>,
    /// The ingest actors, one per feed in `kinds` (replayed or polled).
    pub ingest: Option<IngestRole>,
}

impl Pipeline {
    /// Starts the writer, the feature worker and the ingest actors for `kinds`, as `role`
    /// says, then marks the process's roles started (`/readyz` waits for that).
    pub async fn start(
        runtime: Runtime,
        role: Role,
        kinds: &[SourceKind],
    ) -> Result<Pipeline, StartError> {
        let writer = match role.writes() {
            true => Some(WriterRole::start(&runtime).await?),
            false => None,
        };
        let features = match role.computes_features() {
            true => Some(FeaturesRole::start(&runtime).await?),
            false => None,
        };
        let ingest = match role.ingests() {
            true => Some(IngestRole::start(&runtime, kinds).await?),
            false => None,
        };
        runtime.roles_started.set(true);
        Ok(Pipeline {
            runtime,
            writer,
            features,
            ingest,
        })
    }

    /// Polls the configured live feeds into the ingest actors until the stop (one task per
    /// feed, tracked by the shutdown). Returns how many feeds are polled.
    pub fn poll_live(&self) -> Result<usize, StartError> {
        let Some(ingest) = &self.ingest else {
            return Ok(0);
        };
        let specs = poll_specs(&self.runtime.config);
        if specs.is_empty() {
            return Ok(0);
        }
        install_crypto_provider();
        let fetcher = Fetcher::new(self.runtime.config.http_client.clone())?;
        let mut polled = 0;
        for spec in specs {
            let Some(actor) = ingest.router.actors.get(&spec.kind).cloned() else {
                continue;
            };
            let checkpoints = Checkpoints::new(self.runtime.topology.checkpoints.clone());
            tracing::info!(source = spec.kind.source(), every = ?spec.interval, "polling");
            self.runtime.shutdown.spawn(poller::run(
                spec,
                fetcher.clone(),
                actor,
                checkpoints,
                self.runtime.shutdown.clone(),
            ));
            polled += 1;
        }
        Ok(polled)
    }

    /// Orderly stop: readiness goes 503 and the sources stop pulling while their actors
    /// finish; then the roles flush and checkpoint; then NATS drains. Returns false if the
    /// drain limit was hit (the unfinished messages are redelivered to the next process).
    pub async fn stop(self) -> bool {
        let drained = self.runtime.drain().await;
        if let Some(features) = self.features {
            features.stop().await;
        }
        if let Some(writer) = self.writer {
            writer.stop().await;
        }
        if let Some(ingest) = self.ingest {
            ingest.stop().await;
        }
        self.runtime.close().await;
        drained
    }
}

/// Runs `role` (ingest polls the configured live feeds) until `shutdown` resolves or the
/// process gets SIGINT/SIGTERM, then stops in order. Returns false if the drain limit was
/// hit. The process must run inside an actix System (the roles' threads are arbiters).
pub async fn run(
    config: Config,
    role: Role,
    shutdown: impl Future<Output = ()>,
) -> Result<bool, StartError> {
    let runtime = Runtime::start(config, role.name(), role == Role::All).await?;
    runtime
        .shutdown
        .listen_for_signals()
        .map_err(StartError::Signals)?;
    let kinds: Vec<SourceKind> = poll_specs(&runtime.config).iter().map(|s| s.kind).collect();
    let pipeline = Pipeline::start(runtime, role, &kinds).await?;
    pipeline.poll_live()?;
    tracing::info!(role = role.name(), http = %pipeline.runtime.http_addr, "running; Ctrl-C to stop");
    tokio::select! {
        _ = shutdown => {}
        _ = pipeline.runtime.shutdown.cancelled() => {}
    }
    Ok(pipeline.stop().await)
}
