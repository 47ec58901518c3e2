//! Certificates seen recently: the same certificate arrives from several
//! logs and again after a reconnect, and is matched once.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Certificates seen recently, by fingerprint: the same certificate arrives
/// from several logs and again after a reconnect.
pub(super) struct RecentCerts {
    window: Duration,
    capacity: usize,
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl RecentCerts {
    pub(super) fn new(window: Duration, capacity: usize) -> Self {
        RecentCerts {
            window,
            capacity,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True when `key` was already seen within the window; records it otherwise.
    pub(super) fn check_and_insert(&mut self, key: &str, now: Instant) -> bool {
        while let Some((t, k)) = self.order.front() {
            let expired = now.duration_since(*t) > self.window;
            if !expired && self.order.len() < self.capacity {
                break;
            }
            if self.seen.get(k) == Some(t) {
                self.seen.remove(k);
            }
            self.order.pop_front();
        }
        if self.window.is_zero() {
            return false;
        }
        if let Some(t) = self.seen.get(key)
            && now.duration_since(*t) <= self.window
        {
            return true;
        }
        self.seen.insert(key.to_owned(), now);
        self.order.push_back((now, key.to_owned()));
        false
    }

    /// Forget `key` (its certificate was not recorded: it must be matched
    /// again when it comes back).
    pub(super) fn forget(&mut self, key: &str) {
        self.seen.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_certs_window() {
        let mut r = RecentCerts::new(Duration::from_secs(10), 3);
        let t = Instant::now();
        assert!(!r.check_and_insert("a", t));
        assert!(r.check_and_insert("a", t + Duration::from_secs(5)));
        assert!(!r.check_and_insert("a", t + Duration::from_secs(11)));
        // capacity evicts the oldest
        assert!(!r.check_and_insert("b", t + Duration::from_secs(12)));
        assert!(!r.check_and_insert("c", t + Duration::from_secs(12)));
        assert!(!r.check_and_insert("d", t + Duration::from_secs(12)));
        assert!(r.order.len() <= 3);
    }
}
