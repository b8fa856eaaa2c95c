//! The write-path statements of [`SqliteStore`]: one function per statement, SQL beside it.

use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Sqlite};

use super::{micros, SqliteStore};
use crate::domain::FlareEvent;
use crate::store::error::StoreError;
use crate::store::write::{FlareItem, LogRow, RegionItem, Upserted, WriteBackend, XrayItem};
use crate::store::{Counters, StoreErrorKind};

/// Pushes the eleven FlareEvent columns of `flare_events` / `flare_event_candidates`.
fn push_flare(b: &mut Separated<'_, Sqlite, &'static str>, f: &FlareEvent) {
    b.push_bind(f.source.as_db_str())
        .push_bind(f.external_id.clone())
        .push_bind(micros(f.start_time))
        .push_bind(micros(f.peak_time))
        .push_bind(f.end_time.map(micros))
        .push_bind(f.flare_class.clone())
        .push_bind(f.class_category.as_str())
        .push_bind(f.class_magnitude)
        .push_bind(f.active_region)
        .push_bind(f.location.clone())
        .push_bind(f.verified);
}

impl WriteBackend for SqliteStore {
    type Db = Sqlite;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(e, &self.redactor)
    }

    /// SQLite admits one writer at a time (BEGIN IMMEDIATE): nothing to lock.
    async fn lock_flare_events(&self, _conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    async fn upsert_xrays(
        &self,
        conn: &mut SqliteConnection,
        rows: &[XrayItem<'_>],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const MAX_ID: &str = r#"SELECT coalesce(max(id), 0) FROM flare_goes_xray_flux"#;
        const HEAD: &str = r#"
            INSERT INTO flare_goes_xray_flux AS t
                (feed, timestamp, flux_short, flux_long, satellite, data_quality,
                 electron_contamination_short, electron_contamination_long, ingested_at) "#;
        const TAIL: &str = r#"
            ON CONFLICT (feed, timestamp) DO UPDATE SET
                flux_short = excluded.flux_short,
                flux_long = excluded.flux_long,
                satellite = excluded.satellite,
                data_quality = excluded.data_quality,
                electron_contamination_short = excluded.electron_contamination_short,
                electron_contamination_long = excluded.electron_contamination_long,
                ingested_at = excluded.ingested_at
            WHERE (t.flux_short, t.flux_long, t.satellite, t.data_quality,
                   t.electron_contamination_short, t.electron_contamination_long)
                  IS NOT
                  (excluded.flux_short, excluded.flux_long, excluded.satellite,
                   excluded.data_quality, excluded.electron_contamination_short,
                   excluded.electron_contamination_long)"#;
        let now = micros(now);
        self.upsert_chunked(conn, MAX_ID, HEAD, TAIL, 9, rows, |b, i| {
            let r = i.rec;
            b.push_bind(r.feed.as_str())
                .push_bind(micros(r.time))
                .push_bind(r.flux_short)
                .push_bind(r.flux_long)
                .push_bind(r.satellite)
                .push_bind(r.data_quality().as_str())
                .push_bind(r.electron_contamination_short)
                .push_bind(r.electron_contamination_long)
                .push_bind(now);
        })
        .await
    }

    async fn upsert_regions(
        &self,
        conn: &mut SqliteConnection,
        rows: &[RegionItem<'_>],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const MAX_ID: &str = r#"SELECT coalesce(max(id), 0) FROM flare_solar_regions"#;
        const HEAD: &str = r#"
            INSERT INTO flare_solar_regions AS t
                (timestamp, region_number, latitude, longitude, mcintosh_class,
                 mount_wilson_class, area, num_sunspots, magnetic_type, source_order,
                 ingested_at) "#;
        const TAIL: &str = r#"
            ON CONFLICT (region_number, timestamp) DO UPDATE SET
                latitude = excluded.latitude,
                longitude = excluded.longitude,
                mcintosh_class = excluded.mcintosh_class,
                mount_wilson_class = excluded.mount_wilson_class,
                area = excluded.area,
                num_sunspots = excluded.num_sunspots,
                magnetic_type = excluded.magnetic_type,
                source_order = excluded.source_order,
                ingested_at = excluded.ingested_at
            WHERE (t.latitude, t.longitude, t.mcintosh_class, t.mount_wilson_class, t.area,
                   t.num_sunspots, t.magnetic_type, t.source_order)
                  IS NOT
                  (excluded.latitude, excluded.longitude, excluded.mcintosh_class,
                   excluded.mount_wilson_class, excluded.area, excluded.num_sunspots,
                   excluded.magnetic_type, excluded.source_order)"#;
        let now = micros(now);
        self.upsert_chunked(conn, MAX_ID, HEAD, TAIL, 11, rows, |b, i| {
            let r = i.rec;
            b.push_bind(micros(r.timestamp))
                .push_bind(r.region_number)
                .push_bind(r.latitude)
                .push_bind(r.longitude)
                .push_bind(r.mcintosh_class.clone())
                .push_bind(r.mount_wilson_class.clone())
                .push_bind(r.area)
                .push_bind(r.num_sunspots)
                .push_bind(r.magnetic_type().map(str::to_owned))
                .push_bind(i64::from(r.source_order))
                .push_bind(now);
        })
        .await
    }

    async fn candidates_by_key(
        &self,
        conn: &mut SqliteConnection,
        keys: &[&str],
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_event_candidates
            WHERE candidate_key IN (SELECT value FROM json_each(?1))"#;
        let keys = serde_json::to_string(keys)
            .map_err(|e| StoreError::new(StoreErrorKind::Other, "encode", e.to_string()))?;
        self.fetch_flares(conn, sqlx::query_as(SQL).bind(keys))
            .await
    }

    async fn upsert_candidates(
        &self,
        conn: &mut SqliteConnection,
        rows: &[FlareItem<'_>],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const MAX_ID: &str = r#"SELECT coalesce(max(id), 0) FROM flare_event_candidates"#;
        const HEAD: &str = r#"
            INSERT INTO flare_event_candidates AS t
                (candidate_key, source, external_id, start_time, peak_time, end_time,
                 flare_class, class_category, class_magnitude, active_region, location,
                 verified, ingested_at) "#;
        const TAIL: &str = r#"
            ON CONFLICT (candidate_key) DO UPDATE SET
                source = excluded.source, external_id = excluded.external_id,
                start_time = excluded.start_time, peak_time = excluded.peak_time,
                end_time = excluded.end_time, flare_class = excluded.flare_class,
                class_category = excluded.class_category,
                class_magnitude = excluded.class_magnitude,
                active_region = excluded.active_region, location = excluded.location,
                verified = excluded.verified, ingested_at = excluded.ingested_at
            WHERE (t.source, t.external_id, t.start_time, t.peak_time, t.end_time,
                   t.flare_class, t.class_category, t.class_magnitude, t.active_region,
                   t.location, t.verified)
                  IS NOT
                  (excluded.source, excluded.external_id, excluded.start_time,
                   excluded.peak_time, excluded.end_time, excluded.flare_class,
                   excluded.class_category, excluded.class_magnitude, excluded.active_region,
                   excluded.location, excluded.verified)"#;
        let now = micros(now);
        self.upsert_chunked(conn, MAX_ID, HEAD, TAIL, 13, rows, |b, i| {
            b.push_bind(i.key.clone());
            push_flare(b, i.rec);
            b.push_bind(now);
        })
        .await
    }

    async fn upsert_solar_flare_events(
        &self,
        conn: &mut SqliteConnection,
        rows: &[&FlareEvent],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const MAX_ID: &str = r#"SELECT coalesce(max(id), 0) FROM solar_flare_events"#;
        const HEAD: &str = r#"
            INSERT INTO solar_flare_events AS t
                (external_id, source, begin_time, peak_time, end_time, class_type,
                 source_location, active_region_num, created_at, updated_at) "#;
        const TAIL: &str = r#"
            ON CONFLICT (external_id, source) DO UPDATE SET
                begin_time = excluded.begin_time, peak_time = excluded.peak_time,
                end_time = excluded.end_time, class_type = excluded.class_type,
                source_location = excluded.source_location,
                active_region_num = excluded.active_region_num,
                updated_at = excluded.updated_at
            WHERE (t.begin_time, t.peak_time, t.end_time, t.class_type, t.source_location,
                   t.active_region_num)
                  IS NOT
                  (excluded.begin_time, excluded.peak_time, excluded.end_time,
                   excluded.class_type, excluded.source_location, excluded.active_region_num)"#;
        let now = micros(now);
        self.upsert_chunked(conn, MAX_ID, HEAD, TAIL, 10, rows, |b, f| {
            b.push_bind(f.external_id.clone())
                .push_bind(f.source.as_db_str())
                .push_bind(micros(f.start_time))
                .push_bind(micros(f.peak_time))
                .push_bind(f.end_time.map(micros))
                .push_bind(f.flare_class.clone())
                .push_bind(f.location.clone())
                .push_bind(f.active_region)
                .push_bind(now)
                .push_bind(now);
        })
        .await
    }

    async fn candidates_in_peak_range(
        &self,
        conn: &mut SqliteConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_event_candidates
            WHERE peak_time BETWEEN ?1 AND ?2"#;
        self.fetch_flares(
            conn,
            sqlx::query_as(SQL).bind(micros(from)).bind(micros(to)),
        )
        .await
    }

    async fn flare_events_in_peak_range(
        &self,
        conn: &mut SqliteConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_events
            WHERE peak_time BETWEEN ?1 AND ?2"#;
        self.fetch_flares(
            conn,
            sqlx::query_as(SQL).bind(micros(from)).bind(micros(to)),
        )
        .await
    }

    async fn delete_flare_events(
        &self,
        conn: &mut SqliteConnection,
        keys: &[&str],
    ) -> Result<u64, StoreError> {
        const SQL: &str = r#"
            DELETE FROM flare_events WHERE candidate_key IN (SELECT value FROM json_each(?1))"#;
        let keys = serde_json::to_string(keys)
            .map_err(|e| StoreError::new(StoreErrorKind::Other, "encode", e.to_string()))?;
        self.counters.statement();
        let done = sqlx::query(SQL)
            .bind(keys)
            .execute(conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }

    async fn upsert_flare_events(
        &self,
        conn: &mut SqliteConnection,
        rows: &[&FlareEvent],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const MAX_ID: &str = r#"SELECT coalesce(max(id), 0) FROM flare_events"#;
        const HEAD: &str = r#"
            INSERT INTO flare_events AS t
                (candidate_key, source, external_id, start_time, peak_time, end_time,
                 flare_class, class_category, class_magnitude, active_region, location,
                 verified, ingested_at) "#;
        const TAIL: &str = r#"
            ON CONFLICT (candidate_key) DO UPDATE SET
                source = excluded.source, external_id = excluded.external_id,
                start_time = excluded.start_time, peak_time = excluded.peak_time,
                end_time = excluded.end_time, flare_class = excluded.flare_class,
                class_category = excluded.class_category,
                class_magnitude = excluded.class_magnitude,
                active_region = excluded.active_region, location = excluded.location,
                verified = excluded.verified, ingested_at = excluded.ingested_at"#;
        let now = micros(now);
        self.upsert_chunked(conn, MAX_ID, HEAD, TAIL, 13, rows, |b, f| {
            b.push_bind(f.natural_key());
            push_flare(b, f);
            b.push_bind(now);
        })
        .await
    }

    async fn insert_log(
        &self,
        conn: &mut SqliteConnection,
        rows: &[LogRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const HEAD: &str = r#"
            INSERT INTO flare_ingestion_log
                (run_timestamp, source_name, status, records_fetched, records_inserted,
                 records_updated, data_start_time, data_end_time, error_message,
                 duration_seconds) "#;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut qb = QueryBuilder::<Sqlite>::new(HEAD);
        qb.push_values(rows, |mut b, r| {
            b.push_bind(micros(now))
                .push_bind(r.source_name)
                .push_bind(r.status)
                .push_bind(n(r.counts.fetched))
                .push_bind(n(r.counts.inserted))
                .push_bind(n(r.counts.updated))
                .push_bind(r.data_start.map(micros))
                .push_bind(r.data_end.map(micros))
                .push_bind(r.error_message.clone())
                .push_bind(r.duration_seconds);
        });
        self.counters.statement();
        qb.build().execute(conn).await.map_err(|e| self.err(e))?;
        Ok(())
    }
}
