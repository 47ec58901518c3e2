//! Per-target pacing, shared by the enrichers: at most `per_second`
//! requests to one target (an RDAP or WHOIS server, a lookalike's zone,
//! an address a page is fetched from). A request waits for its slot; one
//! whose slot is further away than `longest` (what a request may take)
//! is refused, and the enricher leaves its result `pending` for the next
//! check, so a burst of lookalikes on one host never floods it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Slots kept before past ones are dropped.
const PRUNE_AT: usize = 10_000;

pub(super) struct Pacer {
    interval: Duration,
    longest: Duration,
    /// Per target, when its next request may go.
    slots: Mutex<HashMap<String, Instant>>,
    /// The setting, for the refusal's words.
    setting: &'static str,
}

impl Pacer {
    /// `per_second` above 0 (the settings check it).
    pub(super) fn new(per_second: f64, longest: Duration, setting: &'static str) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second.max(1e-6)),
            longest,
            slots: Mutex::new(HashMap::new()),
            setting,
        }
    }

    /// Wait for `target`'s next slot, or say why it is too far away.
    pub(super) async fn wait(&self, target: &str) -> Result<(), String> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if slots.len() >= PRUNE_AT {
                slots.retain(|_, at| *at > now);
            }
            take_slot(&mut slots, target, now, self.interval, self.longest)
        };
        match slot {
            Some(wait) if wait.is_zero() => Ok(()),
            Some(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            None => Err(format!("{target}: over {}", self.setting)),
        }
    }
}

/// Book the next slot of `target`: how long to wait for it, or `None`
/// (nothing booked) when that is longer than `longest`.
fn take_slot(
    slots: &mut HashMap<String, Instant>,
    target: &str,
    now: Instant,
    interval: Duration,
    longest: Duration,
) -> Option<Duration> {
    let at = slots
        .get(target)
        .copied()
        .filter(|t| *t > now)
        .unwrap_or(now);
    let wait = at - now;
    if wait > longest {
        return None;
    }
    slots.insert(target.to_owned(), at + interval);
    Some(wait)
}

/// `per_second` is above 0 and at most 100,000.
pub(super) fn check_rate(key: &str, per_second: f64) -> Result<(), crate::config::ConfigError> {
    if per_second > 0.0 && per_second <= 100_000.0 {
        Ok(())
    } else {
        Err(crate::config::invalid(
            key,
            "must be above 0 and at most 100000",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_one_target_are_paced() {
        let mut slots = HashMap::new();
        let now = Instant::now();
        let (i, max) = (Duration::from_millis(200), Duration::from_millis(500));
        let mut take = |host: &str, at: Instant| take_slot(&mut slots, host, at, i, max);
        assert_eq!(take("rdap.a", now), Some(Duration::ZERO));
        assert_eq!(take("rdap.a", now), Some(i));
        assert_eq!(take("rdap.a", now), Some(2 * i));
        // the next slot is 600 ms away, over the longest wait: not booked
        assert_eq!(take("rdap.a", now), None);
        assert_eq!(
            take("rdap.a", now + i),
            Some(2 * i),
            "600 ms booked, not 800"
        );
        assert_eq!(take("rdap.b", now), Some(Duration::ZERO), "another target");
        // once the slots are past, no wait
        assert_eq!(take("rdap.a", now + 10 * i), Some(Duration::ZERO));
    }

    #[tokio::test]
    async fn a_target_over_its_rate_is_refused_and_others_are_not() {
        let p = Pacer::new(2.0, Duration::from_millis(100), "x.per_second");
        assert!(p.wait("203.0.113.7").await.is_ok());
        // the next slot is 500 ms away, over the 100 ms a request may wait
        let err = p.wait("203.0.113.7").await.unwrap_err();
        assert_eq!(err, "203.0.113.7: over x.per_second");
        assert!(p.wait("203.0.113.8").await.is_ok());
    }
}
