//! Timestamps on the wire: a killmail's `kill_time` (whole seconds, `2026-11-26T10:11:12Z`) and
//! the "now" values of response envelopes (microseconds, `2026-11-26T10:11:12.123456Z`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// When a kill happened, in whole seconds since the Unix epoch (UTC).
///
/// Stored as an integer so retention and "since N hours" comparisons are plain integer compares;
/// formatted as ISO-8601 UTC only on output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KillTime(i64);

/// Why a `killmail_time` string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO-8601 timestamp: {0:?}")]
pub struct BadTimestamp(pub String);

impl KillTime {
    pub const fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    pub const fn unix(self) -> i64 {
        self.0
    }

    /// The current wall-clock second.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// This time moved `seconds` back (saturating).
    pub const fn minus_secs(self, seconds: i64) -> Self {
        Self(self.0.saturating_sub(seconds))
    }

    /// Reads ESI's `killmail_time`: RFC 3339 with any offset (normalised to UTC), or a bare
    /// `YYYY-MM-DDTHH:MM:SS` taken as UTC. Fractions of a second are dropped.
    pub fn parse(text: &str) -> Result<Self, BadTimestamp> {
        let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        OffsetDateTime::parse(text, &Rfc3339)
            .or_else(|_| PrimitiveDateTime::parse(text, naive).map(|t| t.assume_utc()))
            .map(|t| Self(t.unix_timestamp()))
            .map_err(|_| BadTimestamp(text.to_owned()))
    }

    fn datetime(self) -> OffsetDateTime {
        // Out-of-range values only arise from corrupt input; clamp rather than fail formatting.
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Display for KillTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.datetime().to_offset(UtcOffset::UTC);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl Serialize for KillTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KillTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// "Now" as ISO-8601 UTC with microseconds, the `timestamp` of every response envelope.
pub fn now_iso() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{}.{:06}Z",
        KillTime(t.unix_timestamp())
            .to_string()
            .trim_end_matches('Z'),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn esi_timestamps_are_read_and_written_back_unchanged() {
        let t = KillTime::parse("2026-11-26T10:11:12Z").expect("valid");
        assert_eq!(t.to_string(), "2026-11-26T10:11:12Z");
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = KillTime::parse("2026-11-26T12:11:12+02:00").expect("valid");
        assert_eq!(t.to_string(), "2026-11-26T10:11:12Z");
    }

    #[test]
    fn a_timestamp_without_offset_is_utc() {
        let t = KillTime::parse("2026-11-26T10:11:12").expect("valid");
        assert_eq!(t.to_string(), "2026-11-26T10:11:12Z");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "1700000000"] {
            assert!(KillTime::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn now_has_microseconds_and_a_z() {
        let now = now_iso();
        assert_eq!(now.len(), "2026-11-26T10:11:12.123456Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[19] == b'.', "{now}");
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_round_trip(secs in 0i64..4_102_444_800) {
            let t = KillTime::from_unix(secs);
            prop_assert_eq!(KillTime::parse(&t.to_string()), Ok(t));
        }
    }
}
