//! Retry timing shared by sources (reconnects) and sinks (redeliveries):
//! exponential backoff with jitter.

use std::time::Duration;

/// A delay in [d/2, d] where d = min(initial · 2^attempts, max) ("equal
/// jitter": spreads retries out without ever retrying at once).
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(30)).unwrap_or(u32::MAX);
    let d = initial.saturating_mul(factor).min(max);
    let half = d / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

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
