//! The sample as the ingest role publishes it on OBS, without NATS: every source in
//! data-time order (X-ray at its time, regions at their timestamp, DONKI at its peak), the
//! streaming detector's flares right after the sample that settled them, its watermark after
//! each sample, and the end-of-input mark and flushed flares at the end.

use flare_plus::detect::{StreamConfig, StreamDetector};
use flare_plus::domain::FlareCategory;
use flare_plus::domain::{Observation, ProgressMark};
use flare_plus::profile::Profile;

use super::{load_donki, load_regions, load_xrays};

pub fn sample_stream(profile: Profile) -> Vec<Observation> {
    let xrays = load_xrays();
    let mut regions = load_regions();
    regions.sort_by_key(|r| r.timestamp);
    let mut donki = load_donki();
    donki.sort_by_key(|f| f.peak_time);
    let mut detector = StreamDetector::new(StreamConfig {
        min_class: FlareCategory::C,
        ..StreamConfig::for_profile(profile)
    });
    let mut out = Vec::new();
    let (mut r, mut d) = (0, 0);
    let mut last_mark = None;
    for x in &xrays {
        while r < regions.len() && regions[r].timestamp <= x.time {
            out.push(Observation::Region(regions[r].clone()));
            r += 1;
        }
        while d < donki.len() && donki[d].peak_time <= x.time {
            out.push(Observation::Flare(donki[d].clone()));
            d += 1;
        }
        out.push(Observation::Xray(x.clone()));
        for flare in detector.push(x.time, x.flux_long) {
            out.push(Observation::Flare(flare));
        }
        let mark = detector.settled_until();
        if mark > last_mark {
            last_mark = mark;
            out.push(Observation::Progress(ProgressMark {
                source: ProgressMark::DETECTOR.into(),
                until: mark,
                end_of_input: false,
            }));
        }
    }
    out.extend(regions[r..].iter().cloned().map(Observation::Region));
    out.extend(donki[d..].iter().cloned().map(Observation::Flare));
    let last = xrays.last().map(|x| x.time);
    out.extend(detector.flush().into_iter().map(Observation::Flare));
    out.push(Observation::Progress(ProgressMark {
        source: ProgressMark::DETECTOR.into(),
        until: last,
        end_of_input: true,
    }));
    out
}
