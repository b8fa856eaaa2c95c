//! The storage writer under load and faults, as separate processes against a private
//! nats-server and PostgreSQL, with the sample replayed onto OBS over ~20 s of wall time:
//! two writers share the work without duplicates; a writer killed with SIGKILL and restarted
//! leaves exactly the clean run's table; PostgreSQL down for 20 s loses and doubles nothing,
//! the writer recovers by itself and its memory stays bounded meanwhile.

mod support;

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer;
use flare_plus::domain::XrayFeed;
use flare_plus::store::{Store, StoreConfig};
use futures_util::StreamExt;
use support::db::{golden_flare_rows, sort_rows, FlareRow};
use support::procs::{fixture_path, metric, metric_sum, Proc, Stack};

/// Records the sample puts on OBS for the writer: 42,991 + 297 + 70 + 83 detected flares.
const SAMPLE_RECORDS: u64 = 42_991 + 297 + 70 + 83;
/// Replay pace: the 30 days of the sample in about 20 s.
const SPEED: &str = "130000x";

struct Setup {
    stack: Stack,
    pg: testkit::Postgres,
    db_url: String,
}

fn setup(extra: &[(&str, &str)]) -> Setup {
    let pg = testkit::Postgres::start();
    let db_url = pg.create_database("flare_writer");
    Setup {
        stack: Stack::start(Some(db_url.clone()), extra),
        pg,
        db_url,
    }
}

impl Setup {
    fn writer(&self, name: &str) -> Proc {
        let mut p = self.stack.env.spawn(name, &["run", "--role", "writer"]);
        p.wait_ready(Duration::from_secs(60));
        p
    }

    fn replay(&self) -> Proc {
        let sample = fixture_path();
        self.stack.env.spawn(
            "replay",
            &["replay", sample.to_str().unwrap(), "--speed", SPEED],
        )
    }

    /// The writer consumer's ack floor (stream sequence) and its pending counts.
    fn writer_progress(&self) -> (u64, u64, usize) {
        self.stack.rt.block_on(async {
            let obs = self.stack.js.get_stream("OBS").await.unwrap();
            let mut c = match obs.get_consumer::<consumer::pull::Config>("writer").await {
                Ok(c) => c,
                Err(e) => {
                    let names: Vec<String> = obs
                        .consumer_names()
                        .collect::<Vec<_>>()
                        .await
                        .into_iter()
                        .flatten()
                        .collect();
                    panic!("writer consumer: {e}; consumers on OBS: {names:?}")
                }
            };
            let info = c.info().await.unwrap();
            (
                info.ack_floor.stream_sequence,
                info.num_pending,
                info.num_ack_pending,
            )
        })
    }

    fn obs_last_sequence(&self) -> u64 {
        self.stack.rt.block_on(async {
            self.stack
                .js
                .get_stream("OBS")
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .state
                .last_sequence
        })
    }

