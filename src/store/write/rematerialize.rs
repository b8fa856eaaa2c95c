//! `flare_events` as a function of the candidate set, updated for the affected peak range.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Conn, WriteBackend};
use crate::domain::FlareEvent;
use crate::flare_events::{affected_peak_range, materialize};
use crate::profile::Profile;
use crate::store::{FlareEventChanges, StoreError};

/// Recomputes `flare_events` for every candidate connected to `seeds` (new and previous
/// versions of the batch's flares). The peak range grows until every candidate inside it has
/// its whole affected range inside it; the candidates in that range are then a union of
/// connected components, so materialising them alone gives the same rows as materialising
/// the whole table. The table is updated by difference, so an unchanged row keeps its id.
pub(super) async fn rematerialize<'s, B: WriteBackend>(
    b: &B,
    conn: &mut Conn<B>,
    seeds: impl Iterator<Item = &'s FlareEvent>,
    profile: Profile,
    now: DateTime<Utc>,
) -> Result<FlareEventChanges, StoreError> {
    let widen = |range: Option<(DateTime<Utc>, DateTime<Utc>)>, f: &FlareEvent| {
        let (lo, hi) = affected_peak_range(f);
        Some(match range {
            None => (lo, hi),
            Some((a, z)) => (a.min(lo), z.max(hi)),
        })
    };
    let Some(mut range) = seeds.fold(None, widen) else {
        return Ok(FlareEventChanges::default());
    };
    let candidates = loop {
        let found = b.candidates_in_peak_range(conn, range.0, range.1).await?;
        let grown = found.iter().fold(Some(range), widen).unwrap_or(range);
        if grown == range {
            break found;
        }
        range = grown;
    };
    let wanted = materialize(&candidates, profile);
    let existing = b.flare_events_in_peak_range(conn, range.0, range.1).await?;

    let wanted_by_key: HashMap<String, &FlareEvent> =
        wanted.iter().map(|f| (f.natural_key(), f)).collect();
    let existing_by_key: HashMap<String, &FlareEvent> =
        existing.iter().map(|f| (f.natural_key(), f)).collect();
    let mut gone: Vec<&str> = existing_by_key
        .keys()
        .filter(|k| !wanted_by_key.contains_key(*k))
        .map(String::as_str)
        .collect();
    gone.sort_unstable();
    let mut changed: Vec<&FlareEvent> = wanted
        .iter()
        .filter(|f| existing_by_key.get(&f.natural_key()) != Some(f))
        .collect();
    changed.sort_by_key(|f| f.natural_key());

    let mut changes = FlareEventChanges::default();
    if !gone.is_empty() {
        changes.deleted = b.delete_flare_events(conn, &gone).await?;
    }
    if !changed.is_empty() {
        let (inserted, updated) = b.upsert_flare_events(conn, &changed, now).await?;
        changes.inserted = inserted;
        changes.updated = updated;
    }
    Ok(changes)
}
