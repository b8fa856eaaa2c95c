//! PostgreSQL: one UNNEST upsert per table (typed arrays, so a batch is one statement whatever
//! its size), counts from `RETURNING (xmax = 0)` (Q3), a transaction-scoped advisory lock
//! around `flare_events` re-materialisation.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::error::Redactor;
use super::rows;
use super::write::{Upserted, WriteBackend};
use super::{Counters, StoreConfig, StoreError};
use crate::domain::{FlareEvent, RegionObservation, XrayFeed, XrayObservation};

mod upsert;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// Key of the advisory lock that serialises `flare_events` re-materialisation
/// (the bytes of "flareevt").
const FLARE_EVENTS_LOCK: i64 = 0x666c_6172_6565_7674;

/// PostgreSQL backend of [`super::Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    counters: Arc<Counters>,
    redactor: Arc<Redactor>,
}

impl PgStore {
    pub(crate) fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let url = config.url.expose();
        let redactor = Redactor::for_url(&config.url);
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::from_sqlx(e, &redactor))?
            .application_name("flare-plus");
        let connect = super::with_statement_logging(connect, config.slow_statement_threshold());
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_lazy_with(connect);
        Ok(PgStore {
            pool,
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
            WHERE feed = $1 AND timestamp BETWEEN $2 AND $3
            ORDER BY timestamp"#;
        let rows: Vec<rows::Flux<DateTime<Utc>>> = sqlx::query_as(SQL)
            .bind(feed.as_str())
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter().map(|r| r.into_domain(feed, Ok)).collect()
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
            WHERE timestamp BETWEEN $1 AND $2
            ORDER BY timestamp, source_order, region_number"#;
        let rows: Vec<rows::Region<DateTime<Utc>>> = sqlx::query_as(SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter().map(|r| r.into_domain(Ok)).collect()
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
            WHERE peak_time BETWEEN $1 AND $2
            ORDER BY peak_time, start_time, candidate_key"#;
        let rows: Vec<rows::Flare<DateTime<Utc>>> = sqlx::query_as(SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter().map(|r| r.into_domain(Ok)).collect()
    }

    pub(crate) async fn latest_flux_time(
        &self,
        feed: XrayFeed,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        const SQL: &str = r#"SELECT max(timestamp) FROM flare_goes_xray_flux WHERE feed = $1"#;
        let latest: Option<DateTime<Utc>> = sqlx::query_scalar(SQL)
            .bind(feed.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.counters.read(1);
        Ok(latest)
    }

    /// Runs an upsert whose statement ends in `SELECT count(*) FILTER (WHERE inserted),
    /// count(*) FILTER (WHERE NOT inserted)`.
    async fn counted(
        &self,
        q: sqlx::query::QueryAs<'_, sqlx::Postgres, (i64, i64), sqlx::postgres::PgArguments>,
        conn: &mut PgConnection,
    ) -> Result<Upserted, StoreError> {
        self.counters.statement();
        let (inserted, updated) = q.fetch_one(conn).await.map_err(|e| self.err(e))?;
        Ok((inserted as u64, updated as u64))
    }
}

type PgQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>;

impl PgStore {
    async fn fetch_flares(
        &self,
        conn: &mut PgConnection,
        q: PgQueryAs<'_, rows::Flare<DateTime<Utc>>>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        let rows = q.fetch_all(conn).await.map_err(|e| self.err(e))?;
        self.counters.read(rows.len());
        rows.into_iter().map(|r| r.into_domain(Ok)).collect()
    }
}
