//! Backfill: a date range of recorded or archive files, replayed through the ingest actors
//! like `replay` (checkpoints, dead letters, flare detection), one day after another,
//! resumably.
//!
//! Sources (one or more; see [`days`] and [`index`]):
//! * a directory: daily folders `SOURCE/YYYY-MM-DD/` of recorded JSON files (`xrays*.json`,
//!   `solar_regions*.json`, `donki*.json`, optionally `.gz`), and archive files anywhere below
//!   it, recognised by name (NCEI GOES XRS `sci_xrsf-l2-avg1m_gNN_dYYYYMMDD_*.nc`, SWPC
//!   `YYYYMMDDSRS.txt`): NCEI's `YYYY/MM/` folders, per-year or flat, as they are;
//! * an http(s) URL: an archive whose directory listings show such files (`BASE/`,
//!   `BASE/YYYY/`, `BASE/YYYY/MM/`), or, without a listing, the daily-folder layout, whose
//!   canonical names ([`HTTP_FILES`], each also tried with `.gz`) are fetched per day;
//! * DONKI flares by date windows from `[sources.donki]` (`--donki`), through the live
//!   parser.
//!
//! Downloads go through the project's [`Fetcher`] (retries, timeouts, size bound) into a
//! cache directory, so a second run reads disk. A 404 means the file is absent that day
//! (reported and counted); other fetch failures are retried per the fetch policy, then the day
//! fails and the run stops. A file its reader refuses (truncated netCDF, an HTML page, a
//! missing variable, dates disagreeing with the name, not JSON) is one dead letter naming the
//! file, and the day goes on.
//!
//! The days form one series: the detector carries over from one day to the next and is
//! flushed only after the last day. After each completed day a checkpoint in the key-value
//! bucket (`backfill.<hash of source, from, to>`) records it, so a second run with the same
//! arguments continues after the last completed day, and a run after completion does nothing.
//! The ingest actors keep their own checkpoints (publishing progress inside a day, the
//! detector) under that key too, apart from live ingest's: a backfill of last year must not
//! be skipped as "older than the checkpoint" of a poller that ran this morning, nor move it.

mod days;
mod download;
mod index;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use actors::Shutdown;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::core::IngestReport;
use super::replay::{IngestRouter, ReplayError, Replayer, Speed};
use super::IngestRole;
use crate::bus::codec::content_hash;
use crate::bus::{BusError, Checkpoints};
use crate::domain::XrayFeed;
use crate::pipeline::Runtime;
use crate::sources::archive::XraySelection;
use crate::sources::fetch::{FetchError, Fetcher, RedactedUrl, Url};
use crate::sources::files::FilesError;
use crate::sources::SourceKind;

use days::Days;
pub use days::DONKI_WINDOW_DAYS;

/// How a day's directory is named.
pub const DAY_FORMAT: &str = "%Y-%m-%d";

/// The cache directory when none is given.
pub const DEFAULT_CACHE: &str = "./data/backfill-cache";

/// The files fetched for each day from an HTTP source, with their feed. Each is tried as
/// `NAME` and, on a 404, as `NAME.gz` (a gzip file, as the sample keeps its X-ray file).
pub const HTTP_FILES: [(&str, SourceKind); 4] = [
    ("xrays.json", SourceKind::Xrays(XrayFeed::Primary)),
    (
        "xrays-secondary.json",
        SourceKind::Xrays(XrayFeed::Secondary),
    ),
    ("solar_regions.json", SourceKind::Regions),
    ("donki_flares.json", SourceKind::Donki),
];

/// Every feed a day may hold: the backfill starts an actor for each.
const KINDS: [SourceKind; 4] = [
    SourceKind::Xrays(XrayFeed::Primary),
    SourceKind::Xrays(XrayFeed::Secondary),
    SourceKind::Regions,
    SourceKind::Donki,
];

/// Where the daily files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackfillSource {
    Dir(PathBuf),
    /// A base URL; always ends in `/`, so day paths are joined below it.
    Http(Url),
}

