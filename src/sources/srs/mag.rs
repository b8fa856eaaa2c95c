//! SRS `Mag Type` words -> the feed's Mount Wilson letter codes.

use crate::sources::parse_error::{RejectCode, RejectReason};

/// `Alpha` -> `A`, `Beta-Gamma-Delta` -> `BGD`, `gamma-delta` -> `GD`: each `-`-separated
/// word (any case) is one of alpha/beta/gamma/delta and becomes its initial, in the order
/// written. An unknown or repeated word is a reject (code `bad_class`): the feed never
/// carries such a value, so passing it through would show the model something new, and a
/// guess could invent a class.
pub fn mag_class_code(word: &str) -> Result<String, RejectReason> {
    let bad = |why: &str| RejectReason {
        code: RejectCode::BadClass,
        detail: format!("Mag Type {:?} {why}", excerpt(word)),
    };
    let mut code = String::new();
    for part in word.split('-') {
        let letter = match part.to_ascii_lowercase().as_str() {
            "alpha" => 'A',
            "beta" => 'B',
            "gamma" => 'G',
            "delta" => 'D',
            _ => return Err(bad("is not made of alpha/beta/gamma/delta")),
        };
        if code.contains(letter) {
            return Err(bad("repeats a word"));
        }
        code.push(letter);
    }
    Ok(code)
}

/// At most 30 characters of a value, for reject details (the whole line travels in `raw`).
pub(crate) fn excerpt(s: &str) -> String {
    s.chars().take(30).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_to_letters() {
        for (word, code) in [
            ("Alpha", "A"),
            ("BETA", "B"),
            ("Gamma", "G"),
            ("Delta", "D"),
            ("Beta-Gamma", "BG"),
            ("Beta-Delta", "BD"),
            ("Beta-Gamma-Delta", "BGD"),
            ("BETA-GAMMA-DELTA", "BGD"),
            ("gamma-delta", "GD"),
            ("Alpha-Delta", "AD"),
        ] {
            assert_eq!(mag_class_code(word).as_deref(), Ok(code), "{word}");
        }
    }

    #[test]
    fn unknown_words_are_rejected() {
        for word in [
            "",
            "Bet",
            "Beta-",
            "-Beta",
            "Beta--Gamma",
            "BG",
            "Beta-Beta",
            "Beta_Gamma",
            "Bétà",
        ] {
            let err = mag_class_code(word).unwrap_err();
            assert_eq!(err.code, RejectCode::BadClass, "{word}");
        }
    }
}
