//! Span timing: one tracing [`Layer`] for two jobs.
//!
//! - **Stages** (`flare-plus profile`): the time of every closed span, summed per span name
//!   (load, parse, detect, features, write; fetch and publish in the pipeline) into a
//!   [`StageTable`] while it is recording. This is the Rust equivalent of cProfile's
//!   cumulative time per function, at the granularity of the pipeline's stages.
//! - **Slow operations** (normal runs, `logging.slow_operation` above zero): a warning when a span
//!   closes after longer than the threshold, with the span's fields (source, URL, record and
//!   batch counts), so one slow fetch or batch write is visible without a profiler.
//!
//! Only the project's own spans are timed (target `flare_plus...`, level DEBUG or more
//! severe, see [`span_filter`]); the pipeline opens one per payload or batch, never per
//! record, so the cost is one `Instant::now()` pair and a small allocation per payload. With
//! the threshold at 0 and no profile running, the binary does not install the layer at all.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterFn, LevelFilter};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Target of the slow-operation warning (filterable with `RUST_LOG`).
pub const SLOW_TARGET: &str = "flare_plus::slow_operation";

/// Time spent in spans of one name.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageTime {
    pub name: &'static str,
    /// Sum over the spans of this name of the wall time from opening to the last exit.
    pub seconds: f64,
    /// How many such spans closed.
    pub count: u64,
}

/// Per-name span totals of the spans opened between [`StageTable::start`] and
/// [`StageTable::take`], filled by [`SpanTimer`].
///
/// A span closes when its last handle is dropped, which can be a little after the work it
/// covers returned: sqlx's SQLite worker thread, for one, holds the caller's span until it has
/// processed the last command. [`StageTable::open_spans`] tells the caller to wait for those
/// before [`StageTable::take`].
#[derive(Debug, Default)]
pub struct StageTable {
    recording: AtomicBool,
    /// Bumped by every start, so a span from an earlier window never counts in a later one.
    generation: AtomicU64,
    /// Spans opened in the current window and not closed yet.
    open: AtomicU64,
    totals: Mutex<HashMap<&'static str, (Duration, u64)>>,
}

impl StageTable {
    /// The table the binary's layer fills (see [`SpanTimer::new`]).
    pub fn global() -> Arc<StageTable> {
        static GLOBAL: LazyLock<Arc<StageTable>> = LazyLock::new(Arc::default);
        GLOBAL.clone()
    }

    /// Clears the totals and starts recording.
    pub fn start(&self) {
        self.lock().clear();
        self.open.store(0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.recording.store(true, Ordering::SeqCst);
    }

    /// Spans opened since [`StageTable::start`] that have not closed yet.
    pub fn open_spans(&self) -> u64 {
        self.open.load(Ordering::SeqCst)
    }

    /// Stops recording and returns the totals, longest first.
    pub fn take(&self) -> Vec<StageTime> {
        self.recording.store(false, Ordering::SeqCst);
        let mut stages: Vec<StageTime> = self
            .lock()
            .drain()
            .map(|(name, (time, count))| StageTime {
                name,
                seconds: time.as_secs_f64(),
                count,
            })
            .collect();
        stages.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(a.name.cmp(b.name)));
        stages
    }

    /// A span opened: its window's generation, None when not recording.
    fn opened(&self) -> Option<u64> {
        if !self.recording.load(Ordering::SeqCst) {
            return None;
        }
        self.open.fetch_add(1, Ordering::SeqCst);
        Some(self.generation.load(Ordering::SeqCst))
    }

    /// A span opened in window `generation` closed after `elapsed`.
    fn closed(&self, generation: u64, name: &'static str, elapsed: Duration) {
        if !self.recording.load(Ordering::SeqCst)
            || generation != self.generation.load(Ordering::SeqCst)
        {
            return;
        }
        {
            let mut totals = self.lock();
            let entry = totals.entry(name).or_default();
            entry.0 += elapsed;
            entry.1 += 1;
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, (Duration, u64)>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts).
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The layer. Install it with [`span_filter`] as its per-layer filter.
#[derive(Debug, Clone)]
pub struct SpanTimer {
    slow: Option<Duration>,
    stages: Option<Arc<StageTable>>,
}

impl SpanTimer {
    /// A zero `slow_operation` disables the warning; `stages` receives per-name totals.
    /// None when there is nothing to do: the binary then installs no layer.
    pub fn new(slow_operation: Duration, stages: Option<Arc<StageTable>>) -> Option<SpanTimer> {
        let slow = (!slow_operation.is_zero()).then_some(slow_operation);
        (slow.is_some() || stages.is_some()).then_some(SpanTimer { slow, stages })
    }
}

/// The spans [`SpanTimer`] times: the project's own (target `flare_plus` or below), DEBUG
/// or more severe. Decided per callsite once (metadata only), so other callsites cost
/// nothing.
pub fn span_filter() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    fn timed(meta: &Metadata<'_>) -> bool {
        meta.is_span()
            && *meta.level() <= Level::DEBUG
            && (meta.target() == "flare_plus" || meta.target().starts_with("flare_plus::"))
    }
    FilterFn::new(timed as fn(&Metadata<'_>) -> bool).with_max_level_hint(LevelFilter::DEBUG)
}

/// What the layer keeps in a span's extensions.
struct Timing {
    opened: Instant,
    /// The last time any thread left the span. A span's last handle can be dropped well
    /// after its work ended (sqlx's SQLite worker keeps the caller's span until it fetches
    /// its next command), so the span's time runs to its last exit, not to its close.
    last_exit: Option<Instant>,
    /// The stage window the span was opened in, if one was recording.
    generation: Option<u64>,
    /// `name=value` pairs, only kept when the slow-operation warning is on.
    fields: String,
}

/// Writes fields as `name=value` (strings quoted), space-separated.
struct FieldWriter<'a>(&'a mut String);

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value)
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={:?}", field.name(), value);
    }
}

