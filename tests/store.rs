//! Store integration tests, each run on PostgreSQL (testkit cluster) and SQLite (temp file).

mod support;

use std::time::{Duration, Instant};

use chrono::Duration as Minutes;
use flare_plus::domain::{FlareEvent, FlareSource, XrayFeed, XrayObservation};
use flare_plus::profile::Profile;
use flare_plus::store::{
    RecordKind, Store, StoreConfig, StoreErrorKind, TableCounts, WriteBatch, WriteStats,
};
use support::db::{inspect, sort_rows, utc, FlareRow, TestDb};

const TABLES: [&str; 5] = [
    "flare_goes_xray_flux",
    "flare_solar_regions",
    "flare_event_candidates",
    "flare_events",
    "solar_flare_events",
];

async fn write_all(store: &Store, batches: &[WriteBatch], profile: Profile) -> Vec<WriteStats> {
    let mut out = Vec::new();
    for b in batches {
        let stats = store.write(b, profile).await.unwrap();
        assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
        out.push(stats);
    }
    out
}

async fn flare_rows(store: &Store) -> Vec<FlareRow> {
    let mut rows: Vec<FlareRow> = store
        .read_flare_events(support::db::t0(), support::db::t_end())
        .await
        .unwrap()
        .iter()
        .map(FlareRow::of)
        .collect();
    sort_rows(&mut rows);
    rows
}

async fn fingerprints(db: &TestDb) -> Vec<(i64, i64, Option<String>)> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(inspect::fingerprint(db, t).await);
    }
    out
}

fn sum(stats: &[WriteStats], f: impl Fn(&WriteStats) -> TableCounts) -> (u64, u64, u64) {
    stats.iter().map(&f).fold((0, 0, 0), |a, c| {
        (a.0 + c.fetched, a.1 + c.inserted, a.2 + c.updated)
    })
}

/// The sample in batches of 1000: exact row counts, flare_events equal to flare-plus's table,
/// defects stored as NULL; a second load changes no row and counts no insert or update.
async fn sample_load_matches_golden(db: TestDb) {
    let store = db.store().await;
    let batches = support::db::sample_batches(1000);
    let first = write_all(&store, &batches, Profile::FlarePlus).await;

    assert_eq!(sum(&first, |s| s.xrays), (42_991, 42_991, 0));
    assert_eq!(sum(&first, |s| s.regions), (297, 297, 0));
    assert_eq!(sum(&first, |s| s.flare_candidates), (153, 153, 0));
    assert_eq!(sum(&first, |s| s.solar_flare_events), (70, 70, 0));
    let flux = store
        .read_flux(XrayFeed::Primary, support::db::t0(), support::db::t_end())
        .await
        .unwrap();
    assert_eq!(flux.len(), 42_991);
    assert_eq!(flux, support::load_xrays());
    assert!(store
        .read_flux(XrayFeed::Secondary, support::db::t0(), support::db::t_end())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .read_regions(support::db::t0(), support::db::t_end())
            .await
            .unwrap()
            .len(),
        297
    );
    assert_eq!(inspect::count(&db, "flare_events").await, 85);
    assert_eq!(flare_rows(&store).await, support::db::golden_flare_rows());

    let missing_long = flux.iter().filter(|x| x.flux_long.is_none()).count() as i64;
    assert_eq!(missing_long, 6);
    assert_eq!(
        inspect::data_quality(&db).await,
        vec![
            ("good".to_string(), 42_991 - missing_long),
            ("missing".to_string(), missing_long)
        ]
    );
    let defects = support::db::golden_defects();
    assert_eq!(defects.len(), 24);
    for (time, short, long, satellite, quality) in defects {
        let row = flux.iter().find(|x| x.time == time).unwrap();
        // flare-plus took the satellite from the short-band record only ('NaN' when it is
        // absent); we take the long band's then (docs/PARITY.md, Q27). The sample's is 16.
        let satellite = satellite.or(if short.is_none() { Some(16) } else { None });
        assert_eq!(
            (row.flux_short, row.flux_long, row.satellite),
            (short, long, satellite),
            "{time}"
        );
        assert_eq!(row.data_quality().as_str(), quality);
    }
    let logs = inspect::log_sums(&db).await;
    let flux_log = logs.iter().find(|l| l.0 == "flare_goes_xray_flux").unwrap();
    assert_eq!(flux_log.1, "success");
    assert_eq!((flux_log.3, flux_log.4, flux_log.5), (42_991, 42_991, 0));

    let before = fingerprints(&db).await;
    let second = write_all(&store, &batches, Profile::FlarePlus).await;
    for s in &second {
        assert_eq!((s.xrays.inserted, s.xrays.updated), (0, 0));
        assert_eq!((s.regions.inserted, s.regions.updated), (0, 0));
        assert_eq!(
            (s.flare_candidates.inserted, s.flare_candidates.updated),
            (0, 0)
        );
        assert_eq!(
            (s.solar_flare_events.inserted, s.solar_flare_events.updated),
            (0, 0)
        );
        assert_eq!(s.flare_events, Default::default());
    }
    assert_eq!(fingerprints(&db).await, before);
    assert_eq!(flare_rows(&store).await, support::db::golden_flare_rows());
    assert_eq!(
        store
            .read_flux(XrayFeed::Primary, support::db::t0(), support::db::t_end())
            .await
            .unwrap(),
        flux
    );
}

