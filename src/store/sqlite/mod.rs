//! SQLite: multi-row `VALUES` upserts chunked under the bind limit (per-row statements cost a
//! thread hand-off each, limits.md), times as INTEGER microseconds (UTC), insert/update counts
//! from `max(id)` before and after (a new row always gets `max(id) + 1`) and `changes()`.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use super::error::Redactor;
use super::rows;
use super::write::{Upserted, WriteBackend};
use super::{Counters, StoreConfig, StoreError, StoreErrorKind};
use crate::domain::{FlareEvent, RegionObservation, XrayFeed, XrayObservation};

mod upsert;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// Binds per statement: below SQLite's default SQLITE_MAX_VARIABLE_NUMBER (32766).
const MAX_BINDS: usize = 32_000;
/// Rows per statement; beyond this, bigger statements stop paying (store_bench).
const MAX_ROWS: usize = 1_000;

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(m: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(m).ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Migration,
            "schema_mismatch",
            format!("timestamp {m} out of range"),
        )
    })
}

/// Prepared statements kept per connection (the common full-batch shapes stay cached).
const SQLITE_STATEMENT_CACHE: usize = 8;

/// SQLite backend of [`super::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    counters: Arc<Counters>,
    redactor: Arc<Redactor>,
}

impl SqliteStore {
    pub(crate) fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let url = config.url.expose();
        let redactor = Redactor::for_url(&config.url);
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::from_sqlx(e, &redactor))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(config.sqlite_busy_timeout)
            // Bulk upserts are multi-row statements whose text varies with the batch's row
            // count; each distinct one compiles to a large program. sqlx's default cache (100
            // per connection) kept about 20 MiB of them per connection on a year's replay.
            .statement_cache_capacity(SQLITE_STATEMENT_CACHE);
        let connect = super::with_statement_logging(connect, config.slow_statement_threshold());
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = SqlitePoolOptions::new().acquire_timeout(config.acquire_timeout);
        if in_memory {
            // Every connection to :memory: is its own database: keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            pool = pool.max_connections(config.max_connections.max(1));
            if let Some(dir) = connect
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::config(format!(
                        "cannot create the directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        Ok(SqliteStore {
            pool: pool.connect_lazy_with(connect),
            counters: Arc::default(),
            redactor: Arc::new(redactor),
        })
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::from_migrate(e, &self.redactor))
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        const SQL: &str = r#"SELECT 1"#;
        self.counters.statement();
        sqlx::query(SQL)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) async fn read_flux(
        &self,
        feed: XrayFeed,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<XrayObservation>, StoreError> {
        const SQL: &str = r#"
            SELECT timestamp, satellite, flux_short, flux_long,
                   electron_contamination_short, electron_contamination_long
            FROM flare_goes_xray_flux
            WHERE feed = ?1 AND timestamp BETWEEN ?2 AND ?3
            ORDER BY timestamp"#;
        let rows: Vec<rows::Flux<i64>> = sqlx::query_as(SQL)
            .bind(feed.as_str())
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter()
            .map(|r| r.into_domain(feed, from_micros))
            .collect()
    }

    pub(crate) async fn read_regions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RegionObservation>, StoreError> {
        const SQL: &str = r#"
            SELECT timestamp, region_number, latitude, longitude, mcintosh_class,
                   mount_wilson_class, area, num_sunspots, source_order
            FROM flare_solar_regions
            WHERE timestamp BETWEEN ?1 AND ?2
            ORDER BY timestamp, source_order, region_number"#;
        let rows: Vec<rows::Region<i64>> = sqlx::query_as(SQL)
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter()
            .map(|r| r.into_domain(from_micros))
            .collect()
    }

    pub(crate) async fn read_flare_events(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_events
            WHERE peak_time BETWEEN ?1 AND ?2
            ORDER BY peak_time, start_time, candidate_key"#;
        let rows: Vec<rows::Flare<i64>> = sqlx::query_as(SQL)
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter()
            .map(|r| r.into_domain(from_micros))
            .collect()
    }

    pub(crate) async fn latest_flux_time(
        &self,
        feed: XrayFeed,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        const SQL: &str = r#"SELECT max(timestamp) FROM flare_goes_xray_flux WHERE feed = ?1"#;
        let latest: Option<i64> = sqlx::query_scalar(SQL)
            .bind(feed.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(1);
        latest.map(from_micros).transpose()
    }

    async fn fetch_flares<'q>(
        &self,
        conn: &mut SqliteConnection,
        q: sqlx::query::QueryAs<'q, Sqlite, rows::Flare<i64>, sqlx::sqlite::SqliteArguments>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        let rows = q.fetch_all(conn).await.map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter()
            .map(|r| r.into_domain(from_micros))
            .collect()
    }

    /// `max(id)` of a table (0 when empty), for counting inserts.
    async fn max_id(
        &self,
        conn: &mut SqliteConnection,
        sql: &'static str,
    ) -> Result<i64, StoreError> {
        self.counters.read(1);
        sqlx::query_scalar(sql)
            .fetch_one(conn)
            .await
            .map_err(|e| self.err(e))
    }

    /// Runs `head VALUES (...), ... tail` over `rows` in chunks and returns (inserted, updated):
    /// inserted from the growth of `max(id)`, updated from the changed rows minus inserted.
    #[allow(clippy::too_many_arguments)]
    async fn upsert_chunked<T>(
        &self,
        conn: &mut SqliteConnection,
        max_id_sql: &'static str,
        head: &'static str,
        tail: &'static str,
        columns: usize,
        rows: &[T],
        push: impl Fn(&mut Separated<'_, Sqlite, &'static str>, &T),
    ) -> Result<Upserted, StoreError> {
        let before = self.max_id(conn, max_id_sql).await?;
        let mut changed = 0;
        for chunk in rows.chunks((MAX_BINDS / columns).clamp(1, MAX_ROWS)) {
            let mut qb = QueryBuilder::<Sqlite>::new(head);
            qb.push_values(chunk, |mut b, row| push(&mut b, row));
            qb.push(tail);
            self.counters.statement();
            changed += qb
                .build()
                .execute(&mut *conn)
                .await
                .map_err(|e| self.err(e))?
                .rows_affected();
        }
        let after = self.max_id(conn, max_id_sql).await?;
        let inserted = u64::try_from(after - before).unwrap_or(0);
        Ok((inserted, changed.saturating_sub(inserted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_integer_micros_in_time_order() {
        let a = DateTime::from_timestamp(1_714_521_600, 0).unwrap_or_default();
        let b = a + chrono::Duration::microseconds(1);
        assert!(micros(a) < micros(b));
        assert_eq!(from_micros(micros(b)).ok(), Some(b));
    }

    #[test]
    fn relative_sqlite_urls_are_paths() {
        let opts = SqliteConnectOptions::from_str("sqlite://./data/flare.db");
        let name = opts.map(|o| o.get_filename().to_path_buf()).ok();
        assert_eq!(name, Some(std::path::PathBuf::from("./data/flare.db")));
    }
}
