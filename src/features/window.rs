//! The shared flux buffer and its sliding windows `[T − span, T]`.
//!
//! One buffer holds the compact samples of the longest window (24 h by default: the flux
//! statistics, rolling windows and covariates never look further back). Every window
//! (1, 3, 6, 12, 24 h) is a start pointer into it plus exact running sums per band and monotonic
//! deques for max/min, so inserting or evicting a sample costs O(1) amortised; nothing rescans a
//! window per tick. All sums are integers (see [`super::exact`]), so a window's statistics depend
//! only on the samples inside it.
//!
//! Row and band ordinals are `u64` counters that never wrap in practice. The feature trend
//! (spec 5.2.2) regresses on the band ordinal; the OLS slope is translation invariant and the
//! sums are exact, so an engine that started counting elsewhere (after a restart) produces the
//! same bits.

use std::collections::VecDeque;

use ethnum::I256;

use super::exact::{i256_to_f64, mul_checked, mul_wide, pow2, quantise, unscale, wide, SCALE_BITS};

/// Band index of the 0.05–0.4 nm channel.
pub const SHORT: usize = 0;
/// Band index of the 0.1–0.8 nm channel.
pub const LONG: usize = 1;

/// Microseconds per hour.
pub const HOUR_US: i64 = 3_600_000_000;

/// One flux row, compact: 40 bytes.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Microseconds since the Unix epoch.
    pub t: i64,
    /// Validated value per band; NaN means missing (flare-plus stored missing bands as NaN).
    pub v: [f64; 2],
    /// Per band: number of valid values before this row (the band ordinal of this row's value
    /// when it is valid). Lets the engine find the first/last valid value of a row range in O(1).
    pub ord: [u64; 2],
}

/// Exact running sums of one band over one window. `x` is the time in microseconds since the
/// epoch, `i` the band ordinal, `q` the quantised value.
#[derive(Debug, Clone, Copy, Default)]
pub struct BandSums {
    /// Number of valid values.
    pub n: u64,
    /// Number of rows whose value for this band is missing (covariate trend rule, Q21).
    pub missing: u64,
    pub s_q: I256,
    pub s_qq: I256,
    pub s_x: i128,
    pub s_xx: I256,
    pub s_xq: I256,
    pub s_iq: I256,
}

struct Contrib {
    q: I256,
    qq: I256,
    x: i128,
    xx: I256,
    xq: I256,
    iq: I256,
}

fn contrib(t: i64, v: f64, ord: u64) -> Option<Contrib> {
    let q = quantise(v)?;
    let x = t as i128;
    Some(Contrib {
        q: wide(q),
        qq: mul_wide(q, q),
        x,
        xx: wide(x * x),
        xq: mul_wide(x, q),
        iq: mul_wide(ord as i128, q),
    })
}

impl BandSums {
    fn add(&mut self, c: &Contrib) {
        self.n += 1;
        self.s_q += c.q;
        self.s_qq += c.qq;
        self.s_x += c.x;
        self.s_xx += c.xx;
        self.s_xq += c.xq;
        self.s_iq += c.iq;
    }

    fn sub(&mut self, c: &Contrib) {
        self.n -= 1;
        self.s_q -= c.q;
        self.s_qq -= c.qq;
        self.s_x -= c.x;
        self.s_xx -= c.xx;
        self.s_xq -= c.xq;
        self.s_iq -= c.iq;
    }

    /// Arithmetic mean of the valid values; `None` without values.
    pub fn mean(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some(unscale(self.s_q) / self.n as f64)
    }

    /// Sample standard deviation (ddof = 1): `None` without values, NaN for one value
    /// (spec 0), exactly 0 for constant data. `(n·Σq² − (Σq)²)` is exact; an overflow (only
    /// possible with absurd sample counts) gives NaN rather than a panic.
    pub fn std(&self) -> Option<f64> {
        match self.n {
            0 => None,
            1 => Some(f64::NAN),
            n => {
                let num = mul_checked(wide(n as i128), self.s_qq)
                    .and_then(|a| mul_checked(self.s_q, self.s_q).map(|b| a - b));
                let Some(num) = num else {
                    return Some(f64::NAN);
                };
                let var = i256_to_f64(num) / ((n as f64) * ((n - 1) as f64));
                Some(var.max(0.0).sqrt() * pow2(-SCALE_BITS))
            }
        }
    }

