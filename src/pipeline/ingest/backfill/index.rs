//! Which files hold which day: a directory (daily folders `YYYY-MM-DD/` of recorded JSON
//! files, and archive files anywhere below it, recognised by name) or a server's directory
//! listings (an archive's `BASE/`, `BASE/YYYY/`, `BASE/YYYY/MM/`, as NCEI and NGDC serve
//! them; only links the listings show are followed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use actors::Shutdown;
use chrono::{Datelike, NaiveDate, NaiveTime};

use super::download::{join, listing_names, Downloader, Got};
use super::{DayError, DAY_FORMAT};
use crate::sources::archive::{archive_name, Format, XraySelection};
use crate::sources::fetch::Url;
use crate::sources::files::{kind_of, walk, FilesError, RecordedFile};
use crate::sources::SourceKind;

/// Where an indexed file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Location {
    Path(PathBuf),
    Url(Url),
}

/// One file of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DayFile {
    pub kind: SourceKind,
    pub format: Format,
    /// The file's name (the archive readers check it against the content).
    pub name: String,
    pub location: Location,
}

/// Files by data day.
pub(super) type Index = BTreeMap<NaiveDate, Vec<DayFile>>;

/// The files of `root` for days `from..=to`: JSON files directly in a `YYYY-MM-DD` folder
/// belong to that day; archive files anywhere below `root` to their data day.
pub(super) fn index_dir(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    selection: &XraySelection,
    index: &mut Index,
) -> Result<(), FilesError> {
    if !root.is_dir() {
        return Err(FilesError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    walk(root, 0, &mut |path| {
        let Some(file) = RecordedFile::recognise(path, selection) else {
            return;
        };
        let day = match file.format {
            Format::Json => path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .and_then(|n| NaiveDate::parse_from_str(n, DAY_FORMAT).ok()),
            _ => path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(archive_name)
                .map(|a| a.day),
        };
        if let Some(day) = day.filter(|d| (from..=to).contains(d)) {
            index.entry(day).or_default().push(DayFile {
                kind: file.kind,
                format: file.format,
                name: name_of(path),
                location: Location::Path(path.to_path_buf()),
            });
        }
    })?;
    for files in index.values_mut() {
        files.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(())
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How a server lays out its files.
pub(super) enum Layout {
    /// `BASE/YYYY-MM-DD/<canonical JSON names>` (no listing).
    Daily,
    /// Archive files found through listings.
    Archive(Index),
}

/// Reads `base`'s listing; when it shows archive files or year folders, indexes the archive
/// through the listings of the years and months of `from..=to` (and the day after, whose SRS
/// describes `to`). A listing is used from the cache when it was written after the last day it
/// can cover had settled (three days later). No listing (404, no HTML links): [`Layout::Daily`].
pub(super) async fn index_url(
    base: &Url,
    from: NaiveDate,
    to: NaiveDate,
    selection: &XraySelection,
    downloader: &mut Downloader,
    shutdown: &Shutdown,
) -> Result<Option<Layout>, DayError> {
    let last_name_day = to.succ_opt().unwrap_or(to);
    let Some(top) = listing(base, last_name_day, downloader, shutdown).await? else {
        return Ok(None);
    };
    let mut index = Index::new();
    let mut archive = add_files(base, &top, from, to, selection, &mut index)?;
    for year in from.year()..=last_name_day.year() {
        if !top.iter().any(|n| *n == format!("{year}/")) {
            continue;
        }
        archive = true;
        let year_url = join(base, &format!("{year}/"))?;
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(last_name_day);
        let Some(months) =
            listing(&year_url, year_end.min(last_name_day), downloader, shutdown).await?
        else {
            continue;
        };
        add_files(&year_url, &months, from, to, selection, &mut index)?;
        for month in 1..=12u32 {
            let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
                continue;
            };
            let month_end = first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(first);
            if month_end < from || first > last_name_day {
                continue;
            }
            if !months.iter().any(|n| *n == format!("{month:02}/")) {
                continue;
            }
            let month_url = join(&year_url, &format!("{month:02}/"))?;
            if let Some(names) = listing(
                &month_url,
                month_end.min(last_name_day),
                downloader,
                shutdown,
            )
            .await?
            {
                add_files(&month_url, &names, from, to, selection, &mut index)?;
            }
        }
    }
    for files in index.values_mut() {
        files.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(Some(if archive {
        Layout::Archive(index)
    } else {
        Layout::Daily
    }))
}

/// Adds the recognised archive files of one listing; true if there was any (of any day).
fn add_files(
    dir: &Url,
    names: &[String],
    from: NaiveDate,
    to: NaiveDate,
    selection: &XraySelection,
    index: &mut Index,
) -> Result<bool, DayError> {
    let mut any = false;
    for name in names {
        if kind_of(Path::new(name)).is_some() {
            continue;
        }
        let Some(archive) = archive_name(name) else {
            continue;
        };
        any = true;
        let Some(kind) = selection.kind_of(&archive) else {
            continue;
        };
        if (from..=to).contains(&archive.day) {
            index.entry(archive.day).or_default().push(DayFile {
                kind,
                format: archive.format,
                name: name.clone(),
                location: Location::Url(join(dir, name)?),
            });
        }
    }
    Ok(any)
}

/// The names a listing shows; `None` when there is none (404, or a page without links).
async fn listing(
    url: &Url,
    last_day: NaiveDate,
    downloader: &mut Downloader,
    shutdown: &Shutdown,
) -> Result<Option<Vec<String>>, DayError> {
    let cached = downloader.cache_path(url);
    let fresh_after = settled(last_day);
    match downloader
        .get(url, &cached, Some(fresh_after), shutdown)
        .await?
    {
        Got::Body { bytes } => {
            let names = listing_names(&bytes);
            Ok((!names.is_empty()).then_some(names))
        }
        Got::Absent => Ok(None),
        Got::Cancelled => Err(DayError::Cancelled),
    }
}

/// When data of `day` has settled upstream: three days after its end.
pub(super) fn settled(day: NaiveDate) -> SystemTime {
    let end = day
        .checked_add_days(chrono::Days::new(4))
        .unwrap_or(day)
        .and_time(NaiveTime::MIN)
        .and_utc();
    SystemTime::from(end)
}