impl BackfillSource {
    /// `http://...` or `https://...` is a server, anything else a directory.
    pub fn parse(text: &str) -> Result<BackfillSource, BackfillError> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let mut url = Url::parse(text).map_err(|e| {
                BackfillError::Source(format!("{}: {e}", RedactedUrl::from_unparsed(text)))
            })?;
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            Ok(BackfillSource::Http(url))
        } else if lower.contains("://") {
            Err(BackfillError::Source(format!(
                "{}: expected a directory or an http(s) URL",
                RedactedUrl::from_unparsed(text)
            )))
        } else if text.is_empty() {
            Err(BackfillError::Source("empty".into()))
        } else {
            Ok(BackfillSource::Dir(PathBuf::from(text)))
        }
    }

    /// Safe to print and to store: a URL with its secrets redacted.
    pub fn display(&self) -> String {
        match self {
            BackfillSource::Dir(dir) => dir.display().to_string(),
            BackfillSource::Http(url) => RedactedUrl::new(url).to_string(),
        }
    }

    /// What names this source in the checkpoint key: the absolute directory (so `./days` and
    /// `/data/days` are the same backfill), or the redacted URL (a key that changes must not
    /// make a different backfill, and its hash must not be derived from a secret).
    fn identity(&self) -> String {
        match self {
            BackfillSource::Dir(dir) => std::fs::canonicalize(dir)
                .unwrap_or_else(|_| dir.clone())
                .display()
                .to_string(),
            BackfillSource::Http(url) => RedactedUrl::new(url).to_string(),
        }
    }
}

impl std::str::FromStr for BackfillSource {
    type Err = String;
    fn from_str(s: &str) -> Result<BackfillSource, String> {
        BackfillSource::parse(s).map_err(|e| e.to_string())
    }
}

/// What to backfill.
#[derive(Debug, Clone)]
pub struct BackfillPlan {
    /// Where the files are (at least one).
    pub sources: Vec<BackfillSource>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub speed: Speed,
    /// Also fetch DONKI flares of the range from `[sources.donki]`, by date windows.
    pub donki: bool,
    /// Where downloads are kept between runs.
    pub cache: PathBuf,
}

impl BackfillPlan {
    /// A plan over one source, without DONKI, caching under `./data/backfill-cache`.
    pub fn new(source: BackfillSource, from: NaiveDate, to: NaiveDate, speed: Speed) -> Self {
        BackfillPlan {
            sources: vec![source],
            from,
            to,
            speed,
            donki: false,
            cache: PathBuf::from(DEFAULT_CACHE),
        }
    }

    /// The key of this backfill's checkpoint: `backfill.` and 12 hex digits of a stable hash
    /// of the sources, from, to and the DONKI choice (the same arguments give the same key
    /// across runs and builds; the cache directory does not count).
    pub fn checkpoint_key(&self) -> String {
        let sources: Vec<String> = self.sources.iter().map(BackfillSource::identity).collect();
        let mut text = format!("{}\n{}\n{}", sources.join("\n"), self.from, self.to);
        if self.donki {
            text.push_str("\ndonki");
        }
        format!("backfill.{:012x}", content_hash(text.as_bytes()) >> 16)
    }

    /// The sources as shown to people (redacted), comma-separated.
    pub fn display(&self) -> String {
        let mut shown: Vec<String> = self.sources.iter().map(BackfillSource::display).collect();
        if self.donki {
            shown.push("DONKI".into());
        }
        shown.join(", ")
    }

    fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(move |d| *d <= self.to)
    }
}

/// The backfill's checkpoint (JSON in the bucket, readable with `nats kv get`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillCheckpoint {
    /// The source as shown to people (redacted).
    pub source: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The last day whose records the stream has all acknowledged.
    pub last_completed: Option<NaiveDate>,
    /// Every day is done and the detector was flushed: nothing left to do.
    pub finished: bool,
}

