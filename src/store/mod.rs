//! Storage: flare-plus's tables in PostgreSQL or SQLite, written in batches, read in bulk.
//!
//! The writer actor calls [`Store::write`] once per JetStream batch and acks after it returns:
//! every row of the batch is committed in one transaction, except records the database refuses
//! for what they contain, which come back in [`WriteStats::rejected`] for the dead-letter
//! subject. A transient error ([`StoreError::is_transient`]) means nothing was committed and
//! the batch should be retried. Writes are idempotent: replaying a batch changes no row.
//!
//! The feature side reads one time range per table with one statement each
//! ([`Store::read_flux`], [`Store::read_regions`], [`Store::read_flare_events`]).
//!
//! Schema: `migrations/{postgres,sqlite}/`. PostgreSQL stores `TIMESTAMPTZ`; SQLite stores
//! INTEGER microseconds since the Unix epoch (UTC), so integer order is time order.

mod config;
mod error;
mod postgres;
mod rows;
mod sqlite;
mod write;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{FlareEvent, Observation, RegionObservation, XrayFeed, XrayObservation};
use crate::profile::Profile;

pub use config::StoreConfig;
pub use error::{StoreError, StoreErrorKind};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Applies [`StoreConfig::slow_statement`] to a backend's connect options.
pub(crate) fn with_statement_logging<C: sqlx::ConnectOptions>(
    connect: C,
    slow_statement: Option<Duration>,
) -> C {
    use log::LevelFilter;
    match slow_statement {
        // Duration::MAX: nothing counts as slow, so no statement escapes the TRACE level
        // (sqlx's default is a WARN for anything over 1 s).
        None => connect
            .log_statements(LevelFilter::Trace)
            .log_slow_statements(LevelFilter::Off, Duration::MAX),
        Some(threshold) => connect
            .log_statements(LevelFilter::Debug)
            .log_slow_statements(LevelFilter::Warn, threshold),
    }
}

/// One batch of observations to store together (one transaction). Each record may carry the
/// caller's tag ([`TaggedBatch::push`]): a record the store refuses comes back with its tag,
/// so the caller finds its origin without searching.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedBatch<T> {
    pub xrays: Vec<XrayObservation>,
    pub regions: Vec<RegionObservation>,
    pub flares: Vec<FlareEvent>,
    /// The tags of `xrays`, `regions` and `flares` by position; empty for untagged records.
    pub tags: Tags<T>,
}

/// A batch without tags (refusals come back by kind and position only).
pub type WriteBatch = TaggedBatch<()>;

/// The caller's tags of a [`TaggedBatch`], one vector per kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Tags<T> {
    pub xrays: Vec<T>,
    pub regions: Vec<T>,
    pub flares: Vec<T>,
}

impl<T> Default for Tags<T> {
    fn default() -> Self {
        Tags {
            xrays: Vec::new(),
            regions: Vec::new(),
            flares: Vec::new(),
        }
    }
}

impl<T> Default for TaggedBatch<T> {
    fn default() -> Self {
        TaggedBatch {
            xrays: Vec::new(),
            regions: Vec::new(),
            flares: Vec::new(),
            tags: Tags::default(),
        }
    }
}

impl<T> TaggedBatch<T> {
    pub fn len(&self) -> usize {
        self.xrays.len() + self.regions.len() + self.flares.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a record with its tag. Progress marks are not records: they are ignored (false).
    pub fn push(&mut self, tag: T, observation: Observation) -> bool {
        match observation {
            Observation::Xray(x) => {
                self.xrays.push(x);
                self.tags.xrays.push(tag);
            }
            Observation::Region(r) => {
                self.regions.push(r);
                self.tags.regions.push(tag);
            }
            Observation::Flare(f) => {
                self.flares.push(f);
                self.tags.flares.push(tag);
            }
            Observation::Progress(_) => return false,
        }
        true
    }

    /// The tag of record `index` of `kind`, if it was pushed with one.
    pub fn tag(&self, kind: RecordKind, index: usize) -> Option<&T> {
        match kind {
            RecordKind::Xray => self.tags.xrays.get(index),
            RecordKind::Region => self.tags.regions.get(index),
            RecordKind::Flare => self.tags.flares.get(index),
        }
    }
}

/// Which vector of a [`WriteBatch`] a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Xray,
    Region,
    Flare,
}

/// A record the store refused because of its content; retrying it cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected<T = ()> {
    pub kind: RecordKind,
    /// Position in the batch's vector for `kind`.
    pub index: usize,
    /// The record's natural key (its `Nats-Msg-Id`).
    pub key: String,
    /// Bounded label (see [`StoreError::code`]).
    pub code: &'static str,
    /// Human-readable reason (credentials redacted).
    pub reason: String,
    /// The caller's tag of the record (see [`TaggedBatch::push`]).
    pub tag: Option<T>,
}

/// Insert/update counts for one table. `fetched - inserted - updated` rows were already
/// stored with the same content (or were superseded or rejected).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
}

/// Changes that re-materialisation made to `flare_events`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlareEventChanges {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// What one [`Store::write`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteStats<T = ()> {
    pub xrays: TableCounts,
    pub regions: TableCounts,
    pub flare_candidates: TableCounts,
    pub solar_flare_events: TableCounts,
    pub flare_events: FlareEventChanges,
    /// Records dropped because a later record of the same batch had the same key.
    pub superseded: u64,
    /// Records refused for their content (to dead-letter); all others were committed.
    pub rejected: Vec<Rejected<T>>,
}

