//! What every module's config section is made of: the error a bad value
//! gives ([`ConfigError`], one line naming the key), the [`Secret`] wrapper
//! that never prints its value, and the checks several sections share.
//!
//! Each module owns its section and its validation (`matcher::MatcherSettings`,
//! `sink::SinkSettings`, ...); `app::Settings` composes them. This module
//! knows none of them.

use serde::{Deserialize, Serialize, Serializer};
use std::time::Duration;

/// A bad configuration: one readable line naming the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

/// The error for `key` (its full dotted path) and `problem`.
pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Durations that must be longer than zero, as `(key, value)`.
pub(crate) fn require_positive(durations: &[(&str, Duration)]) -> Result<(), ConfigError> {
    match durations.iter().find(|(_, d)| d.is_zero()) {
        Some((key, _)) => Err(invalid(*key, "must be longer than 0s")),
        None => Ok(()),
    }
}

/// An `http://` or `https://` URL, or empty when `optional`.
pub(crate) fn require_http_url(key: &str, url: &str, optional: bool) -> Result<(), ConfigError> {
    if optional && url.is_empty() {
        return Ok(());
    }
    if url.is_empty() {
        return Err(invalid(key, "is required"));
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        Ok(_) => Err(invalid(key, "must be an http:// or https:// URL")),
        Err(e) => Err(invalid(key, e.to_string())),
    }
}

/// A credential. Prints as `[REDACTED]`; `env:NAME` reads the variable NAME.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("[REDACTED]")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "[REDACTED]" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.strip_prefix("env:") {
            Some(var) => std::env::var(var).map(Secret).map_err(|_| {
                serde::de::Error::custom(format!("environment variable {var} is not set"))
            }),
            None => Ok(Secret(raw)),
        }
    }
}

/// Durations in config files: read as humantime (`30s`, `5m`, `365d`),
/// written back in whole days when they are (`365days`, where humantime
/// writes `11months 30days 3h 50m 24s`). `#[serde(with = "crate::config::duration")]`.
pub(crate) mod duration {
    use serde::{Deserializer, Serializer};
    use std::time::Duration;

    const DAY: u64 = 24 * 3600;

    /// How `d` is written: whole days as days, anything else as humantime.
    pub(crate) fn display(d: Duration) -> String {
        let secs = d.as_secs();
        if secs >= DAY && secs.is_multiple_of(DAY) && d.subsec_nanos() == 0 {
            let days = secs / DAY;
            format!("{days}day{}", if days == 1 { "" } else { "s" })
        } else {
            humantime::format_duration(d).to_string()
        }
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&display(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        humantime_serde::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_written_in_days_when_whole_and_read_back() {
        use std::time::Duration;
        for (d, shown) in [
            (Duration::from_secs(365 * 86_400), "365days"),
            (Duration::from_secs(86_400), "1day"),
            (Duration::from_secs(90), "1m 30s"),
        ] {
            assert_eq!(super::duration::display(d), shown);
            assert_eq!(humantime::parse_duration(shown).ok(), Some(d));
        }
    }

    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
    }

    #[test]
    fn shared_checks_name_the_key() {
        let e = require_positive(&[("a.b", Duration::from_secs(1)), ("c.d", Duration::ZERO)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`c.d`"), "{e}");
        assert!(require_http_url("u", "", true).is_ok());
        assert!(require_http_url("u", "", false).is_err());
        assert!(require_http_url("u", "ftp://x", true).is_err());
        assert!(require_http_url("u", "https://x", false).is_ok());
    }
}