impl<S> Layer<S> for SpanTimer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::new();
        if self.slow.is_some() {
            attrs.record(&mut FieldWriter(&mut fields));
        }
        let generation = self.stages.as_ref().and_then(|t| t.opened());
        span.extensions_mut().insert(Timing {
            opened: Instant::now(),
            last_exit: None,
            generation,
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.slow.is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<Timing>() {
            values.record(&mut FieldWriter(&mut timing.fields));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<Timing>() {
            timing.last_exit = Some(Instant::now());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let name = span.name();
        let Some(timing) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        // The extensions lock is released here: the warning below goes through the other
        // layers, which may read this span's ancestors.
        // Never entered (only created and dropped): its time runs to the close.
        let elapsed = timing
            .last_exit
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(timing.opened);
        if let (Some(stages), Some(generation)) = (&self.stages, timing.generation) {
            stages.closed(generation, name, elapsed);
        }
        if let Some(threshold) = self.slow {
            if elapsed >= threshold {
                tracing::warn!(
                    target: SLOW_TARGET,
                    operation = name,
                    elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                    threshold_ms = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX),
                    "slow operation: {name} took {:.1} ms (threshold {} ms) {}",
                    elapsed.as_secs_f64() * 1e3,
                    threshold.as_millis(),
                    timing.fields,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// Runs `work` under a subscriber shaped like the binary's (fmt at INFO + the timer) and
    /// returns the log text.
    fn logged(slow_ms: u64, stages: Option<Arc<StageTable>>, work: impl FnOnce()) -> String {
        let logs = Captured::default();
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(logs.clone())
            .with_filter(LevelFilter::INFO);
        let timer = SpanTimer::new(Duration::from_millis(slow_ms), stages)
            .map(|t| t.with_filter(span_filter()));
        let subscriber = tracing_subscriber::registry().with(fmt).with(timer);
        tracing::subscriber::with_default(subscriber, work);
        let bytes = logs.0.lock().expect("log buffer").clone();
        String::from_utf8(bytes).expect("utf-8 log")
    }

    fn slow_work() {
        let span = tracing::debug_span!(
            "write",
            records = 2000usize,
            source = "xrays",
            attempts = tracing::field::Empty
        );
        let _entered = span.enter();
        std::thread::sleep(Duration::from_millis(15));
        span.record("attempts", 2u32);
    }

    #[test]
    fn a_slow_span_is_warned_about_with_its_fields() {
        let log = logged(1, None, slow_work);
        assert!(log.contains("WARN"), "{log}");
        assert!(log.contains("slow operation: write took"), "{log}");
        assert!(
            log.contains(r#"records=2000 source="xrays" attempts=2"#),
            "{log}"
        );
        assert!(log.contains("threshold_ms=1"), "{log}");
    }

    #[test]
    fn no_warning_under_the_threshold_or_when_off() {
        assert_eq!(logged(60_000, None, slow_work), "");
        assert!(SpanTimer::new(Duration::ZERO, None).is_none());
        assert_eq!(logged(0, None, slow_work), "");
    }

    #[test]
    fn a_span_still_held_elsewhere_counts_once_it_closes_up_to_its_last_exit() {
        let table = Arc::new(StageTable::default());
        let t = table.clone();
        logged(0, Some(table.clone()), move || {
            t.start();
            let span = tracing::debug_span!("write");
            // Like sqlx's SQLite worker: another holder keeps the span past the work.
            let held = span.clone();
            span.in_scope(|| std::thread::sleep(Duration::from_millis(3)));
            drop(span);
            assert_eq!(t.open_spans(), 1);
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
            assert_eq!(t.open_spans(), 0);
        });
        let stages = table.take();
        assert_eq!(stages.len(), 1);
        assert_eq!((stages[0].name, stages[0].count), ("write", 1));
        // Open to last exit: the 3 ms of work, not the 100 ms the other holder only kept it.
        assert!((0.003..0.1).contains(&stages[0].seconds), "{stages:?}");
    }

    #[test]
    fn stages_sum_per_name_only_while_recording() {
        let table = Arc::new(StageTable::default());
        let t = table.clone();
        let log = logged(0, Some(table.clone()), move || {
            tracing::debug_span!("parse").in_scope(|| {}); // before start: not counted
            t.start();
            for _ in 0..3 {
                tracing::debug_span!("parse")
                    .in_scope(|| std::thread::sleep(Duration::from_millis(2)));
            }
            tracing::info_span!("features")
                .in_scope(|| std::thread::sleep(Duration::from_millis(12)));
            // TRACE spans are not timed.
            tracing::trace_span!("detect").in_scope(|| {});
        });
        assert_eq!(log, "", "stage recording alone logs nothing");
        let stages = table.take();
        let names: Vec<_> = stages.iter().map(|s| (s.name, s.count)).collect();
        assert_eq!(names, [("features", 1), ("parse", 3)]);
        assert!(stages[0].seconds >= 0.012, "{stages:?}");
        assert!(stages[1].seconds >= 0.006, "{stages:?}");
        assert_eq!(table.open_spans(), 0);
        // take() stopped recording and emptied the table.
        let late = logged(0, Some(table.clone()), || {
            tracing::debug_span!("parse").in_scope(|| {});
        });
        assert_eq!(late, "");
        assert!(table.take().is_empty());
    }
}
