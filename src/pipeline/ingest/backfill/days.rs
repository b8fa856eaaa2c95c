//! One day's input for the backfill: every source's files of that day (read from disk,
//! fetched from a server through the cache), DONKI flares of that day (fetched by date
//! window), parsed; a file its reader refuses becomes one dead letter naming it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::SystemTime;

use actors::Shutdown;
use chrono::NaiveDate;

use super::download::{gunzip, join, Downloader, Got};
use super::index::{index_dir, index_url, settled, DayFile, Index, Layout, Location};
use super::{BackfillPlan, BackfillSource, DayError, DAY_FORMAT, HTTP_FILES};
use crate::domain::{FlareEvent, Records};
use crate::pipeline::ingest::replay::ReplayInput;
use crate::sources::archive::{parse_file, Format, XraySelection};
use crate::sources::config::DonkiSourceConfig;
use crate::sources::fetch::{donki_url, donki_windows, Fetcher, RedactedUrl, Url};
use crate::sources::files::{parse, FilesError, RecordedFile};
use crate::sources::{
    parse_payload, ParsedPayload, RejectCode, RejectReason, Rejected, SourceKind,
};

/// Days per DONKI request (DONKI answers a month without trouble).
pub const DONKI_WINDOW_DAYS: u32 = 30;

/// A prepared source.
enum Prepared {
    /// Files indexed by day (a directory, or a server's archive listings).
    Indexed(Index),
    /// A server in the daily-folder layout: canonical names per day.
    Daily(Url),
}

/// What one day gave.
pub(super) struct Day {
    pub input: ReplayInput,
    /// Files read (parsed or refused).
    pub files: usize,
    /// Files refused as a whole (dead-lettered).
    pub corrupt: usize,
    /// Feeds that other days of the range have and this day lacks.
    pub missing: Vec<&'static str>,
}

/// Every source of a backfill, ready to give days.
pub(super) struct Days {
    sources: Vec<Prepared>,
    downloader: Option<Downloader>,
    donki: Option<Donki>,
    /// Feeds the indexed sources hold on some day of the range (to report a missing one).
    expected: BTreeSet<&'static str>,
}

/// DONKI by date window, fetched when the window's first day comes.
struct Donki {
    config: DonkiSourceConfig,
    windows: Vec<(NaiveDate, NaiveDate)>,
    /// Flares (and the window's rejects, on its first day) by day of their start.
    by_day: BTreeMap<NaiveDate, ParsedPayload>,
}

impl Days {
    /// Indexes the plan's directories and listings (this is where a URL source is probed).
    pub async fn prepare(
        plan: &BackfillPlan,
        fetcher: Option<Fetcher>,
        selection: &XraySelection,
        donki: &DonkiSourceConfig,
        shutdown: &Shutdown,
    ) -> Result<Days, DayError> {
        let mut downloader = fetcher.map(|f| Downloader::new(f, plan.cache.clone()));
        let mut sources = Vec::new();
        let mut expected = BTreeSet::new();
        for source in &plan.sources {
            match source {
                BackfillSource::Dir(root) => {
                    let mut index = Index::new();
                    index_dir(root, plan.from, plan.to, selection, &mut index)
                        .map_err(DayError::Files)?;
                    note_expected(&index, &mut expected);
                    sources.push(Prepared::Indexed(index));
                }
                BackfillSource::Http(base) => {
                    let Some(d) = downloader.as_mut() else {
                        return Err(DayError::NoClient);
                    };
                    match index_url(base, plan.from, plan.to, selection, d, shutdown).await? {
                        Some(Layout::Archive(index)) => {
                            note_expected(&index, &mut expected);
                            sources.push(Prepared::Indexed(index));
                        }
                        Some(Layout::Daily) | None => sources.push(Prepared::Daily(base.clone())),
                    }
                }
            }
        }
        let donki = plan.donki.then(|| Donki {
            config: donki.clone(),
            windows: donki_windows(plan.from, plan.to, DONKI_WINDOW_DAYS),
            by_day: BTreeMap::new(),
        });
        if donki.is_some() && downloader.is_none() {
            return Err(DayError::NoClient);
        }
        Ok(Days {
            sources,
            downloader,
            donki,
            expected,
        })
    }

    /// Bodies this run fetched from servers (not the cache).
    pub fn downloads(&self) -> usize {
        self.downloader.as_ref().map_or(0, |d| d.downloads)
    }