    /// OLS slope of the values against their band ordinal `i` (x = 0..k−1 after a shift), per
    /// sample. `first_ord` is the ordinal of the first valid value in the window. `None` for
    /// fewer than two values.
    pub fn slope_per_sample(&self, first_ord: u64) -> Option<f64> {
        let k = self.n;
        if k < 2 {
            return None;
        }
        let kw = wide(k as i128);
        // Σi over the consecutive ordinals first_ord .. first_ord + k − 1.
        let s_i =
            mul_wide(k as i128, first_ord as i128) + wide(((k as i128) * (k as i128 - 1)) >> 1);
        let num = mul_checked(kw, self.s_iq)? - mul_checked(s_i, self.s_q)?;
        // Σ(i − ī)² = k²(k²−1)/12, an integer for every k: k(k−1)(k+1) is divisible by 6, and
        // the remaining factor 2 comes from k (k even) or from (k−1)(k+1) (k odd).
        let den = if k < 1 << 16 {
            let k2 = k * k;
            (k2 * (k2 - 1) / 12) as f64
        } else {
            let k2 = (k as u128).checked_mul(k as u128)?;
            (k2.checked_mul(k2 - 1)? / 12) as f64
        };
        Some(i256_to_f64(num) / den * pow2(-SCALE_BITS))
    }

    /// OLS slope of the values against time, per hour (covariates, spec 5.5). The regression is
    /// done on integer microseconds, exactly; the intercept base does not matter.
    pub fn slope_per_hour(&self) -> Option<f64> {
        let n = self.n;
        if n < 2 {
            return None;
        }
        let nw = wide(n as i128);
        let sx = wide(self.s_x);
        let num = mul_checked(nw, self.s_xq)? - mul_checked(sx, self.s_q)?;
        let den = mul_checked(nw, self.s_xx)? - mul_checked(sx, sx)?;
        if den <= I256::ZERO {
            return None;
        }
        Some(i256_to_f64(num) / i256_to_f64(den) * (HOUR_US as f64) * pow2(-SCALE_BITS))
    }
}

/// One sliding window `[T − span, T]` over the buffer.
#[derive(Debug)]
pub struct Window {
    /// Window length in microseconds.
    pub span_us: i64,
    /// Row ordinal of the first row inside the window.
    pub start: u64,
    /// Number of rows inside (valid or not).
    pub rows: u64,
    pub bands: [BandSums; 2],
    /// Monotonic deques of row ordinals: values non-increasing (max) from front to back.
    max: [VecDeque<u64>; 2],
    /// Same for the minimum; only kept where a min is needed (24 h flux statistics).
    min: Option<[VecDeque<u64>; 2]>,
}

impl Window {
    fn new(span_us: i64, track_min: bool, start: u64) -> Self {
        Window {
            span_us,
            start,
            rows: 0,
            bands: [BandSums::default(); 2],
            max: [VecDeque::new(), VecDeque::new()],
            min: track_min.then(|| [VecDeque::new(), VecDeque::new()]),
        }
    }

    fn heap_bytes(&self) -> usize {
        let d = |q: &VecDeque<u64>| q.capacity() * std::mem::size_of::<u64>();
        let mut b = d(&self.max[0]) + d(&self.max[1]);
        if let Some(m) = &self.min {
            b += d(&m[0]) + d(&m[1]);
        }
        b
    }
}

/// The buffer plus its windows. Windows are kept sorted by span; the last is the longest and
/// decides what the buffer keeps.
#[derive(Debug)]
pub struct FluxWindows {
    buf: VecDeque<Sample>,
    /// Row ordinal of `buf[0]`.
    base: u64,
    /// Row ordinal the next absorbed sample gets.
    next_row: u64,
    /// Band ordinal the next valid value of each band gets.
    next_band: [u64; 2],
    /// Per band: row ordinals of the valid values still in the buffer, in order.
    valid: [VecDeque<u64>; 2],
    /// Per band: band ordinal of `valid[b][0]`.
    valid_base: [u64; 2],
    windows: Vec<Window>,
    /// Time of the newest absorbed sample, including ones too old for any window.
    last_time: Option<i64>,
}

impl FluxWindows {
    /// `spans`: window lengths in microseconds with a flag "needs min". Duplicates are merged.
    pub fn new(spans: &[(i64, bool)]) -> Self {
        let mut spans: Vec<(i64, bool)> = spans.to_vec();
        spans.sort_by_key(|s| s.0);
        let mut merged: Vec<(i64, bool)> = Vec::new();
        for (s, m) in spans {
            match merged.last_mut() {
                Some(last) if last.0 == s => last.1 |= m,
                _ => merged.push((s, m)),
            }
        }
        FluxWindows {
            buf: VecDeque::new(),
            base: 0,
            next_row: 0,
            next_band: [0; 2],
            valid: [VecDeque::new(), VecDeque::new()],
            valid_base: [0; 2],
            windows: merged
                .into_iter()
                .map(|(s, m)| Window::new(s, m, 0))
                .collect(),
            last_time: None,
        }
    }

    /// Index of the window with this span, if any.
    pub fn window_index(&self, span_us: i64) -> Option<usize> {
        self.windows.iter().position(|w| w.span_us == span_us)
    }

    pub fn window(&self, idx: usize) -> &Window {
        &self.windows[idx]
    }

    /// Longest window span (what the buffer must hold).
    pub fn max_span(&self) -> i64 {
        self.windows.last().map_or(0, |w| w.span_us)
    }

