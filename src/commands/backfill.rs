//! `flare-plus backfill --from DATE --to DATE --source DIR|URL [--speed max|Nx]`: replay a
//! date range of daily recorded files (`SOURCE/YYYY-MM-DD/...`, a directory or a server)
//! through ingest, resumably, with a progress display and a summary. See
//! [`crate::pipeline::ingest::backfill`] for the layout and the checkpoint.

use chrono::NaiveDate;

use crate::pipeline::ingest::backfill::{
    backfill, BackfillEvent, BackfillPlan, BackfillSource, BackfillSummary,
};
use crate::pipeline::ingest::replay::Speed;
use crate::pipeline::Config;
use crate::pipeline::Runtime;

use super::exec::{in_actor_system, init_logging};
use super::progress::Progress;

/// The command's arguments.
/// `flare-plus backfill`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BackfillArgs {
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    /// Last day (UTC, included), YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub to: NaiveDate,
    /// A directory of daily directories, or an http(s) URL serving the same layout (a
    /// missing file answers 404).
    #[arg(long, value_name = "DIR|URL")]
    pub source: BackfillSource,
    /// `max` (as fast as the pipeline accepts) or a factor of real time such as `60x`.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
}

/// Runs the backfill with progress and a summary.
pub fn execute(config: Config, args: BackfillArgs) -> anyhow::Result<()> {
    init_logging(&config.logging, false);
    in_actor_system(run(config, args))
}

/// The whole `backfill` command.
pub async fn run(config: Config, args: BackfillArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.from <= args.to,
        "--from {} is after --to {}",
        args.from,
        args.to
    );
    let plan = BackfillPlan {
        source: args.source,
        from: args.from,
        to: args.to,
        speed: args.speed,
    };
    let runtime = Runtime::start(config, "backfill", true).await?;
    runtime.shutdown.listen_for_signals()?;
    let result = backfill_with_progress(&runtime, &plan).await;
    runtime.finish().await;
    let summary = result?;
    eprintln!("{}", describe(&summary));
    Ok(())
}

/// Runs the backfill with a progress display (days done, and the current day's records);
/// says where it starts when it continues an earlier run.
pub async fn backfill_with_progress(
    runtime: &Runtime,
    plan: &BackfillPlan,
) -> anyhow::Result<BackfillSummary> {
    let mut progress = Progress::new(0, "days");
    let key = plan.checkpoint_key();
    let summary = backfill(runtime, plan, |event| match event {
        BackfillEvent::Start {
            days_total,
            days_done,
            resumed_after,
        } => {
            progress.set_total(days_total as u64);
            match resumed_after {
                Some(last) => eprintln!(
                    "resuming backfill {}..{} ({key}) after {last}: {days_done} of {days_total} days were done",
                    plan.from, plan.to
                ),
                None => eprintln!(
                    "starting backfill {}..{} ({key}): {days_total} days",
                    plan.from, plan.to
                ),
            }
        }
        BackfillEvent::Progress {
            day,
            days_done,
            records_done,
            records_in_day,
            report,
            ..
        } => progress.update(
            days_done as u64,
            format!(
                "{day}: {records_done}/{records_in_day} records; published {} (already published {}), \
                 detected {} flares, dead-lettered {}",
                report.published, report.already_published(), report.flares_detected, report.dead_lettered
            ),
        ),
        BackfillEvent::DayDone {
            day,
            days_done,
            files,
            records,
        } => progress.update(
            days_done as u64,
            format!("{day} done: {records} records from {files} files"),
        ),
    })
    .await;
    progress.finish();
    Ok(summary?)
}

/// One line for the end of a backfill.
pub fn describe(s: &BackfillSummary) -> String {
    let range = match (s.from, s.to) {
        (Some(from), Some(to)) => format!("{from}..{to}"),
        _ => String::new(),
    };
    if s.already_complete {
        return format!(
            "backfill {range} from {} is already complete (checkpoint {}): nothing to do",
            s.source, s.key
        );
    }
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let resumed = match s.resumed_after {
        Some(last) => format!(
            ", continuing after {last} ({} of {} days were done before)",
            s.days_done_before, s.days_total
        ),
        None => String::new(),
    };
    let empty = if s.days_without_files > 0 {
        format!(", {} without files", s.days_without_files)
    } else {
        String::new()
    };
    let end = if s.interrupted {
        let done = s.days_done_before + s.days_replayed;
        format!(
            "; interrupted with {done} of {} days done: run the same command again to continue",
            s.days_total
        )
    } else {
        String::new()
    };
    format!(
        "backfilled {} days of {range} from {}{resumed}{empty}: {} records from {} files in {:.1} s \
         ({:.0} records/s): {} published, {} already published earlier (checkpoint), {} flares \
         detected, {} malformed records dead-lettered{end}",
        s.days_replayed,
        s.source,
        s.records,
        s.files,
        secs,
        s.records as f64 / secs,
        s.ingest.published,
        s.ingest.already_published(),
        s.ingest.flares_detected,
        s.ingest.dead_lettered,
    )
}
