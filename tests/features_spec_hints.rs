//! Spec §8.1 (complexity), §8.5 (scenario G1, G1b, G1c) and §8.6 (covariates) as unit tests.

use chrono::{DateTime, Duration, TimeZone, Utc};
use flare_plus::domain::{
    FlareCategory, FlareEvent, FlareSource, RegionObservation, XrayFeed, XrayObservation,
};
use flare_plus::features::complexity::{mcintosh, mount_wilson};
use flare_plus::features::{Cell, FeatureConfig, FeatureEngine};
use flare_plus::profile::Profile;

const FP: Profile = Profile::FlarePlus;

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(got.abs())
}

#[track_caller]
fn assert_rel(got: f64, want: f64) {
    assert!(close(got, want, 1e-12), "got {got:e}, want {want:e}");
}

// ---------------------------------------------------------------- §8.1

#[test]
fn mcintosh_table() {
    let d = mcintosh(Some("Dkc"), FP);
    assert_eq!(
        (d.size.as_deref(), d.shape.as_deref(), d.penumbra.as_deref()),
        (Some("D"), Some("K"), Some("C"))
    );
    assert_eq!(
        (d.size_enc, d.shape_enc, d.penumbra_enc, d.score),
        (4, 5, 0, 0.5)
    );
    let h = mcintosh(Some("Hsx"), FP);
    assert_eq!(
        (h.size.as_deref(), h.shape.as_deref(), h.penumbra.as_deref()),
        (Some("H"), Some("S"), Some("X"))
    );
    assert_eq!((h.size_enc, h.shape_enc, h.penumbra_enc), (7, 2, 0));
    // Exact f64 values: same operations, same order as the Python.
    for (code, score) in [
        ("Hsx", 0.47000000000000003),
        ("Ekc", 0.55),
        ("Fkc", 0.6000000000000001),
        ("Axx", 0.05),
        ("Cso", 0.27),
        ("Dai", 0.38),
        ("Hax", 0.53),
        ("Ekk", 0.8500000000000001),
        ("Bxo", 0.1),
        ("Ax", 0.05),
    ] {
        assert_eq!(mcintosh(Some(code), FP).score, score, "{code}");
    }
    let ax = mcintosh(Some("Ax"), FP);
    assert_eq!(
        (ax.size.as_deref(), ax.shape, ax.penumbra),
        (Some("A"), None, None)
    );
    for m in [None, Some("")] {
        let e = mcintosh(m, FP);
        assert_eq!(
            (e.size, e.size_enc, e.shape_enc, e.penumbra_enc, e.score),
            (None, 0, 0, 0, 0.0)
        );
    }
}

#[test]
fn mount_wilson_table() {
    let bg = mount_wilson(Some("beta-gamma"), FP);
    assert_eq!(
        (bg.alpha, bg.beta, bg.gamma, bg.delta, bg.score),
        (0, 1, 1, 0, 1.0)
    );
    let bgd = mount_wilson(Some("beta-gamma-delta"), FP);
    assert_eq!((bgd.delta, bgd.score), (1, 1.0));
    assert_eq!(mount_wilson(Some("beta"), FP).score, 0.5);
    assert_eq!(mount_wilson(Some("alpha"), FP).score, 0.25);
    assert_eq!(mount_wilson(Some("gamma"), FP).score, 0.75);
    assert_eq!(
        mount_wilson(Some(" Beta-Gamma "), FP).class.as_deref(),
        Some("beta-gamma")
    );
    // Q11: SWPC letter codes score 0 in flare-plus.
    for code in ["BG", "BGD", "A"] {
        let w = mount_wilson(Some(code), FP);
        assert_eq!(
            (w.alpha, w.beta, w.gamma, w.delta, w.score),
            (0, 0, 0, 0, 0.0),
            "{code}"
        );
        assert_eq!(w.class, Some(code.to_lowercase()));
    }
    let none = mount_wilson(None, FP);
    assert_eq!((none.class, none.score), (None, 0.0));
}

// ---------------------------------------------------------------- §8.5 / §8.6 scenario G1

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 10, 12, 0, 0).unwrap()
}

fn xray(t: DateTime<Utc>, short: f64, long: f64) -> XrayObservation {
    XrayObservation {
        feed: XrayFeed::Primary,
        time: t,
        satellite: Some(16),
        flux_short: Some(short),
        flux_long: Some(long),
        electron_contamination_short: None,
        electron_contamination_long: None,
    }
}

