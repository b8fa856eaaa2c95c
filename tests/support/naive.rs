//! TEST-ONLY straightforward implementation of spec 5.1–5.3 and 5.5: for every tick it filters
//! the raw data by the spec's intervals and computes each statistic in floating point
//! (compensated sums, two-pass variance, double-double least squares). No state, no windows, no
//! integers: an independent reference for the incremental engine.
#![allow(dead_code, clippy::needless_range_loop)]

use chrono::{DateTime, Utc};
use flare_plus::domain::{FlareCategory, FlareEvent, RegionObservation, XrayObservation};
use flare_plus::features::complexity::{mcintosh, mount_wilson};
use flare_plus::features::Cell;
use flare_plus::profile::Profile;

const H: i64 = 3_600_000_000;

/// The engine's validation: null, non-finite or |x| > 1e-2 is missing.
fn valid(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && v.abs() <= 1e-2)
}

/// Neumaier-compensated sum.
fn sum(xs: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &x in xs {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    s + c
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| sum(xs) / xs.len() as f64)
}

fn std(xs: &[f64]) -> Option<f64> {
    match xs.len() {
        0 => None,
        1 => Some(f64::NAN),
        n => {
            let m = sum(xs) / n as f64;
            let d: Vec<f64> = xs.iter().map(|x| (x - m) * (x - m)).collect();
            Some((sum(&d) / (n - 1) as f64).sqrt())
        }
    }
}

fn max(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().reduce(f64::max)
}

fn min(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().reduce(f64::min)
}

/// Double-double number (hi + lo), about 106 bits: the OLS numerator and denominator cancel
/// heavily for slopes near zero, and a plain f64 reference would be the inaccurate side.
#[derive(Clone, Copy)]
struct Dd(f64, f64);

fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

impl Dd {
    fn add(self, o: Dd) -> Dd {
        let (s, e) = two_sum(self.0, o.0);
        let e = e + self.1 + o.1;
        let (h, l) = two_sum(s, e);
        Dd(h, l)
    }
    fn neg(self) -> Dd {
        Dd(-self.0, -self.1)
    }
    fn mul(self, o: Dd) -> Dd {
        let p = self.0 * o.0;
        let e = self.0.mul_add(o.0, -p) + self.0 * o.1 + self.1 * o.0;
        let (h, l) = two_sum(p, e);
        Dd(h, l)
    }
}

/// OLS slope of y on x: (n·Σxy − Σx·Σy) / (n·Σx² − (Σx)²) in double-double. `x` must be exact
/// (integers), `y` are the data values.
fn slope(x: &[f64], y: &[f64]) -> f64 {
    let z = Dd(0.0, 0.0);
    let (mut sx, mut sy, mut sxy, mut sxx) = (z, z, z, z);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (Dd(a, 0.0), Dd(b, 0.0));
        sx = sx.add(a);
        sy = sy.add(b);
        sxy = sxy.add(a.mul(b));
        sxx = sxx.add(a.mul(a));
    }
    let n = Dd(x.len() as f64, 0.0);
    let num = n.mul(sxy).add(sx.mul(sy).neg());
    let den = n.mul(sxx).add(sx.mul(sx).neg());
    (num.0 + num.1) / (den.0 + den.1)
}

fn hours(later: i64, earlier: i64) -> f64 {
    ((later - earlier) as f64 / 1e6) / 3600.0
}

pub struct Data<'a> {
    pub flux: &'a [XrayObservation],
    pub regions: &'a [RegionObservation],
    pub flares: &'a [FlareEvent],
}

struct FRow {
    t: i64,
    v: [Option<f64>; 2],
}

fn rows(d: &Data, lo: i64, hi: i64) -> Vec<FRow> {
    d.flux
        .iter()
        .map(|o| FRow {
            t: o.time.timestamp_micros(),
            v: [valid(o.flux_short), valid(o.flux_long)],
        })
        .filter(|r| r.t >= lo && r.t <= hi)
        .collect()
}

fn vals(r: &[FRow], b: usize) -> Vec<f64> {
    r.iter().filter_map(|x| x.v[b]).collect()
}

fn num(v: Option<f64>) -> Cell {
    Cell::Num(v.unwrap_or(f64::NAN))
}

fn rate(r: &[FRow], b: usize) -> Option<(f64, f64)> {
    let v = vals(r, b);
    if v.len() < 2 || r.is_empty() {
        return None;
    }
    let span = hours(r[r.len() - 1].t, r[0].t);
    (span > 0.0).then(|| ((v[v.len() - 1] - v[0]) / span, span))
}

