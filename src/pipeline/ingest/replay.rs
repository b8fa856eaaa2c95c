//! Replaying recorded upstream files "as if polled": every record goes through its source's
//! ingest actor (checkpoint, dead letters, detection) in data-time order across sources, at
//! full speed (bounded by backpressure) or paced at N times real time. The lanes and their
//! interleaving ([`ReplayInput`], [`Replayer`]) are shared with `backfill`, which replays one
//! day of files after another as one series.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::actor::{FinishInput, Ingest, IngestActor, SaveCheckpoint};
use super::core::{IngestError, IngestPayload, IngestReport};
use actors::{Mailbox, Shutdown};

use crate::domain::{FlareEvent, Records, RegionObservation, XrayFeed, XrayObservation};
use crate::sources::files::{parse, scan, FilesError};
use crate::sources::ParsedPayload;
use crate::sources::{Rejected, SourceKind};

/// How fast a replay goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the pipeline accepts (backpressure is the only brake).
    Max,
    /// N times real time: one hour of data per hour/N of wall time.
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Speed, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let n = s.strip_suffix(['x', 'X']).unwrap_or(s);
        match n.parse::<f64>() {
            Ok(f) if f > 0.0 && f.is_finite() => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "speed {s:?}: expected `max` or a factor like `60x`"
            )),
        }
    }
}

/// The ingest actors of a process, by source.
#[derive(Clone, Default)]
pub struct IngestRouter {
    pub actors: HashMap<SourceKind, Mailbox<IngestActor>>,
}

