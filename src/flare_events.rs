//! flare-plus's `flare_events` table as a pure function of the candidate flares
//! (spec 3.3 `save_flare_events`, 4.7; golden `flare_events_db.csv`).
//!
//! flare-plus inserted rows one by one and skipped a row when an already stored row had the
//! same `class_category` and a peak within 30 min (inclusive), whatever its source. The
//! table therefore depends on the insertion order. Here that order is fixed by the
//! candidates themselves, so the table is a function of the *set* of candidates:
//!
//! - [`Profile::FlarePlus`]: detected flares first, by (peak, start, class), then DONKI flares
//!   by (start, peak, id): the detected flare wins a duplicate (Q8 kept). This is the order
//!   of flare-plus's run (detection output, then the DONKI payload) and reproduces the golden
//!   table.
//! - [`Profile::Improved`] (Q8 fix): verified flares (DONKI) first, then detected ones, then
//!   unverified DONKI ones: a verified DONKI flare takes the place of every detected flare it
//!   duplicates, and a detected flare is kept only where no verified one is within 30 min.
//!
//! Ties in those keys are broken by every other field, so equal keys never make the result
//! depend on arrival order; exact duplicates collapse into one candidate.
//!
//! Rows can only interact inside a *component*: candidates of one category whose peaks form
//! a chain with gaps <= 30 min. [`FlareEventSet`] recomputes just the component a new
//! candidate joins.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::domain::{FlareCategory, FlareEvent, FlareSource};
use crate::profile::Profile;

/// Two rows of one category with peaks at most this far apart are duplicates (inclusive).
pub fn dedup_window() -> Duration {
    Duration::minutes(30)
}

/// `t - d` / `t + d`, clamped instead of panicking at the ends of chrono's range.
fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Peaks whose `flare_events` rows can change when `candidate` arrives or leaves: its peak
/// ± 30 min. The store widens this until it covers whole connected components.
pub fn affected_peak_range(candidate: &FlareEvent) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        minus(candidate.peak_time, dedup_window()),
        plus(candidate.peak_time, dedup_window()),
    )
}

/// Whether flare-plus's dedup would treat `a` and `b` as duplicates of each other.
pub fn duplicates(a: &FlareEvent, b: &FlareEvent) -> bool {
    a.class_category == b.class_category && (a.peak_time - b.peak_time).abs() <= dedup_window()
}

/// The `flare_events` rows for a set of candidates, in insertion order. With
/// [`Profile::FlarePlus`] `location` is empty, as flare-plus's main pipeline stored it (the
/// candidates keep DONKI's `sourceLocation`).
pub fn materialize(candidates: &[FlareEvent], profile: Profile) -> Vec<FlareEvent> {
    let mut ordered: Vec<&FlareEvent> = candidates.iter().collect();
    ordered.sort_by(|a, b| insertion_order(profile, a, b));
    ordered.dedup_by(|a, b| insertion_order(profile, a, b) == Ordering::Equal);
    let mut kept_peaks: BTreeSet<(FlareCategory, DateTime<Utc>)> = BTreeSet::new();
    let mut table = Vec::new();
    for event in ordered {
        let window = dedup_window();
        let lo = (event.class_category, minus(event.peak_time, window));
        let hi = (event.class_category, plus(event.peak_time, window));
        if kept_peaks.range(lo..=hi).next().is_none() {
            kept_peaks.insert((event.class_category, event.peak_time));
            let mut row = event.clone();
            if profile == Profile::FlarePlus {
                row.location = None;
            }
            table.push(row);
        }
    }
    table
}

/// The order flare-plus's inserts are replayed in (module docs); total over all fields.
pub fn insertion_order(profile: Profile, a: &FlareEvent, b: &FlareEvent) -> Ordering {
    let group = |e: &FlareEvent| match (profile, e.source, e.verified) {
        (Profile::FlarePlus, FlareSource::Detected, _) => 0,
        (Profile::FlarePlus, FlareSource::Donki, _) => 1,
        (Profile::Improved, FlareSource::Donki, true) => 0,
        (Profile::Improved, FlareSource::Detected, _) => 1,
        (Profile::Improved, FlareSource::Donki, false) => 2,
    };
    group(a).cmp(&group(b)).then_with(|| match a.source {
        FlareSource::Detected => a
            .peak_time
            .cmp(&b.peak_time)
            .then(a.start_time.cmp(&b.start_time))
            .then_with(|| a.flare_class.cmp(&b.flare_class))
            .then_with(|| all_fields(a, b)),
        FlareSource::Donki => a
            .start_time
            .cmp(&b.start_time)
            .then(a.peak_time.cmp(&b.peak_time))
            .then_with(|| a.external_id.cmp(&b.external_id))
            .then_with(|| all_fields(a, b)),
    })
}

