//! Shared result and error shapes of every upstream parser.
//!
//! A payload either fails as a whole ([`PayloadError`]: the ingest actor logs it and retries
//! the fetch later) or parses into [`Parsed`]: the good records plus one [`Rejected`] per bad
//! record, which the pipeline routes to `flare.dlq.<source>` with its raw text and reason.

use std::fmt;

/// Outcome of parsing one payload that was a JSON array: every element is either a record
/// or a reject (an X-ray element can also be merged into another element's observation).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// Records that passed validation, in the order the parser documents.
    pub records: Vec<T>,
    /// One entry per array element that failed validation, in payload order.
    pub rejected: Vec<Rejected>,
}

impl<T> Parsed<T> {
    pub(crate) fn new() -> Self {
        Parsed {
            records: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

/// One array element that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The element's JSON text exactly as received (whitespace included), so the dead-letter
    /// record can be replayed after a parser fix.
    pub raw: String,
    /// Why it was rejected.
    pub reason: RejectReason,
}

/// A bounded machine code (usable as a metric label) plus human text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectReason {
    pub code: RejectCode,
    /// Which field and what value, for a person reading the dead-letter record.
    pub detail: String,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

/// Why a record was rejected. Bounded on purpose: it becomes the `reason` label of the
/// dead-letter counter, so it must never carry data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// The element is not a JSON object.
    NotAnObject,
    /// The object is malformed for its schema (e.g. the same key twice).
    Malformed,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong JSON type (e.g. an object where a number belongs).
    WrongType,
    /// A timestamp field does not parse or is outside the representable range.
    BadTime,
    /// A number is NaN or infinite (as a string such as `"NaN"`, or too large for f64).
    NotFinite,
    /// A number is finite but outside the physically plausible range.
    OutOfRange,
    /// The X-ray `energy` is not one of the two GOES XRS bands.
    UnknownBand,
    /// A flare class string that is not `<A|B|C|M|X><magnitude>`.
    BadClass,
    /// A string longer than its column allows.
    TooLong,
    /// A whole recorded or archive file its reader refused (truncated netCDF, HTML page,
    /// missing variable, dates disagreeing with the name, ...): `raw` names the file.
    CorruptFile,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::NotAnObject => "not_an_object",
            RejectCode::Malformed => "malformed",
            RejectCode::MissingField => "missing_field",
            RejectCode::WrongType => "wrong_type",
            RejectCode::BadTime => "bad_time",
            RejectCode::NotFinite => "not_finite",
            RejectCode::OutOfRange => "out_of_range",
            RejectCode::UnknownBand => "unknown_band",
            RejectCode::BadClass => "bad_class",
            RejectCode::TooLong => "too_long",
            RejectCode::CorruptFile => "corrupt_file",
        }
    }
}

/// The payload as a whole cannot be read as a JSON array of records. Nothing from it is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Bytes that are not UTF-8 (JSON must be).
    #[error("payload is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    /// Not JSON at all, or broken JSON (includes `NaN`/`Infinity` literals, which JSON lacks).
    #[error("payload is not valid JSON: {detail}")]
    NotJson { detail: String },
    /// The JSON ends early (empty body, cut-off download).
    #[error("payload is truncated: {detail}")]
    Truncated { detail: String },
    /// Valid JSON of the wrong shape, e.g. an object (an API error document) instead of an
    /// array of records.
    #[error("payload has the wrong shape: {detail}")]
    WrongShape { detail: String },
    /// An HTML page (a proxy or maintenance page answered instead of the API).
    #[error("payload looks like an HTML page, not JSON")]
    LooksLikeHtml,
    /// More bytes than the parser accepts. For reader input `actual` is the count read when
    /// the limit was crossed, not the full size.
    #[error("payload is too large: {actual} bytes, limit {limit}")]
    TooLarge { limit: usize, actual: usize },
    /// The reader failed (reader-based parsers only), e.g. a corrupt gzip stream.
    #[error("reading the payload failed: {detail}")]
    Read { detail: String },
}