/// One feature row (default configuration), finalised like the engine.
pub fn features(d: &Data, t: DateTime<Utc>, profile: Profile) -> Vec<Cell> {
    let now = t.timestamp_micros();
    let mut out = Vec::new();
    // Region block.
    let win: Vec<&RegionObservation> = d
        .regions
        .iter()
        .filter(|r| {
            let x = r.timestamp.timestamp_micros();
            x >= now - 48 * H && x <= now
        })
        .collect();
    let latest = win.iter().map(|r| r.timestamp).max();
    let tied: Vec<&&RegionObservation> =
        win.iter().filter(|r| Some(r.timestamp) == latest).collect();
    let pick = match profile {
        Profile::FlarePlus => tied
            .iter()
            .max_by_key(|r| (r.source_order, r.region_number)),
        Profile::Improved => tied
            .iter()
            .max_by_key(|r| (r.area.unwrap_or(i32::MIN), -(r.region_number as i64))),
    };
    match pick {
        None => out.extend(std::iter::repeat_n(Cell::Missing, 23)),
        Some(r) => {
            let m = mcintosh(r.mcintosh_class.as_deref(), profile);
            let s = |o: &Option<String>| o.clone().map_or(Cell::Num(f64::NAN), Cell::Str);
            out.extend([
                s(&m.size),
                s(&m.shape),
                s(&m.penumbra),
                Cell::Int(m.size_enc),
                Cell::Int(m.shape_enc),
                Cell::Int(m.penumbra_enc),
                Cell::Num(m.score),
            ]);
            let w = mount_wilson(r.mount_wilson_class.as_deref(), profile);
            for _ in 0..2 {
                out.extend([
                    s(&w.class),
                    Cell::Int(w.alpha),
                    Cell::Int(w.beta),
                    Cell::Int(w.gamma),
                    Cell::Int(w.delta),
                    Cell::Num(w.score),
                ]);
            }
            let i = |v: Option<i32>| v.map_or(Cell::Num(f64::NAN), |x| Cell::Int(x as i64));
            out.extend([
                i(r.area),
                i(r.num_sunspots),
                num(r.latitude),
                num(r.longitude),
            ]);
        }
    }
    // Flux block.
    if rows(d, now - 48 * H, now).is_empty() {
        out.extend(std::iter::repeat_n(Cell::Missing, 33));
    } else {
        let r = rows(d, now - 24 * H, now);
        if r.is_empty() {
            out.extend(std::iter::repeat_n(num(None), 11));
        } else {
            let mut means = [None; 2];
            for b in 0..2 {
                let v = vals(&r, b);
                means[b] = mean(&v);
                out.extend([num(means[b]), num(max(&v)), num(min(&v)), num(std(&v))]);
            }
            let w = rows(d, now - 6 * H, now);
            for b in 0..2 {
                let v = vals(&w, b);
                let s = (w.len() >= 2 && v.len() >= 2).then(|| {
                    let x: Vec<f64> = (0..v.len()).map(|i| i as f64).collect();
                    slope(&x, &v)
                });
                out.push(num(s));
            }
            let ratio = match (means[0], means[1]) {
                (Some(s), Some(l)) if s != 0.0 && l != 0.0 && l > 0.0 => Some(s / l),
                _ => None,
            };
            out.push(num(ratio));
        }
        let r = rows(d, now - 12 * H, now);
        let mut acc = [None, None];
        let mut rt = [None, None];
        if r.len() >= 2 {
            for b in 0..2 {
                rt[b] = rate(&r, b).map(|x| x.0);
                if r.len() >= 3 {
                    let mid = r.len() / 2;
                    if let (Some((r1, s1)), Some((r2, s2))) =
                        (rate(&r[..mid], b), rate(&r[mid..], b))
                    {
                        acc[b] = Some((r2 - r1) / (s1 + s2));
                    }
                }
            }
        }
        out.extend([num(rt[0]), num(rt[1]), num(acc[0]), num(acc[1])]);
        for w in [6, 12, 24] {
            let r = rows(d, now - w * H, now);
            for b in 0..2 {
                let v = vals(&r, b);
                if v.is_empty() {
                    out.extend(std::iter::repeat_n(num(None), 3));
                } else {
                    out.extend([num(mean(&v)), num(max(&v)), num(std(&v))]);
                }
            }
        }
    }
    // Flare block.
    let peaks = |lo: i64, hi: i64| -> Vec<(i64, FlareCategory)> {
        let mut v: Vec<(i64, FlareCategory)> = d
            .flares
            .iter()
            .map(|f| (f.peak_time.timestamp_micros(), f.class_category))
            .filter(|(p, _)| *p >= lo && *p <= hi)
            .collect();
        v.sort_by_key(|x| x.0);
        v
    };
    if peaks(now - 48 * H, now).is_empty() {
        out.extend(std::iter::repeat_n(Cell::Missing, 27));
    } else {
        for w in [6, 12, 24] {
            let f = peaks(now - w * H, now);
            for c in [
                FlareCategory::B,
                FlareCategory::C,
                FlareCategory::M,
                FlareCategory::X,
            ] {
                let ws: Vec<f64> = f
                    .iter()
                    .filter(|x| x.1 == c)
                    .map(|x| 0.9f64.powf(hours(now, x.0)))
                    .collect();
                out.push(Cell::Int(ws.len() as i64));
                out.push(Cell::Num(ws.iter().sum()));
            }
            let tot: Vec<f64> = f.iter().map(|x| 0.9f64.powf(hours(now, x.0))).collect();
            out.push(if f.is_empty() {
                Cell::Missing
            } else {
                Cell::Num(tot.iter().sum())
            });
        }
    }
    for c in out.iter_mut() {
        if let Cell::Num(x) = c {
            if x.is_nan() {
                *c = if profile == Profile::FlarePlus {
                    Cell::Num(0.0)
                } else {
                    Cell::Missing
                };
            }
        }
    }
    out
}