/// A total order over every field, for tie-breaks; `Equal` only for identical events.
fn all_fields(a: &FlareEvent, b: &FlareEvent) -> Ordering {
    a.start_time
        .cmp(&b.start_time)
        .then(a.peak_time.cmp(&b.peak_time))
        .then(a.end_time.cmp(&b.end_time))
        .then_with(|| a.flare_class.cmp(&b.flare_class))
        .then(a.class_category.cmp(&b.class_category))
        .then(a.class_magnitude.total_cmp(&b.class_magnitude))
        .then(a.active_region.cmp(&b.active_region))
        .then_with(|| a.location.cmp(&b.location))
        .then_with(|| a.external_id.cmp(&b.external_id))
        .then(a.verified.cmp(&b.verified))
        .then(source_rank(a.source).cmp(&source_rank(b.source)))
}

fn source_rank(source: FlareSource) -> u8 {
    match source {
        FlareSource::Detected => 0,
        FlareSource::Donki => 1,
    }
}

/// What an [`FlareEventSet::upsert`] changed in the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Rows no longer in the table (full rows: detected flares have no unique key).
    pub removed: Vec<FlareEvent>,
    /// Rows now in the table.
    pub added: Vec<FlareEvent>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

/// Folds `more` into `changes`: a row removed then re-added (or the reverse) cancels out.
fn merge_changes(changes: &mut Changes, more: Changes) {
    let same = |a: &FlareEvent, b: &FlareEvent| all_fields(a, b) == Ordering::Equal;
    for row in more.removed {
        match changes.added.iter().position(|a| same(a, &row)) {
            Some(i) => {
                changes.added.remove(i);
            }
            None => changes.removed.push(row),
        }
    }
    for row in more.added {
        match changes.removed.iter().position(|r| same(r, &row)) {
            Some(i) => {
                changes.removed.remove(i);
            }
            None => changes.added.push(row),
        }
    }
}

/// Rows whose peak lies in `[from, to]` and whose category is `category` are the only ones
/// an upsert can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeakRange {
    pub category: FlareCategory,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Incremental [`materialize`]: holds the candidate set and the table; each upsert
/// recomputes only the component the candidate joins.
#[derive(Debug, Clone)]
pub struct FlareEventSet {
    profile: Profile,
    /// All candidates, by (category, peak, all fields).
    candidates: BTreeMap<PeakKey, FlareEvent>,
    /// The current table rows, same key.
    table: BTreeMap<PeakKey, FlareEvent>,
    /// Natural key -> the candidate stored under it: a corrected record (same key, new
    /// values) replaces its previous version, as the store's upsert does.
    by_natural_key: std::collections::HashMap<String, FlareEvent>,
}

/// Orders events by category, then peak, then every other field.
#[derive(Debug, Clone)]
struct PeakKey(FlareEvent);

impl PeakKey {
    fn bound(category: FlareCategory, peak: DateTime<Utc>, low: bool) -> PeakKey {
        // A probe event that sorts before (low) or after (high) every event at `peak`.
        let edge = if low {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        };
        PeakKey(FlareEvent {
            source: if low {
                FlareSource::Detected
            } else {
                FlareSource::Donki
            },
            external_id: None,
            start_time: edge,
            peak_time: peak,
            end_time: None,
            flare_class: String::new(),
            class_category: category,
            class_magnitude: if low {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            active_region: None,
            location: None,
            verified: !low,
        })
    }
}

impl Ord for PeakKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        a.class_category
            .cmp(&b.class_category)
            .then(a.peak_time.cmp(&b.peak_time))
            .then_with(|| all_fields(a, b))
    }
}

impl PartialOrd for PeakKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PeakKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PeakKey {}

impl FlareEventSet {
    pub fn new(profile: Profile) -> Self {
        FlareEventSet {
            profile,
            candidates: BTreeMap::new(),
            table: BTreeMap::new(),
            by_natural_key: std::collections::HashMap::new(),
        }
    }

    pub fn len_candidates(&self) -> usize {
        self.candidates.len()
    }

