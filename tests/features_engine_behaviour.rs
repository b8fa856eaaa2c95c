//! Engine contract: refused inputs, time order, data ahead of T, eviction, empty windows,
//! pathological values (no panics), profile differences, bounded memory.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use flare_plus::domain::{
    FlareCategory, FlareEvent, FlareSource, RegionObservation, XrayFeed, XrayObservation,
};
use flare_plus::features::{Cell, EngineError, FeatureConfig, FeatureEngine};
use flare_plus::profile::Profile;
use proptest::prelude::*;
use support::synth::minute_series;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 10, 12, 0, 0).unwrap()
}

fn xray(t: DateTime<Utc>, short: Option<f64>, long: Option<f64>) -> XrayObservation {
    XrayObservation {
        feed: XrayFeed::Primary,
        time: t,
        satellite: None,
        flux_short: short,
        flux_long: long,
        electron_contamination_short: None,
        electron_contamination_long: None,
    }
}

fn engine(p: Profile) -> FeatureEngine {
    FeatureEngine::new(FeatureConfig::with_profile(p)).unwrap()
}

fn col(e: &FeatureEngine, cells: &[Cell], name: &str) -> Cell {
    let i = e.feature_columns().iter().position(|c| c == name).unwrap();
    cells[i].clone()
}

fn cov(e: &FeatureEngine, cells: &[Cell], name: &str) -> Cell {
    let i = e
        .covariate_columns()
        .iter()
        .position(|c| c == name)
        .unwrap();
    cells[i].clone()
}

#[test]
fn refused_inputs_are_errors_not_panics() {
    let mut e = engine(Profile::FlarePlus);
    e.push_flux(&xray(t0(), Some(1e-7), Some(1e-6))).unwrap();
    assert!(matches!(
        e.push_flux(&xray(t0(), Some(1e-7), Some(1e-6))),
        Err(EngineError::OutOfOrder { .. })
    ));
    assert!(matches!(
        e.push_flux(&xray(t0() - Duration::minutes(1), None, None)),
        Err(EngineError::OutOfOrder { .. })
    ));
    let mut other = xray(t0() + Duration::minutes(1), None, None);
    other.feed = XrayFeed::Secondary;
    assert!(matches!(
        e.push_flux(&other),
        Err(EngineError::OtherFeed { .. })
    ));
    e.features_at(t0()).unwrap();
    assert!(matches!(
        e.features_at(t0() - Duration::seconds(1)),
        Err(EngineError::TimeWentBackwards { .. })
    ));
    assert!(matches!(
        e.covariates_at(t0() - Duration::seconds(1)),
        Err(EngineError::TimeWentBackwards { .. })
    ));
    // Same T again is fine.
    e.covariates_at(t0()).unwrap();
    assert_eq!(e.stats().flux_pushed, 1);
    assert!(FeatureEngine::new(FeatureConfig {
        rolling_windows_h: vec![],
        ..Default::default()
    })
    .is_err());
    assert!(FeatureEngine::new(FeatureConfig {
        covariate_windows_h: vec![0],
        ..Default::default()
    })
    .is_err());
}

#[test]
fn empty_engine() {
    for p in [Profile::FlarePlus, Profile::Improved] {
        let mut e = engine(p);
        let f = e.features_at(t0()).unwrap();
        assert_eq!(f.cells.len(), 83);
        assert!(f.cells.iter().all(|c| *c == Cell::Missing));
        let c = e.covariates_at(t0()).unwrap();
        for (name, cell) in e.covariate_columns().iter().zip(&c.cells) {
            let want = name
                .strip_prefix("hours_since_last_flare_")
                .map_or(0.0, |l| l.trim_end_matches('h').parse().unwrap());
            assert_eq!(*cell, Cell::Num(want), "{name}");
        }
    }
}

#[test]
fn data_ahead_of_t_is_held_back() {
    let mut a = engine(Profile::FlarePlus);
    let mut b = engine(Profile::FlarePlus);
    for k in 0..600 {
        let t = t0() - Duration::hours(5) + Duration::minutes(k);
        let o = xray(
            t,
            Some(1e-8 * (1.0 + k as f64)),
            Some(1e-6 + 1e-9 * k as f64),
        );
        if t <= t0() {
            a.push_flux(&o).unwrap();
        }
        b.push_flux(&o).unwrap();
    }
    assert!(b.pending_len() > 250);
    assert_eq!(a.features_at(t0()).unwrap(), b.features_at(t0()).unwrap());
    assert_eq!(
        a.covariates_at(t0()).unwrap(),
        b.covariates_at(t0()).unwrap()
    );
    // The held-back data is absorbed later.
    let later = t0() + Duration::hours(2);
    let f = b.features_at(later).unwrap();
    assert_ne!(f.cells, a.features_at(later).unwrap().cells);
}

