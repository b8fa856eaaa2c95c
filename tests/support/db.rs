//! Storage-test helpers: the golden flare_events rows, the sample in write batches, one
//! database per test on either backend, and inspection queries.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use flare_plus::detect::{detect_flares_in_observations, MergeRule};
use flare_plus::domain::{FlareCategory, FlareEvent, RegionObservation, XrayObservation};
use flare_plus::store::{Store, StoreConfig, WriteBatch};

use super::{load_donki, load_regions, load_xrays, read_text};

pub fn utc(s: &str) -> DateTime<Utc> {
    for fmt in ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return t.and_utc();
        }
    }
    panic!("unparsable time {s:?}")
}

/// One row of golden/flare_events_db.csv without id (and ingested_at, which it lacks).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct FlareRow {
    pub start_time: DateTime<Utc>,
    pub peak_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub flare_class: String,
    pub class_category: String,
    pub class_magnitude: f64,
    pub active_region: Option<i32>,
    pub location: Option<String>,
    pub source: String,
    pub verified: bool,
}

impl FlareRow {
    pub fn of(f: &FlareEvent) -> FlareRow {
        FlareRow {
            start_time: f.start_time,
            peak_time: f.peak_time,
            end_time: f.end_time,
            flare_class: f.flare_class.clone(),
            class_category: f.class_category.as_str().to_string(),
            class_magnitude: f.class_magnitude,
            active_region: f.active_region,
            location: f.location.clone(),
            source: f.source.as_db_str().to_string(),
            verified: f.verified,
        }
    }
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// golden/flare_events_db.csv, sorted.
pub fn golden_flare_rows() -> Vec<FlareRow> {
    let text = read_text("golden/flare_events_db.csv");
    let mut rows: Vec<FlareRow> = text
        .lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            assert_eq!(c.len(), 11, "{line}");
            FlareRow {
                start_time: utc(c[1]),
                peak_time: utc(c[2]),
                end_time: opt(c[3]).map(utc),
                flare_class: c[4].to_string(),
                class_category: c[5].to_string(),
                class_magnitude: c[6].parse().unwrap(),
                active_region: opt(c[7]).map(|s| s.parse::<f64>().unwrap() as i32),
                location: opt(c[8]).map(str::to_owned),
                source: c[9].to_string(),
                verified: c[10] == "true",
            }
        })
        .collect();
    sort_rows(&mut rows);
    rows
}

pub fn sort_rows(rows: &mut [FlareRow]) {
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
}

/// The 83 detected flares of the sample (the real detector, flare-plus's merge rule).
pub fn load_detected() -> Vec<FlareEvent> {
    detect_flares_in_observations(&load_xrays(), FlareCategory::C, MergeRule::FlarePlus)
}

/// (timestamp, flux_short, flux_long, satellite, data_quality).
pub type DefectRow = (DateTime<Utc>, Option<f64>, Option<f64>, Option<i32>, String);

/// golden/xray_flux_db_defects.csv: (timestamp, short, long, satellite, data_quality), with
/// flare-plus's NaN read as None.
pub fn golden_defects() -> Vec<DefectRow> {
    read_text("golden/xray_flux_db_defects.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            let sat = match c[3] {
                "NaN" | "" => None,
                s => Some(s.parse::<f64>().unwrap() as i32),
            };
            (
                utc(c[0]),
                opt(c[1]).map(|s| s.parse().unwrap()),
                opt(c[2]).map(|s| s.parse().unwrap()),
                sat,
                c[4].to_string(),
            )
        })
        .collect()
}

/// All sample records in batches of `size` records (xrays, then regions, detected, DONKI).
pub fn sample_batches(size: usize) -> Vec<WriteBatch> {
    let mut all: Vec<Rec> = Vec::new();
    all.extend(load_xrays().into_iter().map(Rec::X));
    all.extend(load_regions().into_iter().map(Rec::R));
    all.extend(load_detected().into_iter().map(Rec::F));
    all.extend(load_donki().into_iter().map(Rec::F));
    all.chunks(size).map(to_batch).collect()
}

#[derive(Clone)]
pub enum Rec {
    X(XrayObservation),
    R(RegionObservation),
    F(FlareEvent),
}