impl IngestRouter {
    /// Has every actor save what its payloads changed (a replay saves at most every 250 ms
    /// while payloads come back to back), so the checkpoints cover everything sent so far.
    /// Asks every actor even if one fails; returns the first failure.
    pub async fn save_checkpoints(&self) -> Result<(), ReplayError> {
        let mut first_error = None;
        for (kind, actor) in &self.actors {
            let saved = match actor.send(SaveCheckpoint).await {
                Ok(result) => result.map(|_| ()).map_err(ReplayError::Ingest),
                Err(_) => Err(ReplayError::ActorGone(kind.source())),
            };
            if let Err(e) = saved {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    pub files: usize,
    pub records: usize,
    pub ingest: IngestReport,
    pub elapsed: Duration,
    /// Stopped by a shutdown request before the end; a re-run continues (checkpoints).
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error("ingest: {0}")]
    Ingest(#[from] IngestError),
    #[error("the {0} ingest actor stopped")]
    ActorGone(&'static str),
}

/// Records per message to an ingest actor: large enough to amortise the per-payload flush and
/// checkpoint, small enough to keep sources interleaved in time.
const CHUNK: usize = 500;

/// One source's records, in data-time order, with the time each becomes available.
struct Lane {
    kind: SourceKind,
    records: Records,
    times: Vec<DateTime<Utc>>,
    next: usize,
    rejected: Vec<Rejected>,
}

impl Lane {
    fn next_time(&self) -> Option<DateTime<Utc>> {
        self.times.get(self.next).copied()
    }

    /// Takes records while they are due no later than `limit`, at most `max`.
    fn take(&mut self, limit: Option<DateTime<Utc>>, max: usize) -> IngestPayload {
        let start = self.next;
        let mut end = start;
        while end < self.times.len()
            && end - start < max
            && limit.is_none_or(|l| self.times[end] <= l)
        {
            end += 1;
        }
        end = end.max(start + 1).min(self.times.len());
        self.next = end;
        let records = self.records.slice(start, end);
        IngestPayload {
            records,
            rejected: std::mem::take(&mut self.rejected),
            validators: None,
        }
    }
}

/// Recorded input, parsed and ready to replay: one lane per source, each in data-time order.
/// Built from a directory ([`ReplayInput::from_dir`]) or from payloads already parsed
/// ([`ReplayInput::from_parsed`], e.g. a backfill day fetched over HTTP), so every way of
/// replaying shares the same lanes and interleaving.
pub struct ReplayInput {
    lanes: Vec<Lane>,
    files: usize,
}

impl ReplayInput {
    /// Parses every recorded file of `dir` (see [`crate::sources::files`] for the names).
    pub fn from_dir(dir: &Path) -> Result<ReplayInput, ReplayError> {
        let files = scan(dir)?;
        let mut parsed = Vec::with_capacity(files.len());
        for file in &files {
            parsed.push((file.kind, parse(file)?));
        }
        Ok(ReplayInput::from_parsed(parsed))
    }

    /// Builds the lanes from parsed payloads (one per recorded file, with its feed): X-ray by
    /// time, regions by their timestamp (payload order kept within a date, it is flare-plus's
    /// tie-break), DONKI flares at their peak.
    pub fn from_parsed(files: Vec<(SourceKind, ParsedPayload)>) -> ReplayInput {
        let count = files.len();
        let mut xrays: HashMap<XrayFeed, Vec<XrayObservation>> = HashMap::new();
        let mut regions: Vec<RegionObservation> = Vec::new();
        let mut donki: Vec<FlareEvent> = Vec::new();
        let mut rejected: HashMap<SourceKind, Vec<Rejected>> = HashMap::new();
        for (kind, file) in files {
            let reject = rejected.entry(kind).or_default();
            reject.extend(file.rejected);
            match file.records {
                Records::Xrays(records) => {
                    if let SourceKind::Xrays(feed) = kind {
                        xrays.entry(feed).or_default().extend(records);
                    }
                }
                Records::Regions(records) => regions.extend(records),
                Records::Flares(records) => donki.extend(records),
            }
        }
        let mut lanes = Vec::new();
        for (feed, mut obs) in xrays {
            obs.sort_by_key(|o| o.time);
            let times = obs.iter().map(|o| o.time).collect();
            let kind = SourceKind::Xrays(feed);
            lanes.push(Lane {
                kind,
                records: Records::Xrays(obs),
                times,
                next: 0,
                rejected: rejected.remove(&kind).unwrap_or_default(),
            });
        }
        regions.sort_by_key(|r| r.timestamp);
        let times = regions.iter().map(|r| r.timestamp).collect();
        lanes.push(Lane {
            kind: SourceKind::Regions,
            records: Records::Regions(regions),
            times,
            next: 0,
            rejected: rejected.remove(&SourceKind::Regions).unwrap_or_default(),
        });
        donki.sort_by_key(|f| f.peak_time);
        let times = donki.iter().map(|f| f.peak_time).collect();
        lanes.push(Lane {
            kind: SourceKind::Donki,
            records: Records::Flares(donki),
            times,
            next: 0,
            rejected: rejected.remove(&SourceKind::Donki).unwrap_or_default(),
        });
        lanes.retain(|l| !l.times.is_empty() || !l.rejected.is_empty());
        // Deterministic lane order for equal times: X-ray, regions, DONKI.
        lanes.sort_by_key(|l| match l.kind {
            SourceKind::Xrays(XrayFeed::Primary) => 0,
            SourceKind::Xrays(XrayFeed::Secondary) => 1,
            SourceKind::Regions => 2,
            SourceKind::Donki => 3,
        });
        ReplayInput {
            lanes,
            files: count,
        }
    }

    /// Records to replay (rejects not included).
    pub fn records(&self) -> usize {
        self.lanes.iter().map(|l| l.times.len()).sum()
    }

    /// Recorded files the input came from.
    pub fn files(&self) -> usize {
        self.files
    }

    /// The feeds that have records or rejects.
    pub fn kinds(&self) -> Vec<SourceKind> {
        self.lanes.iter().map(|l| l.kind).collect()
    }
}

/// Sends [`ReplayInput`]s through the ingest actors, in data-time order across sources, paced
/// by [`Speed`], stopping at a shutdown request. Several inputs in a row (the days of a
/// backfill) form one series: the pacing clock runs on across them, and the detector is only
/// told the input ended when [`Replayer::finish`] is called.
pub struct Replayer<'a> {
    router: &'a IngestRouter,
    shutdown: &'a Shutdown,
    speed: Speed,
    /// Wall-clock instant and data time of the first record sent, the origin of the pacing.
    origin: Option<(Instant, DateTime<Utc>)>,
}

impl<'a> Replayer<'a> {
    pub fn new(router: &'a IngestRouter, shutdown: &'a Shutdown, speed: Speed) -> Replayer<'a> {
        Replayer {
            router,
            shutdown,
            speed,
            origin: None,
        }
    }

    /// Replays one input. `on_progress(records_done, total, report)` is called after each
    /// payload, with this input's counts. A shutdown request stops it between payloads
    /// (`interrupted` in the summary); the checkpoints make a re-run continue.
    pub async fn replay(
        &mut self,
        input: ReplayInput,
        mut on_progress: impl FnMut(usize, usize, &IngestReport),
    ) -> Result<ReplaySummary, ReplayError> {
        let started = Instant::now();
        let total = input.records();
        let mut lanes = input.lanes;
        let mut summary = ReplaySummary {
            files: input.files,
            records: total,
            ..Default::default()
        };
        let mut done = 0usize;
        loop {
            if self.shutdown.is_triggered() {
                summary.interrupted = true;
                break;
            }
            // The lane with the earliest next record (or rejects still to send); it may take
            // records up to the next-earliest lane's time, so sources stay interleaved.
            let Some(i) = lanes
                .iter()
                .enumerate()
                .filter(|(_, l)| l.next_time().is_some() || !l.rejected.is_empty())
                .min_by_key(|(_, l)| l.next_time())
                .map(|(i, _)| i)
            else {
                break;
            };
            let limit = lanes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, l)| l.next_time())
                .min();
            if let Some(t) = lanes[i].next_time() {
                if !self.wait_until_due(t).await {
                    summary.interrupted = true;
                    break;
                }
            }
            // Paced: only what is due by now, as a live feed would send it (one X-ray
            // minute at a time at 60x), not a chunk up to the next lane's record.
            let limit = match (limit, self.due_by_now()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let kind = lanes[i].kind;
            let payload = if lanes[i].next_time().is_some() {
                lanes[i].take(limit, CHUNK)
            } else {
                IngestPayload {
                    records: Records::empty_like(&lanes[i].records),
                    rejected: std::mem::take(&mut lanes[i].rejected),
                    validators: None,
                }
            };
            let n = payload.records.len();
            let report = send(self.router, kind, Ingest(payload)).await?;
            summary.ingest.add(&report);
            done += n;
            on_progress(done, total, &summary.ingest);
        }
        // A later run continues exactly here.
        self.router.save_checkpoints().await?;
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// The input ended: the primary X-ray actor's detector settles what it still holds and
    /// publishes the end-of-input mark. Call once, after the last input of the series.
    pub async fn finish(&self) -> Result<IngestReport, ReplayError> {
        match self
            .router
            .actors
            .get(&SourceKind::Xrays(XrayFeed::Primary))
        {
            Some(actor) => Ok(actor
                .send(FinishInput)
                .await
                .map_err(|_| ReplayError::ActorGone("xrs"))??),
            None => Ok(IngestReport::default()),
        }
    }

    /// At a factor of real time, the newest data time due by now (None at `Speed::Max` or
    /// before the first record).
    fn due_by_now(&self) -> Option<DateTime<Utc>> {
        let Speed::Factor(factor) = self.speed else {
            return None;
        };
        let (wall0, data0) = self.origin?;
        let data_elapsed = wall0.elapsed().mul_f64(factor);
        Some(data0 + chrono::Duration::from_std(data_elapsed).ok()?)
    }

    /// At a factor of real time, sleeps until data time `t` is due; false if a shutdown
    /// request came first. At `Speed::Max` returns at once.
    async fn wait_until_due(&mut self, t: DateTime<Utc>) -> bool {
        let Speed::Factor(factor) = self.speed else {
            return true;
        };
        let (wall0, data0) = *self.origin.get_or_insert((Instant::now(), t));
        let data_elapsed = (t - data0).to_std().unwrap_or_default();
        let due = wall0 + data_elapsed.div_f64(factor);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }
}

/// Replays the recorded files of `dir` through `router` and ends the input (the detector
/// settles). `on_progress(records_done, total, report)` is called after each payload.
pub async fn replay(
    dir: &Path,
    speed: Speed,
    router: &IngestRouter,
    shutdown: &Shutdown,
    on_progress: impl FnMut(usize, usize, &IngestReport),
) -> Result<ReplaySummary, ReplayError> {
    let started = Instant::now();
    let input = ReplayInput::from_dir(dir)?;
    let mut replayer = Replayer::new(router, shutdown, speed);
    let mut summary = replayer.replay(input, on_progress).await?;
    if !summary.interrupted {
        let report = replayer.finish().await?;
        summary.ingest.add(&report);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

async fn send(
    router: &IngestRouter,
    kind: SourceKind,
    msg: Ingest,
) -> Result<IngestReport, ReplayError> {
    let actor = router
        .actors
        .get(&kind)
        .ok_or(ReplayError::ActorGone(kind.source()))?;
    Ok(actor
        .send(msg)
        .await
        .map_err(|_| ReplayError::ActorGone(kind.source()))??)
}

#[cfg(test)]
mod tests {
    use super::Speed;

    #[test]
    fn speeds_parse() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("60x".parse::<Speed>(), Ok(Speed::Factor(60.0)));
        assert_eq!("2.5".parse::<Speed>(), Ok(Speed::Factor(2.5)));
        assert!("0x".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }
}
