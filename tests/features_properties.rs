//! Property tests: determinism (values are a pure function of the data <= T and T, bit for bit,
//! whatever the tick cadence, data-ahead buffering or a restart from a 48 h warm-up) and
//! incremental-vs-naive agreement (the windowed engine against a per-tick rescan).

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use flare_plus::features::{Cell, FeatureConfig, FeatureEngine};
use flare_plus::profile::Profile;
use proptest::prelude::*;
use support::naive;
use support::synth::{dataset, start, Dataset, Rng};

/// Exact identity of a cell: f64 by bits.
#[derive(Debug, PartialEq, Eq)]
enum Bits {
    Missing,
    Int(i64),
    Num(u64),
    Str(String),
}

fn bits(cells: &[Cell]) -> Vec<Bits> {
    cells
        .iter()
        .map(|c| match c {
            Cell::Missing => Bits::Missing,
            Cell::Int(i) => Bits::Int(*i),
            Cell::Num(x) => Bits::Num(x.to_bits()),
            Cell::Str(s) => Bits::Str(s.clone()),
        })
        .collect()
}

type Out = BTreeMap<DateTime<Utc>, (Vec<Bits>, Vec<Bits>)>;

fn eval(e: &mut FeatureEngine, t: DateTime<Utc>, out: &mut Out) {
    let f = e.features_at(t).unwrap();
    let c = e.covariates_at(t).unwrap();
    out.insert(t, (bits(&f.cells), bits(&c.cells)));
}

fn engine(profile: Profile) -> FeatureEngine {
    FeatureEngine::new(FeatureConfig::with_profile(profile)).unwrap()
}

/// Reference: flux pushed just before each tick, every grid tick evaluated.
fn reference(d: &Dataset, grid: &[DateTime<Utc>], profile: Profile) -> Out {
    let mut e = engine(profile);
    for r in &d.regions {
        e.push_region(r);
    }
    for (i, f) in d.flares.iter().enumerate() {
        e.upsert_flare(format!("f{i}"), f.clone());
    }
    let mut out = Out::new();
    let mut next = 0;
    for &t in grid {
        while next < d.flux.len() && d.flux[next].time <= t {
            e.push_flux(&d.flux[next]).unwrap();
            next += 1;
        }
        eval(&mut e, t, &mut out);
    }
    out
}

fn grid(d: &Dataset, step_min: i64) -> Vec<DateTime<Utc>> {
    let mut g = Vec::new();
    let mut t = start() + Duration::hours(1);
    while t <= d.end + Duration::hours(2) {
        g.push(t);
        t += Duration::minutes(step_min);
    }
    g
}

