//! What can be wrong with a GOES XRS archive file, as one typed error.
//!
//! Messages say what is wrong without the file name, so the caller can prefix it
//! (`"{name}: {err}"`).

/// A GOES XRS netCDF file that cannot be read (low level) or used as a backfill source (avg1m).
/// Nothing from the file is used when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoesNcError {
    /// The file could not be read from disk.
    #[error("reading the file failed: {detail}")]
    Io {
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// The bytes end before the HDF5 structure does (cut-off download or copy).
    #[error("file is truncated: {detail}")]
    Truncated {
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// An HTML page (a proxy, login or "not found" page served instead of the file).
    #[error("file looks like an HTML page, not a netCDF file")]
    LooksLikeHtml,
    /// Neither HDF5 (netCDF-4) nor classic netCDF magic bytes.
    #[error("not an HDF5/netCDF file: {detail}")]
    NotNetcdf {
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// HDF5/netCDF structure the reader cannot decode (corrupt or unsupported).
    #[error("cannot decode the netCDF structure: {detail}")]
    Corrupt {
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// None of the accepted names of a required variable is in the file.
    #[error("missing variable {expected}")]
    MissingVariable {
        /// The accepted names, joined by " or ".
        expected: String,
    },
    /// A variable has a type this reader does not accept for its role.
    #[error("variable {variable} has type {found}, expected {expected}")]
    WrongType {
        /// The variable concerned.
        variable: String,
        /// What was expected.
        expected: String,
        /// The type found.
        found: String,
    },
    /// A variable's dimensions are not the expected ones (e.g. not 1-D along `time`).
    #[error("variable {variable} has the wrong shape: {detail}")]
    WrongShape {
        /// The variable concerned.
        variable: String,
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// More rows than any GOES XRS daily file has; refused before allocating.
    #[error("variable {variable} has {rows} rows, more than the limit {limit}")]
    TooManyRows {
        /// The variable concerned.
        variable: String,
        /// Rows the file claims.
        rows: u64,
        /// The largest accepted row count ([`MAX_ROWS`](super::MAX_ROWS)).
        limit: u64,
    },
    /// The variable's data could not be decoded (bad chunk, failed decompression, ...).
    #[error("reading variable {variable} failed: {detail}")]
    Read {
        /// The variable concerned.
        variable: String,
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// A required attribute is absent.
    #[error("variable {variable} has no {attribute} attribute")]
    MissingAttribute {
        /// The variable concerned.
        variable: String,
        /// The attribute that is absent.
        attribute: String,
    },
    /// A `units` (or `calendar`) attribute this reader cannot interpret.
    #[error("variable {variable} has unusable units {units:?}: {detail}")]
    BadUnits {
        /// The variable concerned.
        variable: String,
        /// The attribute as stored.
        units: String,
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// `flag_meanings` / `flag_masks` / `flag_values` that do not describe the flags.
    #[error("flag variable {variable} has unusable flag attributes: {detail}")]
    BadFlagAttributes {
        /// The variable concerned.
        variable: String,
        /// What exactly is wrong, for a person.
        detail: String,
    },
    /// A flag value that is not a non-negative integer (flags stored as floats).
    #[error("flag variable {variable} has a non-integer value {value} at row {row}")]
    BadFlagValue {
        /// The variable concerned.
        variable: String,
        /// Row index (0-based, file order).
        row: usize,
        /// The stored value, as text (keeps the error `Eq`).
        value: String,
    },
    /// The file name is not a NCEI GOES XRS archive name.
    #[error("file name {name:?} is not an NCEI GOES XRS archive name (sci_xrsf-l2-avg1m_gNN_dYYYYMMDD_vX-Y-Z.nc)")]
    UnrecognisedName {
        /// The name as given (last path component).
        name: String,
    },
    /// Not a 1-minute average file: only avg1m files are a backfill source (the live feed is
    /// 1-minute data).
    #[error("only avg1m (1-minute average) files are a backfill source; this file is {what}")]
    NotAvg1m {
        /// What the file is instead.
        what: String,
    },
    /// The satellite in the file name and the file's `platform` attribute disagree.
    #[error("satellite in the file name (g{name:02}) disagrees with the platform attribute {platform:?}")]
    SatelliteMismatch {
        /// Satellite number from the file name.
        name: i32,
        /// The `platform` attribute as stored.
        platform: String,
    },
    /// A `platform` attribute that names no GOES satellite.
    #[error("platform attribute {platform:?} is not a GOES satellite (expected e.g. \"g16\")")]
    BadPlatform {
        /// The `platform` attribute as stored.
        platform: String,
    },
    /// A time outside the UTC day the file name gives.
    #[error("row {row} has time {time}, outside the day {day} given by the file name")]
    DateMismatch {
        /// Row index (0-based, file order).
        row: usize,
        /// The row's time, ISO 8601 UTC.
        time: String,
        /// The day from the file name.
        day: String,
    },
}