    /// The table in insertion order (the same order [`materialize`] returns).
    pub fn table(&self) -> Vec<FlareEvent> {
        let mut rows: Vec<FlareEvent> = self.table.values().cloned().collect();
        rows.sort_by(|a, b| insertion_order(self.profile, a, b));
        rows
    }

    /// Adds a candidate; returns the table rows it removed and added. Adding a candidate
    /// that is already present changes nothing; a candidate with the natural key of a stored
    /// one but other values replaces it.
    pub fn upsert(&mut self, candidate: FlareEvent) -> Changes {
        let key = PeakKey(candidate);
        if self.candidates.contains_key(&key) {
            return Changes::default();
        }
        let event = key.0.clone();
        let mut changes = Changes::default();
        if let Some(previous) = self
            .by_natural_key
            .insert(event.natural_key(), event.clone())
        {
            self.candidates.remove(&PeakKey(previous.clone()));
            let range = self.component_range(previous.class_category, previous.peak_time);
            changes = self.recompute(range);
        }
        self.candidates.insert(key, event.clone());
        let range = self.component_range(event.class_category, event.peak_time);
        let more = self.recompute(range);
        merge_changes(&mut changes, more);
        changes
    }

    /// Forgets candidates and rows with a peak before `t` (they can no longer affect any tick
    /// a caller will evaluate), keeping memory bounded on an endless stream.
    pub fn evict_before(&mut self, t: DateTime<Utc>) {
        self.candidates.retain(|k, _| k.0.peak_time >= t);
        self.table.retain(|k, _| k.0.peak_time >= t);
        self.by_natural_key.retain(|_, e| e.peak_time >= t);
    }

    /// Bytes held (entries times their size, strings included), for memory gauges.
    pub fn memory_bytes(&self) -> usize {
        let event = |e: &FlareEvent| {
            std::mem::size_of::<FlareEvent>()
                + e.flare_class.capacity()
                + e.external_id.as_ref().map_or(0, String::capacity)
                + e.location.as_ref().map_or(0, String::capacity)
        };
        self.candidates
            .values()
            .map(|e| 2 * event(e))
            .sum::<usize>()
            + self.table.values().map(|e| 2 * event(e)).sum::<usize>()
            + self
                .by_natural_key
                .values()
                .map(|e| event(e) + 64)
                .sum::<usize>()
    }

    /// Re-materialises `range` and applies the difference to the table.
    fn recompute(&mut self, range: PeakRange) -> Changes {
        let component: Vec<FlareEvent> = self.in_range(&self.candidates, range).cloned().collect();
        let old: Vec<FlareEvent> = self.in_range(&self.table, range).cloned().collect();
        let new = materialize(&component, self.profile);
        let same = |a: &FlareEvent, b: &FlareEvent| all_fields(a, b) == Ordering::Equal;
        let changes = Changes {
            removed: old
                .iter()
                .filter(|o| !new.iter().any(|n| same(n, o)))
                .cloned()
                .collect(),
            added: new
                .iter()
                .filter(|n| !old.iter().any(|o| same(n, o)))
                .cloned()
                .collect(),
        };
        for row in &changes.removed {
            self.table.remove(&PeakKey(row.clone()));
        }
        for row in &changes.added {
            self.table.insert(PeakKey(row.clone()), row.clone());
        }
        changes
    }

    /// The peak range (one category) whose rows may change if `candidate` is upserted: the
    /// component it would join. The writer can re-materialize exactly this range.
    pub fn affected_range(&self, candidate: &FlareEvent) -> PeakRange {
        self.component_range(candidate.class_category, candidate.peak_time)
    }

    /// Extends from `peak` over same-category candidates while consecutive peaks are at most
    /// 30 min apart.
    fn component_range(&self, category: FlareCategory, peak: DateTime<Utc>) -> PeakRange {
        let window = dedup_window();
        let mut from = peak;
        while let Some((k, _)) = self
            .candidates
            .range(
                PeakKey::bound(category, minus(from, window), true)
                    ..PeakKey::bound(category, from, true),
            )
            .next()
        {
            from = k.0.peak_time;
        }
        let mut to = peak;
        while let Some((k, _)) = self
            .candidates
            .range(
                PeakKey::bound(category, to, false)
                    ..=PeakKey::bound(category, plus(to, window), false),
            )
            .next_back()
        {
            to = k.0.peak_time;
        }
        PeakRange { category, from, to }
    }