    /// Waits until the replay exited and the writer consumer has nothing left.
    fn wait_all_stored(&self, replay: &mut Proc, what: &str) {
        let status = replay.wait_exit(Duration::from_secs(300));
        assert!(status.success(), "replay failed:\n{}", replay.log_text());
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (floor, pending, ack_pending) = self.writer_progress();
            if pending == 0 && ack_pending == 0 && floor == self.obs_last_sequence() {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: writer did not catch up (floor {floor}, pending {pending}, ack pending {ack_pending})");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The stored tables equal the sample's unique records exactly.
    fn assert_tables_exact(&self) {
        self.stack.rt.block_on(async {
            let store = Store::connect(&StoreConfig::for_url(&self.db_url))
                .await
                .unwrap();
            let (from, to) = (
                "2024-04-01T00:00:00Z".parse().unwrap(),
                "2024-07-01T00:00:00Z".parse().unwrap(),
            );
            let flux = store.read_flux(XrayFeed::Primary, from, to).await.unwrap();
            assert_eq!(
                flux,
                support::load_xrays(),
                "every flux row once, values intact"
            );
            assert_eq!(store.read_regions(from, to).await.unwrap(), {
                let mut r = support::load_regions();
                r.sort_by_key(|r| (r.timestamp, r.source_order));
                r
            });
            let mut rows: Vec<FlareRow> = store
                .read_flare_events(from, to)
                .await
                .unwrap()
                .iter()
                .map(FlareRow::of)
                .collect();
            sort_rows(&mut rows);
            assert_eq!(rows, golden_flare_rows());
            store.close().await;
        });
    }
}

fn stored(p: &mut Proc) -> f64 {
    metric(&p.metrics(), "pipeline_records_stored_total").unwrap_or(0.0)
}

#[test]
fn two_writers_share_one_consumer_without_duplicates() {
    // Small batches so both processes get turns.
    let s = setup(&[
        ("FLARE__WRITER__BATCH_MAX_RECORDS", "500"),
        ("FLARE__WRITER__MAX_IN_FLIGHT", "4"),
    ]);
    let mut a = s.writer("writer-a");
    let mut b = s.writer("writer-b");
    let mut replay = s.replay();
    s.wait_all_stored(&mut replay, "two writers");
    let (sa, sb) = (stored(&mut a), stored(&mut b));
    assert!(sa > 0.0 && sb > 0.0, "both writers did work: {sa} + {sb}");
    assert_eq!(
        sa + sb,
        SAMPLE_RECORDS as f64,
        "each record stored by exactly one writer"
    );
    s.assert_tables_exact();
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
}

#[test]
fn a_writer_killed_mid_stream_and_restarted_leaves_the_clean_table() {
    let s = setup(&[]);
    let mut first = s.writer("writer-1");
    let mut replay = s.replay();
    // Kill once a third of the sample is committed (and the replay is still going).
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored(&mut first) < 15_000.0 {
        assert!(
            Instant::now() < deadline,
            "writer made no progress:\n{}",
            first.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (floor, _, _) = s.writer_progress();
    first.child.kill();
    assert!(
        floor < s.obs_last_sequence(),
        "killed mid-stream (ack floor {floor} of {})",
        s.obs_last_sequence()
    );
    assert!(replay.child.is_running(), "the input was still flowing");
    let mut second = s.writer("writer-2");
    s.wait_all_stored(&mut replay, "after the restart");
    s.assert_tables_exact();
    assert_eq!(second.terminate(), Some(0));
}

#[test]
fn postgres_down_for_20_seconds_loses_and_doubles_nothing() {
    let mut s = setup(&[("FLARE__DATABASE__ACQUIRE_TIMEOUT", "1000ms")]);
    let mut writer = s.writer("writer");
    let pid = writer.child.pid().expect("pid");
    let names: Vec<String> = s.stack.rt.block_on(async {
        let obs = s.stack.js.get_stream("OBS").await.unwrap();
        obs.consumer_names()
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    });
    assert!(
        names.contains(&"writer".to_string()),
        "consumers {names:?}; port {}; log:\n{}",
        writer.port(),
        writer.log_text()
    );
    let mut replay = s.replay();
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored(&mut writer) < 5_000.0 {
        assert!(Instant::now() < deadline, "writer made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.pg.stop();
    let stopped_at = Instant::now();
    let stored_at_stop = stored(&mut writer);
    // While the database is down: nothing is acked, the in-flight bound holds, memory stays
    // bounded (sampled from /proc for the whole outage).
    let mut peak_rss_kb = 0u64;
    let mut peak_ack_pending = 0usize;
    while stopped_at.elapsed() < Duration::from_secs(20) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("writer alive");
        let rss: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        peak_rss_kb = peak_rss_kb.max(rss);
        let (_, _, ack_pending) = s.writer_progress();
        peak_ack_pending = peak_ack_pending.max(ack_pending);
        std::thread::sleep(Duration::from_millis(250));
    }
    // At most the batch that was committing when the database went away.
    let stored_during = stored(&mut writer);
    assert!(
        stored_during <= stored_at_stop + 5_000.0,
        "no commits while the database is down: {stored_at_stop} -> {stored_during}"
    );
    assert!(
        peak_ack_pending <= 64,
        "in-flight bound (writer.max_in_flight) held: {peak_ack_pending}"
    );
    // Stated bound: the held messages (<= 64 batches of <= 256 KiB) plus the process baseline.
    assert!(
        peak_rss_kb < 96 * 1024,
        "writer RSS {peak_rss_kb} kB during the outage"
    );
    s.pg.start_again();
    s.wait_all_stored(&mut replay, "after the outage");
    assert_eq!(writer.child.pid(), Some(pid), "recovered without a restart");
    assert!(writer.child.is_running());
    // The outage was seen and retried (as pool timeouts or refused connections).
    let retries = metric_sum(&writer.metrics(), "pipeline_writer_retries_total", "code=");
    assert!(retries >= 2.0, "{retries} retries counted");
    s.assert_tables_exact();
    assert_eq!(writer.terminate(), Some(0));
}

/// Runs `statements` on the test database.
fn execute_sql(s: &Setup, statements: &[&str]) {
    s.stack.rt.block_on(async {
        let pool = sqlx::PgPool::connect(&s.db_url).await.unwrap();
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(*statement))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
}

#[test]
fn a_refused_permission_stops_the_writer_with_its_reason_and_loses_nothing() {
    let s = setup(&[]);
    let mut writer = s.writer("writer-1");
    // From now on the database refuses flux rows as it refuses a role without the INSERT
    // privilege (SQLSTATE 42501): retrying cannot help.
    execute_sql(
        &s,
        &[
            "CREATE FUNCTION deny() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'permission denied for table flare_goes_xray_flux' \
             USING ERRCODE = '42501'; END $$",
            "CREATE TRIGGER deny BEFORE INSERT ON flare_goes_xray_flux \
             FOR EACH ROW EXECUTE FUNCTION deny()",
        ],
    );
    let mut replay = s.replay();
    let port = writer.port();
    let deadline = Instant::now() + Duration::from_secs(120);
    let body = loop {
        match support::procs::http_get(port, "/readyz") {
            Some((503, body)) if body.contains("writer stopped") => break body,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the writer never reported the fault:\n{}",
            writer.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("permission_denied"), "{body}");
    assert!(
        writer.child.is_running(),
        "the role stopped, not the process"
    );
    // It stopped instead of retrying. Ingest is held back meanwhile: the stopped writer's
    // backlog grows past `ingest.max_writer_backlog`, so nothing is lost or piles up.
    let retries = metric_sum(&writer.metrics(), "pipeline_writer_retries_total", "code=");
    assert_eq!(retries, 0.0, "a permanent error is not retried");
    let stored_when_stopped = stored(&mut writer);
    assert!(
        writer
            .log_text()
            .contains("the writer cannot store anything until this is fixed"),
        "{}",
        writer.log_text()
    );
    // Fixed, and a new writer takes over: every record is stored once.
    execute_sql(&s, &["DROP TRIGGER deny ON flare_goes_xray_flux"]);
    assert_eq!(
        stored(&mut writer),
        stored_when_stopped,
        "the stopped writer stored nothing more"
    );
    writer.terminate();
    let mut second = s.writer("writer-2");
    s.wait_all_stored(&mut replay, "after the fix");
    s.assert_tables_exact();
    assert_eq!(second.terminate(), Some(0));
}