/// Flares in shuffled order and small batches, with a DONKI record first sent with a wrong
/// peak and then corrected, give flare-plus's table; Improved gives the same table whatever the
/// order, with verified DONKI rows replacing detected duplicates.
async fn arrival_order_does_not_matter(db: TestDb) {
    let store = db.store().await;
    let mut flares: Vec<FlareEvent> = support::db::load_detected();
    flares.extend(support::load_donki());
    let in_order = flares.clone();
    support::db::shuffle(&mut flares, 7);
    assert_ne!(flares, in_order);
    // A DONKI record whose first version peaked 5 h later (and so was not a duplicate).
    let fixed = in_order
        .iter()
        .find(|f| f.source == FlareSource::Donki && f.class_category.as_str() == "M")
        .unwrap();
    let mut early = fixed.clone();
    early.peak_time += Minutes::hours(5);
    let mut batches = vec![WriteBatch {
        flares: vec![early],
        ..Default::default()
    }];
    batches.extend(flares.chunks(7).map(|c| WriteBatch {
        flares: c.to_vec(),
        ..Default::default()
    }));
    write_all(&store, &batches, Profile::FlarePlus).await;
    assert_eq!(flare_rows(&store).await, support::db::golden_flare_rows());

    // Improved: the same content for two orders, rebuilt from scratch in two databases.
    let db2 = TestDb::sqlite();
    let store2 = db2.store().await;
    let improved_shuffled = {
        let other = TestDb::sqlite();
        let s = other.store().await;
        for c in flares.chunks(5) {
            s.write(
                &WriteBatch {
                    flares: c.to_vec(),
                    ..Default::default()
                },
                Profile::Improved,
            )
            .await
            .unwrap();
        }
        flare_rows(&s).await
    };
    store2
        .write(
            &WriteBatch {
                flares: in_order.clone(),
                ..Default::default()
            },
            Profile::Improved,
        )
        .await
        .unwrap();
    let improved = flare_rows(&store2).await;
    assert_eq!(improved, improved_shuffled);
    let verified = improved.iter().filter(|r| r.source == "nasa_donki").count();
    assert!(
        verified > 2,
        "Improved keeps more DONKI rows than flare-plus's 2: {verified}"
    );
    assert!(improved.iter().any(|r| r.location.is_some()));
}

fn flare(source: FlareSource, id: Option<&str>, peak: &str) -> FlareEvent {
    let peak = utc(peak);
    FlareEvent {
        source,
        external_id: id.map(str::to_owned),
        start_time: peak - Minutes::minutes(10),
        peak_time: peak,
        end_time: Some(peak + Minutes::minutes(20)),
        flare_class: "C2.0".to_string(),
        class_category: flare_plus::domain::FlareCategory::C,
        class_magnitude: 2.0,
        active_region: None,
        location: None,
        verified: source == FlareSource::Donki,
    }
}

