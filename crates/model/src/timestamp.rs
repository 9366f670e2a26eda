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

    /// Parses a time as archives write it: RFC 3339, or a local
    /// `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` instead of the space is fine)
    /// read at `offset_secs` east of UTC (`+08:00`: 28800), or epoch
    /// digits.
    pub fn parse_lenient(s: &str, offset_secs: i32) -> Result<Self, TimestampError> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<i64>()
                .map_err(|_| TimestampError::OutOfRange { value: shorten(s) })
                .and_then(Timestamp::from_epoch);
        }
        if let Ok(t) = Timestamp::parse_rfc3339(s) {
            return Ok(t);
        }
        let bad = || TimestampError::NotRfc3339 { value: shorten(s) };
        let b = s.as_bytes();
        if b.len() < 16
            || !(b[10] == b' ' || b[10] == b'T')
            || b[4] != b'-'
            || b[7] != b'-'
            || b[13] != b':'
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, TimestampError> {
            let part = s.get(r).ok_or_else(bad)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse::<u32>().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (year, month, day, hour, minute) = (
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
        );
        let (mut second, mut millis) = (0, 0);
        if b.len() > 16 {
            if b[16] != b':' || b.len() < 19 {
                return Err(bad());
            }
            second = num(17..19)?;
            if b.len() > 19 {
                if b[19] != b'.' || b.len() == 20 {
                    return Err(bad());
                }
                let frac = s.get(20..).ok_or_else(bad)?;
                if !frac.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                let padded = format!("{frac:0<3}");
                millis = padded[..3].parse::<u32>().map_err(|_| bad())?;
            }
        }
        let month =
            time::Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
        let date =
            time::Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad())?;
        let clock =
            time::Time::from_hms_milli(hour as u8, minute as u8, second as u8, millis as u16)
                .map_err(|_| bad())?;
        let offset = time::UtcOffset::from_whole_seconds(offset_secs).map_err(|_| bad())?;
        let dt = time::PrimitiveDateTime::new(date, clock).assume_offset(offset);
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

    /// RFC 3339 at `offset_secs` east of UTC, the offset written out
    /// (`2024-07-01T08:30:00+08:00`, `+00:00` for UTC), with `.250`
    /// milliseconds when they are not zero. Offsets beyond ±23:59:59 are
    /// taken as 0.
    pub fn to_rfc3339_at(self, offset_secs: i32) -> String {
        let offset =
            time::UtcOffset::from_whole_seconds(offset_secs).unwrap_or(time::UtcOffset::UTC);
        let Ok(dt) = OffsetDateTime::from_unix_timestamp(self.as_secs()) else {
            return self.to_string();
        };
        let dt = dt.to_offset(offset);
        let ms = self.0.rem_euclid(1000);
        let fraction = if ms == 0 {
            String::new()
        } else {
            format!(".{ms:03}")
        };
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{sign}{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            h.unsigned_abs(),
            m.unsigned_abs()
        )
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

/// Parses a UTC offset, `+08:00`, `-05:30`, `+8`, `Z` or `UTC`, into
/// seconds east of UTC (at most ±14:00).
pub fn parse_utc_offset(s: &str) -> Result<i32, String> {
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let bad = || format!("`{s}`: expected an offset like +08:00, -05:30 or UTC");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) || (h == 14 && m > 0) {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// An offset in seconds as `+08:00`.
pub fn format_utc_offset(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let a = offset_secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_offsets() {
        assert_eq!(parse_utc_offset("+08:00"), Ok(28_800));
        assert_eq!(parse_utc_offset("-05:30"), Ok(-19_800));
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert_eq!(parse_utc_offset("+8"), Ok(28_800));
        for bad in ["08:00", "+15:00", "+08:60", "Asia/Shanghai", ""] {
            assert!(
                parse_utc_offset(bad)
                    .unwrap_err()
                    .contains("expected an offset")
            );
        }
        assert_eq!(format_utc_offset(28_800), "+08:00");
        assert_eq!(format_utc_offset(-19_800), "-05:30");
    }

    #[test]
    fn writes_rfc3339_at_an_offset() {
        let t = Timestamp::parse_rfc3339("2024-07-01T03:29:59Z").unwrap();
        assert_eq!(t.to_rfc3339_at(8 * 3600), "2024-07-01T11:29:59+08:00");
        assert_eq!(t.to_rfc3339_at(0), "2024-07-01T03:29:59+00:00");
        assert_eq!(
            t.to_rfc3339_at(-(5 * 3600 + 1800)),
            "2024-06-30T21:59:59-05:30"
        );
        let late = Timestamp::parse_rfc3339("2024-06-30T23:00:00.5Z").unwrap();
        assert_eq!(
            late.to_rfc3339_at(8 * 3600),
            "2024-07-01T07:00:00.500+08:00"
        );
        for s in ["2024-07-01T11:29:59+08:00", "2024-06-30T21:59:59-05:30"] {
            assert_eq!(Timestamp::parse_rfc3339(s).unwrap(), t);
        }
    }

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
    fn lenient_parsing_reads_local_archive_times() {
        let east8 = 8 * 3600;
        let a = Timestamp::parse_lenient("2011-03-16 22:44:58", east8).unwrap();
        assert_eq!(a.to_string(), "2011-03-16T14:44:58Z");
        assert_eq!(
            Timestamp::parse_lenient("2011-03-16T22:44", east8)
                .unwrap()
                .to_string(),
            "2011-03-16T14:44:00Z"
        );
        assert_eq!(
            Timestamp::parse_lenient("2011-03-16 22:44:58.5", 0)
                .unwrap()
                .as_millis()
                % 1000,
            500
        );
        assert_eq!(
            Timestamp::parse_lenient("2024-07-01T00:30:00Z", east8)
                .unwrap()
                .as_secs(),
            1_719_793_800
        );
        assert_eq!(
            Timestamp::parse_lenient("1719793800", east8)
                .unwrap()
                .as_secs(),
            1_719_793_800
        );
        for bad in [
            "2011-13-01 00:00:00",
            "2011-02-30 00:00",
            "2011-03-16",
            "2011-03-16 25:00",
            "昨天 12:00",
            "2011-03-16 22:44:58.x",
        ] {
            let e = Timestamp::parse_lenient(bad, east8).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
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
