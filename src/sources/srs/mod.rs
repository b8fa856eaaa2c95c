//! SWPC Solar Region Summary (`YYYYMMDDSRS.txt`) -> the live `solar_regions.json` feed's
//! records, so that history read from SRS files looks to a model like the live feed.
//!
//! Bytes in, [`SrsRegion`]s (feed fields and conventions) plus one [`Rejected`] per bad line
//! out; [`SrsRegion::to_observation`] gives the [`RegionObservation`] that `parse_regions`
//! gives for the equivalent feed record. A file that is not an SRS at all is an [`SrsError`].
//!
//! # Mapping (SRS column -> feed field)
//! `Nmbr` -> `region`, `Location` -> `location` (as written) and `latitude` (N positive) /
//! `longitude` (**W negative**, E positive: `W71` -> -71, as the feed), `Lo` ->
//! `carrington_longitude`, `Area` -> `area`, `Z` -> `spot_class` (feed case: `DSI` -> `Dsi`),
//! `LL` -> `extent`, `NN` -> `number_spots`, `Mag Type` -> `mag_class` as the feed's letter
//! code ([`mag_class_code`]: `Beta-Gamma-Delta` -> `BGD`, any case).
//!
//! # Decisions
//! * **Region numbers** stay as SRS prints them, four digits (`0001` -> 1). SWPC passed
//!   region 10000 on 2002-06-14 and kept printing four digits; the live feed does the same
//!   (`3664` for NOAA 13664 in May 2024), so adding 10000 would make history differ from
//!   live. (DONKI's `activeRegionNum` is the full number: a join adds 10000 itself.)
//! * **`observed_date`** = issue date - 1 day. An SRS issued at 00:30Z on day D is "compiled
//!   from data received on D-1", positions "valid at D-1/2400Z". The feed stamps a region
//!   with the UT day it was observed: a record dated D exists during day D (a live file
//!   fetched 2026-09-06 17:25Z held `observed_date` 2026-09-06 for a region first numbered
//!   at 07:09 that day), and the repo's sample shows every region on the `observed_date` of
//!   the day of its `first_date`. So the SRS of D is the final state of the feed's day D-1.
//!   The issue date comes from the `:Issued:` line (or the `Issued at ... on` header); a file
//!   name's date must equal it.
//! * **Section IA** (plages without spots) gives records too: the feed lists a numbered
//!   region whose spots are gone with `area` 0, `extent` 0, `number_spots` 0, `spot_class`
//!   and `mag_class` null (repo sample `fixtures/sample-30d/solar_regions.json`), and such
//!   rows count for "active regions" and the region pick. Their location and `Lo` are real.
//! * **Section II** (regions due to return) is skipped: those regions are behind the limb,
//!   with no position on the disk, area or class, and the feed has no row for them. Its
//!   lines are not validated. Text after it (Section III, comments) is ignored too.
//! * **Unknown `Mag Type` words** reject the row (`bad_class`): the feed never carries such
//!   a value. A Section I row without a `Mag Type` column gets a null `mag_class`.
//! * **`source_order`** follows the feed's order, not the file's: within one date the feed
//!   lists regions by ascending number, plages interleaved, and flare-plus's region pick
//!   takes the last one. SRS lists Section I then IA, so records (I and IA together) are
//!   ordered by region number and `source_order` is the index in that order;
//!   `records` come back in it. Rejected lines take no position.
//! * A region number listed twice in one file rejects the second line (`malformed`): the
//!   store keys rows by (region, date), so one would silently replace the other.
//!
//! A garbled line becomes a [`Rejected`] (the line as written, a reason code, a message
//! naming the line and column) and the rest of the file still parses.

mod error;
mod fields;
mod header;
mod mag;
mod name;
mod record;
mod row;
mod sections;
mod text;

#[cfg(test)]
mod tests;

use std::collections::btree_map::{BTreeMap, Entry};

use chrono::NaiveDate;

use crate::domain::RegionObservation;
use crate::sources::parse_error::{Parsed, RejectCode, RejectReason, Rejected};

pub use error::{SrsError, MAX_SRS_BYTES};
pub use mag::mag_class_code;
pub use name::{check_name_date, srs_file_date};
pub use record::{SrsRegion, SrsSection};

/// Parses one SRS file. `file_date` is the date of its name ([`srs_file_date`]), checked
/// against the issue date inside; `None` skips that check (e.g. the live `srs.txt`).
pub fn parse_srs(
    bytes: &[u8],
    file_date: Option<NaiveDate>,
) -> Result<Parsed<SrsRegion>, SrsError> {
    let text = text::decode(bytes)?;
    let scan = sections::scan(text);
    if !scan.has_spots_section {
        return Err(SrsError::NoRegionSection);
    }
    let issued = header::issue_date(text)?;
    if let Some(name_date) = file_date {
        check_name_date(name_date, issued)?;
    }
    let observed = observed_date(issued).ok_or(SrsError::NoIssueDate)?;

    let mut parsed = Parsed::new();
    let mut first_line_of: BTreeMap<i32, usize> = BTreeMap::new();
    for line in &scan.lines {
        let result =
            row::parse_row(line, observed).and_then(|r| match first_line_of.entry(r.region) {
                Entry::Occupied(first) => Err(RejectReason {
                    code: RejectCode::Malformed,
                    detail: format!(
                        "region {} is already listed on line {}",
                        r.region,
                        first.get()
                    ),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(r.line);
                    Ok(r)
                }
            });
        match result {
            Ok(r) => parsed.records.push(r),
            Err(why) => parsed.rejected.push(Rejected {
                raw: line.text.to_owned(),
                reason: RejectReason {
                    code: why.code,
                    detail: format!("line {}: {}", line.line, why.detail),
                },
            }),
        }
    }
    // The feed's order within a date (see the module doc).
    parsed.records.sort_by_key(|r| (r.region, r.line));
    for (index, r) in parsed.records.iter_mut().enumerate() {
        r.source_order = u32::try_from(index).unwrap_or(u32::MAX);
    }
    Ok(parsed)
}

/// [`parse_srs`], with each record converted by [`SrsRegion::to_observation`].
pub fn parse_srs_observations(
    bytes: &[u8],
    file_date: Option<NaiveDate>,
) -> Result<Parsed<RegionObservation>, SrsError> {
    let parsed = parse_srs(bytes, file_date)?;
    Ok(Parsed {
        records: parsed
            .records
            .iter()
            .map(SrsRegion::to_observation)
            .collect(),
        rejected: parsed.rejected,
    })
}

/// The issue date written inside an SRS file (`:Issued:` line or `Issued at ... on` header).
pub fn issue_date(bytes: &[u8]) -> Result<NaiveDate, SrsError> {
    header::issue_date(text::decode(bytes)?)
}

/// The feed's `observed_date` for an SRS issued on `issued`: the day before, the UT day the
/// report describes (see the module doc). `None` only at the start of chrono's calendar.
pub fn observed_date(issued: NaiveDate) -> Option<NaiveDate> {
    issued.pred_opt()
}