/// A chain of duplicates: D (detected, 10:00), N1 (DONKI, 10:25), N2 (DONKI, 10:50). All
/// together flare-plus keeps D and N2 (N1 is D's duplicate, so N2 has no kept neighbour).
/// When D arrives last, N2 lies outside D's own ±30 min and is reached only by widening the
/// range to the connected component.
async fn chained_duplicates_rematerialize_the_component(db: TestDb) {
    let store = db.store().await;
    let d = flare(FlareSource::Detected, None, "2024-05-03T10:00:00Z");
    let n1 = flare(FlareSource::Donki, Some("N1"), "2024-05-03T10:25:00Z");
    let n2 = flare(FlareSource::Donki, Some("N2"), "2024-05-03T10:50:00Z");
    let first = WriteBatch {
        flares: vec![n1.clone(), n2.clone()],
        ..Default::default()
    };
    let stats = store.write(&first, Profile::FlarePlus).await.unwrap();
    assert_eq!(stats.flare_events.inserted, 1);
    let peaks = |v: Vec<FlareEvent>| v.iter().map(|f| f.peak_time).collect::<Vec<_>>();
    let all = store.read_flare_events(support::db::t0(), support::db::t_end());
    assert_eq!(peaks(all.await.unwrap()), vec![n1.peak_time]);

    let second = WriteBatch {
        flares: vec![d.clone()],
        ..Default::default()
    };
    let stats = store.write(&second, Profile::FlarePlus).await.unwrap();
    assert_eq!(
        (stats.flare_events.inserted, stats.flare_events.deleted),
        (2, 1)
    );
    let all = store.read_flare_events(support::db::t0(), support::db::t_end());
    assert_eq!(peaks(all.await.unwrap()), vec![d.peak_time, n2.peak_time]);

    // D corrected to peak far away (same key): its old neighbourhood is re-evaluated from
    // the previous version, so N1 comes back and shadows N2 again.
    let mut moved = d.clone();
    moved.peak_time = utc("2024-05-03T15:00:00Z");
    let third = WriteBatch {
        flares: vec![moved.clone()],
        ..Default::default()
    };
    store.write(&third, Profile::FlarePlus).await.unwrap();
    let all = store.read_flare_events(support::db::t0(), support::db::t_end());
    assert_eq!(
        peaks(all.await.unwrap()),
        vec![n1.peak_time, moved.peak_time]
    );
}

fn xray(minute: i64, long: Option<f64>) -> XrayObservation {
    XrayObservation {
        feed: XrayFeed::Primary,
        time: utc("2024-05-01T00:00:00Z") + Minutes::minutes(minute),
        satellite: Some(16),
        flux_short: Some(1e-8),
        flux_long: long,
        electron_contamination_short: Some(false),
        electron_contamination_long: None,
    }
}

/// Duplicates inside a batch: the last one wins and is written once.
async fn in_batch_duplicates_last_wins(db: TestDb) {
    let store = db.store().await;
    let batch = WriteBatch {
        xrays: vec![
            xray(0, Some(1e-6)),
            xray(1, Some(2e-6)),
            xray(0, Some(3e-6)),
            xray(0, None),
        ],
        ..Default::default()
    };
    let stats = store.write(&batch, Profile::FlarePlus).await.unwrap();
    assert_eq!(stats.superseded, 2);
    assert_eq!(
        stats.xrays,
        TableCounts {
            fetched: 4,
            inserted: 2,
            updated: 0
        }
    );
    let rows = store
        .read_flux(XrayFeed::Primary, support::db::t0(), support::db::t_end())
        .await
        .unwrap();
    assert_eq!(rows, vec![xray(0, None), xray(1, Some(2e-6))]);

    // A later batch that changes one row and repeats the other: one update, nothing else,
    // in one transaction with one upsert statement (plus the log row; SQLite also reads
    // max(id) before and after to count inserts).
    store.reset_stats();
    let batch = WriteBatch {
        xrays: vec![xray(0, Some(5e-6)), xray(1, Some(2e-6))],
        ..Default::default()
    };
    let stats = store.write(&batch, Profile::FlarePlus).await.unwrap();
    assert_eq!(
        stats.xrays,
        TableCounts {
            fetched: 2,
            inserted: 0,
            updated: 1
        }
    );
    let expected_statements = if matches!(db, TestDb::Postgres(_)) {
        2
    } else {
        4
    };
    let s = store.stats();
    assert_eq!((s.statements, s.commits), (expected_statements, 1));
    let rows = store
        .read_flux(XrayFeed::Primary, support::db::t0(), support::db::t_end())
        .await
        .unwrap();
    assert_eq!(rows, vec![xray(0, Some(5e-6)), xray(1, Some(2e-6))]);
}