    /// Newest absorbed sample time.
    pub fn last_time(&self) -> Option<i64> {
        self.last_time
    }

    /// Notes a sample that is older than every window at absorption time: it only counts for
    /// "is there flux in the 48 h data window" (spec 5.1 step 3).
    pub fn note_skipped(&mut self, t: i64) {
        self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
    }

    /// The row with this ordinal (must be inside the buffer).
    pub fn row(&self, ord: u64) -> &Sample {
        &self.buf[(ord - self.base) as usize]
    }

    /// Row ordinal one past the newest row.
    pub fn end(&self) -> u64 {
        self.next_row
    }

    /// Number of valid values of band `b` before row `ord` (`ord` may be `end()`).
    pub fn band_ord_at(&self, ord: u64, b: usize) -> u64 {
        if ord >= self.next_row {
            self.next_band[b]
        } else {
            self.row(ord).ord[b]
        }
    }

    /// Row ordinal of the valid value of band `b` with band ordinal `bord`.
    pub fn valid_row(&self, b: usize, bord: u64) -> u64 {
        self.valid[b][(bord - self.valid_base[b]) as usize]
    }

    /// Value of band `b` at row `ord`.
    pub fn value(&self, ord: u64, b: usize) -> f64 {
        self.row(ord).v[b]
    }

    /// Appends a sample (validated values, NaN = missing) newer than every absorbed one.
    pub fn absorb(&mut self, t: i64, v: [f64; 2]) {
        let ord = self.next_row;
        let mut s = Sample {
            t,
            v,
            ord: self.next_band,
        };
        let mut contribs: [Option<Contrib>; 2] = [None, None];
        for (b, c) in contribs.iter_mut().enumerate() {
            if let Some(cc) = contrib(t, v[b], self.next_band[b]) {
                *c = Some(cc);
                self.valid[b].push_back(ord);
                self.next_band[b] += 1;
            } else {
                s.v[b] = f64::NAN;
            }
        }
        self.buf.push_back(s);
        self.next_row += 1;
        self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
        let buf = &self.buf;
        let base = self.base;
        let val = |o: u64, b: usize| buf[(o - base) as usize].v[b];
        for w in &mut self.windows {
            w.rows += 1;
            for b in 0..2 {
                match &contribs[b] {
                    Some(c) => {
                        w.bands[b].add(c);
                        let x = s.v[b];
                        while w.max[b].back().is_some_and(|&o| val(o, b) <= x) {
                            w.max[b].pop_back();
                        }
                        w.max[b].push_back(ord);
                        if let Some(m) = &mut w.min {
                            while m[b].back().is_some_and(|&o| val(o, b) >= x) {
                                m[b].pop_back();
                            }
                            m[b].push_back(ord);
                        }
                    }
                    None => w.bands[b].missing += 1,
                }
            }
        }
    }

    /// Moves every window to `[now − span, now]` and drops rows older than the longest window.
    pub fn advance(&mut self, now: i64) {
        let buf = &self.buf;
        let base = self.base;
        for w in &mut self.windows {
            let lo = now.saturating_sub(w.span_us);
            while w.start < self.next_row {
                let s = &buf[(w.start - base) as usize];
                if s.t >= lo {
                    break;
                }
                for b in 0..2 {
                    match contrib(s.t, s.v[b], s.ord[b]) {
                        Some(c) => {
                            w.bands[b].sub(&c);
                            if w.max[b].front() == Some(&w.start) {
                                w.max[b].pop_front();
                            }
                            if let Some(m) = &mut w.min {
                                if m[b].front() == Some(&w.start) {
                                    m[b].pop_front();
                                }
                            }
                        }
                        None => w.bands[b].missing -= 1,
                    }
                }
                w.rows -= 1;
                w.start += 1;
            }
        }
        let keep_from = self
            .windows
            .iter()
            .map(|w| w.start)
            .min()
            .unwrap_or(self.next_row);
        while self.base < keep_from {
            if self.buf.pop_front().is_none() {
                break;
            }
            for b in 0..2 {
                if self.valid[b].front() == Some(&self.base) {
                    self.valid[b].pop_front();
                    self.valid_base[b] += 1;
                }
            }
            self.base += 1;
        }
    }

    /// Maximum of band `b` in window `idx`.
    pub fn max(&self, idx: usize, b: usize) -> Option<f64> {
        self.windows[idx].max[b].front().map(|&o| self.value(o, b))
    }

    /// Minimum of band `b` in window `idx` (`None` also when the window does not track it).
    pub fn min(&self, idx: usize, b: usize) -> Option<f64> {
        let m = self.windows[idx].min.as_ref()?;
        m[b].front().map(|&o| self.value(o, b))
    }

    /// Bytes held on the heap, from the real capacities.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Sample>()
            + self.valid.iter().map(|v| v.capacity() * 8).sum::<usize>()
            + self.windows.capacity() * std::mem::size_of::<Window>()
            + self.windows.iter().map(Window::heap_bytes).sum::<usize>()
    }
}
