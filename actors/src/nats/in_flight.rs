//! The bound on a source's unfinished work: a count of permits in use (gauge and high-water
//! mark) and the permit each [`super::Delivery`] carries until it is finished.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::metrics::ActorMetrics;

/// Counts permits in use and keeps the gauge and the high-water mark current.
#[derive(Debug)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    high_water: AtomicUsize,
    metrics: Arc<ActorMetrics>,
}

impl InFlight {
    pub(crate) fn new(metrics: Arc<ActorMetrics>) -> InFlight {
        InFlight {
            now: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            metrics,
        }
    }

    /// Messages handed out and not finished right now.
    pub(crate) fn now(&self) -> usize {
        self.now.load(Ordering::Acquire)
    }

    /// Most messages in flight at once so far.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Acquire)
    }

    fn add(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::AcqRel) + n;
        self.high_water.fetch_max(now, Ordering::AcqRel);
        self.metrics.set_source_in_flight(now);
    }

    fn sub(&self, n: usize) {
        let now = self.now.fetch_sub(n, Ordering::AcqRel) - n;
        self.metrics.set_source_in_flight(now);
    }
}

/// The permit a delivery carries: dropping it frees a slot for the next fetch.
#[derive(Debug)]
pub(crate) struct InFlightPermit {
    _permit: OwnedSemaphorePermit,
    in_flight: Arc<InFlight>,
}

impl InFlightPermit {
    /// Counts one more message in flight until the returned permit drops.
    pub(crate) fn new(permit: OwnedSemaphorePermit, in_flight: Arc<InFlight>) -> InFlightPermit {
        in_flight.add(1);
        InFlightPermit {
            _permit: permit,
            in_flight,
        }
    }
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        self.in_flight.sub(1);
    }
}
