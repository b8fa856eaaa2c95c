//! `flare-plus replay DIR [--speed max|Nx]`: publish recorded upstream files to OBS as if
//! they had been polled (checkpoints, dead letters and flare detection included), with a
//! progress bar and a summary.

use std::path::Path;

use crate::config::Config;
use crate::pipeline::ingest::replay::{replay, IngestRouter, ReplaySummary, Speed};
use crate::pipeline::ingest::IngestRole;
use crate::pipeline::Runtime;
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
pub async fn run(config: Config, dir: &Path, speed: Speed) -> anyhow::Result<()> {
    let kinds = kinds_in(dir)?;
    let runtime = Runtime::start(config, "replay", true).await?;
    runtime.shutdown.listen_for_signals()?;
    let ingest = IngestRole::start(&runtime, &kinds).await?;
    runtime.roles_started.set(true);
    let result = replay_with_progress(dir, speed, &ingest.router, &runtime.shutdown).await;
    ingest.stop().await;
    runtime.finish().await;
    let summary = result?;
    eprintln!("{}", describe(&summary));
    Ok(())
}
