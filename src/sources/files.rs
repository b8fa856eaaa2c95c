//! Recorded upstream files in a directory (the sample, replay and backfill inputs): which file
//! holds which feed in which format, transparent `.gz`, and parsing with the same parsers as
//! the pollers.
//!
//! Names (each optionally gzipped; other files are ignored; subdirectories are searched, so an
//! archive's `YYYY/MM/` folders work as they are):
//! * SWPC JSON: `xrays*.json` (the primary X-ray feed; `xrays-secondary*.json` the secondary),
//!   `solar_regions*.json`, `donki*.json`;
//! * archive files ([`crate::sources::archive`]): NCEI GOES XRS 1-minute averages
//!   `sci_xrsf-l2-avg1m_gNN_dYYYYMMDD_*.nc` (primary or secondary feed by the satellite
//!   selection, other satellites skipped) and SWPC Solar Region Summaries `YYYYMMDDSRS.txt`.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::domain::{FlareEvent, Records, RegionObservation, XrayFeed, XrayObservation};
use crate::sources::archive::{archive_name, parse_file, Format, FormatError, XraySelection};
use crate::sources::parse_error::PayloadError;
use crate::sources::{parse_payload, ParsedPayload, SourceKind, MAX_PAYLOAD_BYTES};

/// Deepest subdirectory searched below a recorded directory (an archive mirror's
/// `host/.../goes16/xrsf-l2-avg1m_science/YYYY/MM/` fits).
const MAX_DEPTH: usize = 12;

/// Classifies a file by name; None for files that are not upstream payloads.
pub fn kind_of(path: &Path) -> Option<SourceKind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = stem.strip_suffix(".json")?;
    if stem.starts_with("xrays") {
        let feed = if stem.contains("secondary") {
            XrayFeed::Secondary
        } else {
            XrayFeed::Primary
        };
        Some(SourceKind::Xrays(feed))
    } else if stem.starts_with("solar_regions") {
        Some(SourceKind::Regions)
    } else if stem.starts_with("donki") {
        Some(SourceKind::Donki)
    } else {
        None
    }
}

/// One recorded file: its feed and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    pub path: PathBuf,
    pub kind: SourceKind,
    pub format: Format,
}

impl RecordedFile {
    /// Classifies a file by name (see the module doc); `None` for files that are not feed
    /// data, and for GOES files of a satellite `selection` does not read that day.
    pub fn recognise(path: &Path, selection: &XraySelection) -> Option<RecordedFile> {
        if let Some(kind) = kind_of(path) {
            return Some(RecordedFile {
                path: path.to_path_buf(),
                kind,
                format: Format::Json,
            });
        }
        let name = archive_name(path.file_name()?.to_str()?)?;
        Some(RecordedFile {
            path: path.to_path_buf(),
            kind: selection.kind_of(&name)?,
            format: name.format,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Payload { path: PathBuf, source: PayloadError },
    /// An archive file (netCDF, SRS) that its reader refused as a whole.
    #[error("{path}: {source}")]
    Format { path: PathBuf, source: FormatError },
    #[error("{0} holds no recorded upstream files (xrays*.json, solar_regions*.json, donki*.json, sci_xrsf-l2-avg1m_*.nc, YYYYMMDDSRS.txt, optionally .gz)")]
    Empty(PathBuf),
}

/// The recorded files of `dir` and its subdirectories, in path order, GOES files selected by
/// the embedded configuration's satellite table.
pub fn scan(dir: &Path) -> Result<Vec<RecordedFile>, FilesError> {
    scan_with(dir, &XraySelection::default())
}

/// [`scan`] with a given satellite selection.
pub fn scan_with(dir: &Path, selection: &XraySelection) -> Result<Vec<RecordedFile>, FilesError> {
    let mut files = Vec::new();
    walk(dir, 0, &mut |path| {
        if let Some(file) = RecordedFile::recognise(path, selection) {
            files.push(file);
        }
    })?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if files.is_empty() {
        return Err(FilesError::Empty(dir.to_path_buf()));
    }
    Ok(files)
}

/// Calls `on_file` for every regular file below `dir` (hidden entries skipped, at most
/// [`MAX_DEPTH`] levels). An unreadable top directory is an error; an unreadable
/// subdirectory is logged and skipped.
pub fn walk(dir: &Path, depth: usize, on_file: &mut impl FnMut(&Path)) -> Result<(), FilesError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FilesError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if depth < MAX_DEPTH {
                if let Err(e) = walk(&path, depth + 1, on_file) {
                    tracing::warn!(error = %e, "skipping an unreadable directory");
                }
            }
        } else if path.is_file() {
            on_file(&path);
        }
    }
    Ok(())
}

