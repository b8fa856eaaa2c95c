//! Backfill: a date range of daily recorded files, replayed through the ingest actors like
//! `replay` (checkpoints, dead letters, flare detection), one day after another, resumably.
//!
//! Layout: `SOURCE/YYYY-MM-DD/` holds that day's recorded files under any name the replay
//! recognises (`xrays*.json[.gz]`, `solar_regions*.json[.gz]`, `donki*.json[.gz]`). SOURCE is a
//! directory or an http(s) URL; a server cannot list a directory, so from a URL the canonical
//! names ([`HTTP_FILES`], each also tried with `.gz`) are fetched with the project's
//! [`Fetcher`]. A 404 means the file is absent that day; other failures are retried per the
//! fetch policy, then the day fails and the run stops.
//!
//! The days form one series: the detector carries over from one day to the next and is
//! flushed only after the last day. After each completed day a checkpoint in the key-value
//! bucket (`backfill.<hash of source, from, to>`) records it, so a second run with the same
//! arguments continues after the last completed day, and a run after completion does nothing.
//! The ingest actors keep their own checkpoints (publishing progress inside a day, the
//! detector) under that key too, apart from live ingest's: a backfill of last year must not
//! be skipped as "older than the checkpoint" of a poller that ran this morning, nor move it.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actors::Shutdown;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::core::IngestReport;
use super::replay::{IngestRouter, ReplayError, ReplayInput, Replayer, Speed};
use super::IngestRole;
use crate::bus::codec::content_hash;
use crate::bus::{BusError, Checkpoints};
use crate::domain::XrayFeed;
use crate::pipeline::Runtime;
use crate::sources::fetch::{
    FetchError, FetchErrorKind, FetchOutcome, Fetcher, RedactedUrl, Url, Validators,
};
use crate::sources::files::FilesError;
use crate::sources::{parse_payload, PayloadError, SourceKind, MAX_PAYLOAD_BYTES};

/// How a day's directory is named.
pub const DAY_FORMAT: &str = "%Y-%m-%d";

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
    pub source: BackfillSource,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub speed: Speed,
}