    fn in_range<'a>(
        &self,
        map: &'a BTreeMap<PeakKey, FlareEvent>,
        range: PeakRange,
    ) -> impl Iterator<Item = &'a FlareEvent> {
        map.range(
            PeakKey::bound(range.category, range.from, true)
                ..=PeakKey::bound(range.category, range.to, false),
        )
        .map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        "2024-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute)
    }

    fn detected(peak: i64, class: &str) -> FlareEvent {
        let category = class
            .chars()
            .next()
            .and_then(FlareCategory::from_letter)
            .unwrap();
        FlareEvent {
            source: FlareSource::Detected,
            external_id: None,
            start_time: at(peak - 10),
            peak_time: at(peak),
            end_time: Some(at(peak + 20)),
            flare_class: class.into(),
            class_category: category,
            class_magnitude: class[1..].parse().unwrap(),
            active_region: None,
            location: None,
            verified: false,
        }
    }

    fn donki(peak: i64, class: &str, id: &str) -> FlareEvent {
        FlareEvent {
            source: FlareSource::Donki,
            external_id: Some(id.into()),
            verified: true,
            location: Some("N10E10".into()),
            ..detected(peak, class)
        }
    }

    fn classes(rows: &[FlareEvent]) -> Vec<(String, DateTime<Utc>)> {
        rows.iter()
            .map(|r| (r.flare_class.clone(), r.peak_time))
            .collect()
    }

    #[test]
    fn flare_plus_detected_wins_and_window_is_inclusive() {
        let rows = materialize(
            &[
                donki(30, "C5.2", "d1"), // 30 min after the detected C5.0: duplicate
                detected(0, "C5.0"),
                donki(31, "C1.1", "d2"), // 31 min: not a duplicate
                donki(10, "M1.0", "d3"), // other category: kept
            ],
            Profile::FlarePlus,
        );
        assert_eq!(
            classes(&rows),
            vec![
                ("C5.0".into(), at(0)),
                ("M1.0".into(), at(10)),
                ("C1.1".into(), at(31))
            ]
        );
    }

    #[test]
    fn improved_verified_donki_replaces_the_detected_duplicate() {
        let set = [
            detected(0, "C5.0"),
            donki(20, "C5.2", "d1"),
            detected(45, "C2.0"),
        ];
        // flare-plus: C5.0 kept, the DONKI flare skipped, C2.0 (45 min after) kept.
        assert_eq!(
            classes(&materialize(&set, Profile::FlarePlus)),
            vec![("C5.0".into(), at(0)), ("C2.0".into(), at(45))]
        );
        // improved: the verified flare goes first and removes both detected duplicates.
        assert_eq!(
            classes(&materialize(&set, Profile::Improved)),
            vec![("C5.2".into(), at(20))]
        );
    }

    #[test]
    fn exact_duplicates_collapse_and_order_does_not_matter() {
        let a = detected(0, "C5.0");
        let mut b = detected(0, "C5.0");
        b.end_time = Some(at(40)); // same keys, different end: a real tie, broken by end
        let rows1 = materialize(&[a.clone(), b.clone(), a.clone()], Profile::FlarePlus);
        let rows2 = materialize(&[b, a.clone()], Profile::FlarePlus);
        assert_eq!(rows1, rows2);
        assert_eq!(rows1, vec![a]);
    }

    #[test]
    fn upsert_reports_changes_and_ranges() {
        let mut set = FlareEventSet::new(Profile::Improved);
        let c = set.upsert(detected(0, "C5.0"));
        assert_eq!((c.removed.len(), c.added.len()), (0, 1));
        assert!(set.upsert(detected(0, "C5.0")).is_empty());
        set.upsert(detected(50, "C2.0"));
        // A DONKI flare at 25 links both into one component.
        let probe = donki(25, "C3.0", "d1");
        assert_eq!(
            set.affected_range(&probe),
            PeakRange {
                category: FlareCategory::C,
                from: at(0),
                to: at(50)
            }
        );
        let c = set.upsert(probe.clone());
        assert_eq!(
            classes(&c.removed),
            vec![("C5.0".into(), at(0)), ("C2.0".into(), at(50))]
        );
        assert_eq!(c.added, vec![probe]);
        assert_eq!(
            set.table(),
            materialize(
                &[
                    detected(0, "C5.0"),
                    detected(50, "C2.0"),
                    donki(25, "C3.0", "d1")
                ],
                Profile::Improved
            )
        );
        // Other categories and far peaks are not part of the range.
        assert_eq!(
            set.affected_range(&detected(200, "M1.0")),
            PeakRange {
                category: FlareCategory::M,
                from: at(200),
                to: at(200)
            }
        );
    }
}
