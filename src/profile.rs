//! Which behaviour to follow where flare-plus had quirks (spec section 7).

use serde::{Deserialize, Serialize};

/// `flare-plus` (the default) reproduces the original's numbers, quirks included, so models
/// trained on flare-plus data see the same inputs. `improved` applies the spec's fixes
/// (letter-code Mount Wilson classes, McIntosh letters decoded correctly, detection merge by
/// peak flux, verified DONKI flares upgrading detected ones, ...). docs/PARITY.md lists every
/// difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Profile {
    #[default]
    #[serde(rename = "flare-plus")]
    FlarePlus,
    #[serde(rename = "improved")]
    Improved,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::FlarePlus => "flare-plus",
            Profile::Improved => "improved",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flare-plus" => Ok(Profile::FlarePlus),
            "improved" => Ok(Profile::Improved),
            other => Err(format!(
                "unknown profile {other:?} (expected flare-plus or improved)"
            )),
        }
    }
}
