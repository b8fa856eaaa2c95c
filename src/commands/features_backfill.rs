//! `flare-plus features backfill --from T --to T [--job-hours N] [--no-wait]`: splits the range
//! into jobs on the work-queue stream JOBS and (by default) waits, with progress, until the
//! feature workers (`flare-plus run --role features`, any number) have done them all.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::pipeline::features::jobs::split;
use crate::pipeline::features::series_settings;
use crate::pipeline::Config;
use crate::pipeline::Runtime;
use actors::nats::{Publisher, PublisherConfig};

use super::exec::{in_actor_system, init_logging};
use super::progress::Progress;
use super::times::time_arg;

/// `flare-plus features backfill`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct FeaturesBackfillArgs {
    /// First tick (ISO time, UTC).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub from: DateTime<Utc>,
    /// Last tick (ISO time, UTC).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub to: DateTime<Utc>,
    /// Data time per job, in hours.
    #[arg(long, default_value_t = 24)]
    pub job_hours: u32,
    /// Queue the jobs and return without waiting.
    #[arg(long)]
    pub no_wait: bool,
}

/// Queues the jobs (and waits for them unless `--no-wait`).
pub fn execute(config: Config, args: FeaturesBackfillArgs) -> anyhow::Result<()> {
    init_logging(&config.logging, false);
    in_actor_system(run(config, args))
}

pub async fn run(config: Config, options: FeaturesBackfillArgs) -> anyhow::Result<()> {
    anyhow::ensure!(options.from <= options.to, "--from must not be after --to");
    anyhow::ensure!(options.job_hours > 0, "--job-hours must be positive");
    let settings = series_settings(&config.features);
    let runtime = Runtime::start(config, "features-backfill", false).await?;
    runtime.roles_started.set(true);
    let jobs = split(
        options.from,
        options.to,
        chrono::Duration::hours(i64::from(options.job_hours)),
        settings.cadence,
    );
    let mut publisher = Publisher::new(
        runtime.topology.js.clone(),
        PublisherConfig::default(),
        runtime.shutdown.token(),
    );
    for job in &jobs {
        publisher.publish(job.to_message()).await?;
    }
    publisher.flush().await?;
    eprintln!(
        "queued {} feature jobs for {} .. {} ({} h each)",
        jobs.len(),
        options.from.to_rfc3339(),
        options.to.to_rfc3339(),
        options.job_hours
    );
    let mut result = Ok(());
    if !options.no_wait {
        result = wait_for_jobs(&runtime, jobs.len()).await;
    }
    runtime.finish().await;
    result
}

/// Waits until JOBS is empty (a work queue deletes each job once a worker acked it).
async fn wait_for_jobs(runtime: &Runtime, total: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut progress = Progress::new(total as u64, "jobs");
    let mut jobs = runtime.topology.jobs.clone();
    let mut idle_since = Instant::now();
    let mut last_remaining = usize::MAX;
    loop {
        if runtime.shutdown.is_triggered() {
            progress.finish();
            anyhow::bail!("interrupted; the queued jobs stay on JOBS and workers keep taking them");
        }
        let remaining = jobs
            .info()
            .await
            .map_err(|e| anyhow::anyhow!("JOBS info: {e}"))?
            .state
            .messages as usize;
        progress.update(total.saturating_sub(remaining) as u64, String::new());
        if remaining == 0 {
            progress.finish();
            eprintln!(
                "{total} feature jobs done in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if remaining != last_remaining {
            last_remaining = remaining;
            idle_since = Instant::now();
        } else if idle_since.elapsed() > Duration::from_secs(60) {
            tracing::warn!(remaining, "no job finished for a minute: is a feature worker running (flare-plus run --role features)?");
            idle_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