impl<T> Default for WriteStats<T> {
    fn default() -> Self {
        WriteStats {
            xrays: TableCounts::default(),
            regions: TableCounts::default(),
            flare_candidates: TableCounts::default(),
            solar_flare_events: TableCounts::default(),
            flare_events: FlareEventChanges::default(),
            superseded: 0,
            rejected: Vec::new(),
        }
    }
}

/// Profiling counters since connect (or since the last [`Store::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// SQL statements sent, transaction control (BEGIN/COMMIT/SAVEPOINT) excluded.
    pub statements: u64,
    /// Rows returned by SELECTs.
    pub rows_read: u64,
    /// Transactions committed.
    pub commits: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    statements: AtomicU64,
    rows_read: AtomicU64,
    commits: AtomicU64,
}

impl Counters {
    pub(crate) fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, rows: usize) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.rows_read.fetch_add(rows as u64, Ordering::Relaxed);
    }

    pub(crate) fn commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StoreStats {
        StoreStats {
            statements: self.statements.load(Ordering::Relaxed),
            rows_read: self.rows_read.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }

    fn reset(&self) {
        self.statements.store(0, Ordering::Relaxed);
        self.rows_read.store(0, Ordering::Relaxed);
        self.commits.store(0, Ordering::Relaxed);
    }
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The storage API the pipeline uses: PostgreSQL or SQLite, chosen by the URL scheme.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Store {
    /// Opens a pool for `postgres://…` or `sqlite://path` (also `sqlite:path`,
    /// `sqlite::memory:`). No connection is made yet, so this succeeds while the database is
    /// down; [`Store::ping`] or [`Store::migrate`] checks it. SQLite files (and their
    /// directory) are created if missing and use WAL with `synchronous=NORMAL`.
    pub async fn connect(config: &StoreConfig) -> Result<Store, StoreError> {
        let url = config.url.expose();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::connect(config)?))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::connect(config)?))
        } else {
            Err(StoreError::config(format!(
                "unsupported store URL {} (expected postgres:// or sqlite:)",
                config.url
            )))
        }
    }

    /// [`Store::connect`] then [`Store::migrate`]: what the writer does at start and
    /// `flare-plus migrate` does alone.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Postgres(_) => Backend::Postgres,
            Store::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies the embedded migrations (idempotent; concurrent callers are serialised).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(s) => s.migrate().await,
            Store::Sqlite(s) => s.migrate().await,
        }
    }

    /// One round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(s) => s.ping().await,
            Store::Sqlite(s) => s.ping().await,
        }
    }

    /// Stores a batch: dedup inside the batch (last wins), then one transaction with one
    /// multi-row upsert per table, `flare_events` re-materialised for the affected peak range,
    /// and one `flare_ingestion_log` row per table. Records refused for their content are
    /// isolated (bisection inside the same transaction) and returned in
    /// [`WriteStats::rejected`]; everything else is committed. On any other error nothing is
    /// committed.
    pub async fn write<T: Clone + Sync>(
        &self,
        batch: &TaggedBatch<T>,
        profile: Profile,
    ) -> Result<WriteStats<T>, StoreError> {
        match self {
            Store::Postgres(s) => write::write_batch(s, batch, profile).await,
            Store::Sqlite(s) => write::write_batch(s, batch, profile).await,
        }
    }

    /// Flux of `feed` with `from <= timestamp <= to`, ordered by time (spec 3.4: both ends
    /// inclusive). One statement.
    pub async fn read_flux(
        &self,
        feed: XrayFeed,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<XrayObservation>, StoreError> {
        match self {
            Store::Postgres(s) => s.read_flux(feed, from, to).await,
            Store::Sqlite(s) => s.read_flux(feed, from, to).await,
        }
    }

    /// Region rows with `from <= timestamp <= to`, ordered by (timestamp, source_order,
    /// region_number): the last row of a timestamp is the one flare-plus took. One statement.
    pub async fn read_regions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RegionObservation>, StoreError> {
        match self {
            Store::Postgres(s) => s.read_regions(from, to).await,
            Store::Sqlite(s) => s.read_regions(from, to).await,
        }
    }

    /// Rows of flare-plus's `flare_events` with `peak_from <= peak_time <= peak_to`, ordered by
    /// peak_time (ties: start_time, then the candidate key). One statement.
    pub async fn read_flare_events(
        &self,
        peak_from: DateTime<Utc>,
        peak_to: DateTime<Utc>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        match self {
            Store::Postgres(s) => s.read_flare_events(peak_from, peak_to).await,
            Store::Sqlite(s) => s.read_flare_events(peak_from, peak_to).await,
        }
    }

    /// The newest stored flux time of `feed` (flare-plus's `get_latest_xray_timestamp`).
    pub async fn latest_flux_time(
        &self,
        feed: XrayFeed,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            Store::Postgres(s) => s.latest_flux_time(feed).await,
            Store::Sqlite(s) => s.latest_flux_time(feed).await,
        }
    }

    /// Statement and row counters since connect.
    pub fn stats(&self) -> StoreStats {
        self.counters().snapshot()
    }

    pub fn reset_stats(&self) {
        self.counters().reset()
    }

    /// Closes the pool (waits for checked-out connections to come back).
    pub async fn close(&self) {
        match self {
            Store::Postgres(s) => s.close().await,
            Store::Sqlite(s) => s.close().await,
        }
    }

    fn counters(&self) -> &Counters {
        match self {
            Store::Postgres(s) => s.counters(),
            Store::Sqlite(s) => s.counters(),
        }
    }
}