#[test]
fn flux_block_present_with_only_old_flux() {
    // A sample 30 h ago: inside the 48 h data window, outside every flux window. flare-plus
    // emits the block with nulls (imputed to 0); the improved profile keeps them missing.
    for (p, want) in [
        (Profile::FlarePlus, Cell::Num(0.0)),
        (Profile::Improved, Cell::Missing),
    ] {
        let mut e = engine(p);
        e.push_flux(&xray(t0() - Duration::hours(30), Some(1e-7), Some(1e-6)))
            .unwrap();
        let f = e.features_at(t0()).unwrap();
        assert_eq!(col(&e, &f.cells, "flux_short_mean"), want);
        assert_eq!(col(&e, &f.cells, "flux_long_24h_std"), want);
    }
    let mut e = engine(Profile::FlarePlus);
    e.push_flux(&xray(t0() - Duration::hours(49), Some(1e-7), Some(1e-6)))
        .unwrap();
    let f = e.features_at(t0()).unwrap();
    assert_eq!(col(&e, &f.cells, "flux_short_mean"), Cell::Missing);
}

#[test]
fn covariate_trend_nan_rule() {
    // Q21 as the goldens show it: a missing short value makes only the short trend NaN.
    let mut fp = engine(Profile::FlarePlus);
    let mut im = engine(Profile::Improved);
    for k in 0..30 {
        let short = if k == 7 {
            None
        } else {
            Some(1e-8 * (1.0 + k as f64))
        };
        let o = xray(
            t0() - Duration::minutes(29 - k),
            short,
            Some(1e-6 * (1.0 + k as f64)),
        );
        fp.push_flux(&o).unwrap();
        im.push_flux(&o).unwrap();
    }
    let c = fp.covariates_at(t0()).unwrap();
    assert_eq!(cov(&fp, &c.cells, "flux_short_trend_1h"), Cell::Missing);
    let Cell::Num(long) = cov(&fp, &c.cells, "flux_long_trend_1h") else {
        panic!()
    };
    assert!((long - 6e-5).abs() < 1e-17, "{long}"); // 1e-6 per minute = 6e-5 per hour
    let c = im.covariates_at(t0()).unwrap();
    let Cell::Num(short) = cov(&im, &c.cells, "flux_short_trend_1h") else {
        panic!()
    };
    assert!((short - 6e-7).abs() < 1e-19, "{short}");
}

fn region(t: DateTime<Utc>, n: i32, area: Option<i32>, mw: &str, order: u32) -> RegionObservation {
    RegionObservation {
        timestamp: t,
        region_number: n,
        latitude: Some(1.0),
        longitude: Some(2.0),
        mcintosh_class: Some("Dkc".into()),
        mount_wilson_class: Some(mw.into()),
        area,
        num_sunspots: Some(3),
        source_order: order,
    }
}

#[test]
fn profiles_differ_where_documented() {
    let day = t0() - Duration::hours(12);
    let regs = [
        region(day, 10, Some(500), "BGD", 0),
        region(day, 11, Some(20), "A", 1),
    ];
    let mut fp = engine(Profile::FlarePlus);
    let mut im = engine(Profile::Improved);
    for r in &regs {
        fp.push_region(r);
        im.push_region(r);
    }
    let f = fp.features_at(t0()).unwrap();
    let i = im.features_at(t0()).unwrap();
    // Tie at the same date: flare-plus takes the last ingested (11), improved the largest area (10).
    assert_eq!(col(&fp, &f.cells, "region_area"), Cell::Int(20));
    assert_eq!(col(&im, &i.cells, "region_area"), Cell::Int(500));
    // Q11: letter codes.
    assert_eq!(
        col(&fp, &f.cells, "mount_wilson_complexity_score"),
        Cell::Num(0.0)
    );
    assert_eq!(col(&im, &i.cells, "mount_wilson_has_delta"), Cell::Int(1));
    assert_eq!(
        col(&im, &i.cells, "magnetic_complexity_score"),
        Cell::Num(1.0)
    );
    // Q12: third McIntosh letter as compactness (c = 3).
    assert_eq!(
        col(&fp, &f.cells, "mcintosh_penumbra_encoded"),
        Cell::Int(0)
    );
    assert_eq!(
        col(&im, &i.cells, "mcintosh_penumbra_encoded"),
        Cell::Int(3)
    );
    // Q22: all areas null -> NaN (missing) vs 0.
    let mut fp = engine(Profile::FlarePlus);
    let mut im = engine(Profile::Improved);
    fp.push_region(&region(day, 12, None, "B", 0));
    im.push_region(&region(day, 12, None, "B", 0));
    let c = fp.covariates_at(t0()).unwrap();
    assert_eq!(cov(&fp, &c.cells, "avg_area_24h"), Cell::Missing);
    let c = im.covariates_at(t0()).unwrap();
    assert_eq!(cov(&im, &c.cells, "avg_area_24h"), Cell::Num(0.0));
}