/// The file's bytes, decompressed when it ends in `.gz`, at most [`MAX_PAYLOAD_BYTES`].
pub fn read_payload(path: &Path) -> Result<Vec<u8>, FilesError> {
    let io = |source| FilesError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let mut reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(file)
    };
    let mut bytes = Vec::new();
    // One byte more than the cap tells "too large" apart from "exactly the cap".
    (&mut reader)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(FilesError::Payload {
            path: path.to_path_buf(),
            source: PayloadError::TooLarge {
                limit: MAX_PAYLOAD_BYTES,
                actual: bytes.len(),
            },
        });
    }
    Ok(bytes)
}

/// Largest recorded X-ray file read (decompressed); far above a year of minute data.
pub const MAX_RECORDED_BYTES: usize = 2 << 30;

/// X-ray files larger than this on disk are parsed from a stream, one element at a time,
/// instead of from the whole text in memory (slower per byte, but memory stays at the
/// records). A gzipped file is judged by its compressed size (JSON compresses ~17x).
const STREAM_ABOVE_PLAIN: u64 = 48 << 20;
const STREAM_ABOVE_GZIP: u64 = 3 << 20;

/// Parses a recorded file with the parser of its kind and format. One `load` span (reading)
/// and one `parse` span per file (the stages of `flare-plus profile` and the slow-operation
/// log); a large X-ray JSON file is read and parsed as one stream, under `parse` alone.
pub fn parse(file: &RecordedFile) -> Result<ParsedPayload, FilesError> {
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Each span opens when its work starts: the stages must not overlap.
    let parse_span = |bytes: Option<usize>| {
        tracing::debug_span!(
            "parse",
            source = file.kind.source(),
            file = %name,
            bytes,
            records = tracing::field::Empty
        )
    };
    let (span, parsed) = match streamed(file)? {
        Some((feed, reader)) => {
            let span = parse_span(None);
            let parsed = span.in_scope(|| parse_stream(file, feed, reader))?;
            (span, parsed)
        }
        None => {
            let bytes =
                tracing::debug_span!("load", file = %name).in_scope(|| read_payload(&file.path))?;
            let span = parse_span(Some(bytes.len()));
            let parsed = span.in_scope(|| parse_bytes(file, &name, &bytes))?;
            (span, parsed)
        }
    };
    span.record("records", parsed.records.len());
    Ok(parsed)
}

/// Parses a file's bytes by its kind and format, errors naming the file.
pub fn parse_bytes(
    file: &RecordedFile,
    name: &str,
    bytes: &[u8],
) -> Result<ParsedPayload, FilesError> {
    if file.format == Format::Json {
        return parse_payload(file.kind, bytes).map_err(|source| FilesError::Payload {
            path: file.path.clone(),
            source,
        });
    }
    parse_file(file.kind, file.format, name, bytes).map_err(|source| FilesError::Format {
        path: file.path.clone(),
        source,
    })
}

/// A large X-ray file's feed and a reader over its (decompressed) text.
type Stream = (XrayFeed, Box<dyn Read>);

/// A reader over `file` (and its feed) when it is an X-ray file too large to hold as text.
fn streamed(file: &RecordedFile) -> Result<Option<Stream>, FilesError> {
    let SourceKind::Xrays(feed) = file.kind else {
        return Ok(None);
    };
    if file.format != Format::Json {
        return Ok(None);
    }
    let io = |source| FilesError::Io {
        path: file.path.clone(),
        source,
    };
    let size = std::fs::metadata(&file.path).map_err(io)?.len();
    let gz = file
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let limit = if gz {
        STREAM_ABOVE_GZIP
    } else {
        STREAM_ABOVE_PLAIN
    };
    if size <= limit {
        return Ok(None);
    }
    let handle = std::io::BufReader::new(std::fs::File::open(&file.path).map_err(io)?);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(handle))
    } else {
        Box::new(handle)
    };
    Ok(Some((feed, reader)))
}

