//! `flare-plus run [--role all|ingest|writer|features] [--replay DIR [--speed ..] [--follow]]`:
//! the pipeline. With `--replay` (role `all`) it streams the recorded files through
//! ingest -> NATS -> writer + features, shows progress, and exits once every replayed record
//! is stored and every final feature vector is published (`--follow` keeps it running and
//! polling the live feeds). Without `--replay` it polls the live feeds until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bus::streams;
use crate::pipeline::features::FeaturesRole;
use crate::pipeline::ingest::poller::poll_specs;
use crate::pipeline::ingest::replay::Speed;
use crate::pipeline::{Config, Pipeline, Role, Runtime};

use super::progress::Progress;
use super::replay::{describe, kinds_in, replay_with_progress};

/// `flare-plus run`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Which part to run in this process (all, ingest, writer, features); any number of
    /// writer and features processes can join the same NATS.
    #[arg(long, default_value = "all")]
    pub role: Role,
    /// Replay recorded upstream files instead of (or, with --follow, before) live polling.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
    /// Replay speed: `max` or a factor of real time such as `60x`.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// After the replay, keep running and poll the live feeds.
    #[arg(long)]
    pub follow: bool,
}

/// Runs the pipeline as `args` say, with logging, until done or stopped.
pub fn execute(config: Config, args: RunArgs) -> anyhow::Result<()> {
    super::exec::init_logging(&config.logging, false);
    super::exec::in_actor_system(run(config, args))
}

/// The whole `run` command.
pub async fn run(config: Config, args: RunArgs) -> anyhow::Result<()> {
    let role = args.role;
    let started = Instant::now();
    let runtime = Runtime::start(config, role.name(), role == Role::All).await?;
    runtime.shutdown.listen_for_signals()?;
    tracing::info!(role = role.name(), http = %runtime.http_addr, "started");
    let live = args.replay.is_none() || args.follow;
    let mut kinds = match &args.replay {
        Some(dir) if role.ingests() => kinds_in(dir)?,
        _ => Vec::new(),
    };
    if role.ingests() && live {
        for spec in poll_specs(&runtime.config) {
            if !kinds.contains(&spec.kind) {
                kinds.push(spec.kind);
            }
        }
    }
    let pipeline = Pipeline::start(runtime, role, &kinds).await?;

    let mut outcome: anyhow::Result<()> = Ok(());
    if let (Some(dir), Some(ingest)) = (&args.replay, &pipeline.ingest) {
        let runtime = &pipeline.runtime;
        match replay_with_progress(dir, args.speed, &ingest.router, &runtime.shutdown).await {
            Ok(summary) => {
                eprintln!("{}", describe(&summary));
                if role == Role::All && !args.follow && !summary.interrupted {
                    outcome = wait_until_stored_and_final(
                        runtime,
                        pipeline.features.as_ref(),
                        summary.records,
                    )
                    .await;
                }
            }
            Err(e) => outcome = Err(e),
        }
    }
    if live {
        pipeline.poll_live()?;
    }
    let keep_running = live || !matches!(role, Role::All | Role::Ingest);
    if keep_running && outcome.is_ok() {
        tracing::info!("running; Ctrl-C to stop");
        pipeline.runtime.shutdown.cancelled().await;
    }
    let drained = pipeline.stop().await;
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
