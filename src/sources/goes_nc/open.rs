//! Bytes -> an open netCDF file, with the whole-file problems told apart first (empty, HTML,
//! not HDF5, truncated), so the caller learns what it downloaded rather than a decoder message.

use hdf5_reader::io::Cursor;
use hdf5_reader::superblock::Superblock;
use netcdf_reader::{NcFile, NcOpenOptions};

use super::error::GoesNcError;

const HDF5_MAGIC: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Largest decoded read one call may allocate. A full day of 1-second data is ~0.7 MB per
/// variable; the limit only stops a crafted file from claiming gigabytes.
const MAX_READ_BYTES: usize = 64 << 20;

/// Opens netCDF-4 (or classic netCDF) bytes. Never panics on any input.
pub(crate) fn open_bytes(bytes: &[u8]) -> Result<NcFile, GoesNcError> {
    if bytes.is_empty() {
        return Err(GoesNcError::Truncated {
            detail: "the file is empty".into(),
        });
    }
    if looks_like_html(bytes) {
        return Err(GoesNcError::LooksLikeHtml);
    }
    if bytes.len() < HDF5_MAGIC.len() && HDF5_MAGIC.starts_with(bytes) {
        return Err(GoesNcError::Truncated {
            detail: format!("only {} bytes of the HDF5 signature", bytes.len()),
        });
    }
    let classic = bytes.len() >= 4 && bytes.starts_with(b"CDF") && matches!(bytes[3], 1 | 2 | 5);
    if !classic {
        check_hdf5_length(bytes)?;
    }
    let options = NcOpenOptions {
        max_read_bytes: MAX_READ_BYTES,
        max_chunk_bytes: MAX_READ_BYTES,
        ..NcOpenOptions::default()
    };
    NcFile::from_bytes_with_options(bytes, options).map_err(|e| classify(&e))
}

/// The superblock records where the file ends; fewer bytes than that is a cut-off file, and
/// saying so beats whichever decoder error the first missing byte would cause.
fn check_hdf5_length(bytes: &[u8]) -> Result<(), GoesNcError> {
    let superblock = match Superblock::parse(&mut Cursor::new(bytes)) {
        Ok(superblock) => superblock,
        Err(hdf5_reader::error::Error::InvalidMagic) => {
            return Err(GoesNcError::NotNetcdf {
                detail: format!("it starts with {}", excerpt(bytes)),
            })
        }
        Err(e) => return Err(classify_hdf5(&e)),
    };
    let end = superblock
        .base_address
        .checked_add(superblock.eof_address)
        .ok_or_else(|| GoesNcError::Corrupt {
            detail: "the superblock's end-of-file address overflows".into(),
        })?;
    let have = bytes.len() as u64;
    if have < end {
        return Err(GoesNcError::Truncated {
            detail: format!("{have} bytes, but its HDF5 superblock says the file has {end}"),
        });
    }
    Ok(())
}

/// An HTML document: optional BOM and whitespace, then markup naming html/head/body.
fn looks_like_html(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = match start.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &start[i..],
        None => return false,
    };
    if !start.starts_with(b"<") {
        return false;
    }
    let head = String::from_utf8_lossy(&start[..start.len().min(1024)]).to_ascii_lowercase();
    ["<!doctype html", "<html", "<head", "<body"]
        .iter()
        .any(|tag| head.contains(tag))
}

/// The first bytes, printable, for "not a netCDF file" messages.
fn excerpt(bytes: &[u8]) -> String {
    let shown: String = bytes[..bytes.len().min(16)].escape_ascii().to_string();
    format!("\"{shown}\"")
}

fn classify(e: &netcdf_reader::Error) -> GoesNcError {
    match e {
        netcdf_reader::Error::Hdf5(inner) => classify_hdf5(inner),
        netcdf_reader::Error::UnexpectedEof { .. } => GoesNcError::Truncated {
            detail: e.to_string(),
        },
        netcdf_reader::Error::InvalidMagic => GoesNcError::NotNetcdf {
            detail: e.to_string(),
        },
        _ => GoesNcError::Corrupt {
            detail: e.to_string(),
        },
    }
}

fn classify_hdf5(e: &hdf5_reader::error::Error) -> GoesNcError {
    use hdf5_reader::error::Error as H;
    match e {
        H::Context { source, .. } => classify_hdf5(source),
        H::UnexpectedEof { .. } | H::OffsetOutOfBounds(_) => GoesNcError::Truncated {
            detail: e.to_string(),
        },
        _ => GoesNcError::Corrupt {
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_pages_are_recognised() {
        for page in [
            &b"<!DOCTYPE html><html><body>404 Not Found</body></html>"[..],
            b"\xEF\xBB\xBF\n  <HTML>\n<HEAD><TITLE>Error</TITLE>",
            b"<body>Service unavailable</body>",
        ] {
            assert_eq!(open_bytes(page).err(), Some(GoesNcError::LooksLikeHtml));
        }
        assert!(!looks_like_html(b"<?xml version=\"1.0\"?><Error/>"));
        assert!(!looks_like_html(b"   "));
    }

    #[test]
    fn whole_file_problems_are_classified() {
        assert!(matches!(
            open_bytes(b""),
            Err(GoesNcError::Truncated { .. })
        ));
        assert!(matches!(
            open_bytes(&HDF5_MAGIC[..5]),
            Err(GoesNcError::Truncated { .. })
        ));
        match open_bytes(b"PK\x03\x04 zip archive").err() {
            Some(GoesNcError::NotNetcdf { detail }) => assert!(detail.contains("PK"), "{detail}"),
            other => panic!("expected NotNetcdf, got {other:?}"),
        }
    }
}