fn parse_stream(
    file: &RecordedFile,
    feed: XrayFeed,
    reader: Box<dyn Read>,
) -> Result<ParsedPayload, FilesError> {
    let parsed =
        crate::sources::swpc_xray::parse_xrays_reader_limited(reader, feed, MAX_RECORDED_BYTES)
            .map_err(|source| FilesError::Payload {
                path: file.path.clone(),
                source,
            })?;
    Ok(ParsedPayload {
        records: Records::Xrays(parsed.records),
        rejected: parsed.rejected,
    })
}

/// Everything in a recorded directory, parsed and merged: X-ray observations of `feed`
/// (sorted by time, last wins per time), regions (payload order), DONKI flares. Rejected
/// records are counted, not returned.
#[derive(Debug, Default)]
pub struct RecordedData {
    pub xrays: Vec<XrayObservation>,
    pub regions: Vec<RegionObservation>,
    pub donki: Vec<FlareEvent>,
    pub rejected: usize,
}

impl RecordedData {
    /// Merges parsed files: X-ray observations sorted by time, of a time given twice the
    /// later file's record (flare-plus's upsert); regions and flares in file order.
    pub fn merge(parsed: impl IntoIterator<Item = ParsedPayload>) -> RecordedData {
        let mut data = RecordedData::default();
        for p in parsed {
            data.rejected += p.rejected.len();
            match p.records {
                Records::Xrays(records) => data.xrays.extend(records),
                Records::Regions(records) => data.regions.extend(records),
                Records::Flares(records) => data.donki.extend(records),
            }
        }
        data.xrays = sorted_last_wins(std::mem::take(&mut data.xrays));
        data
    }
}

/// Sorted by time (stable); of observations with the same time, the last one given wins.
pub fn sorted_last_wins(mut xrays: Vec<XrayObservation>) -> Vec<XrayObservation> {
    xrays.sort_by_key(|o| o.time);
    xrays.dedup_by(|later, earlier| {
        if later.time == earlier.time {
            std::mem::swap(later, earlier);
            true
        } else {
            false
        }
    });
    xrays
}

/// Loads every recorded file in `dir` (X-ray files of `feed` only).
pub fn load_dir(dir: &Path, feed: XrayFeed) -> Result<RecordedData, FilesError> {
    load_dir_with(dir, feed, &XraySelection::default())
}

/// [`load_dir`] with a given satellite selection.
pub fn load_dir_with(
    dir: &Path,
    feed: XrayFeed,
    selection: &XraySelection,
) -> Result<RecordedData, FilesError> {
    let mut parsed = Vec::new();
    for file in scan_with(dir, selection)? {
        if matches!(file.kind, SourceKind::Xrays(f) if f != feed) {
            continue;
        }
        parsed.push(parse(&file)?);
    }
    Ok(RecordedData::merge(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kinds() {
        let k = |n: &str| kind_of(Path::new(n));
        assert_eq!(
            k("xrays.json.gz"),
            Some(SourceKind::Xrays(XrayFeed::Primary))
        );
        assert_eq!(
            k("xrays-7-day.json"),
            Some(SourceKind::Xrays(XrayFeed::Primary))
        );
        assert_eq!(
            k("xrays-secondary-2024-05-01.json"),
            Some(SourceKind::Xrays(XrayFeed::Secondary))
        );
        assert_eq!(k("solar_regions.json"), Some(SourceKind::Regions));
        assert_eq!(k("donki_flares.json"), Some(SourceKind::Donki));
        assert_eq!(k("injected_flares.json"), None);
        assert_eq!(k("manifest.json"), None);
        assert_eq!(k("xrays.csv"), None);
    }

    #[test]
    fn the_sample_directory_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-30d");
        let data = load_dir(&dir, XrayFeed::Primary).expect("sample loads");
        assert_eq!(data.xrays.len(), 42_991);
        assert_eq!(data.regions.len(), 297);
        assert_eq!(data.donki.len(), 70);
        assert_eq!(data.rejected, 0);
        assert!(matches!(
            scan(Path::new("/nonexistent")),
            Err(FilesError::Io { .. })
        ));
    }
}