fn flare(cat: FlareCategory, peak: DateTime<Utc>) -> FlareEvent {
    FlareEvent {
        source: FlareSource::Detected,
        external_id: None,
        start_time: peak - Duration::minutes(10),
        peak_time: peak,
        end_time: None,
        flare_class: format!("{}1.0", cat.letter()),
        class_category: cat,
        class_magnitude: 1.0,
        active_region: None,
        location: None,
        verified: false,
    }
}

fn g1_region(spots: Option<i32>) -> RegionObservation {
    RegionObservation {
        timestamp: t0() - Duration::hours(12),
        region_number: 13500,
        latitude: Some(15.0),
        longitude: Some(-30.0),
        mcintosh_class: Some("Dkc".into()),
        mount_wilson_class: Some("beta-gamma".into()),
        area: Some(250),
        num_sunspots: spots,
        source_order: 0,
    }
}

fn g1_engine(spots: Option<i32>, flares: &[(FlareCategory, i64)]) -> FeatureEngine {
    let mut e = FeatureEngine::new(FeatureConfig::default()).unwrap();
    for (k, long) in [1e-6, 2e-6, 4e-6, 8e-6].into_iter().enumerate() {
        let t = t0() - Duration::hours(3 - k as i64);
        e.push_flux(&xray(t, long / 10.0, long)).unwrap();
    }
    e.push_region(&g1_region(spots));
    for (i, (c, h)) in flares.iter().enumerate() {
        e.upsert_flare(format!("f{i}"), flare(*c, t0() - Duration::hours(*h)));
    }
    e
}

const G1_FLARES: [(FlareCategory, i64); 4] = [
    (FlareCategory::C, 1),
    (FlareCategory::M, 5),
    (FlareCategory::X, 10),
    (FlareCategory::C, 30),
];

struct Row {
    cols: Vec<String>,
    cells: Vec<Cell>,
}

impl Row {
    fn get(&self, name: &str) -> &Cell {
        let i = self
            .cols
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name}"));
        &self.cells[i]
    }
    fn num(&self, name: &str) -> f64 {
        match self.get(name) {
            Cell::Num(x) => *x,
            Cell::Int(i) => *i as f64,
            other => panic!("{name}: {other:?}"),
        }
    }
    fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Cell::Int(i) => *i,
            other => panic!("{name}: {other:?}"),
        }
    }
    fn text(&self, name: &str) -> &str {
        match self.get(name) {
            Cell::Str(s) => s,
            other => panic!("{name}: {other:?}"),
        }
    }
}

fn features(e: &mut FeatureEngine, t: DateTime<Utc>) -> Row {
    let r = e.features_at(t).unwrap();
    Row {
        cols: e.feature_columns().to_vec(),
        cells: r.cells,
    }
}

fn covariates(e: &mut FeatureEngine, t: DateTime<Utc>) -> Row {
    let r = e.covariates_at(t).unwrap();
    Row {
        cols: e.covariate_columns().to_vec(),
        cells: r.cells,
    }
}

