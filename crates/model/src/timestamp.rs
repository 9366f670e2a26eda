use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// Accepted on input as:
/// - an RFC 3339 string (`2024-07-01T08:30:00+08:00`, `2024-07-01T00:30:00.250Z`);
/// - an integer number of **seconds** since the epoch (`1719793800`), or
/// - an integer number of **milliseconds** since the epoch (`1719793800250`).
///
/// Integers below 100,000,000,000 are read as seconds, larger ones as
/// milliseconds: 10^11 seconds is the year 5138, 10^11 milliseconds is 1973,
/// so the two ranges do not overlap for any date a post can carry.
/// Timestamps must lie between 1970-01-01 and 9999-12-31.
///
/// Always written out as RFC 3339 in UTC (`2024-07-01T00:30:00Z`, with
/// `.250` milliseconds when they are not zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Integers at or above this are milliseconds, below it seconds.
const MILLIS_CUTOFF: i64 = 100_000_000_000;
/// 9999-12-31T23:59:59.999Z in milliseconds.
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// Why a value is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The string is not RFC 3339.
    #[error("`{value}` is not an RFC 3339 timestamp (expected e.g. 2024-07-01T08:30:00+08:00)")]
    NotRfc3339 {
        /// The offending value, shortened.
        value: String,
    },
    /// Before 1970 or after 9999.
    #[error("{value} is out of range (1970-01-01 to 9999-12-31)")]
    OutOfRange {
        /// The offending value.
        value: String,
    },
}

impl Timestamp {
    /// From milliseconds since the epoch, if in range.
    pub fn from_millis(ms: i64) -> Result<Self, TimestampError> {
        if (0..=MAX_MILLIS).contains(&ms) {
            Ok(Timestamp(ms))
        } else {
            Err(TimestampError::OutOfRange {
                value: ms.to_string(),
            })
        }
    }

    /// From an epoch integer, seconds or milliseconds (see the type's docs).
    pub fn from_epoch(n: i64) -> Result<Self, TimestampError> {
        let ms = if n.unsigned_abs() < MILLIS_CUTOFF as u64 {
            n.checked_mul(1000)
        } else {
            Some(n)
        };
        match ms {
            Some(ms) if (0..=MAX_MILLIS).contains(&ms) => Ok(Timestamp(ms)),
            _ => Err(TimestampError::OutOfRange {
                value: n.to_string(),
            }),
        }
    }

    /// Parses an RFC 3339 string.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| TimestampError::NotRfc3339 { value: shorten(s) })?;
        let ms = (dt.unix_timestamp_nanos() / 1_000_000) as i64;
        Timestamp::from_millis(ms).map_err(|_| TimestampError::OutOfRange { value: shorten(s) })
    }

    /// The current time.
    pub fn now() -> Self {
        let ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        Timestamp(ms.clamp(0, MAX_MILLIS))
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In range by construction, so the conversion cannot fail; fall back
        // to the raw number rather than panic if it ever did.
        let Ok(dt) = OffsetDateTime::from_unix_timestamp(self.as_secs()) else {
            return write!(f, "{}", self.0);
        };
        let ms = self.0.rem_euclid(1000);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an RFC 3339 string or an integer number of epoch seconds or milliseconds",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::from_epoch(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                let v = i64::try_from(v).map_err(|_| {
                    E::custom(TimestampError::OutOfRange {
                        value: v.to_string(),
                    })
                })?;
                Timestamp::from_epoch(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        let a = Timestamp::parse_rfc3339("2024-07-01T08:30:00+08:00").unwrap();
        let b = Timestamp::parse_rfc3339("2024-07-01T00:30:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_secs(), 1_719_793_800);
        let c = Timestamp::parse_rfc3339("2024-07-01T00:30:00.25Z").unwrap();
        assert_eq!(c.as_millis(), 1_719_793_800_250);
        assert_eq!(c.to_string(), "2024-07-01T00:30:00.250Z");
        assert_eq!(b.to_string(), "2024-07-01T00:30:00Z");
    }

    #[test]
    fn epoch_seconds_and_millis_are_told_apart() {
        let s = Timestamp::from_epoch(1_719_793_800).unwrap();
        let ms = Timestamp::from_epoch(1_719_793_800_000).unwrap();
        assert_eq!(s, ms);
        assert!(Timestamp::from_epoch(-5).is_err());
        assert!(Timestamp::from_epoch(i64::MAX).is_err());
    }

    #[test]
    fn rejects_garbage_with_the_value_in_the_message() {
        let e = Timestamp::parse_rfc3339("yesterday").unwrap_err();
        assert!(e.to_string().contains("`yesterday`"), "{e}");
        let e = Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn deserializes_strings_and_integers() {
        let t: Timestamp = serde_json::from_str("\"2024-07-01T00:30:00Z\"").unwrap();
        let u: Timestamp = serde_json::from_str("1719793800").unwrap();
        assert_eq!(t, u);
        assert!(serde_json::from_str::<Timestamp>("1.5").is_err());
        assert!(serde_json::from_str::<Timestamp>("true").is_err());
    }
}