fn flare(peak: DateTime<Utc>, cat: FlareCategory) -> FlareEvent {
    FlareEvent {
        source: FlareSource::Donki,
        external_id: Some("x".into()),
        start_time: peak,
        peak_time: peak,
        end_time: None,
        flare_class: "M1".into(),
        class_category: cat,
        class_magnitude: 1.0,
        active_region: None,
        location: None,
        verified: true,
    }
}

#[test]
fn flares_upsert_remove_and_late_arrivals() {
    let mut e = engine(Profile::FlarePlus);
    e.upsert_flare(
        "a".into(),
        flare(t0() - Duration::hours(2), FlareCategory::C),
    );
    // Revised: same key, new class and peak.
    e.upsert_flare(
        "a".into(),
        flare(t0() - Duration::hours(1), FlareCategory::M),
    );
    let f = e.features_at(t0()).unwrap();
    assert_eq!(col(&e, &f.cells, "flare_C_6h_count"), Cell::Int(0));
    assert_eq!(col(&e, &f.cells, "flare_M_6h_count"), Cell::Int(1));
    assert_eq!(
        col(&e, &f.cells, "flare_M_6h_weighted_count"),
        Cell::Num(0.9)
    );
    e.remove_flare("a");
    e.remove_flare("never-there");
    let f = e.features_at(t0()).unwrap();
    assert_eq!(col(&e, &f.cells, "flare_M_6h_count"), Cell::Missing);
    // A flare older than the 48 h horizon arriving late is dropped; an A flare counts in totals.
    e.upsert_flare(
        "old".into(),
        flare(t0() - Duration::hours(49), FlareCategory::X),
    );
    e.upsert_flare("a-class".into(), flare(t0(), FlareCategory::A));
    let f = e.features_at(t0()).unwrap();
    assert_eq!(col(&e, &f.cells, "flare_X_24h_count"), Cell::Int(0));
    assert_eq!(
        col(&e, &f.cells, "flare_total_6h_weighted_count"),
        Cell::Num(1.0)
    );
    // Covariates use [T − L, T): a peak at T is not history yet.
    let c = e.covariates_at(t0()).unwrap();
    assert_eq!(cov(&e, &c.cells, "flare_count_1h"), Cell::Num(0.0));
}

#[test]
fn memory_is_bounded_and_pending_drains() {
    let flux = minute_series(10 * 1440, 3);
    let mut e = engine(Profile::FlarePlus);
    let mut peak = 0;
    for (i, o) in flux.iter().enumerate() {
        e.push_flux(o).unwrap();
        if i % 7 == 0 {
            e.features_at(o.time).unwrap();
            e.covariates_at(o.time).unwrap();
        }
        if i > 2 * 1440 {
            peak = peak.max(e.memory_bytes());
        }
    }
    assert!(
        e.memory_bytes() > 1440 * 40,
        "holds a day of samples: {}",
        e.memory_bytes()
    );
    assert!(peak < 256 * 1024, "engine memory {peak} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// No input makes the engine panic: special floats, huge gaps, equal times, any order.
    #[test]
    fn no_panics(
        samples in prop::collection::vec(
            (0i64..200_000_000_000, prop::option::of(prop::num::f64::ANY), prop::option::of(prop::num::f64::ANY)),
            0..300,
        ),
        ticks in prop::collection::vec(0i64..250_000_000_000, 0..40),
        p in prop::bool::ANY,
    ) {
        let mut e = engine(if p { Profile::Improved } else { Profile::FlarePlus });
        let base = t0();
        for (dt, s, l) in &samples {
            let _ = e.push_flux(&xray(base + Duration::microseconds(*dt), *s, *l));
        }
        e.push_region(&RegionObservation {
            timestamp: base,
            region_number: -1,
            latitude: Some(f64::NAN),
            longitude: Some(f64::INFINITY),
            mcintosh_class: Some("ßüñ€".into()),
            mount_wilson_class: Some("   ".into()),
            area: Some(i32::MIN),
            num_sunspots: Some(i32::MAX),
            source_order: u32::MAX,
        });
        for t in &ticks {
            let t = base + Duration::microseconds(*t);
            let f = e.features_at(t);
            let c = e.covariates_at(t);
            if let (Ok(f), Ok(c)) = (f, c) {
                prop_assert_eq!(f.cells.len(), 83);
                prop_assert_eq!(c.cells.len(), 65);
            }
        }
    }
}