/// What the caller is told while a backfill runs (for progress displays).
#[derive(Debug)]
pub enum BackfillEvent<'a> {
    /// Before the first day: how much is left.
    Start {
        days_total: usize,
        days_done: usize,
        resumed_after: Option<NaiveDate>,
    },
    /// A day lacks a feed that other days of the range have (a 404, an absent file).
    Missing {
        day: NaiveDate,
        feeds: Vec<&'static str>,
    },
    /// After each payload of a day.
    Progress {
        day: NaiveDate,
        days_done: usize,
        days_total: usize,
        records_done: usize,
        records_in_day: usize,
        /// The whole run's counts so far.
        report: &'a IngestReport,
    },
    /// A day is complete and checkpointed.
    DayDone {
        day: NaiveDate,
        /// Including this one and those of earlier runs.
        days_done: usize,
        files: usize,
        records: usize,
    },
}

/// What a backfill run did.
#[derive(Debug, Clone, Default)]
pub struct BackfillSummary {
    pub key: String,
    pub source: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub days_total: usize,
    /// Days completed by earlier runs (this run continued after them).
    pub days_done_before: usize,
    pub resumed_after: Option<NaiveDate>,
    /// An earlier run finished this backfill; this one did nothing.
    pub already_complete: bool,
    /// Days completed by this run.
    pub days_replayed: usize,
    /// Of those, days without any file.
    pub days_without_files: usize,
    /// Files missing on days of this run: a feed that other days of the range have (counted
    /// per day and feed).
    pub missing_files: usize,
    /// Files refused as a whole and dead-lettered.
    pub corrupt_files: usize,
    /// Bodies fetched from servers; the rest came from the cache or disk.
    pub downloads: usize,
    /// Files read and records sent by this run, an interrupted day's included.
    pub files: usize,
    pub records: usize,
    pub ingest: IngestReport,
    pub elapsed: Duration,
    /// Stopped by a shutdown request; a re-run continues.
    pub interrupted: bool,
}

