//! `flare-plus run [--role all|ingest|writer|features] [--replay DIR [--speed ..] [--follow]]`:
//! the pipeline. With `--replay` (role `all`) it streams the recorded files through
//! ingest -> NATS -> writer + features, shows progress, and exits once every replayed record
//! is stored and every final feature vector is published (`--follow` keeps it running and
//! polling the live feeds). Without `--replay` it polls the live feeds until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bus::streams;
use crate::config::Config;
use crate::pipeline::features::FeaturesRole;
use crate::pipeline::ingest::poller::{self, poll_specs};
use crate::pipeline::ingest::replay::Speed;
use crate::pipeline::ingest::IngestRole;
use crate::pipeline::writer::WriterRole;
use crate::pipeline::Runtime;
use crate::sources::fetch::{install_crypto_provider, FetchConfig, Fetcher};

use super::progress::Progress;
use super::replay::{describe, kinds_in, replay_with_progress};

/// Which part of the pipeline this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    All,
    Ingest,
    Writer,
    Features,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Writer => "writer",
            Role::Features => "features",
        }
    }
    fn ingests(self) -> bool {
        matches!(self, Role::All | Role::Ingest)
    }
    fn writes(self) -> bool {
        matches!(self, Role::All | Role::Writer)
    }
    fn computes_features(self) -> bool {
        matches!(self, Role::All | Role::Features)
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub role: Role,
    pub replay: Option<PathBuf>,
    pub speed: Speed,
    pub follow: bool,
}

/// The whole `run` command.
pub async fn run(config: Config, options: RunOptions) -> anyhow::Result<()> {
    let role = options.role;
    let started = Instant::now();
    let runtime = Runtime::start(config, role.name(), role == Role::All).await?;
    runtime.shutdown.listen_for_signals()?;
    tracing::info!(role = role.name(), http = %runtime.http_addr, "started");

    let writer = if role.writes() {
        Some(WriterRole::start(&runtime).await?)
    } else {
        None
    };
    let features = if role.computes_features() {
        Some(FeaturesRole::start(&runtime).await?)
    } else {
        None
    };
    let live = options.replay.is_none() || options.follow;
    let mut kinds = match &options.replay {
        Some(dir) if role.ingests() => kinds_in(dir)?,
        _ => Vec::new(),
    };
    let specs = if role.ingests() && live {
        poll_specs(&runtime.config)
    } else {
        Vec::new()
    };
    for spec in &specs {
        if !kinds.contains(&spec.kind) {
            kinds.push(spec.kind);
        }
    }
    let ingest = if role.ingests() {
        Some(IngestRole::start(&runtime, &kinds).await?)
    } else {
        None
    };
    runtime.roles_started.set(true);

    let mut outcome: anyhow::Result<()> = Ok(());
    if let (Some(dir), Some(ingest)) = (&options.replay, &ingest) {
        match replay_with_progress(dir, options.speed, &ingest.router, &runtime.shutdown).await {
            Ok(summary) => {
                eprintln!("{}", describe(&summary));
                if role == Role::All && !options.follow && !summary.interrupted {
                    outcome =
                        wait_until_stored_and_final(&runtime, features.as_ref(), summary.records)
                            .await;
                }
            }
            Err(e) => outcome = Err(e),
        }
    }
    if let Some(ingest) = &ingest {
        if !specs.is_empty() {
            install_crypto_provider();
            let fetcher = Fetcher::new(FetchConfig::from(&runtime.config.http_client))?;
            for spec in specs {
                let Some(actor) = ingest.router.actors.get(&spec.kind).cloned() else {
                    continue;
                };
                let checkpoints =
                    crate::bus::Checkpoints::new(runtime.topology.checkpoints.clone());
                tracing::info!(source = spec.kind.source(), every = ?spec.interval, "polling");
                runtime.shutdown.spawn(poller::run(
                    spec,
                    fetcher.clone(),
                    actor,
                    checkpoints,
                    runtime.shutdown.clone(),
                ));
            }
        }
    }
    let keep_running =
        live || (options.replay.is_none()) || (role != Role::All && role != Role::Ingest);
    if keep_running && outcome.is_ok() {
        tracing::info!("running; Ctrl-C to stop");
        runtime.shutdown.cancelled().await;
    }

    // Orderly stop: sources stop pulling and their actors finish; then the roles flush and
    // checkpoint; then NATS drains.
    let drained = runtime.drain().await;
    if let Some(features) = features {
        features.stop().await;
    }
    if let Some(writer) = writer {
        writer.stop().await;
    }
    if let Some(ingest) = ingest {
        ingest.stop().await;
    }
    runtime.close().await;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "stopped");
    outcome?;
    anyhow::ensure!(
        drained,
        "stopped before every in-flight message was finished (they will be redelivered)"
    );
    Ok(())
}

/// Waits until the writer has committed everything on OBS and the feature actor published
/// every final vector, showing progress; then asks the process to stop.
async fn wait_until_stored_and_final(
    runtime: &Runtime,
    features: Option<&FeaturesRole>,
    records: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut progress = Progress::new(records as u64, "records stored");
    let mut writer = runtime
        .topology
        .obs
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(streams::WRITER_CONSUMER)
        .await
        .map_err(|e| anyhow::anyhow!("writer consumer: {e}"))?;
    loop {
        if runtime.shutdown.is_triggered() {
            progress.finish();
            return Ok(());
        }
        let info = writer
            .info()
            .await
            .map_err(|e| anyhow::anyhow!("writer consumer info: {e}"))?
            .clone();
        let stored_all = info.num_pending == 0 && info.num_ack_pending == 0;
        let status = features.map(|f| *f.status.borrow());
        let finals_done = status.is_none_or(|s| s.finished);
        let stored = records.saturating_sub(info.num_pending as usize + info.num_ack_pending);
        let vectors = status.map_or(0, |s| s.final_published);
        progress.update(
            stored as u64,
            format!("{vectors} final feature vectors published"),
        );
        if stored_all && finals_done {
            progress.finish();
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let s = status.unwrap_or_default();
            eprintln!(
                "pipeline done: {records} records stored, {} final and {} provisional feature vectors published \
                 (last final tick {}), {:.1} s after the replay{}",
                s.final_published,
                s.provisional_published,
                s.progress.last_final.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
                secs,
                if s.late_flares > 0 { format!("; {} flare records arrived after their tick was final", s.late_flares) } else { String::new() }
            );
            runtime.shutdown.trigger();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
