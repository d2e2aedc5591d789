//! `Timestamp`: a point in time, UTC microseconds, rendered as RFC 3339.
//!
//! Month and year boundaries of this ledger are China Standard Time (UTC+08:00); the helpers
//! here are the only place that knows it. Nothing here reads the clock.

use std::fmt;
use std::io;

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const CST_OFFSET_SECONDS: i32 = 8 * 3600;
pub const MICROS_PER_DAY: i64 = 24 * 3600 * 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * 1_000_000;

/// UTC microseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses any RFC 3339 time (any offset), keeping microsecond precision.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        within_years(parsed.with_timezone(&Utc)).then_some(Timestamp(parsed.timestamp_micros()))
    }

    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    fn utc(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().expect("timestamps stay within chrono's range")
    }

    fn cst(self) -> DateTime<FixedOffset> {
        let offset = FixedOffset::east_opt(CST_OFFSET_SECONDS).expect("valid offset");
        self.utc().with_timezone(&offset)
    }

    /// The calendar year in China Standard Time.
    pub fn cst_year(self) -> i32 {
        self.cst().year()
    }

    /// The start (inclusive) and end (exclusive) of this instant's calendar month in CST.
    pub fn cst_month_bounds(self) -> (Timestamp, Timestamp) {
        let (year, month) = self.cst_month();
        let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        (cst_start(year, month), cst_start(next_year, next_month))
    }

    /// The start (inclusive) and end (exclusive) of this instant's calendar year in CST.
    pub fn cst_year_bounds(self) -> (Timestamp, Timestamp) {
        let year = self.cst_year();
        (cst_start(year, 1), cst_start(year + 1, 1))
    }

    /// `(year, month)` in China Standard Time.
    pub fn cst_month(self) -> (i32, u32) {
        let t = self.cst();
        (t.year(), t.month())
    }
}

/// Years outside 1900..=9999 (UTC) are refused: nothing in a ledger lives there, and every
/// time inside renders as RFC 3339 and parses back.
fn within_years(time: DateTime<Utc>) -> bool {
    (1900..=9999).contains(&time.year())
}

/// Midnight CST on the first day of `month` of `year`.
fn cst_start(year: i32, month: u32) -> Timestamp {
    let offset = FixedOffset::east_opt(CST_OFFSET_SECONDS).expect("valid offset");
    let start = offset
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .expect("a fixed offset has exactly one midnight");
    Timestamp(start.timestamp_micros())
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.utc().to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Its schema: an RFC 3339 time.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| serde::de::Error::custom("is not an RFC 3339 time"))
    }
}

/// The binary form (docs/events.md "Binary form"): the microseconds as an `i64`,
/// little-endian.
impl borsh::BorshSerialize for Timestamp {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        borsh::BorshSerialize::serialize(&self.0, writer)
    }
}

/// Reads the microseconds back; a time that `Timestamp::parse` would refuse (outside the years
/// 1900..=9999) is refused here too, so whatever decodes also renders and reads back as JSON.
impl borsh::BorshDeserialize for Timestamp {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Timestamp> {
        let micros: i64 = borsh::BorshDeserialize::deserialize_reader(reader)?;
        match Utc.timestamp_micros(micros).single() {
            Some(time) if within_years(time) => Ok(Timestamp(micros)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "time lies outside the years 1900-9999")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves CST boundaries: 16:00 UTC on the last day of a month is already the next month.
    #[test]
    fn cst_boundaries() {
        let t = Timestamp::parse("2026-01-31T16:00:00Z").unwrap();
        assert_eq!(t.cst_month(), (2026, 2));
        let t = Timestamp::parse("2026-12-31T15:59:59.999999Z").unwrap();
        assert_eq!(t.cst_year(), 2026);
        assert_eq!(t.plus_micros(1).cst_year(), 2027);
        assert_eq!(
            Timestamp::parse("2026-01-01T00:00:00+08:00").unwrap().to_string(),
            "2025-12-31T16:00:00.000000Z"
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
        let (start, end) = Timestamp::parse("2026-02-10T00:00:00Z").unwrap().cst_month_bounds();
        assert_eq!(start.to_string(), "2026-01-31T16:00:00.000000Z");
        assert_eq!(end.to_string(), "2026-02-28T16:00:00.000000Z");
        let (start, end) = Timestamp::parse("2026-12-31T17:00:00Z").unwrap().cst_year_bounds();
        assert_eq!(start.to_string(), "2026-12-31T16:00:00.000000Z");
        assert_eq!(end.to_string(), "2027-12-31T16:00:00.000000Z");
    }
}
