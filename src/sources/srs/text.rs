//! Bytes -> text, with the whole-file checks that need no SRS knowledge.

use super::error::{SrsError, MAX_SRS_BYTES};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The file as text, or why it cannot be an SRS at all.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, SrsError> {
    if bytes.len() > MAX_SRS_BYTES {
        return Err(SrsError::TooLarge {
            limit: MAX_SRS_BYTES,
            actual: bytes.len(),
        });
    }
    let (body, skipped) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, UTF8_BOM.len()),
        None => (bytes, 0),
    };
    let text = std::str::from_utf8(body).map_err(|e| SrsError::NotUtf8 {
        offset: skipped + e.valid_up_to(),
    })?;
    let start = text.trim_start();
    if start.is_empty() {
        return Err(SrsError::Empty);
    }
    // An SRS never starts with '<'; a proxy or archive error page always does.
    if start.starts_with('<') {
        return Err(SrsError::LooksLikeHtml);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_non_text() {
        assert_eq!(decode(b""), Err(SrsError::Empty));
        assert_eq!(decode(b" \r\n\t"), Err(SrsError::Empty));
        assert_eq!(decode(b"\n<!DOCTYPE html>"), Err(SrsError::LooksLikeHtml));
        assert_eq!(decode(b"ab\xFFc"), Err(SrsError::NotUtf8 { offset: 2 }));
        assert_eq!(
            decode(b"\xEF\xBB\xBF\xC3"),
            Err(SrsError::NotUtf8 { offset: 3 })
        );
        assert_eq!(decode(b"\xEF\xBB\xBF:Product:"), Ok(":Product:"));
        let big = vec![b' '; MAX_SRS_BYTES + 1];
        assert!(matches!(decode(&big), Err(SrsError::TooLarge { .. })));
    }
}
