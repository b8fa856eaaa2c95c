//! Store::write throughput next to a bare sqlx multi-row insert of the same rows.
//!
//! `cargo bench --bench store` (PostgreSQL from testkit with stock
//! durability, SQLite in a temp dir). For each case: 3 runs, each into a fresh database,
//! Store::write and the bare insert alternating; prints medians and store/bare.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use flare_plus::domain::{XrayFeed, XrayObservation};
use flare_plus::profile::Profile;
use flare_plus::store::{Store, StoreConfig, WriteBatch};
use sqlx::{QueryBuilder, Sqlite};

const RUNS: usize = 3;
/// Rows per bare SQLite statement: the same chunking Store uses (1000 rows, 9 columns).
const SQLITE_ROWS: usize = 1000;

fn synthetic_year() -> Vec<XrayObservation> {
    let start = support::db::utc("2023-01-01T00:00:00Z");
    (0..525_600i64)
        .map(|m| {
            let phase = (m as f64 / 1440.0).sin();
            XrayObservation {
                feed: XrayFeed::Primary,
                time: start + Duration::minutes(m),
                satellite: Some(16),
                flux_short: Some(1e-8 * (2.0 + phase)),
                flux_long: if m % 997 == 0 {
                    None
                } else {
                    Some(1e-6 * (2.0 + phase))
                },
                electron_contamination_short: Some(false),
                electron_contamination_long: Some(false),
            }
        })
        .collect()
}

enum Target {
    Postgres(testkit::Postgres),
    Sqlite(tempfile::TempDir),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Postgres(_) => "postgres",
            Target::Sqlite(_) => "sqlite",
        }
    }

    fn fresh_url(&self, tag: &str) -> String {
        match self {
            Target::Postgres(pg) => pg.create_database(tag),
            Target::Sqlite(dir) => format!("sqlite://{}/{tag}.db", dir.path().display()),
        }
    }
}

