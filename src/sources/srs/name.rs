//! SRS file names (`YYYYMMDDSRS.txt`) and their agreement with the file's issue date.

use chrono::NaiveDate;

use super::error::SrsError;

/// The issue date in an SRS file name: `YYYYMMDDSRS.txt`, case-insensitive, also with a
/// `.gz` suffix (the caller decompresses). A directory part (`/` or `\`) is ignored.
/// `None` for any other name, including an impossible date such as `19960230SRS.txt`.
pub fn srs_file_date(name: &str) -> Option<NaiveDate> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
    let digits = stem.strip_suffix("srs.txt")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All ASCII digits, so these byte ranges are char boundaries.
    let year = digits[0..4].parse().ok()?;
    let month = digits[4..6].parse().ok()?;
    let day = digits[6..8].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The file's name date must be its issue date: SWPC names each SRS for the day it is issued.
pub fn check_name_date(name_date: NaiveDate, issued: NaiveDate) -> Result<(), SrsError> {
    if name_date == issued {
        Ok(())
    } else {
        Err(SrsError::NameDateMismatch { name_date, issued })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn recognises_names() {
        assert_eq!(srs_file_date("19960106SRS.txt"), Some(d(1996, 1, 6)));
        assert_eq!(srs_file_date("20150306srs.TXT"), Some(d(2015, 3, 6)));
        assert_eq!(
            srs_file_date("a/b/20020624SRS.txt.gz"),
            Some(d(2002, 6, 24))
        );
        assert_eq!(
            srs_file_date(r"C:\srs\20020624SRS.TXT.GZ"),
            Some(d(2002, 6, 24))
        );
        for bad in [
            "",
            "SRS.txt",
            "0621SRS.txt",
            "199601061SRS.txt",
            "1996010xSRS.txt",
            "19960230SRS.txt",
            "19960106SRS.txt.bz2",
            "19960106SRS.txt/",
            "19960106RSGA.txt",
            "１９９６0106SRS.txt",
        ] {
            assert_eq!(srs_file_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn name_must_match_issue_date() {
        assert_eq!(check_name_date(d(1996, 1, 6), d(1996, 1, 6)), Ok(()));
        let err = check_name_date(d(1996, 1, 6), d(1996, 1, 7)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SRS file named for 1996-01-06 was issued on 1996-01-07"
        );
    }
}
