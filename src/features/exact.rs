//! Exact fixed-point arithmetic for the running window sums.
//!
//! Why: the feature value at tick T must be a pure function of the data in its window, bit for
//! bit, whatever ticks were evaluated before (streaming "final" vectors must equal the batch
//! command's output, also after a restart). Floating-point running sums, even compensated ones,
//! depend on the order of additions and removals. So every flux value is quantised once to an
//! integer `q = round(x * 2^110)` and all sums (Σq, Σq², Σi·q, Σx·q, ...) are kept in 256-bit
//! integers: adding on insert and subtracting on evict is exact, so the sums depend only on the
//! multiset in the window. Each statistic is converted to `f64` once, at evaluation time, with a
//! correctly rounded conversion.
//!
//! `2^110` is chosen so that every value flare-plus can see is represented exactly: an `f64`
//! with exponent >= -57 times `2^110` is an integer, and values are validated to `|x| <= 1e-2`
//! (< `2^-6`), so `|q| < 2^104` and sums of up to `2^36` samples stay far inside `I256`.

use ethnum::{I256, U256};

/// Number of fractional bits of the fixed-point representation.
pub const SCALE_BITS: i32 = 110;

/// Largest accepted magnitude of a flux value, W/m². Values are validated upstream to this
/// range; anything outside it (or non-finite) is treated as missing by the engine and counted.
pub const MAX_ABS_VALUE: f64 = 1e-2;