/// Why one day could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum DayError {
    #[error(transparent)]
    Files(FilesError),
    #[error(transparent)]
    Fetch(FetchError),
    #[error("GET {url}: not a readable gzip file: {detail}")]
    Gzip { url: RedactedUrl, detail: String },
    #[error("GET {url}: unexpected 304 Not Modified to an unconditional request")]
    NotModified { url: RedactedUrl },
    #[error(transparent)]
    Replay(ReplayError),
    /// A shutdown request interrupted a download.
    #[error("interrupted")]
    Cancelled,
    #[error("a URL source needs the HTTP client")]
    NoClient,
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("--from {from} is after --to {to}")]
    Range { from: NaiveDate, to: NaiveDate },
    #[error("--source {0}")]
    Source(String),
    #[error("the HTTP client: {0}")]
    Client(FetchError),
    #[error("starting the ingest actors: {0}")]
    Start(#[from] Box<crate::pipeline::StartError>),
    #[error("backfill checkpoint: {0}")]
    Checkpoint(#[from] BusError),
    /// A day failed: the run stopped there; the days before it are checkpointed.
    #[error("backfill stopped on {day} ({resume}): {source}")]
    Day {
        day: NaiveDate,
        /// What a re-run will do, for the message.
        resume: String,
        source: Box<DayError>,
    },
    #[error("finishing the input: {0}")]
    Finish(ReplayError),
}

/// Runs the backfill `plan` in `runtime` (which must have NATS and the topology up), calling
/// `on_event` as it goes. Returns when every day is done, on a shutdown request
/// (`interrupted`), or on the first day that fails.
pub async fn backfill(
    runtime: &Runtime,
    plan: &BackfillPlan,
    mut on_event: impl FnMut(BackfillEvent<'_>),
) -> Result<BackfillSummary, BackfillError> {
    let started = Instant::now();
    if plan.from > plan.to {
        return Err(BackfillError::Range {
            from: plan.from,
            to: plan.to,
        });
    }
    let key = plan.checkpoint_key();
    let checkpoints = Checkpoints::new(runtime.topology.checkpoints.clone());
    let mut state = checkpoints
        .get::<BackfillCheckpoint>(&key)
        .await?
        .unwrap_or_else(|| BackfillCheckpoint {
            source: plan.display(),
            from: plan.from,
            to: plan.to,
            last_completed: None,
            finished: false,
        });
    let days_total = plan.days().count();
    let days_done_before = state
        .last_completed
        .map_or(0, |last| plan.days().take_while(|d| *d <= last).count());
    let mut summary = BackfillSummary {
        key: key.clone(),
        source: plan.display(),
        from: Some(plan.from),
        to: Some(plan.to),
        days_total,
        days_done_before,
        resumed_after: state.last_completed,
        already_complete: state.finished,
        ..Default::default()
    };
    if state.finished {
        return Ok(summary);
    }
    on_event(BackfillEvent::Start {
        days_total,
        days_done: days_done_before,
        resumed_after: state.last_completed,
    });
    if plan.sources.is_empty() {
        return Err(BackfillError::Source("no source given".into()));
    }
    let needs_client = plan.donki
        || plan
            .sources
            .iter()
            .any(|s| matches!(s, BackfillSource::Http(_)));
    let fetcher = if needs_client {
        Some(Fetcher::new(runtime.config.http_client.clone()).map_err(BackfillError::Client)?)
    } else {
        None
    };
    let selection = XraySelection::from_config(&runtime.config.sources);
    let prepared = Days::prepare(
        plan,
        fetcher,
        &selection,
        &runtime.config.sources.donki,
        &runtime.shutdown,
    )
    .await;
    let mut days = match prepared {
        Ok(days) => days,
        Err(DayError::Cancelled) => {
            summary.interrupted = true;
            return Ok(summary);
        }
        Err(source) => {
            return Err(BackfillError::Day {
                day: plan.from,
                resume: "no day was read; run the same command again to retry".into(),
                source: Box::new(source),
            })
        }
    };
    let actors = IngestRole::start_in(runtime, &KINDS, Some(&key))
        .await
        .map_err(Box::new)?;
    let result = run_days(
        runtime,
        plan,
        &actors.router,
        &mut days,
        &checkpoints,
        &key,
        &mut state,
        &mut summary,
        &mut on_event,
    )
    .await;
    actors.stop().await;
    summary.downloads = days.downloads();
    result?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The day loop of [`backfill`], with the actors running.
#[allow(clippy::too_many_arguments)]
async fn run_days(
    runtime: &Runtime,
    plan: &BackfillPlan,
    router: &IngestRouter,
    days: &mut Days,
    checkpoints: &Checkpoints,
    key: &str,
    state: &mut BackfillCheckpoint,
    summary: &mut BackfillSummary,
    on_event: &mut impl FnMut(BackfillEvent<'_>),
) -> Result<(), BackfillError> {
    let shutdown: &Shutdown = &runtime.shutdown;
    let mut replayer = Replayer::new(router, shutdown, plan.speed);
    let pending: Vec<NaiveDate> = plan
        .days()
        .filter(|d| state.last_completed.is_none_or(|last| *d > last))
        .collect();
    let resume = |state: &BackfillCheckpoint| match state.last_completed {
        Some(last) => {
            format!("days through {last} are done; run the same command again to continue")
        }
        None => "no day is done yet; run the same command again to retry".to_string(),
    };
    for day in pending {
        if shutdown.is_triggered() {
            summary.interrupted = true;
            return Ok(());
        }
        let day_error = |source: DayError, state: &BackfillCheckpoint| BackfillError::Day {
            day,
            resume: resume(state),
            source: Box::new(source),
        };
        let loaded = match days.load(day, shutdown).await {
            Ok(Some(loaded)) => loaded,
            Ok(None) | Err(DayError::Cancelled) => {
                summary.interrupted = true;
                return Ok(());
            }
            Err(e) => return Err(day_error(e, state)),
        };
        let input = loaded.input;
        let (files, records) = (loaded.files, input.records());
        if files == 0 {
            tracing::info!(%day, "no recorded files for this day");
            summary.days_without_files += 1;
        } else if !loaded.missing.is_empty() {
            tracing::warn!(%day, feeds = ?loaded.missing, "missing files: this day has no file of these feeds");
            summary.missing_files += loaded.missing.len();
            on_event(BackfillEvent::Missing {
                day,
                feeds: loaded.missing.clone(),
            });
        }
        summary.corrupt_files += loaded.corrupt;
        let days_done = summary.days_done_before + summary.days_replayed;
        let days_total = summary.days_total;
        let before = summary.ingest.clone();
        let mut sent = 0usize;
        let replayed = replayer
            .replay(input, |records_done, records_in_day, report| {
                sent = records_done;
                let mut run = before.clone();
                run.add(report);
                on_event(BackfillEvent::Progress {
                    day,
                    days_done,
                    days_total,
                    records_done,
                    records_in_day,
                    report: &run,
                });
            })
            .await
            .map_err(|e| day_error(DayError::Replay(e), state))?;
        // What this run read and sent, also of a day it did not finish.
        summary.ingest.add(&replayed.ingest);
        summary.files += files;
        summary.records += sent;
        if replayed.interrupted {
            summary.interrupted = true;
            return Ok(());
        }
        // Every payload of the day was acknowledged by the stream (the actors flush before
        // they answer): the day is done.
        state.last_completed = Some(day);
        checkpoints.put(key, &*state).await?;
        summary.days_replayed += 1;
        on_event(BackfillEvent::DayDone {
            day,
            days_done: summary.days_done_before + summary.days_replayed,
            files,
            records,
        });
    }
    let report = replayer.finish().await.map_err(BackfillError::Finish)?;
    summary.ingest.add(&report);
    state.finished = true;
    checkpoints.put(key, &*state).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(source: &str, from: &str, to: &str) -> BackfillPlan {
        BackfillPlan::new(
            BackfillSource::parse(source).unwrap(),
            from.parse().unwrap(),
            to.parse().unwrap(),
            Speed::Max,
        )
    }

    #[test]
    fn sources_are_directories_or_http_urls() {
        assert_eq!(
            BackfillSource::parse("days").unwrap(),
            BackfillSource::Dir(PathBuf::from("days"))
        );
        let BackfillSource::Http(url) = BackfillSource::parse("http://h:8080/archive").unwrap()
        else {
            panic!("a URL");
        };
        assert_eq!(url.as_str(), "http://h:8080/archive/");
        assert_eq!(
            url.join("2024-05-01/xrays.json").unwrap().as_str(),
            "http://h:8080/archive/2024-05-01/xrays.json"
        );
        assert!(BackfillSource::parse("ftp://h/x").is_err());
        assert!(BackfillSource::parse("").is_err());
        let err = BackfillSource::parse("http://h:99999/?token=SEKRIT").unwrap_err();
        assert!(!err.to_string().contains("SEKRIT"), "{err}");
        let shown = BackfillSource::parse("https://h/a?token=SEKRIT")
            .unwrap()
            .display();
        assert!(!shown.contains("SEKRIT"), "{shown}");
    }

    #[test]
    fn the_checkpoint_key_is_stable_and_depends_on_every_argument() {
        let a = plan("http://h/a", "2024-05-01", "2024-05-10");
        let key = a.checkpoint_key();
        assert!(key.starts_with("backfill."), "{key}");
        assert_eq!(key.len(), "backfill.".len() + 12);
        assert_eq!(
            key,
            plan("http://h/a/", "2024-05-01", "2024-05-10").checkpoint_key()
        );
        for other in [
            plan("http://h/b", "2024-05-01", "2024-05-10"),
            plan("http://h/a", "2024-05-02", "2024-05-10"),
            plan("http://h/a", "2024-05-01", "2024-05-11"),
        ] {
            assert_ne!(other.checkpoint_key(), key);
        }
        assert_eq!(a.days().count(), 10);
        assert_eq!(plan("d", "2024-02-28", "2024-03-01").days().count(), 3);
    }
}
