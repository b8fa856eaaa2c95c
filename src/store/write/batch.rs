//! A batch made ready for the database: validated (NaN refused), deduplicated (last wins),
//! sorted by key, and cut into shares for bisection.

use super::super::{RecordKind, Rejected, StoreError};
use crate::domain::{FlareEvent, RegionObservation, XrayObservation};
use crate::store::TaggedBatch;

/// A refusal found by the write path, before the caller's tag is attached.
pub(crate) type Refusal = Rejected<()>;

/// A record of the batch with its position in the batch's vector.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a, T> {
    pub index: usize,
    pub rec: &'a T,
}

/// A flare with its natural key (the `candidate_key` column).
#[derive(Debug, Clone)]
pub(crate) struct FlareItem<'a> {
    pub index: usize,
    pub rec: &'a FlareEvent,
    pub key: String,
}

pub(crate) type XrayItem<'a> = Item<'a, XrayObservation>;
pub(crate) type RegionItem<'a> = Item<'a, RegionObservation>;

/// The batch after validation and dedup, sorted by key (a stable lock order, so concurrent
/// writers of overlapping batches wait for each other instead of deadlocking).
pub(super) struct Prepared<'a> {
    pub xrays: Vec<XrayItem<'a>>,
    pub regions: Vec<RegionItem<'a>>,
    pub flares: Vec<FlareItem<'a>>,
    pub rejected: Vec<Refusal>,
    pub superseded: u64,
}

fn finite(v: Option<f64>) -> bool {
    v.is_none_or(f64::is_finite)
}

fn refuse(kind: RecordKind, index: usize, key: String, what: &str) -> Refusal {
    Rejected {
        kind,
        index,
        key,
        code: "non_finite_value",
        reason: format!("{what} is NaN or infinite (missing values must be None)"),
        tag: None,
    }
}

/// Stable sort by key, then keep the last record of each key (the batch's "last wins").
fn dedup_last<T, K: Ord>(mut items: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, u64) {
    items.sort_by_key(|i| key(i));
    let before = items.len();
    let mut out: Vec<T> = Vec::with_capacity(before);
    for item in items {
        if out.last().is_some_and(|last| key(last) == key(&item)) {
            out.pop();
        }
        out.push(item);
    }
    let superseded = (before - out.len()) as u64;
    (out, superseded)
}

impl<'a> Prepared<'a> {
    pub(super) fn new<T>(batch: &'a TaggedBatch<T>) -> Self {
        let mut rejected = Vec::new();
        let mut xrays = Vec::with_capacity(batch.xrays.len());
        for (index, rec) in batch.xrays.iter().enumerate() {
            if finite(rec.flux_short) && finite(rec.flux_long) {
                xrays.push(Item { index, rec });
            } else {
                rejected.push(refuse(RecordKind::Xray, index, rec.natural_key(), "flux"));
            }
        }
        let mut regions = Vec::with_capacity(batch.regions.len());
        for (index, rec) in batch.regions.iter().enumerate() {
            if finite(rec.latitude) && finite(rec.longitude) {
                regions.push(Item { index, rec });
            } else {
                rejected.push(refuse(
                    RecordKind::Region,
                    index,
                    rec.natural_key(),
                    "latitude/longitude",
                ));
            }
        }
        let mut flares = Vec::with_capacity(batch.flares.len());
        for (index, rec) in batch.flares.iter().enumerate() {
            if rec.class_magnitude.is_finite() {
                flares.push(FlareItem {
                    index,
                    rec,
                    key: rec.natural_key(),
                });
            } else {
                rejected.push(refuse(
                    RecordKind::Flare,
                    index,
                    rec.natural_key(),
                    "class_magnitude",
                ));
            }
        }
        let (xrays, s1) = dedup_last(xrays, |i| (i.rec.feed, i.rec.time));
        let (regions, s2) = dedup_last(regions, |i| (i.rec.region_number, i.rec.timestamp));
        let (flares, s3) = dedup_last(flares, |i| i.key.clone());
        Prepared {
            xrays,
            regions,
            flares,
            rejected,
            superseded: s1 + s2 + s3,
        }
    }

    pub(super) fn whole(&self) -> Part<'_, 'a> {
        Part {
            xrays: &self.xrays,
            regions: &self.regions,
            flares: &self.flares,
        }
    }
}

/// A contiguous share of the prepared records (the concatenation xrays | regions | flares).
#[derive(Clone, Copy)]
pub(super) struct Part<'p, 'a> {
    pub xrays: &'p [XrayItem<'a>],
    pub regions: &'p [RegionItem<'a>],
    pub flares: &'p [FlareItem<'a>],
}

impl<'p, 'a> Part<'p, 'a> {
    pub(super) fn len(&self) -> usize {
        self.xrays.len() + self.regions.len() + self.flares.len()
    }

    /// The first and second half of the concatenation.
    pub(super) fn split(self) -> (Self, Self) {
        let mut k = self.len() / 2;
        let nx = k.min(self.xrays.len());
        k -= nx;
        let nr = k.min(self.regions.len());
        k -= nr;
        let (x1, x2) = self.xrays.split_at(nx);
        let (r1, r2) = self.regions.split_at(nr);
        let (f1, f2) = self.flares.split_at(k);
        (
            Part {
                xrays: x1,
                regions: r1,
                flares: f1,
            },
            Part {
                xrays: x2,
                regions: r2,
                flares: f2,
            },
        )
    }

    /// The one record of a part of length 1, as a rejection.
    pub(super) fn reject(&self, e: &StoreError) -> Option<Refusal> {
        if self.len() != 1 {
            return None;
        }
        let (kind, index, key) = if let Some(x) = self.xrays.first() {
            (RecordKind::Xray, x.index, x.rec.natural_key())
        } else if let Some(r) = self.regions.first() {
            (RecordKind::Region, r.index, r.rec.natural_key())
        } else {
            let f = self.flares.first()?;
            (RecordKind::Flare, f.index, f.key.clone())
        };
        Some(Rejected {
            kind,
            index,
            key,
            code: e.code(),
            reason: e.message().to_string(),
            tag: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_the_last_of_each_key_and_sorts() {
        let items = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        let (out, superseded) = dedup_last(items, |i| i.0);
        assert_eq!(out, vec![(1, 'e'), (2, 'd'), (3, 'c')]);
        assert_eq!(superseded, 2);
    }
}
