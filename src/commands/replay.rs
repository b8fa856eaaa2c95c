//! `flare-plus replay DIR [--speed max|Nx]`: publish recorded upstream files to OBS as if
//! they had been polled (checkpoints, dead letters and flare detection included), with a
//! progress bar and a summary.

use std::path::Path;

use crate::pipeline::ingest::replay::{replay, IngestRouter, ReplaySummary, Speed};
use crate::pipeline::{Config, Pipeline, Role, Runtime};
use crate::sources::files::scan;
use crate::sources::SourceKind;

use super::progress::Progress;

/// The feeds present in a recorded directory.
pub fn kinds_in(dir: &Path) -> anyhow::Result<Vec<SourceKind>> {
    let mut kinds: Vec<SourceKind> = scan(dir)?.into_iter().map(|f| f.kind).collect();
    kinds.sort_by_key(|k| k.checkpoint_key());
    kinds.dedup();
    Ok(kinds)
}

/// Replays `dir` through `router` with a progress display; returns the summary.
pub async fn replay_with_progress(
    dir: &Path,
    speed: Speed,
    router: &IngestRouter,
    shutdown: &actors::Shutdown,
) -> anyhow::Result<ReplaySummary> {
    let mut progress = Progress::new(0, "records");
    let summary = replay(dir, speed, router, shutdown, |done, total, report| {
        progress.set_total(total as u64);
        progress.update(
            done as u64,
            format!(
                "published {} (already published {}), detected {} flares, dead-lettered {}",
                report.published,
                report.already_published(),
                report.flares_detected,
                report.dead_lettered
            ),
        );
    })
    .await;
    progress.finish();
    Ok(summary?)
}

/// One line for the end of a replay.
pub fn describe(summary: &ReplaySummary) -> String {
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    format!(
        "replayed {} records from {} files in {:.1} s ({:.0} records/s): {} published, {} already published \
         earlier (checkpoint), {} flares detected, {} malformed records dead-lettered{}",
        summary.records,
        summary.files,
        secs,
        summary.records as f64 / secs,
        summary.ingest.published,
        summary.ingest.already_published(),
        summary.ingest.flares_detected,
        summary.ingest.dead_lettered,
        if summary.interrupted { " (interrupted: run again to continue)" } else { "" }
    )
}

/// The whole `replay` command.
/// `flare-plus replay`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Directory of recorded upstream files, searched recursively: SWPC/DONKI JSON
    /// (xrays*.json, solar_regions*.json, donki*.json) and archive files (NCEI
    /// sci_xrsf-l2-avg1m_*.nc, SWPC YYYYMMDDSRS.txt), each optionally .gz.
    pub dir: std::path::PathBuf,
    /// `max` (as fast as the pipeline accepts) or a factor of real time such as `60x`.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
}

/// Replays the files with logging, progress and a summary.
pub fn execute(config: Config, args: ReplayArgs) -> anyhow::Result<()> {
    super::exec::init_logging(&config.logging, false);
    super::exec::in_actor_system(run(config, args))
}

/// Publishes the recorded files through this process's ingest actors and stops.
pub async fn run(config: Config, args: ReplayArgs) -> anyhow::Result<()> {
    let kinds = kinds_in(&args.dir)?;
    let runtime = Runtime::start(config, "replay", true).await?;
    runtime.shutdown.listen_for_signals()?;
    let pipeline = Pipeline::start(runtime, Role::Ingest, &kinds).await?;
    let result = match &pipeline.ingest {
        Some(ingest) => {
            replay_with_progress(
                &args.dir,
                args.speed,
                &ingest.router,
                &pipeline.runtime.shutdown,
            )
            .await
        }
        None => Err(anyhow::anyhow!("no ingest actors started")),
    };
    pipeline.stop().await;
    let summary = result?;
    eprintln!("{}", describe(&summary));
    Ok(())
}