async fn fresh_store(target: &Target, tag: &str) -> Store {
    let store = Store::connect(&StoreConfig::for_url(&target.fresh_url(tag)))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// Rows/s of Store::write over `rows` in batches of `batch`.
async fn run_store(target: &Target, tag: &str, rows: &[XrayObservation], batch: usize) -> f64 {
    let store = fresh_store(target, tag).await;
    let batches: Vec<WriteBatch> = rows
        .chunks(batch)
        .map(|c| WriteBatch {
            xrays: c.to_vec(),
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    for b in &batches {
        let stats = store.write(b, Profile::FlarePlus).await.unwrap();
        assert_eq!(stats.xrays.inserted as usize, b.xrays.len());
    }
    let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    rate
}

/// Rows/s of the bare insert: PostgreSQL one UNNEST INSERT … ON CONFLICT DO NOTHING per batch
/// (autocommit); SQLite one transaction per batch of multi-row VALUES statements.
async fn run_bare(target: &Target, tag: &str, rows: &[XrayObservation], batch: usize) -> f64 {
    let store = fresh_store(target, tag).await; // migrated schema, same table
    store.close().await;
    let url = target.fresh_url_existing(tag);
    let now = Utc::now();
    let started;
    match target {
        Target::Postgres(_) => {
            const SQL: &str = r#"
                INSERT INTO flare_goes_xray_flux
                    (feed, timestamp, flux_short, flux_long, satellite, data_quality,
                     electron_contamination_short, electron_contamination_long, ingested_at)
                SELECT u.*, $9
                FROM UNNEST($1::text[], $2::timestamptz[], $3::float8[], $4::float8[],
                            $5::int4[], $6::text[], $7::bool[], $8::bool[]) AS u
                ON CONFLICT (feed, timestamp) DO NOTHING"#;
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            started = Instant::now();
            for c in rows.chunks(batch) {
                sqlx::query(SQL)
                    .bind(c.iter().map(|r| r.feed.as_str()).collect::<Vec<_>>())
                    .bind(c.iter().map(|r| r.time).collect::<Vec<DateTime<Utc>>>())
                    .bind(c.iter().map(|r| r.flux_short).collect::<Vec<_>>())
                    .bind(c.iter().map(|r| r.flux_long).collect::<Vec<_>>())
                    .bind(c.iter().map(|r| r.satellite).collect::<Vec<_>>())
                    .bind(
                        c.iter()
                            .map(|r| r.data_quality().as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(
                        c.iter()
                            .map(|r| r.electron_contamination_short)
                            .collect::<Vec<_>>(),
                    )
                    .bind(
                        c.iter()
                            .map(|r| r.electron_contamination_long)
                            .collect::<Vec<_>>(),
                    )
                    .bind(now)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
            pool.close().await;
            rate
        }
        Target::Sqlite(_) => {
            const HEAD: &str = r#"
                INSERT INTO flare_goes_xray_flux
                    (feed, timestamp, flux_short, flux_long, satellite, data_quality,
                     electron_contamination_short, electron_contamination_long, ingested_at) "#;
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(
                opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal),
            )
            .await
            .unwrap();
            let now = now.timestamp_micros();
            started = Instant::now();
            for c in rows.chunks(batch) {
                let mut tx = pool.begin().await.unwrap();
                for part in c.chunks(SQLITE_ROWS) {
                    let mut qb = QueryBuilder::<Sqlite>::new(HEAD);
                    qb.push_values(part, |mut b, r| {
                        b.push_bind(r.feed.as_str())
                            .push_bind(r.time.timestamp_micros())
                            .push_bind(r.flux_short)
                            .push_bind(r.flux_long)
                            .push_bind(r.satellite)
                            .push_bind(r.data_quality().as_str())
                            .push_bind(r.electron_contamination_short)
                            .push_bind(r.electron_contamination_long)
                            .push_bind(now);
                    });
                    qb.push(" ON CONFLICT (feed, timestamp) DO NOTHING");
                    qb.build().execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
            let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
            pool.close().await;
            rate
        }
    }
}

impl Target {
    /// URL of a database made by [`Target::fresh_url`] with the same tag.
    fn fresh_url_existing(&self, tag: &str) -> String {
        match self {
            Target::Postgres(pg) => pg.url_for(tag),
            Target::Sqlite(dir) => format!("sqlite://{}/{tag}.db", dir.path().display()),
        }
    }
}

/// Busy share of all CPUs over `ms` milliseconds, from /proc/stat.
fn busy_share(ms: u64) -> f64 {
    let sample = || -> (u64, u64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
        (cpu.iter().sum(), idle)
    };
    let (t0, i0) = sample();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let (t1, i1) = sample();
    let total = (t1 - t0).max(1) as f64;
    1.0 - (i1 - i0) as f64 / total
}

/// Waits (up to 60 s) until the machine is below 15% busy, so other work on the shared
/// machine disturbs the runs less.
fn wait_idle() {
    for _ in 0..120 {
        if busy_share(500) < 0.15 {
            return;
        }
    }
    eprintln!("warning: machine still busy; measuring anyway");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sample = support::load_xrays();
    let year = synthetic_year();
    let targets = [
        Target::Postgres(testkit::Postgres::start_durable()),
        Target::Sqlite(tempfile::tempdir().unwrap()),
    ];
    let cases: [(&str, &[XrayObservation], usize); 4] = [
        ("sample", &sample, 1000),
        ("sample", &sample, 5000),
        ("year", &year, 1000),
        ("year", &year, 5000),
    ];
    println!(
        "{:<9} {:<7} {:>6} {:>8} | {:>24} | {:>24} | {:>6}",
        "backend",
        "data",
        "batch",
        "rows",
        "Store::write rows/s (runs)",
        "bare insert rows/s (runs)",
        "ratio"
    );
    let mut seq = 0;
    for target in &targets {
        for (data, rows, batch) in cases {
            let (mut s, mut b) = (Vec::new(), Vec::new());
            for _ in 0..RUNS {
                seq += 1;
                wait_idle();
                s.push(run_store(target, &format!("s{seq}"), rows, batch).await);
                wait_idle();
                b.push(run_bare(target, &format!("b{seq}"), rows, batch).await);
            }
            let fmt = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{:.0}k", x / 1e3))
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let (ms, mb) = (median(s.clone()), median(b.clone()));
            println!(
                "{:<9} {:<7} {:>6} {:>8} | {:>8.0}k ({:>14}) | {:>8.0}k ({:>14}) | {:>5.0}%",
                target.name(),
                data,
                batch,
                rows.len(),
                ms / 1e3,
                fmt(&s),
                mb / 1e3,
                fmt(&b),
                100.0 * ms / mb
            );
        }
    }
}