#[test]
fn g1_full_row() {
    let mut e = g1_engine(Some(12), &G1_FLARES);
    let r = features(&mut e, t0());
    assert_eq!(r.cells.len(), 83);
    // No value missing: all 83 columns (84 with timestamp), including the 5 strings.
    assert!(r.cells.iter().all(|c| *c != Cell::Missing), "{:?}", r.cells);

    // Region block.
    assert_eq!(
        (
            r.text("mcintosh_size"),
            r.text("mcintosh_shape"),
            r.text("mcintosh_penumbra")
        ),
        ("D", "K", "C")
    );
    assert_eq!(
        (
            r.int("mcintosh_size_encoded"),
            r.int("mcintosh_shape_encoded"),
            r.int("mcintosh_penumbra_encoded")
        ),
        (4, 5, 0)
    );
    assert_eq!(r.num("mcintosh_complexity_score"), 0.5);
    for p in ["mount_wilson", "magnetic"] {
        let class = if p == "mount_wilson" {
            "mount_wilson_class"
        } else {
            "magnetic_complexity"
        };
        assert_eq!(r.text(class), "beta-gamma");
        let flags: Vec<i64> = ["alpha", "beta", "gamma", "delta"]
            .iter()
            .map(|f| r.int(&format!("{p}_has_{f}")))
            .collect();
        assert_eq!(flags, vec![0, 1, 1, 0]);
        assert_eq!(r.num(&format!("{p}_complexity_score")), 1.0);
    }
    assert_eq!(
        (
            r.int("region_area"),
            r.int("region_num_sunspots"),
            r.num("region_latitude"),
            r.num("region_longitude")
        ),
        (250, 12, 15.0, -30.0)
    );

    // Flux trends.
    assert_rel(r.num("flux_long_mean"), 3.7499999999999997e-06);
    assert_eq!(r.num("flux_long_max"), 8e-06);
    assert_eq!(r.num("flux_long_min"), 1e-06);
    assert_rel(r.num("flux_long_std"), 3.0956959368344515e-06);
    assert_rel(r.num("flux_short_mean"), 3.75e-07);
    assert_eq!(r.num("flux_short_max"), 8e-07);
    assert_eq!(r.num("flux_short_min"), 1e-07);
    assert_rel(r.num("flux_short_std"), 3.0956959368344515e-07);
    assert_rel(r.num("flux_trend_long"), 2.3e-06);
    assert_rel(r.num("flux_trend_short"), 2.3e-07);
    assert_rel(r.num("flux_ratio_short_long"), 0.1);

    // Rates.
    assert_rel(r.num("flux_long_rate_of_change"), 2.333333333333333e-06);
    assert_rel(r.num("flux_short_rate_of_change"), 2.3333333333333333e-07);
    assert_rel(r.num("flux_long_acceleration"), 1.5e-06);
    assert_rel(r.num("flux_short_acceleration"), 1.5e-07);

    // Rolling: every window holds all four samples.
    for w in [6, 12, 24] {
        assert_rel(r.num(&format!("flux_long_{w}h_mean")), 3.75e-6);
        assert_eq!(r.num(&format!("flux_long_{w}h_max")), 8e-6);
        assert_rel(
            r.num(&format!("flux_long_{w}h_std")),
            3.0956959368344515e-06,
        );
        assert_rel(r.num(&format!("flux_short_{w}h_mean")), 3.75e-7);
        assert_eq!(r.num(&format!("flux_short_{w}h_max")), 8e-7);
        assert_rel(
            r.num(&format!("flux_short_{w}h_std")),
            3.0956959368344515e-07,
        );
    }

    // Flares.
    let c6 = 0.9;
    let m6 = 0.5904900000000001;
    let x12 = 0.3486784401000001;
    assert_eq!(
        (
            r.int("flare_B_6h_count"),
            r.num("flare_B_6h_weighted_count")
        ),
        (0, 0.0)
    );
    assert_eq!(
        (
            r.int("flare_X_6h_count"),
            r.num("flare_X_6h_weighted_count")
        ),
        (0, 0.0)
    );
    assert_eq!(r.int("flare_C_6h_count"), 1);
    assert_rel(r.num("flare_C_6h_weighted_count"), c6);
    assert_eq!(r.int("flare_M_6h_count"), 1);
    assert_rel(r.num("flare_M_6h_weighted_count"), m6);
    assert_rel(r.num("flare_total_6h_weighted_count"), 1.49049);
    for w in [12, 24] {
        assert_eq!(r.int(&format!("flare_C_{w}h_count")), 1);
        assert_eq!(r.int(&format!("flare_M_{w}h_count")), 1);
        assert_eq!(r.int(&format!("flare_X_{w}h_count")), 1);
        assert_eq!(r.int(&format!("flare_B_{w}h_count")), 0);
        assert_rel(r.num(&format!("flare_C_{w}h_weighted_count")), c6);
        assert_rel(r.num(&format!("flare_M_{w}h_weighted_count")), m6);
        assert_rel(r.num(&format!("flare_X_{w}h_weighted_count")), x12);
        assert_rel(
            r.num(&format!("flare_total_{w}h_weighted_count")),
            1.8391684401000001,
        );
    }
}

#[test]
fn g1b_null_sunspots() {
    let mut e = g1_engine(None, &G1_FLARES);
    let r = features(&mut e, t0());
    // NaN -> 0 by flare-plus's imputation.
    assert_eq!(r.num("region_num_sunspots"), 0.0);
    // flare-plus dropped the 5 string columns here (79 columns); we always emit them (Q13).
    assert_eq!(r.text("mcintosh_size"), "D");
    assert_eq!(r.text("magnetic_complexity"), "beta-gamma");
    // Improved profile: the null stays explicit.
    let mut e = FeatureEngine::new(FeatureConfig::with_profile(Profile::Improved)).unwrap();
    e.push_region(&g1_region(None));
    let r = features(&mut e, t0());
    assert_eq!(*r.get("region_num_sunspots"), Cell::Missing);
}

#[test]
fn g1c_only_old_flare() {
    let mut e = g1_engine(Some(12), &[(FlareCategory::C, 30)]);
    let r = features(&mut e, t0());
    for w in [6, 12, 24] {
        for c in ["B", "C", "M", "X"] {
            assert_eq!(*r.get(&format!("flare_{c}_{w}h_count")), Cell::Int(0));
            assert_eq!(
                *r.get(&format!("flare_{c}_{w}h_weighted_count")),
                Cell::Num(0.0)
            );
        }
        assert_eq!(
            *r.get(&format!("flare_total_{w}h_weighted_count")),
            Cell::Missing
        );
    }
    // Without any flare in 48 h the whole block is absent.
    let mut e = g1_engine(Some(12), &[(FlareCategory::C, 49)]);
    let r = features(&mut e, t0());
    assert_eq!(*r.get("flare_B_6h_count"), Cell::Missing);
}