    /// One day's files, parsed; `None` if a shutdown request interrupted a download.
    pub async fn load(
        &mut self,
        day: NaiveDate,
        shutdown: &Shutdown,
    ) -> Result<Option<Day>, DayError> {
        let mut parsed: Vec<(SourceKind, ParsedPayload)> = Vec::new();
        let mut files = 0;
        let mut corrupt = 0;
        let mut present = BTreeSet::new();
        for source in &self.sources {
            match source {
                Prepared::Indexed(index) => {
                    for file in index.get(&day).into_iter().flatten() {
                        files += 1;
                        present.insert(file.kind.source());
                        let bytes = match &file.location {
                            Location::Path(path) => {
                                let recorded = RecordedFile {
                                    path: path.clone(),
                                    kind: file.kind,
                                    format: file.format,
                                };
                                match parse(&recorded) {
                                    Ok(p) => {
                                        parsed.push((file.kind, p));
                                        continue;
                                    }
                                    Err(
                                        e
                                        @ (FilesError::Payload { .. } | FilesError::Format { .. }),
                                    ) => {
                                        corrupt += 1;
                                        parsed.push(corrupt_file(
                                            file,
                                            &path.display().to_string(),
                                            &e.to_string(),
                                        ));
                                        continue;
                                    }
                                    Err(e) => return Err(DayError::Files(e)),
                                }
                            }
                            Location::Url(url) => {
                                let Some(d) = self.downloader.as_mut() else {
                                    return Err(DayError::NoClient);
                                };
                                let cached = d.cache_path(url);
                                match d.get(url, &cached, None, shutdown).await? {
                                    Got::Body { bytes } => bytes,
                                    Got::Absent => {
                                        // Listed but gone: a missing file, not a corrupt one.
                                        files -= 1;
                                        present.remove(file.kind.source());
                                        continue;
                                    }
                                    Got::Cancelled => return Ok(None),
                                }
                            }
                        };
                        let shown = match &file.location {
                            Location::Url(url) => RedactedUrl::new(url).to_string(),
                            Location::Path(path) => path.display().to_string(),
                        };
                        let result = if file.name.to_ascii_lowercase().ends_with(".gz") {
                            gunzip(&bytes).map_err(|e| format!("not a readable gzip file: {e}"))
                        } else {
                            Ok(bytes)
                        }
                        .and_then(|bytes| {
                            parse_file(file.kind, file.format, &file.name, &bytes)
                                .map_err(|e| e.to_string())
                        });
                        match result {
                            Ok(p) => parsed.push((file.kind, p)),
                            Err(why) => {
                                corrupt += 1;
                                parsed.push(corrupt_file(file, &shown, &why));
                            }
                        }
                    }
                }
                Prepared::Daily(base) => {
                    let Some(d) = self.downloader.as_mut() else {
                        return Err(DayError::NoClient);
                    };
                    let folder = day.format(DAY_FORMAT).to_string();
                    for (name, kind) in HTTP_FILES {
                        match daily_file(d, base, &folder, name, shutdown).await? {
                            DailyFile::Body { bytes, url } => {
                                files += 1;
                                match parse_payload(kind, &bytes) {
                                    Ok(p) => parsed.push((kind, p)),
                                    Err(e) => {
                                        corrupt += 1;
                                        let file = DayFile {
                                            kind,
                                            format: Format::Json,
                                            name: name.to_string(),
                                            location: Location::Url(base.clone()),
                                        };
                                        parsed.push(corrupt_file(
                                            &file,
                                            &url.to_string(),
                                            &e.to_string(),
                                        ));
                                    }
                                }
                            }
                            DailyFile::Absent => {}
                            DailyFile::Cancelled => return Ok(None),
                        }
                    }
                }
            }
        }
        if let Some(flares) = self.donki_day(day, shutdown).await? {
            parsed.push((SourceKind::Donki, flares));
        } else if self.donki.is_some() && shutdown.is_triggered() {
            return Ok(None);
        }
        let missing = self
            .expected
            .iter()
            .copied()
            .filter(|k| !present.contains(k))
            .collect();
        Ok(Some(Day {
            input: ReplayInput::from_parsed(parsed),
            files,
            corrupt,
            missing,
        }))
    }