/// One over-long flare class, one over-long McIntosh class and one NaN flux in a batch of 200:
/// exactly those three are rejected (with their positions) and the rest is committed.
async fn poison_records_are_isolated(db: TestDb) {
    let store = db.store().await;
    let mut batch = WriteBatch {
        xrays: (0..150)
            .map(|m| xray(m, Some(1e-6 + m as f64 * 1e-9)))
            .collect(),
        regions: support::load_regions().into_iter().take(20).collect(),
        flares: support::load_donki().into_iter().take(30).collect(),
        ..Default::default()
    };
    batch.xrays[77].flux_long = Some(f64::NAN);
    batch.regions[13].mcintosh_class = Some("Dkc-too-long".to_string());
    batch.flares[21].flare_class = "X10.55".to_string();
    let stats = store.write(&batch, Profile::FlarePlus).await.unwrap();
    let rejected: Vec<(RecordKind, usize, &str)> = stats
        .rejected
        .iter()
        .map(|r| (r.kind, r.index, r.code))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (RecordKind::Xray, 77, "non_finite_value"),
            (
                RecordKind::Region,
                13,
                if matches!(db, TestDb::Postgres(_)) {
                    "value_too_long"
                } else {
                    "constraint_violation"
                }
            ),
            (
                RecordKind::Flare,
                21,
                if matches!(db, TestDb::Postgres(_)) {
                    "value_too_long"
                } else {
                    "constraint_violation"
                }
            ),
        ]
    );
    assert_eq!(stats.rejected[2].key, batch.flares[21].natural_key());
    assert_eq!(
        (
            stats.xrays.inserted,
            stats.regions.inserted,
            stats.flare_candidates.inserted
        ),
        (149, 19, 29)
    );
    assert_eq!(inspect::count(&db, "flare_goes_xray_flux").await, 149);
    assert_eq!(inspect::count(&db, "flare_solar_regions").await, 19);
    assert_eq!(inspect::count(&db, "flare_event_candidates").await, 29);
    assert_eq!(inspect::count(&db, "solar_flare_events").await, 29);
    let logs = inspect::log_sums(&db).await;
    assert!(
        logs.iter()
            .any(|l| l.0 == "flare_solar_regions" && l.1 == "partial")
            && logs
                .iter()
                .any(|l| l.0 == "flare_goes_xray_flux" && l.1 == "partial")
            && logs
                .iter()
                .any(|l| l.0 == "flare_event_candidates" && l.1 == "partial"),
        "{logs:?}"
    );
    // The good records of the same batch are not rejected again on replay.
    let again = store.write(&batch, Profile::FlarePlus).await.unwrap();
    assert_eq!(again.rejected.len(), 3);
    assert_eq!((again.xrays.inserted, again.xrays.updated), (0, 0));
}

/// With PostgreSQL stopped, write() fails fast with a transient error and commits nothing;
/// after a restart the same Store writes the same batch.
async fn database_down_is_transient(mut db: TestDb) {
    let store = db.store().await;
    let batch = WriteBatch {
        xrays: (0..10).map(|m| xray(m, Some(1e-6))).collect(),
        ..Default::default()
    };
    store.write(&batch, Profile::FlarePlus).await.unwrap();
    db.pg().stop();
    let batch2 = WriteBatch {
        xrays: (10..20).map(|m| xray(m, Some(1e-6))).collect(),
        ..Default::default()
    };
    let started = Instant::now();
    let err = store.write(&batch2, Profile::FlarePlus).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.is_transient(), "{err} ({:?})", err.kind());
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    db.pg().start_again();
    let stats = store.write(&batch2, Profile::FlarePlus).await.unwrap();
    assert_eq!(stats.xrays.inserted, 10);
    assert_eq!(
        store
            .read_flux(XrayFeed::Primary, support::db::t0(), support::db::t_end())
            .await
            .unwrap()
            .len(),
        20
    );
}

