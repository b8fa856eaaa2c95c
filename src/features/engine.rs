//! The incremental feature engine: one per feature series (the global series).
//!
//! Data goes in with `push_*`, vectors come out with [`FeatureEngine::features_at`] and
//! [`FeatureEngine::covariates_at`] for non-decreasing evaluation times T.
//!
//! * Data may run ahead of T (the live actor evaluates final ticks about 2 h behind the newest
//!   data): flux newer than T waits in a pending queue and is absorbed when T reaches it;
//!   regions and flares newer than T are stored but fall outside every window.
//! * Everything older than the data window (48 h by default, spec 5.1) relative to T is evicted.
//! * The value at T is a pure function of (data with time <= T, T), bit for bit: window sums
//!   are exact integers (see [`super::exact`]), max/min come from monotonic deques of the
//!   window's own samples, and region/flare lookups read only the rows in range. So the cadence
//!   of earlier ticks, or a restart that warmed up from the last 48 h, cannot change a value.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{FlareEvent, RegionObservation, XrayFeed, XrayObservation};
use crate::profile::Profile;

use super::covariates::{push_covariates, CovariateInputs};
use super::exact::MAX_ABS_VALUE;
use super::flares::FlareStore;
use super::flux::{push_flux_block, FluxBlockIdx};
use super::regions::{RegionEntry, RegionStore};
use super::schema::{covariate_columns_for, feature_columns_for, Cell, CovariateRow, FeatureRow};
use super::window::{FluxWindows, HOUR_US};

/// `compute_flux_trends` lookback, hours (flare-plus function default).
pub const TREND_LOOKBACK_H: u32 = 24;
/// Trend window inside that lookback, hours.
pub const TREND_WINDOW_H: u32 = 6;
/// `compute_flux_rate_of_change` lookback, hours.
pub const RATE_LOOKBACK_H: u32 = 12;

/// Engine configuration; [`Default`] is flare-plus's default configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// Which behaviour to follow where flare-plus had quirks.
    pub profile: Profile,
    /// The X-ray feed this series reads; flare-plus had one flux row per timestamp, so the
    /// engine takes one feed and rejects the other.
    pub feed: XrayFeed,
    /// Rolling-statistics windows, hours (flare-plus `rolling_windows`, default 6, 12, 24).
    pub rolling_windows_h: Vec<u32>,
    /// Flare-count windows, hours (default 6, 12, 24).
    pub flare_windows_h: Vec<u32>,
    /// Covariate lookbacks, hours (default 1, 3, 6, 12, 24).
    pub covariate_windows_h: Vec<u32>,
    /// Recency decay per hour of the weighted flare counts (default 0.9).
    pub flare_decay: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            profile: Profile::FlarePlus,
            feed: XrayFeed::Primary,
            rolling_windows_h: vec![6, 12, 24],
            flare_windows_h: vec![6, 12, 24],
            covariate_windows_h: vec![1, 3, 6, 12, 24],
            flare_decay: 0.9,
        }
    }
}

impl FeatureConfig {
    /// Default configuration with another profile.
    pub fn with_profile(profile: Profile) -> Self {
        FeatureConfig {
            profile,
            ..Default::default()
        }
    }

    /// The data window `L = max(rolling) + 24` h (spec 5.1): what the region pick and the
    /// flare-block presence look at, and the eviction horizon.
    pub fn data_window_h(&self) -> u32 {
        self.rolling_windows_h.iter().copied().max().unwrap_or(0) + 24
    }
}

/// Why an input or a call was refused. The caller counts these and goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("flux sample at {time} is not newer than the last one pushed ({last})")]
    OutOfOrder {
        time: DateTime<Utc>,
        last: DateTime<Utc>,
    },
    #[error("flux sample from feed {got:?}, this engine reads {want:?}")]
    OtherFeed { got: XrayFeed, want: XrayFeed },
    #[error("evaluation time {time} is before the previous one ({last})")]
    TimeWentBackwards {
        time: DateTime<Utc>,
        last: DateTime<Utc>,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    /// Flux samples accepted.
    pub flux_pushed: u64,
    /// Band values that were non-finite or beyond ±1e-2 W/m², treated as missing.
    pub invalid_values: u64,
    /// Flux samples that arrived older than the newest window when absorbed (kept only for
    /// block presence).
    pub flux_too_old: u64,
}

