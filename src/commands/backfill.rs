//! `flare-plus backfill --from DATE --to DATE --source DIR|URL... [--donki] [--speed max|Nx]`:
//! replay a date range of recorded or archive files (daily folders of SWPC JSON, NCEI GOES
//! XRS netCDF, SWPC SRS text; a directory or a server) and DONKI flares through ingest,
//! resumably, with a progress display and a summary. See
//! [`crate::pipeline::ingest::backfill`] for the layouts, the cache and the checkpoint.

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;

use crate::pipeline::ingest::backfill::{
    backfill, BackfillEvent, BackfillPlan, BackfillSource, BackfillSummary, DEFAULT_CACHE,
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
    /// A directory or an http(s) URL: daily folders `YYYY-MM-DD/` of SWPC JSON files, or an
    /// archive (NCEI GOES XRS `sci_xrsf-l2-avg1m_*.nc`, SWPC `YYYYMMDDSRS.txt`; `YYYY/MM/`
    /// folders, per year or flat). Repeat it for archives on several servers.
    #[arg(long, value_name = "DIR|URL", required = true)]
    pub source: Vec<BackfillSource>,
    /// Also fetch DONKI flares of the range from `[sources.donki]` (by date windows; without
    /// an API key NASA's DEMO_KEY is used).
    #[arg(long)]
    pub donki: bool,
    /// Where downloads are kept, so a second run reads disk.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_CACHE)]
    pub cache: PathBuf,
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
        sources: args.source,
        from: args.from,
        to: args.to,
        speed: args.speed,
        donki: args.donki,
        cache: args.cache,
    };
    let runtime = Runtime::start(config, "backfill", true).await?;
    runtime.shutdown.listen_for_signals()?;
    let result = backfill_with_progress(&runtime, &plan).await;
    runtime.finish().await;
    let summary = result?;
    eprintln!("{}", describe(&summary));
    Ok(())
}

/// Runs the backfill with a progress display (days done, records/s, time left, and the
/// current day's records); says where it starts when it continues an earlier run.
pub async fn backfill_with_progress(
    runtime: &Runtime,
    plan: &BackfillPlan,
) -> anyhow::Result<BackfillSummary> {
    let mut progress = Progress::new(0, "days");
    let key = plan.checkpoint_key();
    let mut rate = Rate::new();
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
        BackfillEvent::Missing { day, feeds } => {
            eprintln!("{day}: missing file(s) of {}", feeds.join(", "));
        }
        BackfillEvent::Progress {
            day,
            days_done,
            days_total,
            records_done,
            records_in_day,
            report,
        } => progress.update(
            days_done as u64,
            format!(
                "{day}: {records_done}/{records_in_day} records; {}; published {} (already published {}), \
                 detected {} flares, dead-lettered {}",
                rate.describe(records_done, days_done, days_total),
                report.published, report.already_published(), report.flares_detected, report.dead_lettered
            ),
        ),
        BackfillEvent::DayDone {
            day,
            days_done,
            files,
            records,
        } => {
            rate.day_done(records);
            progress.update(
                days_done as u64,
                format!("{day} done: {records} records from {files} files"),
            )
        }
    })
    .await;
    progress.finish();
    Ok(summary?)
}

/// Records per second and time left of this run (days done before it are not counted).
struct Rate {
    started: Instant,
    /// Records of the days this run completed.
    records_before: usize,
    days_this_run: usize,
}

impl Rate {
    fn new() -> Rate {
        Rate {
            started: Instant::now(),
            records_before: 0,
            days_this_run: 0,
        }
    }

    fn day_done(&mut self, records: usize) {
        self.records_before += records;
        self.days_this_run += 1;
    }

    /// "N records/s, ~T left", T from this run's seconds per completed day.
    fn describe(&self, records_in_day_done: usize, days_done: usize, days_total: usize) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let per_sec = (self.records_before + records_in_day_done) as f64 / secs;
        let left = match self.days_this_run {
            0 => "time left unknown".to_string(),
            n => {
                let days_left = days_total.saturating_sub(days_done) as f64;
                let eta = (secs / n as f64 * days_left) as u64;
                format!("~{}h{:02}m{:02}s left", eta / 3600, eta / 60 % 60, eta % 60)
            }
        };
        format!("{per_sec:.0} records/s, {left}")
    }
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
    let mut empty = if s.days_without_files > 0 {
        format!(", {} without files", s.days_without_files)
    } else {
        String::new()
    };
    if s.missing_files > 0 {
        empty.push_str(&format!(", {} missing files", s.missing_files));
    }
    if s.corrupt_files > 0 {
        empty.push_str(&format!(
            ", {} unusable files dead-lettered",
            s.corrupt_files
        ));
    }
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
         detected, {} malformed records dead-lettered; {} downloads{end}",
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
        s.downloads,
    )
}