pub fn to_batch(recs: &[Rec]) -> WriteBatch {
    let mut b = WriteBatch::default();
    for r in recs {
        match r {
            Rec::X(x) => b.xrays.push(x.clone()),
            Rec::R(r) => b.regions.push(r.clone()),
            Rec::F(f) => b.flares.push(f.clone()),
        }
    }
    b
}

/// A deterministic permutation (LCG-driven Fisher-Yates).
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed;
    for i in (1..v.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((s >> 33) as usize) % (i + 1);
        v.swap(i, j);
    }
}

pub fn t0() -> DateTime<Utc> {
    utc("2024-04-01T00:00:00Z")
}

pub fn t_end() -> DateTime<Utc> {
    utc("2024-07-01T00:00:00Z")
}

/// A fresh database on one backend: its own PostgreSQL cluster, or a SQLite file in a temp dir.
pub enum TestDb {
    Postgres(testkit::Postgres),
    Sqlite(tempfile::TempDir),
}

impl TestDb {
    pub fn postgres() -> TestDb {
        TestDb::Postgres(testkit::Postgres::start())
    }

    pub fn sqlite() -> TestDb {
        TestDb::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Postgres(pg) => pg.url(),
            TestDb::Sqlite(dir) => format!("sqlite://{}/data/flare.db", dir.path().display()),
        }
    }

    pub fn pg(&mut self) -> &mut testkit::Postgres {
        match self {
            TestDb::Postgres(pg) => pg,
            TestDb::Sqlite(_) => panic!("not PostgreSQL"),
        }
    }

    /// A migrated store with short timeouts.
    pub async fn store(&self) -> Store {
        let config = StoreConfig {
            acquire_timeout: Duration::from_secs(2),
            ..StoreConfig::for_url(&self.url())
        };
        let store = Store::connect(&config).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

/// Generates `mod $name { postgres(), sqlite() }` running `$body(TestDb)` on each backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident => $body:ident;)*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(super::support::db::TestDb::postgres()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(super::support::db::TestDb::sqlite()).await
            }
        }
    )*};
}

/// Test-only inspection queries (the pipeline never needs them, so they are not store API).
pub mod inspect {
    use super::TestDb;
    use sqlx::AssertSqlSafe;

    async fn rows_pg<T>(url: &str, sql: String) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let out = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        out
    }

    async fn rows_sqlite<T>(url: &str, sql: String) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let out = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        out
    }

    async fn query<T>(db: &TestDb, sql: String) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        match db {
            TestDb::Postgres(_) => rows_pg(&db.url(), sql).await,
            TestDb::Sqlite(_) => rows_sqlite(&db.url(), sql).await,
        }
    }

    /// (row count, sum of ids, max ingested_at as text): changes if any row is added,
    /// replaced or rewritten.
    pub async fn fingerprint(db: &TestDb, table: &str) -> (i64, i64, Option<String>) {
        let time = if table == "solar_flare_events" {
            "updated_at"
        } else {
            "ingested_at"
        };
        let sql = format!(
            "SELECT count(*), CAST(coalesce(sum(id), 0) AS BIGINT), CAST(max({time}) AS TEXT) FROM {table}"
        );
        query::<(i64, i64, Option<String>)>(db, sql).await.remove(0)
    }

    pub async fn count(db: &TestDb, table: &str) -> i64 {
        query::<(i64,)>(db, format!("SELECT count(*) FROM {table}")).await[0].0
    }

    /// flare_goes_xray_flux rows per data_quality.
    pub async fn data_quality(db: &TestDb) -> Vec<(String, i64)> {
        let sql = "SELECT data_quality, count(*) FROM flare_goes_xray_flux GROUP BY data_quality ORDER BY data_quality";
        query(db, sql.to_string()).await
    }

    /// Sums per source_name and status of flare_ingestion_log:
    /// (source_name, status, rows, fetched, inserted, updated).
    pub async fn log_sums(db: &TestDb) -> Vec<(String, String, i64, i64, i64, i64)> {
        let sql = "SELECT source_name, status, count(*), CAST(sum(records_fetched) AS BIGINT), \
                   CAST(sum(records_inserted) AS BIGINT), CAST(sum(records_updated) AS BIGINT) \
                   FROM flare_ingestion_log GROUP BY source_name, status ORDER BY source_name, status";
        query(db, sql.to_string()).await
    }
}