/// `2^e` as an `f64`, exact for `-1022 <= e <= 1023`.
pub fn pow2(e: i32) -> f64 {
    let e = e.clamp(-1022, 1023);
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// Quantise a flux value: `round(x * 2^110)`, or `None` when `x` is not finite or
/// `|x| > MAX_ABS_VALUE`.
///
/// Multiplying by a power of two is exact (no overflow: the result is below `2^104`), so the only
/// rounding is `round()` itself, which is a no-op for `|x| >= 2^-57` (ties away from zero below).
pub fn quantise(x: f64) -> Option<i128> {
    if !x.is_finite() || x.abs() > MAX_ABS_VALUE {
        return None;
    }
    Some((x * pow2(SCALE_BITS)).round() as i128)
}

/// Correctly rounded (round half to even) conversion of an `I256` to `f64`.
///
/// ethnum's own `as_f64` computes `hi * 2^128 + lo` in floating point, which can round twice;
/// this one normalises the magnitude, keeps the top 64 bits plus a sticky bit and lets the
/// (correctly rounded) `u64 -> f64` cast do the single rounding.
pub fn i256_to_f64(v: I256) -> f64 {
    let mag = u256_to_f64(v.unsigned_abs());
    if v < I256::ZERO {
        -mag
    } else {
        mag
    }
}

fn u256_to_f64(m: U256) -> f64 {
    if m == U256::ZERO {
        return 0.0;
    }
    let lz = m.leading_zeros();
    let norm = m << lz;
    let (hi, lo) = norm.into_words();
    let top = (hi >> 64) as u64;
    let sticky = ((hi as u64) != 0 || lo != 0) as u64;
    // 64 bits -> 53 bits: the sticky bit sits below the guard bit, so ties are decided right.
    let f = (top | sticky) as f64;
    // value = norm * 2^-lz and norm = top * 2^192 (+ lower bits).
    f * pow2(192 - lz as i32)
}

/// `Σq` scaled back to W/m² (`Σq * 2^-110`). The multiplication is exact.
pub fn unscale(sum: I256) -> f64 {
    i256_to_f64(sum) * pow2(-SCALE_BITS)
}

/// Widening helper: `I256` from an `i128`.
#[inline]
pub fn wide(v: i128) -> I256 {
    I256::from(v)
}

/// Exact product of two `i128` as an `I256` (cannot overflow). Four 64×64 partial products;
/// much cheaper than a general 256×256 multiplication, and it runs for every sample insert
/// and evict.
#[inline]
pub fn mul_wide(a: i128, b: i128) -> I256 {
    let neg = (a < 0) != (b < 0);
    let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
    let (x1, x0) = (x >> 64, x & u64::MAX as u128);
    let (y1, y0) = (y >> 64, y & u64::MAX as u128);
    let p00 = x0 * y0;
    let p01 = x0 * y1;
    let p10 = x1 * y0;
    let p11 = x1 * y1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    let m = U256::from_words(hi, lo).as_i256();
    if neg {
        m.wrapping_neg()
    } else {
        m
    }
}

/// Number of significant bits of `|v|`.
#[inline]
fn bits(v: I256) -> u32 {
    256 - v.unsigned_abs().leading_zeros()
}

/// `a · b`, or `None` when the product could exceed `2^254` in magnitude. The bound test uses
/// bit lengths (cheap), unlike ethnum's `checked_mul`, which divides.
#[inline]
pub fn mul_checked(a: I256, b: I256) -> Option<I256> {
    if bits(a) + bits(b) <= 254 {
        Some(a.wrapping_mul(b))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantise_is_exact_for_normal_flux() {
        for x in [1e-9, 3.13212e-07, -1.60735e-09, 8e-6, 1e-2, 2f64.powi(-57)] {
            let q = quantise(x).unwrap();
            assert_eq!((q as f64) * pow2(-SCALE_BITS), x);
        }
        assert_eq!(quantise(f64::NAN), None);
        assert_eq!(quantise(f64::INFINITY), None);
        assert_eq!(quantise(0.02), None);
        assert_eq!(quantise(0.0), Some(0));
    }

    #[test]
    fn i256_to_f64_is_correctly_rounded() {
        // 2^60 + 1 is not representable; nearest is 2^60.
        let v = I256::from((1i128 << 60) + 1);
        assert_eq!(i256_to_f64(v), 2f64.powi(60));
        // Exactly half way between two doubles, above 2^53: ties to even.
        let v = I256::from((1i128 << 53) + 1);
        assert_eq!(i256_to_f64(v), 2f64.powi(53));
        let v = I256::from((1i128 << 53) + 3);
        assert_eq!(i256_to_f64(v), 2f64.powi(53) + 4.0);
        // A tie broken by a far-away sticky bit rounds up.
        let v = (I256::from((1i128 << 53) + 1) << 100u32) + I256::ONE;
        assert_eq!(i256_to_f64(v), (2f64.powi(53) + 2.0) * 2f64.powi(100));
        assert_eq!(i256_to_f64(-I256::from(12345)), -12345.0);
        assert_eq!(i256_to_f64(I256::ZERO), 0.0);
        let big = I256::ONE << 250u32;
        assert_eq!(i256_to_f64(big), 2f64.powi(250));
        for x in [
            1i128,
            7,
            123456789,
            i64::MAX as i128,
            (1i128 << 100) + 12345,
        ] {
            assert_eq!(i256_to_f64(I256::from(x)), x as f64);
        }
    }

    #[test]
    fn wide_and_checked_products() {
        let vals = [
            0i128,
            1,
            -1,
            7,
            -123456789,
            i64::MAX as i128,
            i64::MIN as i128,
            (1i128 << 104) - 3,
            -(1i128 << 103) + 99,
            i128::MAX,
            i128::MIN + 1,
        ];
        for &a in &vals {
            for &b in &vals {
                let want = I256::from(a).checked_mul(I256::from(b));
                assert_eq!(Some(mul_wide(a, b)), want, "{a} * {b}");
                if let Some(c) = mul_checked(I256::from(a), I256::from(b)) {
                    assert_eq!(Some(c), want);
                }
            }
        }
        assert_eq!(mul_checked(I256::ONE << 200u32, I256::ONE << 60u32), None);
        assert_eq!(
            mul_checked(I256::ONE << 200u32, -(I256::ONE << 50u32)),
            Some(-(I256::ONE << 250u32))
        );
    }
}
