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

#[cfg(test)]
mod tests {
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
