//! Time in one place: [`Timestamp`] (an instant that reads and writes as
//! RFC 3339 UTC with milliseconds, as incidents carry it) and the Unix-clock
//! helpers the store and the sources need.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant, shown as `2026-01-31T12:00:00.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Timestamp {
        Timestamp(t)
    }

    pub fn from_unix_ms(ms: i64) -> Timestamp {
        Timestamp(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
    }

    pub fn system(self) -> SystemTime {
        self.0
    }

    /// Unix milliseconds (0 before 1970).
    pub fn unix_ms(self) -> i64 {
        unix_ms(self.0)
    }

    /// RFC 3339 (`humantime`'s weak parser: `Z` or no zone, optional fraction).
    pub fn parse(s: &str) -> Option<Timestamp> {
        humantime::parse_rfc3339_weak(s).ok().map(Timestamp)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

/// Unix milliseconds of `t` (0 before 1970).
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix seconds now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds as an RFC 3339 date to the second (`-` when absent or negative).
pub(crate) fn rfc3339_seconds(secs: Option<i64>) -> String {
    secs.and_then(|s| u64::try_from(s).ok())
        .map(|s| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_rfc3339_millis() {
        let t = Timestamp::from_unix_ms(1_767_225_600_123);
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, "\"2026-01-01T00:00:00.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&s).unwrap(), t);
        assert_eq!(t.unix_ms(), 1_767_225_600_123);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert_eq!(rfc3339_seconds(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(None), "-");
    }
}
