//! The write path shared by both backends: validate, dedup (last wins), one transaction,
//! poison isolation by bisection under savepoints, `flare_events` re-materialisation, log rows.
//! The backends supply one function per SQL statement through [`WriteBackend`].

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};

mod batch;
mod rematerialize;

use batch::Refusal;
pub(crate) use batch::{FlareItem, RegionItem, XrayItem};
use batch::{Part, Prepared};
use rematerialize::rematerialize;
use sqlx::{Connection, Database};

use super::{
    Counters, FlareEventChanges, RecordKind, Rejected, StoreError, StoreErrorKind, TableCounts,
    TaggedBatch, WriteStats,
};
use crate::domain::{FlareEvent, FlareSource};
use crate::profile::Profile;

/// One `flare_ingestion_log` row.
#[derive(Debug, Clone)]
pub(crate) struct LogRow {
    pub source_name: &'static str,
    pub status: &'static str,
    pub counts: TableCounts,
    pub data_start: Option<DateTime<Utc>>,
    pub data_end: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    pub duration_seconds: f64,
}

/// (inserted, updated) as reported by an upsert.
pub(crate) type Upserted = (u64, u64);

pub(super) type Conn<B> = <<B as WriteBackend>::Db as Database>::Connection;

/// The statements the write path needs, one function each. Implementations count every
/// statement in [`WriteBackend::counters`].
pub(crate) trait WriteBackend: Sync {
    type Db: Database;
    /// Statement opening the outer transaction (`BEGIN IMMEDIATE` on SQLite takes the write
    /// lock up front, so a read-then-write transaction cannot fail with SQLITE_BUSY_SNAPSHOT).
    const BEGIN: &'static str;

    fn pool(&self) -> &sqlx::Pool<Self::Db>;
    fn counters(&self) -> &Counters;
    fn err(&self, e: sqlx::Error) -> StoreError;

