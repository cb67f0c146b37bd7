//! Calendar dates and instants. Binary: a date is `u16 year, u8 month, u8 day`; a timestamp is `u64`
//! milliseconds since 1970-01-01T00:00:00Z. JSON: `"2026-11-24"` and `"2026-11-24T21:47:48.123Z"`.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}: {rule}")]
pub struct TimeError {
    pub field: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// A calendar date (proleptic Gregorian), years 1970 to 9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Date {
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, TimeError> {
        let err = |rule| TimeError {
            field: "date",
            value: format!("{year:04}-{month:02}-{day:02}"),
            rule,
        };
        if !(1970..=9999).contains(&year) {
            return Err(err("year must be 1970 to 9999"));
        }
        if !(1..=12).contains(&month) {
            return Err(err("month must be 01 to 12"));
        }
        if day == 0 || u32::from(day) > days_in_month(year.into(), month.into()) {
            return Err(err("day does not exist in that month"));
        }
        Ok(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, TimeError> {
        let err = |rule| TimeError {
            field: "date",
            value: text.chars().take(32).collect(),
            rule,
        };
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err("must be written YYYY-MM-DD"));
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, TimeError> {
            let part = &text[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err("must be written YYYY-MM-DD"));
            }
            part.parse().map_err(|_| err("must be written YYYY-MM-DD"))
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        Date::new(y, m as u8, d as u8).map_err(|e| TimeError {
            value: text.into(),
            ..e
        })
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year.into(), self.month.into(), self.day.into())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            (self.year, self.month, self.day).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            Date::parse(&text).map_err(de::Error::custom)
        } else {
            let (y, m, day) = <(u16, u8, u8)>::deserialize(d)?;
            Date::new(y, m, day).map_err(de::Error::custom)
        }
    }
}

/// An instant: milliseconds since 1970-01-01T00:00:00Z (UTC, no leap seconds), up to year 9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

/// 10000-01-01T00:00:00Z in milliseconds.
const TIMESTAMP_END_MS: u64 = 253_402_300_800_000;

impl Timestamp {
    pub fn from_millis(ms: u64) -> Result<Timestamp, TimeError> {
        if ms >= TIMESTAMP_END_MS {
            return Err(TimeError {
                field: "timestamp",
                value: ms.to_string(),
                rule: "must be before year 10000",
            });
        }
        Ok(Timestamp(ms))
    }

    pub fn as_millis(&self) -> u64 {
        self.0
    }

    pub fn date(&self) -> Date {
        let (y, m, d) = civil_from_days((self.0 / 86_400_000) as i64);
        Date {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        }
    }

    /// Parses RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SS[.fff]Z`, with up to millisecond precision.
    pub fn parse(text: &str) -> Result<Timestamp, TimeError> {
        let err = |rule| TimeError {
            field: "timestamp",
            value: text.chars().take(40).collect(),
            rule,
        };
        const SHAPE: &str = "must be RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.fff]Z";
        let b = text.as_bytes();
        if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z'
        {
            return Err(err(SHAPE));
        }
        let date = Date::parse(&text[..10]).map_err(|e| TimeError {
            field: "timestamp",
            ..e
        })?;
        let two = |r: std::ops::Range<usize>| -> Result<u64, TimeError> {
            let p = &b[r];
            if !p.iter().all(u8::is_ascii_digit) {
                return Err(err(SHAPE));
            }
            Ok(u64::from(p[0] - b'0') * 10 + u64::from(p[1] - b'0'))
        };
        let (h, mi, s) = (two(11..13)?, two(14..16)?, two(17..19)?);
        if h > 23 || mi > 59 || s > 59 {
            return Err(err("hour, minute or second out of range"));
        }
        let frac = &b[19..b.len() - 1];
        let ms = match frac {
            [] => 0,
            [b'.', digits @ ..]
                if (1..=3).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) =>
            {
                let mut v = 0u64;
                for (i, d) in digits.iter().enumerate() {
                    v += u64::from(d - b'0') * [100, 10, 1][i];
                }
                v
            }
            _ => return Err(err("fraction must be 1 to 3 digits after a dot")),
        };
        let days = date.days_since_epoch() as u64;
        Ok(Timestamp(
            ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms,
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms_of_day = self.0 % 86_400_000;
        let (h, rem) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, ms) = (rem / 1000, rem % 1000);
        write!(f, "{}T{h:02}:{m:02}:{s:02}.{ms:03}Z", self.date())
    }
}

impl Timestamp {
    /// To the minute, for people: `2026-11-29 08:34 UTC`.
    pub fn to_minute_utc(&self) -> String {
        let ms_of_day = self.0 % 86_400_000;
        let (h, m) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000 / 60_000);
        format!("{} {h:02}:{m:02} UTC", self.date())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        struct TsVisitor;
        impl Visitor<'_> for TsVisitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Timestamp::from_millis(v).map_err(E::custom)
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(TsVisitor)
        } else {
            d.deserialize_u64(TsVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates() {
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2026-02-29").is_err());
        assert!(Date::parse("2026-13-01").is_err());
        assert!(Date::parse("2026-1-01").is_err());
        assert!(Date::parse("1969-12-31").is_err());
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        assert_eq!(
            Date::parse("2000-03-01").unwrap().days_since_epoch(),
            11_017
        );
    }

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("2026-11-24T21:47:48.123Z").unwrap();
        assert_eq!(t.0, 1_795_556_868_123);
        assert_eq!(t.to_string(), "2026-11-24T21:47:48.123Z");
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z").unwrap().0, 0);
        assert!(Timestamp::parse("2026-11-24T24:00:00Z").is_err());
        assert!(Timestamp::parse("2026-11-24T21:47:48+01:00").is_err());
        assert!(Timestamp::parse("2026-11-24T21:47:48.1234Z").is_err());
    }

    proptest! {
        #[test]
        fn timestamp_text_round_trips(ms in 0u64..TIMESTAMP_END_MS) {
            let t = Timestamp(ms);
            prop_assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn date_days_round_trip(days in 0i64..=2_932_896) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
