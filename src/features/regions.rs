//! Active-region rows: storage for the 48 h data window, the feature pick (spec 5.1 step 2) and
//! the covariate complexity metrics (spec 5.5).
//!
//! Region rows are few (about ten per day), so lookups iterate the rows in range. Each row is
//! parsed once, when it arrives.

use std::collections::BTreeMap;

use crate::domain::RegionObservation;
use crate::profile::Profile;

use super::complexity::{mcintosh, mount_wilson, McIntosh, MountWilson};

/// One stored region row, parsed for the engine's profile.
#[derive(Debug, Clone)]
pub struct RegionEntry {
    pub region_number: i32,
    pub source_order: u32,
    pub area: Option<i32>,
    pub num_sunspots: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// `mcintosh_class` was present (an empty string counts, spec 5.5).
    pub has_mcintosh: bool,
    /// `mount_wilson_class` was present.
    pub has_mount_wilson: bool,
    pub mcintosh: McIntosh,
    /// Parsed `mount_wilson_class`; flare-plus's magnetic features parse the same string (Q15).
    pub mount_wilson: MountWilson,
}

/// Regions keyed by (timestamp µs, region number): the table's unique key, so a re-sent row
/// replaces the stored one (upsert).
#[derive(Debug, Default)]
pub struct RegionStore {
    rows: BTreeMap<(i64, i32), RegionEntry>,
}

/// The four region-complexity covariates of one lookback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionCovariates {
    pub max_complexity: f64,
    pub avg_area: f64,
    pub max_mcintosh: f64,
    pub max_mount_wilson: f64,
}

impl RegionStore {
    /// Inserts or replaces a row. Rows older than `horizon` (µs) can never be read again and are
    /// not stored.
    pub fn upsert(&mut self, r: &RegionObservation, profile: Profile, horizon: Option<i64>) {
        let t = r.timestamp.timestamp_micros();
        if horizon.is_some_and(|h| t < h) {
            return;
        }
        let entry = RegionEntry {
            region_number: r.region_number,
            source_order: r.source_order,
            area: r.area,
            num_sunspots: r.num_sunspots,
            latitude: r.latitude,
            longitude: r.longitude,
            has_mcintosh: r.mcintosh_class.is_some(),
            has_mount_wilson: r.mount_wilson_class.is_some(),
            mcintosh: mcintosh(r.mcintosh_class.as_deref(), profile),
            mount_wilson: mount_wilson(r.mount_wilson_class.as_deref(), profile),
        };
        self.rows.insert((t, r.region_number), entry);
    }

    /// Drops rows with timestamp < `horizon`.
    pub fn evict_before(&mut self, horizon: i64) {
        while let Some(e) = self.rows.first_entry() {
            if e.key().0 >= horizon {
                break;
            }
            e.remove();
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row the region block uses at `now`: the latest timestamp in `[now − window, now]`.
    ///
    /// Ties at that timestamp (SWPC stamps every region of a day with the same date):
    /// flare-plus took whatever PostgreSQL returned last, which for the goldens is the last
    /// ingested row (golden README), i.e. the highest `source_order`. Profile::Improved uses
    /// Q14's deterministic rule instead: largest area, then lowest region number.
    pub fn pick(&self, now: i64, window_us: i64, profile: Profile) -> Option<&RegionEntry> {
        let lo = now.saturating_sub(window_us);
        let mut range = self.rows.range((lo, i32::MIN)..=(now, i32::MAX)).rev();
        let (&(latest, _), first) = range.next()?;
        let mut best = first;
        for (&(t, _), e) in range {
            if t != latest {
                break;
            }
            let better = match profile {
                Profile::FlarePlus => {
                    (e.source_order, e.region_number) > (best.source_order, best.region_number)
                }
                Profile::Improved => {
                    (e.area.unwrap_or(i32::MIN), -(e.region_number as i64))
                        > (best.area.unwrap_or(i32::MIN), -(best.region_number as i64))
                }
            };
            if better {
                best = e;
            }
        }
        Some(best)
    }

    /// Active regions at `now`: each region number with a row in `[now − window, now]`, with
    /// its latest such row (the per-region feature vectors' region block).
    pub fn latest_per_region(&self, now: i64, window_us: i64) -> BTreeMap<i32, &RegionEntry> {
        let lo = now.saturating_sub(window_us);
        let mut latest: BTreeMap<i32, &RegionEntry> = BTreeMap::new();
        // Ascending time: a later row of the same region replaces an earlier one.
        for (_, e) in self.rows.range((lo, i32::MIN)..=(now, i32::MAX)) {
            latest.insert(e.region_number, e);
        }
        latest
    }

    /// Covariates over rows with timestamp in `[now − lookback, now]`; `None` without rows.
    /// `avg_area` is the mean of the non-null areas: NaN when all are null in flare-plus
    /// (Q22, kept), 0.0 in the improved profile.
    pub fn covariates(
        &self,
        now: i64,
        lookback_us: i64,
        profile: Profile,
    ) -> Option<RegionCovariates> {
        let lo = now.saturating_sub(lookback_us);
        let mut any = false;
        let mut max_mc: Option<f64> = None;
        let mut max_mw: Option<f64> = None;
        let mut area_sum: i64 = 0;
        let mut area_n: u64 = 0;
        for e in self
            .rows
            .range((lo, i32::MIN)..=(now, i32::MAX))
            .map(|(_, e)| e)
        {
            any = true;
            if e.has_mcintosh {
                max_mc = Some(max_mc.map_or(e.mcintosh.score, |m| m.max(e.mcintosh.score)));
            }
            if e.has_mount_wilson {
                let s = e.mount_wilson.score;
                max_mw = Some(max_mw.map_or(s, |m| m.max(s)));
            }
            if let Some(a) = e.area {
                area_sum += a as i64;
                area_n += 1;
            }
        }
        if !any {
            return None;
        }
        let max_complexity = match (max_mc, max_mw) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0.0,
        };
        let avg_area = if area_n > 0 {
            area_sum as f64 / area_n as f64
        } else if profile == Profile::Improved {
            0.0
        } else {
            f64::NAN
        };
        Some(RegionCovariates {
            max_complexity,
            avg_area,
            max_mcintosh: max_mc.unwrap_or(0.0),
            max_mount_wilson: max_mw.unwrap_or(0.0),
        })
    }

    /// Approximate heap bytes: BTreeMap nodes hold their entries inline; strings add their
    /// capacities.
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(i64, i32)>() + std::mem::size_of::<RegionEntry>();
        self.rows
            .values()
            .map(|e| {
                let s = |o: &Option<String>| o.as_ref().map_or(0, |s| s.capacity());
                entry
                    + s(&e.mcintosh.size)
                    + s(&e.mcintosh.shape)
                    + s(&e.mcintosh.penumbra)
                    + s(&e.mount_wilson.class)
            })
            .sum()
    }
}
