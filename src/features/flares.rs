//! Flare events: storage keyed by the caller's key (flares arrive late, out of order, and get
//! revised), recency-weighted counts for the features (spec 5.2.5) and the flare-history
//! covariates (spec 5.5).

use std::collections::{BTreeMap, HashMap};

use crate::domain::{FlareCategory, FlareEvent};

use super::schema::Cell;

/// Flares by key and by peak time. Only the peak time and the class letter matter to the
/// features (flare-plus's batch path filters on `peak_time`, Q20).
#[derive(Debug, Default)]
pub struct FlareStore {
    by_key: HashMap<String, i64>,
    by_peak: BTreeMap<(i64, String), FlareCategory>,
}

/// `(ts − peak)` in hours, like Python's `timedelta.total_seconds() / 3600`.
pub fn hours_between(later_us: i64, earlier_us: i64) -> f64 {
    ((later_us - earlier_us) as f64 / 1e6) / 3600.0
}

/// The three flare-history covariates of one lookback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlareCovariates {
    pub count: f64,
    pub max_class: f64,
    pub hours_since_last: f64,
}

fn class_rank(c: FlareCategory) -> f64 {
    match c {
        FlareCategory::B => 1.0,
        FlareCategory::C => 2.0,
        FlareCategory::M => 3.0,
        FlareCategory::X => 4.0,
        FlareCategory::A => 0.0,
    }
}

impl FlareStore {
    /// Inserts or replaces the flare under `key`. A flare peaking before `horizon` can never
    /// enter a window again; it only removes an older version.
    pub fn upsert(&mut self, key: String, f: &FlareEvent, horizon: Option<i64>) {
        self.remove(&key);
        let peak = f.peak_time.timestamp_micros();
        if horizon.is_some_and(|h| peak < h) {
            return;
        }
        self.by_peak.insert((peak, key.clone()), f.class_category);
        self.by_key.insert(key, peak);
    }

    pub fn remove(&mut self, key: &str) {
        if let Some((k, peak)) = self.by_key.remove_entry(key) {
            self.by_peak.remove(&(peak, k));
        }
    }

    /// Drops flares peaking before `horizon`.
    pub fn evict_before(&mut self, horizon: i64) {
        while let Some(e) = self.by_peak.first_entry() {
            if e.key().0 >= horizon {
                break;
            }
            let ((_, key), _) = e.remove_entry();
            self.by_key.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Flares with peak in `[lo, hi]` (inclusive), in peak order.
    fn closed(&self, lo: i64, hi: i64) -> impl Iterator<Item = (i64, FlareCategory)> + '_ {
        self.by_peak
            .range((lo, String::new())..)
            .take_while(move |((p, _), _)| *p <= hi)
            .map(|((p, _), c)| (*p, *c))
    }

    /// Is there any flare with peak in `[now − window, now]` (spec 5.1 step 4)?
    pub fn any_in(&self, now: i64, window_us: i64) -> bool {
        self.closed(now.saturating_sub(window_us), now)
            .next()
            .is_some()
    }

    /// Appends the recency-weighted counts of one window `[now − w, now]` to `out`: per class
    /// B, C, M, X the count and `Σ decay^hours_ago`, then the total over all flares. An empty
    /// window has zero counts and **no** total (Q13, kept: [`Cell::Missing`]).
    pub fn push_weighted_counts(&self, now: i64, w_us: i64, decay: f64, out: &mut Vec<Cell>) {
        let mut count = [0i64; 4];
        let mut weighted = [0.0f64; 4];
        let mut total = 0.0f64;
        let mut any = false;
        for (peak, cat) in self.closed(now.saturating_sub(w_us), now) {
            any = true;
            let wgt = decay.powf(hours_between(now, peak));
            total += wgt;
            let idx = match cat {
                FlareCategory::B => 0,
                FlareCategory::C => 1,
                FlareCategory::M => 2,
                FlareCategory::X => 3,
                FlareCategory::A => continue,
            };
            count[idx] += 1;
            weighted[idx] += wgt;
        }
        for i in 0..4 {
            out.push(Cell::Int(count[i]));
            out.push(Cell::Num(weighted[i]));
        }
        out.push(if any { Cell::Num(total) } else { Cell::Missing });
    }

    /// Flare-history covariates over peaks in `[now − lookback, now)` (half open, spec 5.5).
    pub fn covariates(&self, now: i64, lookback_us: i64, lookback_h: f64) -> FlareCovariates {
        let mut n = 0u64;
        let mut max_class = 0.0f64;
        let mut last: Option<i64> = None;
        for (peak, cat) in self.closed(now.saturating_sub(lookback_us), now) {
            if peak >= now {
                break;
            }
            n += 1;
            max_class = max_class.max(class_rank(cat));
            last = Some(peak);
        }
        match last {
            None => FlareCovariates {
                count: 0.0,
                max_class: 0.0,
                hours_since_last: lookback_h,
            },
            Some(p) => FlareCovariates {
                count: n as f64,
                max_class,
                hours_since_last: hours_between(now, p),
            },
        }
    }

    /// Approximate heap bytes (map entries plus key strings, counted twice: both maps own one).
    pub fn heap_bytes(&self) -> usize {
        let per = std::mem::size_of::<(i64, String)>()
            + std::mem::size_of::<FlareCategory>()
            + std::mem::size_of::<(String, i64)>();
        self.by_key.capacity() * std::mem::size_of::<(String, i64)>()
            + self
                .by_key
                .keys()
                .map(|k| 2 * k.capacity() + per)
                .sum::<usize>()
    }
}
