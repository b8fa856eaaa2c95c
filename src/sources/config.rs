//! `[sources]`: the live upstream feeds, where they are and how often they are polled.
//! (`[http_client]`, how every fetch behaves, is [`super::fetch::FetchConfig`].)

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{embedded_section, Problems, Secret, Validate};

/// The three upstream feeds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// SWPC GOES X-ray flux.
    pub xray: XraySourceConfig,
    /// SWPC active regions.
    pub regions: RegionsSourceConfig,
    /// NASA DONKI flare catalogue.
    pub donki: DonkiSourceConfig,
    /// Archive files (backfill and recorded directories).
    pub archive: ArchiveSourceConfig,
}

impl Default for SourcesConfig {
    /// The `[sources]` of `config/default.toml`.
    fn default() -> SourcesConfig {
        embedded_section("sources")
    }
}

/// `[sources.xray]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XraySourceConfig {
    /// Poll the feed.
    pub enabled: bool,
    /// The primary GOES satellite's 1-minute flux (SWPC's 7-day JSON).
    pub primary_url: String,
    /// The secondary satellite's; empty: the secondary feed is not polled.
    pub secondary_url: String,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Re-publish records this much older than the checkpoint (late corrections upstream).
    #[serde(with = "humantime_serde")]
    pub overlap: Duration,
}

/// `[sources.regions]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsSourceConfig {
    /// Poll the feed.
    pub enabled: bool,
    /// SWPC's `solar_regions.json`.
    pub url: String,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Re-publish records this much older than the checkpoint (revised region reports).
    #[serde(with = "humantime_serde")]
    pub overlap: Duration,
}

/// `[sources.donki]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DonkiSourceConfig {
    /// Poll the catalogue (only with an API key: see [`DonkiSourceConfig::has_key`]).
    pub enabled: bool,
    /// DONKI's FLR endpoint; the date window and the key are added per request.
    pub url: String,
    /// NASA API key (`NASA_API_KEY` sets it too). Never logged.
    pub api_key: Secret,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Each poll asks for this much of the catalogue before today (DONKI adds and corrects
    /// flares days later).
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
}

impl DonkiSourceConfig {
    /// Whether a real key is set: not empty and not NASA's shared `DEMO_KEY` (its rate
    /// limit is too low to poll with), as flare-plus decided.
    pub fn has_key(&self) -> bool {
        let key = self.api_key.expose();
        !key.is_empty() && key != "DEMO_KEY"
    }

    /// Whole days of [`DonkiSourceConfig::lookback`] (DONKI takes dates).
    pub fn lookback_days(&self) -> u64 {
        self.lookback.as_secs().div_ceil(86_400)
    }
}

/// `[sources.archive]`: how archive files (NCEI GOES XRS, SWPC SRS) become feed records.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSourceConfig {
    /// Which GOES satellite's X-ray file is the primary feed (and which the secondary) from
    /// each date on, until the next entry: NOAA SWPC's published designations (see
    /// docs/HISTORY.md). A satellite that is neither on a day is not read.
    pub xray_satellites: Vec<SatellitePeriod>,
}

/// One row of [`ArchiveSourceConfig::xray_satellites`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SatellitePeriod {
    /// First UTC day of the period (`"2019-12-10"`).
    pub from: chrono::NaiveDate,
    /// GOES number of the primary X-ray satellite (`16`).
    pub primary: u8,
    /// GOES number of the secondary one, absent when SWPC had none.
    #[serde(default)]
    pub secondary: Option<u8>,
}

impl Validate for SourcesConfig {
    fn validate(&self, problems: &mut Problems) {
        let periods = &self.archive.xray_satellites;
        problems.check(
            periods.windows(2).all(|w| w[0].from < w[1].from),
            || "sources.archive.xray_satellites must be in ascending `from` order, one row per date".to_string(),
        );
        problems.check(
            periods.iter().all(|p| p.secondary != Some(p.primary)),
            || "sources.archive.xray_satellites: a satellite cannot be primary and secondary at once".to_string(),
        );
        for (key, url, enabled) in [
            (
                "sources.xray.primary_url",
                &self.xray.primary_url,
                self.xray.enabled,
            ),
            (
                "sources.regions.url",
                &self.regions.url,
                self.regions.enabled,
            ),
            ("sources.donki.url", &self.donki.url, self.donki.enabled),
        ] {
            problems.check(
                !enabled || url.starts_with("http://") || url.starts_with("https://"),
                || format!("{key} {url:?} must be an http(s) URL"),
            );
        }
        for (key, every) in [
            ("sources.xray.interval", self.xray.interval),
            ("sources.regions.interval", self.regions.interval),
            ("sources.donki.interval", self.donki.interval),
        ] {
            problems.check(!every.is_zero(), || format!("{key} must be positive"));
        }
    }
}
