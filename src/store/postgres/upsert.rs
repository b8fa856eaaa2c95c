//! The write-path statements of [`PgStore`]: one function per statement, SQL beside it.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool};

use super::{PgQueryAs, PgStore, FLARE_EVENTS_LOCK};
use crate::domain::{FlareEvent, XrayObservation};
use crate::store::error::StoreError;
use crate::store::write::{FlareItem, LogRow, RegionItem, Upserted, WriteBackend, XrayItem};
use crate::store::Counters;

impl WriteBackend for PgStore {
    type Db = sqlx::Postgres;
    const BEGIN: &'static str = "BEGIN";

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(e, &self.redactor)
    }

    async fn lock_flare_events(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        const SQL: &str = r#"SELECT pg_advisory_xact_lock($1)"#;
        self.counters.statement();
        sqlx::query(SQL)
            .bind(FLARE_EVENTS_LOCK)
            .execute(conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn upsert_xrays(
        &self,
        conn: &mut PgConnection,
        rows: &[XrayItem<'_>],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const SQL: &str = r#"
            WITH written AS (
                INSERT INTO flare_goes_xray_flux AS t
                    (feed, timestamp, flux_short, flux_long, satellite, data_quality,
                     electron_contamination_short, electron_contamination_long, ingested_at)
                SELECT u.feed, u.ts, u.fs, u.fl, u.sat, u.dq, u.ecs, u.ecl, $9
                FROM UNNEST($1::text[], $2::timestamptz[], $3::float8[], $4::float8[],
                            $5::int4[], $6::text[], $7::bool[], $8::bool[])
                     AS u(feed, ts, fs, fl, sat, dq, ecs, ecl)
                ON CONFLICT (feed, timestamp) DO UPDATE SET
                    flux_short = EXCLUDED.flux_short,
                    flux_long = EXCLUDED.flux_long,
                    satellite = EXCLUDED.satellite,
                    data_quality = EXCLUDED.data_quality,
                    electron_contamination_short = EXCLUDED.electron_contamination_short,
                    electron_contamination_long = EXCLUDED.electron_contamination_long,
                    ingested_at = EXCLUDED.ingested_at
                WHERE (t.flux_short, t.flux_long, t.satellite, t.data_quality,
                       t.electron_contamination_short, t.electron_contamination_long)
                      IS DISTINCT FROM
                      (EXCLUDED.flux_short, EXCLUDED.flux_long, EXCLUDED.satellite,
                       EXCLUDED.data_quality, EXCLUDED.electron_contamination_short,
                       EXCLUDED.electron_contamination_long)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM written"#;
        let col = |f: fn(&XrayObservation) -> _| rows.iter().map(|i| f(i.rec)).collect::<Vec<_>>();
        let feeds: Vec<&str> = rows.iter().map(|i| i.rec.feed.as_str()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|i| i.rec.time).collect();
        let short: Vec<Option<f64>> = col(|r| r.flux_short);
        let long: Vec<Option<f64>> = col(|r| r.flux_long);
        let sat: Vec<Option<i32>> = rows.iter().map(|i| i.rec.satellite).collect();
        let dq: Vec<&str> = rows.iter().map(|i| i.rec.data_quality().as_str()).collect();
        let ecs: Vec<Option<bool>> = rows
            .iter()
            .map(|i| i.rec.electron_contamination_short)
            .collect();
        let ecl: Vec<Option<bool>> = rows
            .iter()
            .map(|i| i.rec.electron_contamination_long)
            .collect();
        let q = sqlx::query_as(SQL)
            .bind(feeds)
            .bind(times)
            .bind(short)
            .bind(long)
            .bind(sat)
            .bind(dq)
            .bind(ecs)
            .bind(ecl)
            .bind(now);
        self.counted(q, conn).await
    }

    async fn upsert_regions(
        &self,
        conn: &mut PgConnection,
        rows: &[RegionItem<'_>],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const SQL: &str = r#"
            WITH written AS (
                INSERT INTO flare_solar_regions AS t
                    (timestamp, region_number, latitude, longitude, mcintosh_class,
                     mount_wilson_class, area, num_sunspots, magnetic_type, source_order,
                     ingested_at)
                SELECT u.ts, u.rn, u.lat, u.lon, u.mc, u.mw, u.area, u.ns, u.mw, u.so, $10
                FROM UNNEST($1::timestamptz[], $2::int4[], $3::float8[], $4::float8[],
                            $5::text[], $6::text[], $7::int4[], $8::int4[], $9::int8[])
                     AS u(ts, rn, lat, lon, mc, mw, area, ns, so)
                ON CONFLICT (region_number, timestamp) DO UPDATE SET
                    latitude = EXCLUDED.latitude,
                    longitude = EXCLUDED.longitude,
                    mcintosh_class = EXCLUDED.mcintosh_class,
                    mount_wilson_class = EXCLUDED.mount_wilson_class,
                    area = EXCLUDED.area,
                    num_sunspots = EXCLUDED.num_sunspots,
                    magnetic_type = EXCLUDED.magnetic_type,
                    source_order = EXCLUDED.source_order,
                    ingested_at = EXCLUDED.ingested_at
                WHERE (t.latitude, t.longitude, t.mcintosh_class, t.mount_wilson_class, t.area,
                       t.num_sunspots, t.magnetic_type, t.source_order)
                      IS DISTINCT FROM
                      (EXCLUDED.latitude, EXCLUDED.longitude, EXCLUDED.mcintosh_class,
                       EXCLUDED.mount_wilson_class, EXCLUDED.area, EXCLUDED.num_sunspots,
                       EXCLUDED.magnetic_type, EXCLUDED.source_order)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM written"#;
        let q = sqlx::query_as(SQL)
            .bind(rows.iter().map(|i| i.rec.timestamp).collect::<Vec<_>>())
            .bind(rows.iter().map(|i| i.rec.region_number).collect::<Vec<_>>())
            .bind(rows.iter().map(|i| i.rec.latitude).collect::<Vec<_>>())
            .bind(rows.iter().map(|i| i.rec.longitude).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|i| i.rec.mcintosh_class.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|i| i.rec.mount_wilson_class.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|i| i.rec.area).collect::<Vec<_>>())
            .bind(rows.iter().map(|i| i.rec.num_sunspots).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|i| i64::from(i.rec.source_order))
                    .collect::<Vec<_>>(),
            )
            .bind(now);
        self.counted(q, conn).await
    }

    async fn candidates_by_key(
        &self,
        conn: &mut PgConnection,
        keys: &[&str],
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_event_candidates
            WHERE candidate_key = ANY($1)"#;
        self.fetch_flares(conn, sqlx::query_as(SQL).bind(keys))
            .await
    }

    async fn upsert_candidates(
        &self,
        conn: &mut PgConnection,
        rows: &[FlareItem<'_>],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const SQL: &str = r#"
            WITH written AS (
                INSERT INTO flare_event_candidates AS t
                    (candidate_key, source, external_id, start_time, peak_time, end_time,
                     flare_class, class_category, class_magnitude, active_region, location,
                     verified, ingested_at)
                SELECT u.*, $13
                FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                            $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[],
                            $9::float8[], $10::int4[], $11::text[], $12::bool[])
                     AS u(key, source, ext, st, pk, en, cls, cat, mag, ar, loc, ver)
                ON CONFLICT (candidate_key) DO UPDATE SET
                    source = EXCLUDED.source, external_id = EXCLUDED.external_id,
                    start_time = EXCLUDED.start_time, peak_time = EXCLUDED.peak_time,
                    end_time = EXCLUDED.end_time, flare_class = EXCLUDED.flare_class,
                    class_category = EXCLUDED.class_category,
                    class_magnitude = EXCLUDED.class_magnitude,
                    active_region = EXCLUDED.active_region, location = EXCLUDED.location,
                    verified = EXCLUDED.verified, ingested_at = EXCLUDED.ingested_at
                WHERE (t.source, t.external_id, t.start_time, t.peak_time, t.end_time,
                       t.flare_class, t.class_category, t.class_magnitude, t.active_region,
                       t.location, t.verified)
                      IS DISTINCT FROM
                      (EXCLUDED.source, EXCLUDED.external_id, EXCLUDED.start_time,
                       EXCLUDED.peak_time, EXCLUDED.end_time, EXCLUDED.flare_class,
                       EXCLUDED.class_category, EXCLUDED.class_magnitude,
                       EXCLUDED.active_region, EXCLUDED.location, EXCLUDED.verified)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM written"#;
        let keys: Vec<&str> = rows.iter().map(|i| i.key.as_str()).collect();
        let events: Vec<&FlareEvent> = rows.iter().map(|i| i.rec).collect();
        let q = bind_flares(sqlx::query_as(SQL).bind(keys), &events).bind(now);
        self.counted(q, conn).await
    }

    async fn upsert_solar_flare_events(
        &self,
        conn: &mut PgConnection,
        rows: &[&FlareEvent],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const SQL: &str = r#"
            WITH written AS (
                INSERT INTO solar_flare_events AS t
                    (external_id, source, begin_time, peak_time, end_time, class_type,
                     source_location, active_region_num, created_at, updated_at)
                SELECT u.ext, 'nasa_donki', u.st, u.pk, u.en, u.cls, u.loc, u.ar, $8, $8
                FROM UNNEST($1::text[], $2::timestamptz[], $3::timestamptz[],
                            $4::timestamptz[], $5::text[], $6::text[], $7::int4[])
                     AS u(ext, st, pk, en, cls, loc, ar)
                ON CONFLICT (external_id, source) DO UPDATE SET
                    begin_time = EXCLUDED.begin_time, peak_time = EXCLUDED.peak_time,
                    end_time = EXCLUDED.end_time, class_type = EXCLUDED.class_type,
                    source_location = EXCLUDED.source_location,
                    active_region_num = EXCLUDED.active_region_num,
                    updated_at = EXCLUDED.updated_at
                WHERE (t.begin_time, t.peak_time, t.end_time, t.class_type, t.source_location,
                       t.active_region_num)
                      IS DISTINCT FROM
                      (EXCLUDED.begin_time, EXCLUDED.peak_time, EXCLUDED.end_time,
                       EXCLUDED.class_type, EXCLUDED.source_location, EXCLUDED.active_region_num)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM written"#;
        let q = sqlx::query_as(SQL)
            .bind(
                rows.iter()
                    .map(|f| f.external_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|f| f.start_time).collect::<Vec<_>>())
            .bind(rows.iter().map(|f| f.peak_time).collect::<Vec<_>>())
            .bind(rows.iter().map(|f| f.end_time).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|f| f.flare_class.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|f| f.location.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|f| f.active_region).collect::<Vec<_>>())
            .bind(now);
        self.counted(q, conn).await
    }

    async fn candidates_in_peak_range(
        &self,
        conn: &mut PgConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_event_candidates
            WHERE peak_time BETWEEN $1 AND $2"#;
        self.fetch_flares(conn, sqlx::query_as(SQL).bind(from).bind(to))
            .await
    }

    async fn flare_events_in_peak_range(
        &self,
        conn: &mut PgConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FlareEvent>, StoreError> {
        const SQL: &str = r#"
            SELECT source, external_id, start_time, peak_time, end_time, flare_class,
                   class_category, class_magnitude, active_region, location, verified
            FROM flare_events
            WHERE peak_time BETWEEN $1 AND $2"#;
        self.fetch_flares(conn, sqlx::query_as(SQL).bind(from).bind(to))
            .await
    }

    async fn delete_flare_events(
        &self,
        conn: &mut PgConnection,
        keys: &[&str],
    ) -> Result<u64, StoreError> {
        const SQL: &str = r#"DELETE FROM flare_events WHERE candidate_key = ANY($1)"#;
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
        conn: &mut PgConnection,
        rows: &[&FlareEvent],
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        const SQL: &str = r#"
            WITH written AS (
                INSERT INTO flare_events AS t
                    (candidate_key, source, external_id, start_time, peak_time, end_time,
                     flare_class, class_category, class_magnitude, active_region, location,
                     verified, ingested_at)
                SELECT u.*, $13
                FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                            $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[],
                            $9::float8[], $10::int4[], $11::text[], $12::bool[])
                     AS u(key, source, ext, st, pk, en, cls, cat, mag, ar, loc, ver)
                ON CONFLICT (candidate_key) DO UPDATE SET
                    source = EXCLUDED.source, external_id = EXCLUDED.external_id,
                    start_time = EXCLUDED.start_time, peak_time = EXCLUDED.peak_time,
                    end_time = EXCLUDED.end_time, flare_class = EXCLUDED.flare_class,
                    class_category = EXCLUDED.class_category,
                    class_magnitude = EXCLUDED.class_magnitude,
                    active_region = EXCLUDED.active_region, location = EXCLUDED.location,
                    verified = EXCLUDED.verified, ingested_at = EXCLUDED.ingested_at
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM written"#;
        let keys: Vec<String> = rows.iter().map(|f| f.natural_key()).collect();
        let q = bind_flares(sqlx::query_as(SQL).bind(keys), rows).bind(now);
        self.counted(q, conn).await
    }

    async fn insert_log(
        &self,
        conn: &mut PgConnection,
        rows: &[LogRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = r#"
            INSERT INTO flare_ingestion_log
                (run_timestamp, source_name, status, records_fetched, records_inserted,
                 records_updated, data_start_time, data_end_time, error_message,
                 duration_seconds)
            SELECT $1, u.*
            FROM UNNEST($2::text[], $3::text[], $4::int4[], $5::int4[], $6::int4[],
                        $7::timestamptz[], $8::timestamptz[], $9::text[], $10::float8[])
                 AS u(source_name, status, fetched, inserted, updated, data_start, data_end,
                      error_message, duration)"#;
        let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        self.counters.statement();
        sqlx::query(SQL)
            .bind(now)
            .bind(rows.iter().map(|r| r.source_name).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| n(r.counts.fetched)).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| n(r.counts.inserted))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| n(r.counts.updated)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.data_start).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.data_end).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.error_message.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.duration_seconds).collect::<Vec<_>>())
            .execute(conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Binds the eleven FlareEvent columns as arrays ($2..$12 after the key array).
fn bind_flares<'q, O>(q: PgQueryAs<'q, O>, rows: &[&'q FlareEvent]) -> PgQueryAs<'q, O> {
    q.bind(
        rows.iter()
            .map(|f| f.source.as_db_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|f| f.external_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|f| f.start_time).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.peak_time).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.end_time).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|f| f.flare_class.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|f| f.class_category.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|f| f.class_magnitude).collect::<Vec<_>>())
    .bind(rows.iter().map(|f| f.active_region).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|f| f.location.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|f| f.verified).collect::<Vec<_>>())
}
