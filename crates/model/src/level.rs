use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Incident severity, in the four colours of China's emergency grading
/// (一般 blue, 较大 yellow, 重大 orange, 特别重大 red).
///
/// Levels are ordered: `Blue < Yellow < Orange < Red`, so the level of an
/// incident is the maximum of every cue found for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 一般: an incident with no sign of serious harm.
    Blue,
    /// 较大: e.g. 3 to 9 deaths, 10 to 49 injured, an evacuation.
    Yellow,
    /// 重大: e.g. 10 to 29 deaths, 50 to 99 injured.
    Orange,
    /// 特别重大: e.g. 30 or more deaths, 100 or more injured.
    Red,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Level; 4] = [Level::Blue, Level::Yellow, Level::Orange, Level::Red];

    /// The lowercase name used in JSON, configs and dictionaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Blue => "blue",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of `blue`, `yellow`, `orange`, `red`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level `{0}`: expected one of blue, yellow, orange, red")]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| ParseLevelError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_round_trip() {
        assert!(Level::Blue < Level::Yellow && Level::Yellow < Level::Orange);
        assert!(Level::Orange < Level::Red);
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
        }
        let err = "purple".parse::<Level>().unwrap_err();
        assert!(err.to_string().contains("purple"));
    }
}
