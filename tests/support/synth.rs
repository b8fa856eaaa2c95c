//! TEST-ONLY synthetic data: random but reproducible flux (irregular cadence, gaps, missing,
//! negative and invalid values), region rows (ties at midnight, nulls) and flares.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use flare_plus::domain::{
    FlareCategory, FlareEvent, FlareSource, RegionObservation, XrayFeed, XrayObservation,
};

/// SplitMix64: tiny, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
}

pub struct Dataset {
    pub flux: Vec<XrayObservation>,
    pub regions: Vec<RegionObservation>,
    pub flares: Vec<FlareEvent>,
    pub end: DateTime<Utc>,
}

fn obs(time: DateTime<Utc>, short: Option<f64>, long: Option<f64>) -> XrayObservation {
    XrayObservation {
        feed: XrayFeed::Primary,
        time,
        satellite: Some(16),
        flux_short: short,
        flux_long: long,
        electron_contamination_short: None,
        electron_contamination_long: None,
    }
}

/// `n` flux samples from [`start`], mostly 1 min apart with jitter, gaps and defects; regions
/// each midnight; flares about every 3 h.
pub fn dataset(seed: u64, n: usize) -> Dataset {
    let mut r = Rng::new(seed);
    let mut flux = Vec::with_capacity(n);
    let mut t = start();
    let mut lg = -6.5f64;
    for _ in 0..n {
        let step_us: i64 = match r.f() {
            x if x < 0.85 => 60_000_000,
            x if x < 0.90 => 1 + r.below(59_999_999) as i64,
            x if x < 0.98 => (2 + r.below(28) as i64) * 60_000_000 + r.below(1000) as i64,
            _ => (60 + r.below(300) as i64) * 60_000_000,
        };
        t += Duration::microseconds(step_us);
        lg = (lg + (r.f() - 0.5) * 0.2).clamp(-8.5, -4.0);
        let long = 10f64.powf(lg);
        let short = long * (0.02 + 0.1 * r.f());
        let band = |x: f64, r: &mut Rng| -> Option<f64> {
            match r.f() {
                p if p < 0.03 => None,
                p if p < 0.035 => Some([f64::NAN, f64::INFINITY, 1.0, -0.5][r.below(4) as usize]),
                p if p < 0.045 => Some(-x * 0.01),
                _ => Some(x),
            }
        };
        let s = band(short, &mut r);
        let l = band(long, &mut r);
        flux.push(obs(t, s, l));
    }
    let end = t;
    let mcs = [
        Some("Dkc"),
        Some("Hsx"),
        Some("Axx"),
        Some("Ekc"),
        Some("Bxo"),
        Some(""),
        None,
        Some("Fki"),
    ];
    let mws = [
        Some("BG"),
        Some("A"),
        Some("beta-gamma"),
        Some("alpha"),
        Some("BGD"),
        None,
        Some(""),
    ];
    let mut regions = Vec::new();
    let mut day = start() - Duration::days(3);
    let mut order = 0u32;
    while day <= end + Duration::days(1) {
        let k = r.below(7);
        let mut number = 3700 + r.below(40) as i32;
        for _ in 0..k {
            number += 1 + r.below(3) as i32;
            // Unique per day: (region, day) is the table key.
            regions.push(RegionObservation {
                timestamp: day,
                region_number: number,
                latitude: (!r.chance(0.1)).then(|| (r.f() - 0.5) * 60.0),
                longitude: (!r.chance(0.1)).then(|| (r.f() - 0.5) * 160.0),
                mcintosh_class: mcs[r.below(mcs.len() as u64) as usize].map(String::from),
                mount_wilson_class: mws[r.below(mws.len() as u64) as usize].map(String::from),
                area: (!r.chance(0.2)).then(|| r.below(1200) as i32),
                num_sunspots: (!r.chance(0.2)).then(|| r.below(60) as i32),
                source_order: order + r.below(5) as u32,
            });
            order += 1;
        }
        day += Duration::days(1);
    }
    let mut flares = Vec::new();
    let mut p = start() - Duration::hours(30);
    let cats = [
        FlareCategory::A,
        FlareCategory::B,
        FlareCategory::C,
        FlareCategory::M,
        FlareCategory::X,
    ];
    while p < end + Duration::hours(6) {
        p += Duration::microseconds(1 + r.below(6 * 3_600_000_000) as i64);
        let c = cats[r.below(5) as usize];
        flares.push(FlareEvent {
            source: FlareSource::Detected,
            external_id: None,
            start_time: p - Duration::minutes(12),
            peak_time: p,
            end_time: None,
            flare_class: format!("{}1.0", c.letter()),
            class_category: c,
            class_magnitude: 1.0,
            active_region: None,
            location: None,
            verified: false,
        });
    }
    Dataset {
        flux,
        regions,
        flares,
        end,
    }
}

/// A minute-cadence year-like series without defects, for benchmarks.
pub fn minute_series(n: usize, seed: u64) -> Vec<XrayObservation> {
    let mut r = Rng::new(seed);
    let mut lg = -6.5f64;
    (0..n)
        .map(|i| {
            lg = (lg + (r.f() - 0.5) * 0.05).clamp(-8.5, -4.0);
            let long = 10f64.powf(lg);
            obs(
                start() + Duration::minutes(i as i64),
                Some(long * 0.05),
                Some(long),
            )
        })
        .collect()
}
