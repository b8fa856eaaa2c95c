//! Downloads for a URL backfill, kept in a local cache directory so a second run reads disk.
//!
//! A file is cached under `CACHE/<host>[_<port>]/<URL path>` (written to a `.part` file and
//! renamed, so a stopped download never leaves half a file). Archive files of a past day do
//! not change (a reprocessing gets a new version in its name), so a cached file is always
//! used. Directory listings and DONKI answers do change while their days are recent: each
//! is used from the cache only if it was written after its data had settled (`fresh_after`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use actors::Shutdown;

use super::DayError;
use crate::sources::fetch::{
    FetchError, FetchErrorKind, FetchOutcome, Fetcher, RedactedUrl, Url, Validators,
};
use crate::sources::MAX_PAYLOAD_BYTES;

/// What a GET gave.
pub(super) enum Got {
    /// The body (from the server or the cache).
    Body { bytes: Vec<u8> },
    /// 404: not there.
    Absent,
    /// A shutdown request interrupted the download.
    Cancelled,
}

/// The HTTP client with its cache directory, counting what it downloaded.
pub(super) struct Downloader {
    fetcher: Fetcher,
    cache: PathBuf,
    /// Bodies fetched from servers (not from the cache) by this run.
    pub downloads: usize,
}

impl Downloader {
    pub fn new(fetcher: Fetcher, cache: PathBuf) -> Downloader {
        Downloader {
            fetcher,
            cache,
            downloads: 0,
        }
    }

    /// Where `url`'s body is cached: host (and port), then the URL's path segments; a path
    /// ending in `/` (a listing) is stored as `.listing.html` in that directory. Segments that
    /// could leave the cache (`..`, empty) are replaced.
    pub fn cache_path(&self, url: &Url) -> PathBuf {
        let mut path = self.cache.join(match url.port() {
            Some(port) => format!("{}_{port}", url.host_str().unwrap_or("host")),
            None => url.host_str().unwrap_or("host").to_string(),
        });
        let segments: Vec<&str> = url.path().split('/').skip(1).collect();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let safe = match *segment {
                "" | "." | ".." if last => ".listing.html",
                "" | "." | ".." => "_",
                s => s,
            };
            path.push(safe);
        }
        path
    }

    /// The body of `url`, from the cache at `cached` when it is there and was written at or
    /// after `fresh_after` (always, for `None`), else from the server (then cached).
    pub async fn get(
        &mut self,
        url: &Url,
        cached: &Path,
        fresh_after: Option<SystemTime>,
        shutdown: &Shutdown,
    ) -> Result<Got, DayError> {
        if let Some(bytes) = read_cached(cached, fresh_after) {
            return Ok(Got::Body { bytes });
        }
        let shown = RedactedUrl::new(url);
        match self
            .fetcher
            .get(url, &Validators::default(), &shutdown.token())
            .await
        {
            Ok(FetchOutcome::Fresh { body, .. }) => {
                self.downloads += 1;
                if let Err(e) = write_cached(cached, &body) {
                    tracing::warn!(url = %shown, cache = %cached.display(), error = %e, "could not cache a download; the next run fetches it again");
                }
                Ok(Got::Body {
                    bytes: body.to_vec(),
                })
            }
            Ok(FetchOutcome::NotModified { .. }) => Err(DayError::NotModified { url: shown }),
            Err(e) if e.kind() == FetchErrorKind::Status(404) => {
                tracing::debug!(url = %shown, "absent (404)");
                Ok(Got::Absent)
            }
            Err(e) if e.kind() == FetchErrorKind::Cancelled => Ok(Got::Cancelled),
            Err(e) => Err(DayError::Fetch(e)),
        }
    }
}

/// The cached copy, if there and fresh enough.
fn read_cached(path: &Path, fresh_after: Option<SystemTime>) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if let Some(after) = fresh_after {
        if meta.modified().ok()? < after {
            return None;
        }
    }
    std::fs::read(path).ok()
}

fn write_cached(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    std::fs::write(&part, body)?;
    std::fs::rename(&part, path)
}

/// A URL below `base`, as a fetch error when it cannot be joined.
pub(super) fn join(base: &Url, relative: &str) -> Result<Url, DayError> {
    base.join(relative).map_err(|e| {
        DayError::Fetch(FetchError::new(
            FetchErrorKind::InvalidUrl,
            Some(RedactedUrl::new(base)),
            0,
            Duration::ZERO,
            Some(e.to_string()),
        ))
    })
}

/// A `.gz` file's content, at most [`MAX_PAYLOAD_BYTES`]. A body that is not gzip (a server
/// that sent the file with `Content-Encoding: gzip`, already decoded by the client) is
/// returned as it is.
pub(super) fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "more than {MAX_PAYLOAD_BYTES} bytes once decompressed"
        ));
    }
    Ok(out)
}

/// The link targets of an HTML directory listing (`href="..."`), as names relative to the
/// listing: absolute links, queries and parent links are dropped; a directory keeps its `/`.
pub(super) fn listing_names(html: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(html);
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `text`.
    let lower = text.to_ascii_lowercase();
    let mut names = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut pos = 0;
    while let Some(at) = lower[pos..].find("href=") {
        let rest = &text[pos + at + 5..];
        let quote = rest.chars().next();
        let (value, consumed) = match quote {
            Some(q @ ('"' | '\'')) => match rest[1..].find(q) {
                Some(end) => (&rest[1..1 + end], end + 2),
                None => break,
            },
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(rest.len());
                (&rest[..end], end)
            }
        };
        pos += at + 5 + consumed;
        if value.contains("://")
            || value.starts_with('/')
            || value.starts_with('?')
            || value.starts_with('#')
            || value.starts_with("..")
        {
            continue;
        }
        let name = value.strip_prefix("./").unwrap_or(value);
        if !name.is_empty() && seen.insert(name.to_string()) {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_give_relative_names() {
        let html = br#"<html><a href="?C=N;O=D">Name</a> <a href="/data/">Parent</a>
            <a href="../">up</a> <a href="2024/">2024/</a>
            <A HREF='sci_xrsf-l2-avg1m_g16_d20240501_v2-2-0.nc'>x</a>
            <a href=20240502SRS.txt>y</a> <a href="https://elsewhere/x.nc">z</a>"#;
        assert_eq!(
            listing_names(html),
            [
                "2024/",
                "sci_xrsf-l2-avg1m_g16_d20240501_v2-2-0.nc",
                "20240502SRS.txt"
            ]
        );
    }

    #[test]
    fn gzip_files_are_decompressed_and_plain_bodies_kept() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"[1,2]").unwrap();
        let gz = encoder.finish().unwrap();
        assert_eq!(gunzip(&gz).unwrap(), b"[1,2]");
        assert_eq!(gunzip(b"[3]").unwrap(), b"[3]");
        assert!(gunzip(&gz[..gz.len() / 2]).is_err());
    }
}