    /// The DONKI flares of `day` (fetching the window that starts on it first).
    async fn donki_day(
        &mut self,
        day: NaiveDate,
        shutdown: &Shutdown,
    ) -> Result<Option<ParsedPayload>, DayError> {
        let Some(donki) = self.donki.as_mut() else {
            return Ok(None);
        };
        let Some(d) = self.downloader.as_mut() else {
            return Err(DayError::NoClient);
        };
        if let Some(&(start, end)) = donki.windows.iter().find(|(s, e)| (*s..=*e).contains(&day)) {
            if !donki.by_day.contains_key(&start) {
                let key = donki.config.api_key.expose();
                let key = if key.is_empty() { "DEMO_KEY" } else { key };
                let url: Url =
                    donki_url(&donki.config.url, start, end, key).map_err(DayError::Fetch)?;
                let cached = d.cache_path(&join(
                    &url,
                    &format!(
                        "donki-{}-{}.json",
                        start.format("%Y%m%d"),
                        end.format("%Y%m%d")
                    ),
                )?);
                // DONKI revises flares for a while (the live poller's lookback).
                let lookback = chrono::Days::new(donki.config.lookback_days());
                let fresh_after: SystemTime =
                    settled(end.checked_add_days(lookback).unwrap_or(end));
                let shown = RedactedUrl::new(&url);
                let payload = match d.get(&url, &cached, Some(fresh_after), shutdown).await? {
                    Got::Body { bytes } => match parse_payload(SourceKind::Donki, &bytes) {
                        Ok(p) => p,
                        Err(e) => {
                            let file = DayFile {
                                kind: SourceKind::Donki,
                                format: Format::Json,
                                name: format!("DONKI {start}..{end}"),
                                location: Location::Url(url.clone()),
                            };
                            corrupt_file(&file, &shown.to_string(), &e.to_string()).1
                        }
                    },
                    Got::Absent => ParsedPayload {
                        records: Records::Flares(Vec::new()),
                        rejected: Vec::new(),
                    },
                    Got::Cancelled => return Ok(None),
                };
                let mut days: HashMap<NaiveDate, Vec<FlareEvent>> = HashMap::new();
                if let Records::Flares(flares) = payload.records {
                    for f in flares {
                        days.entry(f.start_time.date_naive()).or_default().push(f);
                    }
                }
                for d in start.iter_days().take_while(|d| *d <= end) {
                    donki.by_day.insert(
                        d,
                        ParsedPayload {
                            records: Records::Flares(days.remove(&d).unwrap_or_default()),
                            rejected: if d == start {
                                payload.rejected.clone()
                            } else {
                                Vec::new()
                            },
                        },
                    );
                }
            }
        }
        Ok(donki.by_day.remove(&day))
    }
}

fn note_expected(index: &Index, expected: &mut BTreeSet<&'static str>) {
    for file in index.values().flatten() {
        expected.insert(file.kind.source());
    }
}

/// A file refused as a whole: logged with its name and reason, and one dead letter whose raw
/// text names the file (the records of a refused file are unknown, so nothing else is sent).
fn corrupt_file(file: &DayFile, shown: &str, why: &str) -> (SourceKind, ParsedPayload) {
    tracing::warn!(file = %shown, format = file.format.as_str(), reason = %why, "unusable file dead-lettered; the backfill goes on");
    let raw = serde_json::json!({ "file": shown, "format": file.format.as_str() }).to_string();
    let records = match file.kind {
        SourceKind::Xrays(_) => Records::Xrays(Vec::new()),
        SourceKind::Regions => Records::Regions(Vec::new()),
        SourceKind::Donki => Records::Flares(Vec::new()),
    };
    (
        file.kind,
        ParsedPayload {
            records,
            rejected: vec![Rejected {
                raw,
                reason: RejectReason {
                    code: RejectCode::CorruptFile,
                    detail: format!("{shown}: {why}"),
                },
            }],
        },
    )
}

enum DailyFile {
    Body { bytes: Vec<u8>, url: RedactedUrl },
    Absent,
    Cancelled,
}

/// `BASE/DAY/FILE`, else `BASE/DAY/FILE.gz`, through the cache; both absent: absent.
async fn daily_file(
    d: &mut Downloader,
    base: &Url,
    day: &str,
    file: &str,
    shutdown: &Shutdown,
) -> Result<DailyFile, DayError> {
    for (candidate, gz) in [(file.to_string(), false), (format!("{file}.gz"), true)] {
        let url = join(base, &format!("{day}/{candidate}"))?;
        let shown = RedactedUrl::new(&url);
        let cached: PathBuf = d.cache_path(&url);
        match d.get(&url, &cached, None, shutdown).await? {
            Got::Body { bytes } => {
                let bytes = if gz {
                    gunzip(&bytes).map_err(|detail| DayError::Gzip {
                        url: shown.clone(),
                        detail,
                    })?
                } else {
                    bytes
                };
                return Ok(DailyFile::Body { bytes, url: shown });
            }
            Got::Absent => {}
            Got::Cancelled => return Ok(DailyFile::Cancelled),
        }
    }
    Ok(DailyFile::Absent)
}