    /// Serialises `flare_events` re-materialisation across writer processes.
    fn lock_flare_events(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn upsert_xrays(
        &self,
        conn: &mut Conn<Self>,
        rows: &[XrayItem<'_>],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Upserted, StoreError>> + Send;
    fn upsert_regions(
        &self,
        conn: &mut Conn<Self>,
        rows: &[RegionItem<'_>],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Upserted, StoreError>> + Send;
    fn candidates_by_key(
        &self,
        conn: &mut Conn<Self>,
        keys: &[&str],
    ) -> impl Future<Output = Result<Vec<FlareEvent>, StoreError>> + Send;
    fn upsert_candidates(
        &self,
        conn: &mut Conn<Self>,
        rows: &[FlareItem<'_>],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Upserted, StoreError>> + Send;
    fn upsert_solar_flare_events(
        &self,
        conn: &mut Conn<Self>,
        rows: &[&FlareEvent],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Upserted, StoreError>> + Send;
    fn candidates_in_peak_range(
        &self,
        conn: &mut Conn<Self>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FlareEvent>, StoreError>> + Send;
    fn flare_events_in_peak_range(
        &self,
        conn: &mut Conn<Self>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FlareEvent>, StoreError>> + Send;
    fn delete_flare_events(
        &self,
        conn: &mut Conn<Self>,
        keys: &[&str],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn upsert_flare_events(
        &self,
        conn: &mut Conn<Self>,
        rows: &[&FlareEvent],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Upserted, StoreError>> + Send;
    fn insert_log(
        &self,
        conn: &mut Conn<Self>,
        rows: &[LogRow],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Counts of one applied part, with the data time span per table for the log.
#[derive(Default)]
struct Applied {
    xrays: Upserted,
    regions: Upserted,
    candidates: Upserted,
    solar: Upserted,
    flare_events: FlareEventChanges,
}

impl Applied {
    fn add(&mut self, o: Applied) {
        let add = |a: &mut Upserted, b: Upserted| {
            a.0 += b.0;
            a.1 += b.1;
        };
        add(&mut self.xrays, o.xrays);
        add(&mut self.regions, o.regions);
        add(&mut self.candidates, o.candidates);
        add(&mut self.solar, o.solar);
        self.flare_events.inserted += o.flare_events.inserted;
        self.flare_events.updated += o.flare_events.updated;
        self.flare_events.deleted += o.flare_events.deleted;
    }
}

/// What every attempt at one batch shares.
struct Ctx<'b> {
    profile: Profile,
    now: DateTime<Utc>,
    started: Instant,
    /// Records per kind in the batch (xrays, regions, flares), for the log rows.
    sizes: [usize; 3],
    /// Records refused before reaching the database (NaN), for the log rows.
    refused: &'b [Refusal],
}

/// [`super::Store::write`] for one backend.
pub(crate) async fn write_batch<B: WriteBackend, T: Clone>(
    b: &B,
    batch: &TaggedBatch<T>,
    profile: Profile,
) -> Result<WriteStats<T>, StoreError> {
    let started = Instant::now();
    let now = Utc::now();
    let prepared = Prepared::new(batch);
    let whole = prepared.whole();
    let mut rejected = prepared.rejected.clone();
    let mut applied = Applied::default();
    if whole.len() > 0 {
        let ctx = Ctx {
            profile,
            now,
            started,
            sizes: [batch.xrays.len(), batch.regions.len(), batch.flares.len()],
            refused: &prepared.rejected,
        };
        let (a, r) = match attempt(b, whole, &ctx, false).await {
            Err(e) if e.kind() == StoreErrorKind::Data => {
                tracing::debug!(error = %e, "batch refused; isolating the offending records");
                attempt(b, whole, &ctx, true).await?
            }
            other => other?,
        };
        applied = a;
        rejected.extend(r);
    }
    rejected.sort_by_key(|r| (r.kind as u8, r.index));
    let counts = |fetched: usize, u: Upserted| TableCounts {
        fetched: fetched as u64,
        inserted: u.0,
        updated: u.1,
    };
    let solar_fetched = donki(&prepared.flares).len();
    Ok(WriteStats {
        xrays: counts(batch.xrays.len(), applied.xrays),
        regions: counts(batch.regions.len(), applied.regions),
        flare_candidates: counts(batch.flares.len(), applied.candidates),
        solar_flare_events: counts(solar_fetched, applied.solar),
        flare_events: applied.flare_events,
        superseded: prepared.superseded,
        rejected: rejected
            .into_iter()
            .map(|r| Rejected {
                tag: batch.tag(r.kind, r.index).cloned(),
                kind: r.kind,
                index: r.index,
                key: r.key,
                code: r.code,
                reason: r.reason,
            })
            .collect(),
    })
}

/// DONKI flares with an id: the rows of `solar_flare_events`.
fn donki<'x>(flares: &[FlareItem<'x>]) -> Vec<&'x FlareEvent> {
    flares
        .iter()
        .filter(|f| f.rec.source == FlareSource::Donki && f.rec.external_id.is_some())
        .map(|f| f.rec)
        .collect()
}

/// One transaction over `whole`. With `isolate`, each share runs under a savepoint and a share
/// the database refuses for its data is halved until single records remain; those are
/// rejected and the rest committed. Any other error drops the transaction (rollback).
async fn attempt<B: WriteBackend>(
    b: &B,
    whole: Part<'_, '_>,
    ctx: &Ctx<'_>,
    isolate: bool,
) -> Result<(Applied, Vec<Refusal>), StoreError> {
    let (profile, now) = (ctx.profile, ctx.now);
    let mut tx = b.pool().begin_with(B::BEGIN).await.map_err(|e| b.err(e))?;
    if !whole.flares.is_empty() {
        b.lock_flare_events(&mut *tx).await?;
    }
    let mut applied = Applied::default();
    let mut rejected = Vec::new();
    if isolate {
        let mut stack = vec![whole];
        while let Some(part) = stack.pop() {
            let mut sp = Connection::begin(&mut *tx).await.map_err(|e| b.err(e))?;
            match apply(b, &mut *sp, part, profile, now).await {
                Ok(a) => {
                    sp.commit().await.map_err(|e| b.err(e))?;
                    applied.add(a);
                }
                Err(e) if e.kind() == StoreErrorKind::Data => {
                    sp.rollback().await.map_err(|e| b.err(e))?;
                    match part.reject(&e) {
                        Some(r) => rejected.push(r),
                        None => {
                            let (left, right) = part.split();
                            stack.push(right);
                            stack.push(left);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    } else {
        applied = apply(b, &mut *tx, whole, profile, now).await?;
    }
    let refused: Vec<Refusal> = ctx.refused.iter().chain(&rejected).cloned().collect();
    let log = log_rows(whole, &applied, &refused, ctx.sizes, ctx.started);
    b.insert_log(&mut *tx, &log, now).await?;
    tx.commit().await.map_err(|e| b.err(e))?;
    b.counters().commit();
    Ok((applied, rejected))
}

/// Every statement for one share of the batch.
async fn apply<B: WriteBackend>(
    b: &B,
    conn: &mut Conn<B>,
    part: Part<'_, '_>,
    profile: Profile,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    if !part.xrays.is_empty() {
        applied.xrays = b.upsert_xrays(conn, part.xrays, now).await?;
    }
    if !part.regions.is_empty() {
        applied.regions = b.upsert_regions(conn, part.regions, now).await?;
    }
    if !part.flares.is_empty() {
        let keys: Vec<&str> = part.flares.iter().map(|f| f.key.as_str()).collect();
        let previous = b.candidates_by_key(conn, &keys).await?;
        applied.candidates = b.upsert_candidates(conn, part.flares, now).await?;
        let solar = donki(part.flares);
        if !solar.is_empty() {
            applied.solar = b.upsert_solar_flare_events(conn, &solar, now).await?;
        }
        let seeds = part.flares.iter().map(|f| f.rec).chain(previous.iter());
        applied.flare_events = rematerialize(b, conn, seeds, profile, now).await?;
    }
    Ok(applied)
}

fn span<T>(
    items: &[T],
    times: impl Fn(&T) -> (DateTime<Utc>, DateTime<Utc>),
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut out: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
    for i in items {
        let (a, z) = times(i);
        out.0 = Some(out.0.map_or(a, |x| x.min(a)));
        out.1 = Some(out.1.map_or(z, |x| x.max(z)));
    }
    out
}

/// One log row per table the batch touched (flare-plus logged every save_* call, Q3 fixed:
/// inserted and updated are real counts). `partial` when records were rejected.
fn log_rows(
    whole: Part<'_, '_>,
    applied: &Applied,
    rejected: &[Refusal],
    [xrays, regions, flares]: [usize; 3],
    started: Instant,
) -> Vec<LogRow> {
    let duration_seconds = started.elapsed().as_secs_f64();
    let row = |source_name,
               kind: Option<RecordKind>,
               fetched: usize,
               u: Upserted,
               (data_start, data_end)| {
        let refused = rejected.iter().filter(|r| Some(r.kind) == kind).count();
        LogRow {
            source_name,
            status: if refused == 0 { "success" } else { "partial" },
            counts: TableCounts {
                fetched: fetched as u64,
                inserted: u.0,
                updated: u.1,
            },
            data_start,
            data_end,
            error_message: (refused > 0).then(|| {
                let first = rejected
                    .iter()
                    .find(|r| Some(r.kind) == kind)
                    .map_or("", |r| r.reason.as_str());
                let msg = format!("{refused} record(s) rejected; first: {first}");
                msg.chars().take(500).collect()
            }),
            duration_seconds,
        }
    };
    let mut rows = Vec::new();
    if xrays > 0 {
        let s = span(whole.xrays, |i| (i.rec.time, i.rec.time));
        rows.push(row(
            "flare_goes_xray_flux",
            Some(RecordKind::Xray),
            xrays,
            applied.xrays,
            s,
        ));
    }
    if regions > 0 {
        let s = span(whole.regions, |i| (i.rec.timestamp, i.rec.timestamp));
        rows.push(row(
            "flare_solar_regions",
            Some(RecordKind::Region),
            regions,
            applied.regions,
            s,
        ));
    }
    if flares > 0 {
        let s = span(whole.flares, |i| {
            (i.rec.start_time, i.rec.end_time.unwrap_or(i.rec.peak_time))
        });
        rows.push(row(
            "flare_event_candidates",
            Some(RecordKind::Flare),
            flares,
            applied.candidates,
            s,
        ));
        let fe = applied.flare_events;
        rows.push(row(
            "flare_events",
            None,
            flares,
            (fe.inserted, fe.updated + fe.deleted),
            s,
        ));
        let solar = donki(whole.flares).len();
        if solar > 0 {
            rows.push(row("solar_flare_events", None, solar, applied.solar, s));
        }
    }
    rows
}
