//! Whole-file failures of an SRS file: nothing from such a file is used.

use chrono::NaiveDate;

use crate::sources::parse_error::PayloadError;

/// Largest SRS file accepted. A real one is 1-4 KB; this bounds memory on a wrong download.
pub const MAX_SRS_BYTES: usize = 1024 * 1024;

/// The file as a whole is not a usable Solar Region Summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrsError {
    /// More bytes than [`MAX_SRS_BYTES`].
    #[error("SRS file is too large: {actual} bytes, limit {limit}")]
    TooLarge {
        /// The accepted maximum.
        limit: usize,
        /// The size received.
        actual: usize,
    },
    /// Not text: SRS files are ASCII.
    #[error("SRS file is not text (invalid UTF-8 at byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Empty or only whitespace (a cut-off download).
    #[error("SRS file is empty")]
    Empty,
    /// An HTML page (an error or index page served instead of the file).
    #[error("SRS file looks like an HTML page, not a Solar Region Summary")]
    LooksLikeHtml,
    /// No `I. Regions with Sunspots` section header: not an SRS.
    #[error("not a Solar Region Summary: no 'I. Regions with Sunspots' section")]
    NoRegionSection,
    /// Neither a `:Issued:` line nor an `Issued at ... on DD Mon YYYY` header line.
    #[error("SRS file has no issue date (no ':Issued:' line and no 'Issued at ... on' line)")]
    NoIssueDate,
    /// An issue-date line that does not hold a valid date.
    #[error("SRS issue date line {line} is not a valid date: {text:?}")]
    BadIssueDate {
        /// 1-based line number.
        line: usize,
        /// The line as written.
        text: String,
    },
    /// The `:Issued:` line and the `Issued at ... on` header line give different dates.
    #[error("SRS issue dates disagree: ':Issued:' says {issued_line}, the header says {header}")]
    IssueDatesDisagree {
        /// Date of the `:Issued:` line.
        issued_line: NaiveDate,
        /// Date of the `SRS Number ... Issued at ... on` line.
        header: NaiveDate,
    },
    /// The file name's date is not the file's issue date (a misnamed or misfiled file).
    #[error("SRS file named for {name_date} was issued on {issued}")]
    NameDateMismatch {
        /// Date in the file name (`YYYYMMDDSRS.txt`).
        name_date: NaiveDate,
        /// Issue date inside the file.
        issued: NaiveDate,
    },
}

/// For callers that route every whole-payload failure as a [`PayloadError`].
impl From<SrsError> for PayloadError {
    fn from(e: SrsError) -> Self {
        match e {
            SrsError::TooLarge { limit, actual } => PayloadError::TooLarge { limit, actual },
            SrsError::NotUtf8 { offset } => PayloadError::NotUtf8 { offset },
            SrsError::Empty => PayloadError::Truncated {
                detail: e.to_string(),
            },
            SrsError::LooksLikeHtml => PayloadError::LooksLikeHtml,
            other => PayloadError::WrongShape {
                detail: other.to_string(),
            },
        }
    }
}
