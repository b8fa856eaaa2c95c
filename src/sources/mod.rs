//! Upstream sources: the HTTP client that polls them ([`fetch`]), recorded files ([`files`]),
//! and the payload parsers: bytes in, domain records plus per-record rejects out.
//!
//! Every parser reads the payload's top-level JSON array one element at a time (a borrowed
//! [`serde_json::value::RawValue`] per element, never a `serde_json::Value` tree), so one bad
//! record becomes a [`Rejected`] (raw text + reason, for the dead-letter subject) while the
//! rest of the payload still parses. Problems with the payload as a whole (not UTF-8, not
//! JSON, not an array, HTML error page, too large) are a [`PayloadError`].

pub mod archive;
pub mod config;
pub mod donki;
pub mod fetch;
pub mod files;
pub mod goes_nc;
pub mod parse_error;
pub mod srs;
pub mod swpc_regions;
pub mod swpc_xray;

pub(crate) mod field;
pub(crate) mod payload;
pub mod timestamp;

pub use config::SourcesConfig;
pub use parse_error::{Parsed, PayloadError, RejectCode, RejectReason, Rejected};
pub use payload::MAX_PAYLOAD_BYTES;

use crate::domain::{Records, XrayFeed};

/// An upstream feed: what a poller polls, what a recorded file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Xrays(XrayFeed),
    Regions,
    Donki,
}

impl SourceKind {
    /// The source name used in subjects (`flare.dlq.<source>`), checkpoints and metric labels.
    pub fn source(self) -> &'static str {
        match self {
            SourceKind::Xrays(_) => "xrs",
            SourceKind::Regions => "region",
            SourceKind::Donki => "donki",
        }
    }

    /// Key of this feed's checkpoint in the key-value bucket.
    pub fn checkpoint_key(self) -> &'static str {
        match self {
            SourceKind::Xrays(XrayFeed::Primary) => "ingest.xrs.primary",
            SourceKind::Xrays(XrayFeed::Secondary) => "ingest.xrs.secondary",
            SourceKind::Regions => "ingest.region",
            SourceKind::Donki => "ingest.donki",
        }
    }
}

/// A parsed upstream payload: its records, and the elements that could not be read (for the
/// dead-letter subject).
#[derive(Debug, Clone)]
pub struct ParsedPayload {
    pub records: Records,
    pub rejected: Vec<Rejected>,
}

impl ParsedPayload {
    fn of<T>(parsed: Parsed<T>, records: impl FnOnce(Vec<T>) -> Records) -> ParsedPayload {
        ParsedPayload {
            records: records(parsed.records),
            rejected: parsed.rejected,
        }
    }
}

/// Parses one payload of `kind` with that feed's parser: the one place a parser is chosen
/// by kind for the JSON feeds (live polls, recorded files, backfill downloads);
/// [`archive::parse_file`] chooses by kind and format for every recorded or archive file.
pub fn parse_payload(kind: SourceKind, bytes: &[u8]) -> Result<ParsedPayload, PayloadError> {
    Ok(match kind {
        SourceKind::Xrays(feed) => {
            ParsedPayload::of(swpc_xray::parse_xrays(bytes, feed)?, Records::Xrays)
        }
        SourceKind::Regions => {
            ParsedPayload::of(swpc_regions::parse_regions(bytes)?, Records::Regions)
        }
        SourceKind::Donki => ParsedPayload::of(donki::parse_donki_flares(bytes)?, Records::Flares),
    })
}