impl BackfillPlan {
    /// The key of this backfill's checkpoint: `backfill.` and 12 hex digits of a stable hash
    /// of source, from and to (the same arguments give the same key across runs and builds).
    pub fn checkpoint_key(&self) -> String {
        let text = format!("{}\n{}\n{}", self.source.identity(), self.from, self.to);
        format!("backfill.{:012x}", content_hash(text.as_bytes()) >> 16)
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
    #[error("GET {url}: {source}")]
    Payload {
        url: RedactedUrl,
        source: PayloadError,
    },
    #[error("GET {url}: not a readable gzip file: {detail}")]
    Gzip { url: RedactedUrl, detail: String },
    #[error("GET {url}: unexpected 304 Not Modified to an unconditional request")]
    NotModified { url: RedactedUrl },
    #[error(transparent)]
    Replay(ReplayError),
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
        source: DayError,
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
            source: plan.source.display(),
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
        source: plan.source.display(),
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
    let days = match &plan.source {
        BackfillSource::Http(base) => Days::Http {
            base,
            fetcher: Fetcher::new(runtime.config.http_client.clone())
                .map_err(BackfillError::Client)?,
        },
        BackfillSource::Dir(dir) => Days::Dir(dir),
    };
    let actors = IngestRole::start_in(runtime, &KINDS, Some(&key))
        .await
        .map_err(Box::new)?;
    let result = run_days(
        runtime,
        plan,
        &actors.router,
        &days,
        &checkpoints,
        &key,
        &mut state,
        &mut summary,
        &mut on_event,
    )
    .await;
    actors.stop().await;
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
    days: &Days<'_>,
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
            source,
        };
        let input = match days.load(day, shutdown).await {
            Ok(Some(input)) => input,
            Ok(None) => {
                summary.interrupted = true;
                return Ok(());
            }
            Err(e) => return Err(day_error(e, state)),
        };
        let (files, records) = (input.files(), input.records());
        if files == 0 {
            tracing::info!(%day, "no recorded files for this day");
            summary.days_without_files += 1;
        }
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

/// Where days are read from, with what a run needs to read them.
enum Days<'a> {
    Dir(&'a std::path::Path),
    Http { base: &'a Url, fetcher: Fetcher },
}

impl Days<'_> {
    /// One day's files, parsed; `None` if a shutdown request interrupted the download. A
    /// missing day directory, or one without recorded files, is a day without data.
    async fn load(
        &self,
        day: NaiveDate,
        shutdown: &Shutdown,
    ) -> Result<Option<ReplayInput>, DayError> {
        let name = day.format(DAY_FORMAT).to_string();
        match self {
            Days::Dir(root) => {
                let dir = root.join(&name);
                if !dir.is_dir() {
                    return Ok(Some(ReplayInput::from_parsed(Vec::new())));
                }
                match ReplayInput::from_dir(&dir) {
                    Ok(input) => Ok(Some(input)),
                    Err(ReplayError::Files(FilesError::Empty(_))) => {
                        Ok(Some(ReplayInput::from_parsed(Vec::new())))
                    }
                    Err(ReplayError::Files(e)) => Err(DayError::Files(e)),
                    Err(e) => Err(DayError::Replay(e)),
                }
            }
            Days::Http { base, fetcher } => {
                let mut parsed = Vec::new();
                for (file, kind) in HTTP_FILES {
                    match fetch_file(fetcher, base, &name, file, shutdown).await? {
                        Fetched::Body { bytes, url } => {
                            let file = parse_payload(kind, &bytes)
                                .map_err(|source| DayError::Payload { url, source })?;
                            parsed.push((kind, file));
                        }
                        Fetched::Absent => {}
                        Fetched::Cancelled => return Ok(None),
                    }
                }
                Ok(Some(ReplayInput::from_parsed(parsed)))
            }
        }
    }
}

enum Fetched {
    Body { bytes: Vec<u8>, url: RedactedUrl },
    Absent,
    Cancelled,
}

/// GETs `BASE/DAY/FILE`, then `BASE/DAY/FILE.gz` on a 404; both 404 means the file is absent.
async fn fetch_file(
    fetcher: &Fetcher,
    base: &Url,
    day: &str,
    file: &str,
    shutdown: &Shutdown,
) -> Result<Fetched, DayError> {
    for (candidate, gz) in [(file.to_string(), false), (format!("{file}.gz"), true)] {
        let url = base.join(&format!("{day}/{candidate}")).map_err(|e| {
            DayError::Fetch(FetchError::new(
                FetchErrorKind::InvalidUrl,
                Some(RedactedUrl::new(base)),
                0,
                Duration::ZERO,
                Some(e.to_string()),
            ))
        })?;
        let shown = RedactedUrl::new(&url);
        match fetcher
            .get(&url, &Validators::default(), &shutdown.token())
            .await
        {
            Ok(FetchOutcome::Fresh { body, .. }) => {
                let bytes = if gz {
                    gunzip(&body).map_err(|detail| DayError::Gzip {
                        url: shown.clone(),
                        detail,
                    })?
                } else {
                    body.to_vec()
                };
                return Ok(Fetched::Body { bytes, url: shown });
            }
            Ok(FetchOutcome::NotModified { .. }) => {
                return Err(DayError::NotModified { url: shown });
            }
            Err(e) if e.kind() == FetchErrorKind::Status(404) => {
                tracing::debug!(url = %shown, "absent (404)");
            }
            Err(e) if e.kind() == FetchErrorKind::Cancelled => return Ok(Fetched::Cancelled),
            Err(e) => return Err(DayError::Fetch(e)),
        }
    }
    Ok(Fetched::Absent)
}

/// A `.gz` file's content, at most [`MAX_PAYLOAD_BYTES`]. A body that is not gzip (a server
/// that sent the file with `Content-Encoding: gzip`, already decoded by the client) is
/// returned as it is.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "more than {MAX_PAYLOAD_BYTES} bytes once decompressed"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(source: &str, from: &str, to: &str) -> BackfillPlan {
        BackfillPlan {
            source: BackfillSource::parse(source).unwrap(),
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            speed: Speed::Max,
        }
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

    #[test]
    fn gzip_files_are_decompressed_and_plain_bodies_kept() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"[1,2]").unwrap();
        let gz = encoder.finish().unwrap();
        assert_eq!(gunzip(&gz).unwrap(), b"[1,2]");
        assert_eq!(gunzip(b"[3]").unwrap(), b"[3]");
        assert!(gunzip(&gz[..gz.len() / 2]).is_err());
    }
}
