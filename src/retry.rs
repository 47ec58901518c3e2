//! Retry timing shared by sources (reconnects) and sinks (redeliveries):
//! exponential backoff with jitter.

use std::time::{Duration, SystemTime};

/// A delay in [d/2, d] where d = min(initial · 2^attempts, max) ("equal
/// jitter": spreads retries out without ever retrying at once).
pub(crate) fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(30)).unwrap_or(u32::MAX);
    let d = initial.saturating_mul(factor).min(max);
    let half = d / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert("retry-after", future.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
        h.insert("retry-after", "garbage".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let i = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for attempts in 0..40 {
            let d = backoff(attempts, i, max);
            let ceiling = (i * 2u32.saturating_pow(attempts.min(20))).min(max);
            assert!(d <= ceiling && d >= ceiling / 2, "{attempts}: {d:?}");
        }
    }
}