/// The feature engine. See the module docs.
#[derive(Debug)]
pub struct FeatureEngine {
    cfg: FeatureConfig,
    feature_columns: Vec<String>,
    covariate_columns: Vec<String>,
    flux: FluxWindows,
    flux_idx: FluxBlockIdx,
    /// Window index per covariate lookback.
    cov_idx: Vec<usize>,
    /// Flux pushed but newer than the last evaluation time: `(t µs, [short, long])`.
    pending: VecDeque<(i64, [f64; 2])>,
    last_pushed: Option<i64>,
    /// Last evaluation time, µs.
    now: Option<i64>,
    regions: RegionStore,
    flares: FlareStore,
    data_window_us: i64,
    stats: EngineStats,
}

fn micros_to_dt(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t).unwrap_or_default()
}

fn validate(x: Option<f64>, invalid: &mut u64) -> f64 {
    match x {
        Some(v) if v.is_finite() && v.abs() <= MAX_ABS_VALUE => v,
        Some(_) => {
            *invalid += 1;
            f64::NAN
        }
        None => f64::NAN,
    }
}

impl FeatureEngine {
    /// Builds an engine. Fails only on an unusable configuration (no rolling window, a zero or
    /// over-long window, a non-finite decay).
    pub fn new(cfg: FeatureConfig) -> Result<Self, EngineError> {
        let all = cfg
            .rolling_windows_h
            .iter()
            .chain(&cfg.flare_windows_h)
            .chain(&cfg.covariate_windows_h);
        if cfg.rolling_windows_h.is_empty() || all.clone().any(|&h| h == 0 || h > 24 * 366) {
            return Err(EngineError::Config(
                "windows must be 1..=8784 hours and rolling_windows_h non-empty".into(),
            ));
        }
        if !cfg.flare_decay.is_finite() {
            return Err(EngineError::Config("flare_decay must be finite".into()));
        }
        let h = |x: u32| x as i64 * HOUR_US;
        let mut spans: Vec<(i64, bool)> = vec![
            (h(TREND_LOOKBACK_H), true),
            (h(TREND_WINDOW_H), false),
            (h(RATE_LOOKBACK_H), false),
        ];
        spans.extend(cfg.rolling_windows_h.iter().map(|&w| (h(w), false)));
        spans.extend(cfg.covariate_windows_h.iter().map(|&w| (h(w), false)));
        let flux = FluxWindows::new(&spans);
        let idx = |w: u32| {
            flux.window_index(h(w))
                .ok_or_else(|| EngineError::Config(format!("no window for {w} h")))
        };
        let flux_idx = FluxBlockIdx {
            lookback: idx(TREND_LOOKBACK_H)?,
            trend: idx(TREND_WINDOW_H)?,
            rate: idx(RATE_LOOKBACK_H)?,
            rolling: cfg
                .rolling_windows_h
                .iter()
                .map(|&w| idx(w))
                .collect::<Result<_, _>>()?,
        };
        let cov_idx = cfg
            .covariate_windows_h
            .iter()
            .map(|&w| idx(w))
            .collect::<Result<_, _>>()?;
        Ok(FeatureEngine {
            feature_columns: feature_columns_for(&cfg.rolling_windows_h, &cfg.flare_windows_h),
            covariate_columns: covariate_columns_for(&cfg.covariate_windows_h),
            data_window_us: h(cfg.data_window_h()),
            cfg,
            flux,
            flux_idx,
            cov_idx,
            pending: VecDeque::new(),
            last_pushed: None,
            now: None,
            regions: RegionStore::default(),
            flares: FlareStore::default(),
            stats: EngineStats::default(),
        })
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Column names of [`FeatureRow::cells`].
    pub fn feature_columns(&self) -> &[String] {
        &self.feature_columns
    }

    /// Column names of [`CovariateRow::cells`].
    pub fn covariate_columns(&self) -> &[String] {
        &self.covariate_columns
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Eviction horizon for late regions/flares: nothing older can enter a window again.
    fn horizon(&self) -> Option<i64> {
        self.now.map(|n| n.saturating_sub(self.data_window_us))
    }

    /// Adds one flux observation (the primary feed). Times must be strictly increasing; a
    /// duplicate or older sample, or one from the other feed, is refused (the caller counts and
    /// skips it). A band that is null, non-finite or beyond ±1e-2 W/m² is missing.
    pub fn push_flux(&mut self, obs: &XrayObservation) -> Result<(), EngineError> {
        if obs.feed != self.cfg.feed {
            return Err(EngineError::OtherFeed {
                got: obs.feed,
                want: self.cfg.feed,
            });
        }
        let t = obs.time.timestamp_micros();
        if let Some(last) = self.last_pushed {
            if t <= last {
                return Err(EngineError::OutOfOrder {
                    time: obs.time,
                    last: micros_to_dt(last),
                });
            }
        }
        let v = [
            validate(obs.flux_short, &mut self.stats.invalid_values),
            validate(obs.flux_long, &mut self.stats.invalid_values),
        ];
        self.pending.push_back((t, v));
        self.last_pushed = Some(t);
        self.stats.flux_pushed += 1;
        Ok(())
    }

    /// Adds or replaces (same region and timestamp) one region row.
    pub fn push_region(&mut self, r: &RegionObservation) {
        let h = self.horizon();
        self.regions.upsert(r, self.cfg.profile, h);
    }

    /// Adds or replaces the flare stored under `key` (flares arrive late and get revised).
    pub fn upsert_flare(&mut self, key: String, f: FlareEvent) {
        let h = self.horizon();
        self.flares.upsert(key, &f, h);
    }

    pub fn remove_flare(&mut self, key: &str) {
        self.flares.remove(key);
    }

    /// Moves the engine to evaluation time `now` (µs): absorbs pending flux up to it, slides
    /// the windows and evicts what no later tick can read.
    fn advance_to(&mut self, now: i64) -> Result<(), EngineError> {
        if let Some(last) = self.now {
            if now < last {
                return Err(EngineError::TimeWentBackwards {
                    time: micros_to_dt(now),
                    last: micros_to_dt(last),
                });
            }
        }
        let oldest = now.saturating_sub(self.flux.max_span());
        while let Some(&(t, v)) = self.pending.front() {
            if t > now {
                break;
            }
            self.pending.pop_front();
            if t < oldest {
                self.flux.note_skipped(t);
                self.stats.flux_too_old += 1;
            } else {
                self.flux.absorb(t, v);
            }
        }
        // A large backlog pushed once (warm-up, batch start) must not pin its capacity.
        if self.pending.capacity() > 256 && self.pending.len() < self.pending.capacity() / 4 {
            self.pending.shrink_to((self.pending.len() * 2).max(64));
        }
        self.flux.advance(now);
        let horizon = now.saturating_sub(self.data_window_us);
        self.regions.evict_before(horizon);
        self.flares.evict_before(horizon);
        self.now = Some(now);
        Ok(())
    }

    /// The `FeatureEngineer.compute_features(T)` row (spec 5.1, 5.3), global series.
    pub fn features_at(&mut self, t: DateTime<Utc>) -> Result<FeatureRow, EngineError> {
        let now = t.timestamp_micros();
        self.advance_to(now)?;
        let profile = self.cfg.profile;
        let mut cells: Vec<Cell> = Vec::with_capacity(self.feature_columns.len());
        // Region block: present when a region row lies in [T − 48 h, T].
        match self.regions.pick(now, self.data_window_us, profile) {
            Some(e) => push_region_block(e, &mut cells),
            None => cells.extend(std::iter::repeat_n(Cell::Missing, REGION_BLOCK_COLUMNS)),
        }
        // Flux block: present when a flux row lies in [T − 48 h, T].
        let flux_present = self
            .flux
            .last_time()
            .is_some_and(|l| l >= now.saturating_sub(self.data_window_us));
        let flux_cols = 15 + 6 * self.cfg.rolling_windows_h.len();
        if flux_present {
            push_flux_block(&self.flux, &self.flux_idx, &mut cells);
        } else {
            cells.extend(std::iter::repeat_n(Cell::Missing, flux_cols));
        }
        // Flare block: present when a flare peaked in [T − 48 h, T].
        let flare_cols = 9 * self.cfg.flare_windows_h.len();
        if self.flares.any_in(now, self.data_window_us) {
            for &w in &self.cfg.flare_windows_h {
                self.flares.push_weighted_counts(
                    now,
                    w as i64 * HOUR_US,
                    self.cfg.flare_decay,
                    &mut cells,
                );
            }
        } else {
            cells.extend(std::iter::repeat_n(Cell::Missing, flare_cols));
        }
        finalise_features(&mut cells, profile);
        Ok(FeatureRow {
            timestamp: t,
            cells,
        })
    }

    /// The global row plus one row per active region (a region with a row in `[T − 48 h, T]`).
    /// A region's row is the global row with the region block computed from that region's
    /// latest row in the window; the flux and flare blocks are global, as in flare-plus's
    /// per-region `compute_features` (which used the region's oldest row, Q14).
    pub fn features_with_regions_at(
        &mut self,
        t: DateTime<Utc>,
    ) -> Result<(FeatureRow, Vec<(i32, FeatureRow)>), EngineError> {
        let global = self.features_at(t)?;
        let now = t.timestamp_micros();
        let profile = self.cfg.profile;
        let mut per_region = Vec::new();
        for (number, entry) in self.regions.latest_per_region(now, self.data_window_us) {
            let mut block = Vec::with_capacity(REGION_BLOCK_COLUMNS);
            push_region_block(entry, &mut block);
            finalise_features(&mut block, profile);
            let mut cells = global.cells.clone();
            cells.splice(0..REGION_BLOCK_COLUMNS, block);
            per_region.push((
                number,
                FeatureRow {
                    timestamp: t,
                    cells,
                },
            ));
        }
        Ok((global, per_region))
    }

    /// The `TimeVaryingCovariateEngineer.compute_time_varying_covariates(T)` row (spec 5.5).
    pub fn covariates_at(&mut self, t: DateTime<Utc>) -> Result<CovariateRow, EngineError> {
        let now = t.timestamp_micros();
        self.advance_to(now)?;
        let mut cells: Vec<Cell> = Vec::with_capacity(self.covariate_columns.len());
        let inputs = CovariateInputs {
            flux: &self.flux,
            regions: &self.regions,
            flares: &self.flares,
            now,
            profile: self.cfg.profile,
        };
        for (k, &l) in self.cfg.covariate_windows_h.iter().enumerate() {
            push_covariates(&inputs, self.cov_idx[k], l, &mut cells);
        }
        Ok(CovariateRow {
            timestamp: t,
            cells,
        })
    }

    /// Bytes held by the engine: the struct itself plus its buffers' real capacities (region
    /// and flare maps are estimated per entry). Exported as a Prometheus gauge.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.flux.heap_bytes()
            + self.pending.capacity() * std::mem::size_of::<(i64, [f64; 2])>()
            + self.regions.heap_bytes()
            + self.flares.heap_bytes()
            + self
                .feature_columns
                .iter()
                .map(|c| c.capacity() + 24)
                .sum::<usize>()
            + self
                .covariate_columns
                .iter()
                .map(|c| c.capacity() + 24)
                .sum::<usize>()
    }

    /// Region number the region block would use at `t` with the rows stored now (for logs and
    /// tests; does not advance the engine).
    pub fn picked_region(&self, t: DateTime<Utc>) -> Option<i32> {
        self.regions
            .pick(t.timestamp_micros(), self.data_window_us, self.cfg.profile)
            .map(|e| e.region_number)
    }

    /// Number of flux samples waiting for the evaluation time to reach them.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

fn opt_str(s: &Option<String>) -> Cell {
    match s {
        Some(s) => Cell::Str(s.clone()),
        // flare-plus: None -> NaN, a numeric column that imputation turns into 0.
        None => Cell::Num(f64::NAN),
    }
}

fn opt_int(v: Option<i32>) -> Cell {
    v.map_or(Cell::Num(f64::NAN), |v| Cell::Int(v as i64))
}

/// The 23 region cells (spec 5.3 #1–#23); the magnetic fields parse the same
/// `magnetic_type` = `mount_wilson_class` string (Q15).
fn push_region_block(e: &RegionEntry, out: &mut Vec<Cell>) {
    let m = &e.mcintosh;
    out.extend([
        opt_str(&m.size),
        opt_str(&m.shape),
        opt_str(&m.penumbra),
        Cell::Int(m.size_enc),
        Cell::Int(m.shape_enc),
        Cell::Int(m.penumbra_enc),
        Cell::Num(m.score),
    ]);
    let w = &e.mount_wilson;
    for _ in 0..2 {
        out.extend([
            opt_str(&w.class),
            Cell::Int(w.alpha),
            Cell::Int(w.beta),
            Cell::Int(w.gamma),
            Cell::Int(w.delta),
            Cell::Num(w.score),
        ]);
    }
    out.extend([
        opt_int(e.area),
        opt_int(e.num_sunspots),
        Cell::Num(e.latitude.unwrap_or(f64::NAN)),
        Cell::Num(e.longitude.unwrap_or(f64::NAN)),
    ]);
}

/// flare-plus step 6 (spec 5.1): a row with any NaN gets every NaN replaced by 0 (and loses its
/// string columns, which we keep: Q13). So in the flare-plus profile no NaN survives; absent
/// blocks stay [`Cell::Missing`]. The improved profile keeps NaN explicit as missing.
/// Columns of the region block (spec 5.3 #1-#23), at the start of every feature row.
const REGION_BLOCK_COLUMNS: usize = 23;

fn finalise_features(cells: &mut [Cell], profile: Profile) {
    for c in cells.iter_mut() {
        if let Cell::Num(x) = c {
            if x.is_nan() {
                *c = match profile {
                    Profile::FlarePlus => Cell::Num(0.0),
                    Profile::Improved => Cell::Missing,
                };
            }
        }
    }
}