/// Two Store instances writing overlapping batches at once: no duplicate row, flare_events
/// equal to flare-plus's table.
async fn concurrent_writers(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let batches = support::db::sample_batches(2000);
    let mut reversed = batches.clone();
    reversed.reverse();
    let (ra, rb) = tokio::join!(
        async {
            for x in &batches {
                a.write(x, Profile::FlarePlus).await?;
            }
            Ok::<_, flare_plus::store::StoreError>(())
        },
        async {
            for x in &reversed {
                b.write(x, Profile::FlarePlus).await?;
            }
            Ok::<_, flare_plus::store::StoreError>(())
        }
    );
    ra.unwrap();
    rb.unwrap();
    assert_eq!(inspect::count(&db, "flare_goes_xray_flux").await, 42_991);
    assert_eq!(inspect::count(&db, "flare_solar_regions").await, 297);
    assert_eq!(inspect::count(&db, "flare_event_candidates").await, 153);
    assert_eq!(flare_rows(&a).await, support::db::golden_flare_rows());
}

/// Each bulk reader is one statement, ends are inclusive, values intact.
async fn bulk_readers_one_statement_each(db: TestDb) {
    let store = db.store().await;
    write_all(
        &store,
        &support::db::sample_batches(5000),
        Profile::FlarePlus,
    )
    .await;
    let xrays = support::load_xrays();
    let (from, to) = (utc("2024-05-10T00:00:00Z"), utc("2024-05-12T00:00:00Z"));
    let expected: Vec<XrayObservation> = xrays
        .iter()
        .filter(|x| x.time >= from && x.time <= to)
        .cloned()
        .collect();

    store.reset_stats();
    let flux = store.read_flux(XrayFeed::Primary, from, to).await.unwrap();
    let s = store.stats();
    assert_eq!((s.statements, s.rows_read), (1, expected.len() as u64));
    assert_eq!(flux, expected);
    assert_eq!((flux[0].time, flux[flux.len() - 1].time), (from, to));

    store.reset_stats();
    let regions = store.read_regions(from, to).await.unwrap();
    assert_eq!(store.stats().statements, 1);
    let mut want: Vec<_> = support::load_regions()
        .into_iter()
        .filter(|r| r.timestamp >= from && r.timestamp <= to)
        .collect();
    want.sort_by_key(|r| (r.timestamp, r.source_order));
    assert_eq!(regions, want);
    assert!(
        regions.iter().any(|r| r.timestamp == to) && regions.iter().any(|r| r.timestamp == from)
    );

    let all = flare_rows(&store).await;
    let (pf, pt) = (all[10].peak_time, all[20].peak_time);
    store.reset_stats();
    let flares = store.read_flare_events(pf, pt).await.unwrap();
    assert_eq!(store.stats().statements, 1);
    let mut want: Vec<FlareRow> = all
        .into_iter()
        .filter(|r| r.peak_time >= pf && r.peak_time <= pt)
        .collect();
    sort_rows(&mut want);
    let got: Vec<FlareRow> = flares.iter().map(FlareRow::of).collect();
    assert!(got.windows(2).all(|w| w[0].peak_time <= w[1].peak_time));
    let mut got_sorted = got.clone();
    sort_rows(&mut got_sorted);
    assert_eq!(got_sorted, want);
    assert_eq!((got[0].peak_time, got[got.len() - 1].peak_time), (pf, pt));

    assert_eq!(
        store.latest_flux_time(XrayFeed::Primary).await.unwrap(),
        xrays.last().map(|x| x.time)
    );
    assert_eq!(
        store.latest_flux_time(XrayFeed::Secondary).await.unwrap(),
        None
    );
}

/// Migrations run twice are a no-op; credentials never appear in errors.
async fn migrations_and_errors(db: TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let config = |url: &str| StoreConfig {
        acquire_timeout: Duration::from_millis(500),
        ..StoreConfig::for_url(url)
    };
    let port = testkit::free_port();
    let bad = Store::connect(&config(&format!(
        "postgres://flare:hunter2@127.0.0.1:{port}/x"
    )))
    .await
    .unwrap();
    let err = bad.ping().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    let err = Store::connect(&config("mysql://u:hunter2@h/d"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(!err.to_string().contains("hunter2") && err.to_string().contains("***"));
}

backend_tests! {
    sample_load => sample_load_matches_golden;
    arrival_order => arrival_order_does_not_matter;
    chained_duplicates => chained_duplicates_rematerialize_the_component;
    in_batch_duplicates => in_batch_duplicates_last_wins;
    poison => poison_records_are_isolated;
    concurrent => concurrent_writers;
    bulk_readers => bulk_readers_one_statement_each;
    migrations => migrations_and_errors;
}

mod database_down {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::database_down_is_transient(super::support::db::TestDb::postgres()).await
    }
}
