//! The issue date written inside an SRS file.
//!
//! Two places carry it: the `:Issued: 1996 Jan 06 0030 UTC` line (every era in the samples)
//! and the title block's `SRS Number 175 Issued at 0030Z on 24 Jun 2002` line (month as
//! `JANUARY`, `SEP` or `Jun` depending on the era). Either is enough; both must agree.

use chrono::NaiveDate;

use super::error::SrsError;

/// The file's issue date. Only the lines before the first section header are read, so a
/// comment in Section III cannot be taken for a header.
pub(crate) fn issue_date(text: &str) -> Result<NaiveDate, SrsError> {
    let mut issued_line = None;
    let mut header = None;
    for (index, line) in text.lines().enumerate() {
        let upper = line.trim().to_ascii_uppercase();
        if super::sections::Section::of_header(&upper).is_some() {
            break;
        }
        let bad = || SrsError::BadIssueDate {
            line: index + 1,
            text: line.to_owned(),
        };
        if let Some(rest) = upper.strip_prefix(":ISSUED:") {
            if issued_line.is_none() {
                issued_line = Some(year_month_day(rest).ok_or_else(bad)?);
            }
        } else if let Some(rest) = after_issued_at_on(&upper) {
            if header.is_none() {
                header = Some(day_month_year(rest).ok_or_else(bad)?);
            }
        }
    }
    match (issued_line, header) {
        (Some(a), Some(b)) if a != b => Err(SrsError::IssueDatesDisagree {
            issued_line: a,
            header: b,
        }),
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => Err(SrsError::NoIssueDate),
    }
}

/// `... ISSUED AT 0030Z ON <rest>` -> `<rest>`.
fn after_issued_at_on(upper: &str) -> Option<&str> {
    let at = upper.find("ISSUED AT ")?;
    let tail = &upper[at..];
    let on = tail.find(" ON ")?;
    Some(&tail[on + " ON ".len()..])
}

/// `1996 JAN 06 0030 UTC`.
fn year_month_day(rest: &str) -> Option<NaiveDate> {
    let mut t = rest.split_whitespace();
    let (year, month, day) = (t.next()?, t.next()?, t.next()?);
    date(year, month, day)
}

/// `06 JANUARY 1996`.
fn day_month_year(rest: &str) -> Option<NaiveDate> {
    let mut t = rest.split_whitespace();
    let (day, month, year) = (t.next()?, t.next()?, t.next()?);
    date(year, month, day)
}

fn date(year: &str, month: &str, day: &str) -> Option<NaiveDate> {
    let year = digits(year, 4, 4)?;
    let day = digits(day, 1, 2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month_number(month)?, day)
}

fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `JAN`, `JANUARY` (upper case already); three letters at least, and the full name must be
/// a prefix-consistent spelling (`JANX` is not a month).
fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "JANUARY",
        "FEBRUARY",
        "MARCH",
        "APRIL",
        "MAY",
        "JUNE",
        "JULY",
        "AUGUST",
        "SEPTEMBER",
        "OCTOBER",
        "NOVEMBER",
        "DECEMBER",
    ];
    if name.len() < 3 {
        return None;
    }
    let index = MONTHS.iter().position(|m| m.starts_with(name))?;
    u32::try_from(index + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn reads_either_line() {
        let both =
            ":Issued: 1996 Jan 06 0030 UTC\nSRS NUMBER 006 ISSUED AT 0030Z ON 06 JANUARY 1996\n";
        assert_eq!(issue_date(both), Ok(d(1996, 1, 6)));
        assert_eq!(
            issue_date("SRS Number 175 Issued at 0030Z on 24 Jun 2002\n"),
            Ok(d(2002, 6, 24))
        );
        assert_eq!(
            issue_date(":Issued: 2000 Sep 22 0030 UTC\n"),
            Ok(d(2000, 9, 22))
        );
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(issue_date("hello\n"), Err(SrsError::NoIssueDate));
        assert!(matches!(
            issue_date(":Issued: 1996 Jan 32 0030 UTC"),
            Err(SrsError::BadIssueDate { line: 1, .. })
        ));
        assert!(matches!(
            issue_date("x\n:Issued: 1996 Janx 06"),
            Err(SrsError::BadIssueDate { line: 2, .. })
        ));
        assert_eq!(
            issue_date(
                ":Issued: 1996 Jan 06 0030 UTC\nSRS Number 1 Issued at 0030Z on 07 Jan 1996"
            ),
            Err(SrsError::IssueDatesDisagree {
                issued_line: d(1996, 1, 6),
                header: d(1996, 1, 7)
            })
        );
        // A date after the first section header is not the issue date.
        assert_eq!(
            issue_date("I.  Regions with Sunspots.\n:Issued: 1996 Jan 06 0030 UTC"),
            Err(SrsError::NoIssueDate)
        );
    }
}
