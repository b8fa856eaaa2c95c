//! McIntosh, Mount Wilson and "magnetic" complexity parsing (spec 5.2.1, §8.1).
//!
//! `Profile::FlarePlus` copies flare-plus exactly, quirks included: the McIntosh letters are
//! read as size/shape/"penumbra" (Q12) and the Mount Wilson parser looks for the words
//! alpha/beta/gamma/delta, so SWPC's letter codes (`A`, `BG`, `BGD`) all score 0 (Q11).
//! `Profile::Improved` decodes both the way the codes are defined.

use crate::profile::Profile;

/// Parsed McIntosh class.
#[derive(Debug, Clone, PartialEq)]
pub struct McIntosh {
    /// First letter (Zurich class), upper case; `None` when the class is missing/empty.
    pub size: Option<String>,
    /// Second letter (penumbra of the largest spot), upper case; `None` for short codes.
    pub shape: Option<String>,
    /// Third letter (compactness; flare-plus calls it "penumbra", Q12), upper case.
    pub penumbra: Option<String>,
    pub size_enc: i64,
    pub shape_enc: i64,
    pub penumbra_enc: i64,
    pub score: f64,
}

/// Parsed Mount Wilson (or "magnetic") class.
#[derive(Debug, Clone, PartialEq)]
pub struct MountWilson {
    /// `lower(trim(class))`; `None` when missing or empty.
    pub class: Option<String>,
    pub alpha: i64,
    pub beta: i64,
    pub gamma: i64,
    pub delta: i64,
    pub score: f64,
}

fn size_enc(c: char) -> i64 {
    match c {
        'A' => 1,
        'B' => 2,
        'C' => 3,
        'D' => 4,
        'E' => 5,
        'F' => 6,
        'H' => 7,
        'J' => 8,
        _ => 0,
    }
}

/// flare-plus's table for both the second and the third letter.
fn shape_enc(c: char) -> i64 {
    match c {
        'X' => 0,
        'R' => 1,
        'S' => 2,
        'A' => 3,
        'H' => 4,
        'K' => 5,
        _ => 0,
    }
}

/// Compactness of the spot group (third McIntosh letter), improved profile.
fn compactness_enc(c: char) -> i64 {
    match c {
        'X' => 0,
        'O' => 1,
        'I' => 2,
        'C' => 3,
        _ => 0,
    }
}

/// Parses a McIntosh class. flare-plus: `upper(trim(m))`, three letters or only a size, score
/// `(size/8)·0.4 + (shape/5)·0.3 + (pen/5)·0.3` left to right. Improved: Zurich class A–H (J
/// does not exist, Q12) scaled by 7, penumbra type by 5, compactness x/o/i/c by 3.
pub fn mcintosh(m: Option<&str>, profile: Profile) -> McIntosh {
    let empty = McIntosh {
        size: None,
        shape: None,
        penumbra: None,
        size_enc: 0,
        shape_enc: 0,
        penumbra_enc: 0,
        score: 0.0,
    };
    let Some(m) = m.filter(|m| !m.is_empty()) else {
        return empty;
    };
    let s: Vec<char> = m.trim().to_uppercase().chars().collect();
    let (size, shape, pen) = if s.len() >= 3 {
        (Some(s[0]), Some(s[1]), Some(s[2]))
    } else {
        (s.first().copied(), None, None)
    };
    let (se, she, pe, score) = match profile {
        Profile::FlarePlus => {
            let se = size.map_or(0, size_enc);
            let she = shape.map_or(0, shape_enc);
            let pe = pen.map_or(0, shape_enc);
            let score =
                (se as f64 / 8.0) * 0.4 + (she as f64 / 5.0) * 0.3 + (pe as f64 / 5.0) * 0.3;
            (se, she, pe, score)
        }
        Profile::Improved => {
            let se = size.map_or(0, |c| if c == 'J' { 0 } else { size_enc(c) });
            let she = shape.map_or(0, shape_enc);
            let pe = pen.map_or(0, compactness_enc);
            let score =
                (se as f64 / 7.0) * 0.4 + (she as f64 / 5.0) * 0.3 + (pe as f64 / 3.0) * 0.3;
            (se, she, pe, score)
        }
    };
    McIntosh {
        size: size.map(String::from),
        shape: shape.map(String::from),
        penumbra: pen.map(String::from),
        size_enc: se,
        shape_enc: she,
        penumbra_enc: pe,
        score,
    }
}

/// Parses a Mount Wilson class (also used for the "magnetic" features, which flare-plus feeds
/// from the same `magnetic_type` string, Q15). flare-plus: substring tests for the words.
/// Improved: the words as well, else SWPC letter codes (A, B, G, D; e.g. `BGD`) (Q11).
pub fn mount_wilson(w: Option<&str>, profile: Profile) -> MountWilson {
    let Some(w) = w.filter(|w| !w.is_empty()) else {
        return MountWilson {
            class: None,
            alpha: 0,
            beta: 0,
            gamma: 0,
            delta: 0,
            score: 0.0,
        };
    };
    let c = w.trim().to_lowercase();
    let words = [
        c.contains("alpha"),
        c.contains("beta"),
        c.contains("gamma"),
        c.contains("delta"),
    ];
    let flags = if profile == Profile::Improved && !words.iter().any(|&f| f) {
        letter_flags(&c)
    } else {
        words
    };
    let [a, b, g, d] = flags.map(i64::from);
    let score = ((a + 2 * b + 3 * g + 4 * d) as f64 / 4.0).min(1.0);
    MountWilson {
        class: Some(c),
        alpha: a,
        beta: b,
        gamma: g,
        delta: d,
        score,
    }
}

/// SWPC letter code (`a`, `bg`, `bgd`, separators `-`/space allowed); anything else is unknown.
fn letter_flags(c: &str) -> [bool; 4] {
    let mut f = [false; 4];
    for ch in c.chars() {
        match ch {
            'a' => f[0] = true,
            'b' => f[1] = true,
            'g' => f[2] = true,
            'd' => f[3] = true,
            '-' | ' ' | '/' => {}
            _ => return [false; 4],
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn improved_letter_codes() {
        let w = mount_wilson(Some("BGD"), Profile::Improved);
        assert_eq!((w.alpha, w.beta, w.gamma, w.delta), (0, 1, 1, 1));
        assert_eq!(w.score, 1.0);
        let a = mount_wilson(Some("A"), Profile::Improved);
        assert_eq!((a.alpha, a.score), (1, 0.25));
        let b = mount_wilson(Some("B"), Profile::Improved);
        assert_eq!(b.score, 0.5);
        let x = mount_wilson(Some("Bx"), Profile::Improved);
        assert_eq!(x.score, 0.0);
        let words = mount_wilson(Some("beta-gamma"), Profile::Improved);
        assert_eq!(words.score, 1.0);
    }

    #[test]
    fn improved_mcintosh_compactness() {
        let m = mcintosh(Some("Dkc"), Profile::Improved);
        assert_eq!((m.size_enc, m.shape_enc, m.penumbra_enc), (4, 5, 3));
        assert!((m.score - ((4.0 / 7.0) * 0.4 + 0.3 + 0.3)).abs() < 1e-15);
        let h = mcintosh(Some("Hsx"), Profile::Improved);
        assert_eq!((h.size_enc, h.shape_enc, h.penumbra_enc), (7, 2, 0));
    }
}