fn check_determinism(seed: u64, profile: Profile) {
    let d = dataset(seed, 3500);
    let g = grid(&d, 17);
    let want = reference(&d, &g, profile);
    let mut r = Rng::new(seed ^ 0xABCD);

    // B: all flux pushed up front (data far ahead of T), regions/flares in shuffled order with
    // a few pushed twice, a random subset of grid ticks plus off-grid ticks in between.
    let mut b = engine(profile);
    for f in &d.flux {
        b.push_flux(f).unwrap();
    }
    let mut idx: Vec<usize> = (0..d.flares.len()).collect();
    for i in (1..idx.len()).rev() {
        idx.swap(i, r.below(i as u64 + 1) as usize);
    }
    for &i in &idx {
        b.upsert_flare(format!("f{i}"), d.flares[i].clone());
    }
    for reg in d.regions.iter().rev() {
        b.push_region(reg);
    }
    for reg in d.regions.iter().step_by(3) {
        b.push_region(reg); // re-sent row: upsert
    }
    let mut got = Out::new();
    let mut compared = 0;
    for &t in &g {
        if r.chance(0.3) {
            let off = t - Duration::microseconds(1 + r.below(17 * 60_000_000 - 2) as i64);
            if got.keys().next_back().is_none_or(|&l| off > l) {
                let _ = b.features_at(off).unwrap();
            }
        }
        if r.chance(0.5) {
            eval(&mut b, t, &mut got);
            assert_eq!(got[&t], want[&t], "B at {t}");
            compared += 1;
        }
    }
    // C: restart at a random tick, warmed up from the last 48 h only.
    let tr = g[g.len() / 3 + r.below(g.len() as u64 / 2) as usize];
    let from = tr - Duration::hours(48);
    let mut c = engine(profile);
    for reg in d.regions.iter().filter(|x| x.timestamp >= from) {
        c.push_region(reg);
    }
    for (i, f) in d
        .flares
        .iter()
        .enumerate()
        .filter(|(_, f)| f.peak_time >= from)
    {
        c.upsert_flare(format!("f{i}"), f.clone());
    }
    for f in d.flux.iter().filter(|f| f.time >= from) {
        c.push_flux(f).unwrap();
    }
    let mut got_c = Out::new();
    for &t in g.iter().filter(|&&t| t >= tr) {
        if r.chance(0.6) {
            eval(&mut c, t, &mut got_c);
            assert_eq!(got_c[&t], want[&t], "C (restart at {tr}) at {t}");
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");
}

fn close(a: f64, b: f64) -> bool {
    // Pure 1e-12 relative, no absolute floor: the reference computes slopes in double-double,
    // so near-zero slopes are accurate on both sides.
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn check_naive(seed: u64, profile: Profile) {
    let d = dataset(seed, 2500);
    let data = naive::Data {
        flux: &d.flux,
        regions: &d.regions,
        flares: &d.flares,
    };
    let mut e = engine(profile);
    for reg in &d.regions {
        e.push_region(reg);
    }
    for (i, f) in d.flares.iter().enumerate() {
        e.upsert_flare(format!("f{i}"), f.clone());
    }
    for f in &d.flux {
        e.push_flux(f).unwrap();
    }
    let mut r = Rng::new(seed ^ 0x5151);
    let mut t = start();
    let mut n_num = 0;
    let hours = [0i64, 1, 3, 6, 12, 24, 48];
    while t < d.end + Duration::hours(3) {
        t += Duration::microseconds(1 + r.below(90 * 60_000_000) as i64);
        // Half of the ticks sit exactly on an interval end: a sample, flare peak or region
        // time plus 0/1/3/6/12/24/48 h, so every `[`, `]` and `)` of the spec is exercised.
        if r.chance(0.5) {
            let h = Duration::hours(hours[r.below(7) as usize]);
            let lo = t - h;
            let anchor = match r.below(3) {
                0 => d
                    .flux
                    .get(d.flux.partition_point(|x| x.time < lo))
                    .map(|x| x.time),
                1 => d
                    .flares
                    .get(d.flares.partition_point(|x| x.peak_time < lo))
                    .map(|x| x.peak_time),
                _ => d
                    .regions
                    .get(d.regions.partition_point(|x| x.timestamp < lo))
                    .map(|x| x.timestamp),
            }
            .map(|a| a + h)
            .unwrap_or(t);
            if anchor > t {
                t = anchor;
            }
        }
        for (kind, ours, theirs) in [
            (
                "feature",
                e.features_at(t).unwrap().cells,
                naive::features(&data, t, profile),
            ),
            (
                "covariate",
                e.covariates_at(t).unwrap().cells,
                naive::covariates(&data, t, profile),
            ),
        ] {
            assert_eq!(ours.len(), theirs.len());
            let cols = if kind == "feature" {
                e.feature_columns()
            } else {
                e.covariate_columns()
            };
            for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                let ok = match (a, b) {
                    (Cell::Num(x), Cell::Num(y)) => {
                        n_num += 1;
                        close(*x, *y)
                    }
                    _ => a == b,
                };
                assert!(ok, "{kind} {} at {t}: engine {a:?}, naive {b:?}", cols[i]);
            }
        }
    }
    assert!(n_num > 1000, "{n_num}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn deterministic_flare_plus(seed in any::<u64>()) {
        check_determinism(seed, Profile::FlarePlus);
    }

    #[test]
    fn deterministic_improved(seed in any::<u64>()) {
        check_determinism(seed, Profile::Improved);
    }

    #[test]
    fn incremental_matches_naive_flare_plus(seed in any::<u64>()) {
        check_naive(seed, Profile::FlarePlus);
    }

    #[test]
    fn incremental_matches_naive_improved(seed in any::<u64>()) {
        check_naive(seed, Profile::Improved);
    }
}