#[test]
fn g1_covariates() {
    let mut e = g1_engine(Some(12), &G1_FLARES);
    let r = covariates(&mut e, t0());
    assert_eq!(r.cells.len(), 65);
    // L = 1
    assert_rel(r.num("flux_long_mean_1h"), 6e-06);
    assert_eq!(r.num("flux_long_max_1h"), 8e-06);
    assert_rel(r.num("flux_long_trend_1h"), 3.999999999999999e-06);
    assert_rel(r.num("flux_short_mean_1h"), 6e-07);
    assert_eq!(r.num("flux_short_max_1h"), 8e-07);
    assert_rel(r.num("flux_short_trend_1h"), 3.999999999999999e-07);
    for l in [3, 6, 12, 24] {
        assert_rel(
            r.num(&format!("flux_long_mean_{l}h")),
            3.7499999999999997e-06,
        );
        assert_eq!(r.num(&format!("flux_long_max_{l}h")), 8e-06);
        assert_rel(r.num(&format!("flux_long_trend_{l}h")), 2.3e-06);
        assert_rel(r.num(&format!("flux_short_mean_{l}h")), 3.75e-07);
        assert_eq!(r.num(&format!("flux_short_max_{l}h")), 8e-07);
        assert_rel(r.num(&format!("flux_short_trend_{l}h")), 2.3e-07);
    }
    for l in [1, 3, 6] {
        for m in [
            "max_complexity",
            "avg_area",
            "max_mcintosh",
            "max_mount_wilson",
        ] {
            assert_eq!(r.num(&format!("{m}_{l}h")), 0.0, "{m}_{l}h");
        }
    }
    for l in [12, 24] {
        assert_eq!(r.num(&format!("max_complexity_{l}h")), 1.0);
        assert_eq!(r.num(&format!("avg_area_{l}h")), 250.0);
        assert_eq!(r.num(&format!("max_mcintosh_{l}h")), 0.5);
        assert_eq!(r.num(&format!("max_mount_wilson_{l}h")), 1.0);
    }
    let hist = |l: u32| {
        (
            r.num(&format!("flare_count_{l}h")),
            r.num(&format!("max_flare_class_{l}h")),
            r.num(&format!("hours_since_last_flare_{l}h")),
        )
    };
    assert_eq!(hist(1), (1.0, 2.0, 1.0));
    assert_eq!(hist(3), (1.0, 2.0, 1.0));
    assert_eq!(hist(6), (2.0, 3.0, 1.0));
    assert_eq!(hist(12), (3.0, 4.0, 1.0));
    assert_eq!(hist(24), (3.0, 4.0, 1.0));
}

#[test]
fn survival_test_data_covariates() {
    let b = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
    let mut e = FeatureEngine::new(FeatureConfig::default()).unwrap();
    e.upsert_flare(
        "x1".into(),
        flare(FlareCategory::X, b + Duration::minutes(48 * 60 + 15)),
    );
    e.upsert_flare(
        "x2".into(),
        flare(FlareCategory::X, b + Duration::minutes(120 * 60 + 15)),
    );
    let r = covariates(&mut e, b);
    for (i, c) in r.cols.iter().enumerate() {
        let want = match c.strip_prefix("hours_since_last_flare_") {
            Some(l) => l.trim_end_matches('h').parse::<f64>().unwrap(),
            None => 0.0,
        };
        assert_eq!(r.cells[i], Cell::Num(want), "{c}");
    }
    // B+48h10m: the flare started but peaks after ts -> batch path: nothing yet.
    let r = covariates(&mut e, b + Duration::minutes(48 * 60 + 10));
    for l in [1u32, 3, 6, 12, 24] {
        assert_eq!(r.num(&format!("flare_count_{l}h")), 0.0);
        assert_eq!(r.num(&format!("hours_since_last_flare_{l}h")), l as f64);
    }
    let r = covariates(&mut e, b + Duration::hours(49));
    for l in [1u32, 3, 6, 12, 24] {
        assert_eq!(r.num(&format!("flare_count_{l}h")), 1.0);
        assert_eq!(r.num(&format!("max_flare_class_{l}h")), 4.0);
        assert_eq!(r.num(&format!("hours_since_last_flare_{l}h")), 0.75);
    }
}
