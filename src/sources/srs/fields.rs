//! Typed reads of one SRS column, with a [`RejectReason`] naming the column and value.
//!
//! The limits are the live feed parser's (`parse_regions`): latitude within +-90, longitude
//! within +-180, so every accepted SRS record also passes the feed's own checks.

use crate::sources::parse_error::{RejectCode, RejectReason};

use super::mag::excerpt;

pub(crate) fn reason(code: RejectCode, detail: String) -> RejectReason {
    RejectReason { code, detail }
}

/// An unsigned decimal column (`0270`, `09`); at most 6 digits, so it fits an i32.
pub(crate) fn number(token: &str, column: &str) -> Result<i32, RejectReason> {
    if token.is_empty() || token.len() > 6 || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(reason(
            RejectCode::WrongType,
            format!("{column} must be digits, got {:?}", excerpt(token)),
        ));
    }
    token.parse().map_err(|_| {
        reason(
            RejectCode::WrongType,
            format!("{column} must be digits, got {:?}", excerpt(token)),
        )
    })
}

/// A number column with an inclusive upper limit.
pub(crate) fn bounded(token: &str, column: &str, max: i32) -> Result<i32, RejectReason> {
    let n = number(token, column)?;
    if n > max {
        return Err(reason(
            RejectCode::OutOfRange,
            format!("{column} {n} is above {max}"),
        ));
    }
    Ok(n)
}

/// `N12W71` -> (latitude 12, longitude -71): north and east positive, as the feed writes.
pub(crate) fn location(token: &str) -> Result<(i32, i32), RejectReason> {
    let malformed = || {
        reason(
            RejectCode::Malformed,
            format!("location must look like N12W71, got {:?}", excerpt(token)),
        )
    };
    let upper = token.to_ascii_uppercase();
    let lat_sign = match upper.as_bytes().first() {
        Some(b'N') => 1,
        Some(b'S') => -1,
        _ => return Err(malformed()),
    };
    let rest = &upper[1..];
    let split = rest.find(['E', 'W']).ok_or_else(malformed)?;
    let (lat, lon) = (&rest[..split], &rest[split + 1..]);
    let lon_sign = if rest[split..].starts_with('E') {
        1
    } else {
        -1
    };
    let digits = |s: &str, max_len: usize| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(lat, 2) || !digits(lon, 3) {
        return Err(malformed());
    }
    let lat = bounded(lat, "latitude", 90)?;
    let lon = bounded(lon, "longitude", 180)?;
    Ok((lat_sign * lat, lon_sign * lon))
}

/// McIntosh class: three letters, written in the feed's case (`DSI` -> `Dsi`).
pub(crate) fn mcintosh(token: &str) -> Result<String, RejectReason> {
    if token.len() != 3 || !token.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(reason(
            RejectCode::Malformed,
            format!(
                "McIntosh class must be three letters, got {:?}",
                excerpt(token)
            ),
        ));
    }
    // ASCII letters only, so byte slicing is safe.
    Ok(format!(
        "{}{}",
        token[..1].to_ascii_uppercase(),
        token[1..].to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T: std::fmt::Debug>(r: Result<T, RejectReason>) -> RejectCode {
        r.unwrap_err().code
    }

    #[test]
    fn numbers() {
        assert_eq!(number("0270", "area"), Ok(270));
        assert_eq!(number("000", "NN"), Ok(0));
        assert_eq!(code(number("", "area")), RejectCode::WrongType);
        assert_eq!(code(number("-1", "area")), RejectCode::WrongType);
        assert_eq!(code(number("1234567", "area")), RejectCode::WrongType);
        assert_eq!(code(number("１２", "area")), RejectCode::WrongType);
        assert_eq!(bounded("360", "Lo", 360), Ok(360));
        assert_eq!(code(bounded("361", "Lo", 360)), RejectCode::OutOfRange);
    }

    #[test]
    fn locations_use_the_feed_signs() {
        assert_eq!(location("N12W71"), Ok((12, -71)));
        assert_eq!(location("S13E05"), Ok((-13, 5)));
        assert_eq!(location("s23w47"), Ok((-23, -47)));
        assert_eq!(location("N11W92"), Ok((11, -92)));
        assert_eq!(location("N00E00"), Ok((0, 0)));
        assert_eq!(location("S5E105"), Ok((-5, 105)));
        for bad in [
            "", "N", "X12W71", "N12X71", "N12W", "NW71", "N123W71", "N12W1234", "N1.W71", "N12W7€",
        ] {
            assert_eq!(code(location(bad)), RejectCode::Malformed, "{bad:?}");
        }
        assert_eq!(code(location("N91W10")), RejectCode::OutOfRange);
        assert_eq!(code(location("N10W181")), RejectCode::OutOfRange);
    }

    #[test]
    fn mcintosh_in_feed_case() {
        assert_eq!(mcintosh("DSI").as_deref(), Ok("Dsi"));
        assert_eq!(mcintosh("Cko").as_deref(), Ok("Cko"));
        assert_eq!(mcintosh("hrx").as_deref(), Ok("Hrx"));
        for bad in ["", "Dk", "Dkco", "D1c", "Dé"] {
            assert_eq!(code(mcintosh(bad)), RejectCode::Malformed, "{bad:?}");
        }
    }
}
