//! Replaying recorded upstream files "as if polled": every record goes through its source's
//! ingest actor (checkpoint, dead letters, detection) in data-time order across sources, at
//! full speed (bounded by backpressure) or paced at N times real time.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::actor::{FinishInput, Ingest, IngestActor};
use super::core::{IngestError, IngestPayload, IngestReport, Records};
use actors::{Mailbox, Shutdown};

use crate::domain::{FlareEvent, RegionObservation, XrayFeed, XrayObservation};
use crate::sources::files::{parse, scan, FilesError, ParsedFile};
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
        let records = match &self.records {
            Records::Xrays(v) => Records::Xrays(v[start..end].to_vec()),
            Records::Regions(v) => Records::Regions(v[start..end].to_vec()),
            Records::Donki(v) => Records::Donki(v[start..end].to_vec()),
        };
        IngestPayload {
            records,
            rejected: std::mem::take(&mut self.rejected),
            validators: None,
        }
    }
}

/// Builds the lanes: X-ray by time, regions by their timestamp (payload order kept within a
/// date, it is flare-plus's tie-break), DONKI flares at their peak.
fn lanes(dir: &Path) -> Result<(Vec<Lane>, usize), ReplayError> {
    let files = scan(dir)?;
    let mut xrays: HashMap<XrayFeed, Vec<XrayObservation>> = HashMap::new();
    let mut regions: Vec<RegionObservation> = Vec::new();
    let mut donki: Vec<FlareEvent> = Vec::new();
    let mut rejected: HashMap<SourceKind, Vec<Rejected>> = HashMap::new();
    for file in &files {
        let reject = rejected.entry(file.kind).or_default();
        match parse(file)? {
            ParsedFile::Xrays(p) => {
                reject.extend(p.rejected);
                if let SourceKind::Xrays(feed) = file.kind {
                    xrays.entry(feed).or_default().extend(p.records);
                }
            }
            ParsedFile::Regions(p) => {
                reject.extend(p.rejected);
                regions.extend(p.records);
            }
            ParsedFile::Donki(p) => {
                reject.extend(p.rejected);
                donki.extend(p.records);
            }
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
        records: Records::Donki(donki),
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
    Ok((lanes, files.len()))
}

/// Replays `dir` through `router`. `on_progress(records_done, total)` is called after each
/// payload.
pub async fn replay(
    dir: &Path,
    speed: Speed,
    router: &IngestRouter,
    shutdown: &Shutdown,
    mut on_progress: impl FnMut(usize, usize, &IngestReport),
) -> Result<ReplaySummary, ReplayError> {
    let started = Instant::now();
    let (mut lanes, files) = lanes(dir)?;
    let total: usize = lanes.iter().map(|l| l.times.len()).sum();
    let mut summary = ReplaySummary {
        files,
        records: total,
        ..Default::default()
    };
    let first_time = lanes.iter().filter_map(Lane::next_time).min();
    let mut done = 0usize;
    loop {
        if shutdown.is_triggered() {
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
        if let (Speed::Factor(factor), Some(t0), Some(t)) =
            (speed, first_time, lanes[i].next_time())
        {
            let data_elapsed = (t - t0).to_std().unwrap_or_default();
            let due = started + data_elapsed.div_f64(factor);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = shutdown.cancelled() => { summary.interrupted = true; break; }
            }
        }
        let kind = lanes[i].kind;
        let payload = if lanes[i].next_time().is_some() {
            lanes[i].take(limit, CHUNK)
        } else {
            IngestPayload {
                records: empty_like(&lanes[i].records),
                rejected: std::mem::take(&mut lanes[i].rejected),
                validators: None,
            }
        };
        let n = payload.records.len();
        let report = send(router, kind, Ingest(payload)).await?;
        summary.ingest.add(&report);
        done += n;
        on_progress(done, total, &summary.ingest);
    }
    if !summary.interrupted {
        if let Some(actor) = router.actors.get(&SourceKind::Xrays(XrayFeed::Primary)) {
            let report = actor
                .send(FinishInput)
                .await
                .map_err(|_| ReplayError::ActorGone("xrs"))??;
            summary.ingest.add(&report);
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn empty_like(records: &Records) -> Records {
    match records {
        Records::Xrays(_) => Records::Xrays(Vec::new()),
        Records::Regions(_) => Records::Regions(Vec::new()),
        Records::Donki(_) => Records::Donki(Vec::new()),
    }
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