/// One covariate row (default lookbacks).
pub fn covariates(d: &Data, t: DateTime<Utc>, profile: Profile) -> Vec<Cell> {
    let now = t.timestamp_micros();
    let mut out = Vec::new();
    let cell = |v: f64| {
        if v.is_nan() {
            Cell::Missing
        } else {
            Cell::Num(v)
        }
    };
    for l in [1i64, 3, 6, 12, 24] {
        let r = rows(d, now - l * H, now);
        if r.is_empty() {
            out.extend(std::iter::repeat_n(Cell::Num(0.0), 6));
        } else {
            let mut trend = [0.0; 2];
            for (k, b) in [1usize, 0].into_iter().enumerate() {
                let v = vals(&r, b);
                out.push(cell(mean(&v).unwrap_or(0.0)));
                out.push(cell(max(&v).unwrap_or(0.0)));
                trend[k] = if r.len() <= 1 {
                    0.0
                } else if profile == Profile::FlarePlus && v.len() < r.len() {
                    f64::NAN
                } else if v.len() >= 2 {
                    let x: Vec<f64> = r
                        .iter()
                        .filter(|x| x.v[b].is_some())
                        .map(|x| (x.t - r[0].t) as f64) // exact µs, then per hour
                        .collect();
                    slope(&x, &v) * 3.6e9
                } else {
                    0.0
                };
            }
            out.push(cell(trend[0]));
            out.push(cell(trend[1]));
        }
        let regs: Vec<&RegionObservation> = d
            .regions
            .iter()
            .filter(|x| {
                let ts = x.timestamp.timestamp_micros();
                ts >= now - l * H && ts <= now
            })
            .collect();
        if regs.is_empty() {
            out.extend(std::iter::repeat_n(Cell::Num(0.0), 4));
        } else {
            let mc: Vec<f64> = regs
                .iter()
                .filter(|x| x.mcintosh_class.is_some())
                .map(|x| mcintosh(x.mcintosh_class.as_deref(), profile).score)
                .collect();
            let mw: Vec<f64> = regs
                .iter()
                .filter(|x| x.mount_wilson_class.is_some())
                .map(|x| mount_wilson(x.mount_wilson_class.as_deref(), profile).score)
                .collect();
            let both: Vec<f64> = mc.iter().chain(&mw).copied().collect();
            let areas: Vec<f64> = regs.iter().filter_map(|x| x.area.map(f64::from)).collect();
            let avg = mean(&areas).unwrap_or(if profile == Profile::Improved {
                0.0
            } else {
                f64::NAN
            });
            out.extend([
                cell(max(&both).unwrap_or(0.0)),
                cell(avg),
                cell(max(&mc).unwrap_or(0.0)),
                cell(max(&mw).unwrap_or(0.0)),
            ]);
        }
        let f: Vec<(i64, FlareCategory)> = d
            .flares
            .iter()
            .map(|f| (f.peak_time.timestamp_micros(), f.class_category))
            .filter(|(p, _)| *p >= now - l * H && *p < now)
            .collect();
        if f.is_empty() {
            out.extend([Cell::Num(0.0), Cell::Num(0.0), Cell::Num(l as f64)]);
        } else {
            let rank = |c: FlareCategory| match c {
                FlareCategory::B => 1.0,
                FlareCategory::C => 2.0,
                FlareCategory::M => 3.0,
                FlareCategory::X => 4.0,
                FlareCategory::A => 0.0,
            };
            let mx = f.iter().map(|x| rank(x.1)).fold(0.0, f64::max);
            let last = f.iter().map(|x| x.0).max().unwrap_or(now);
            out.extend([
                Cell::Num(f.len() as f64),
                Cell::Num(mx),
                Cell::Num(hours(now, last)),
            ]);
        }
    }
    out
}
