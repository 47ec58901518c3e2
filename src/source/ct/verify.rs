//! What a follower checks: tree heads only with the log's signature
//! ([`super::sth`]), and the entries it read against each signed root it
//! catches up with ([`super::merkle`]). This file holds the decisions; the
//! follower does the requests and keeps the counters.
//!
//! The tree of what was read starts where reading starts: from the log
//! (its hash tiles, or the audit path of the entry before), or empty at 0.
//! When the log cannot give it, reading goes on unchecked and the tree is
//! asked for again after [`FRONTIER_RETRY`]: a certificate seen late is
//! worse than one seen unchecked. The last root that matched is kept in the
//! store, so after a restart the log's history must still hold it.

use super::loglist::LogInfo;
use super::merkle::{Frontier, Hash};
use super::sth::{LogKey, TreeHead};
use std::time::{Duration, Instant};

/// How long reading goes on unchecked after the log could not give its
/// tree at the reading position.
pub(super) const FRONTIER_RETRY: Duration = Duration::from_secs(300);

/// What catching up with a signed root showed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RootCheck {
    /// Nothing to compare (no tree, or not at the head's size).
    Unchecked,
    /// The entries read make the root; `store` is the root to keep, when new.
    Matched { store: Option<(u64, Hash)> },
    /// They do not: the log showed entries it did not commit to.
    Mismatch,
}

pub(super) struct Verifier {
    /// Checks the log's tree heads; `None` when the list gives no usable key.
    key: Option<LogKey>,
    /// The tree of the entries read so far (logs with a key).
    frontier: Option<Frontier>,
    /// After a failed load of the tree, when to try again.
    frontier_retry: Option<Instant>,
    /// The last checked root stored for this log (size, root).
    stored_root: Option<(u64, Hash)>,
    /// The stored root is compared once, when the tree is first taken.
    history_checked: bool,
}

impl Verifier {
    pub(super) fn new(log: &LogInfo) -> Verifier {
        let key = if log.key.is_empty() {
            tracing::warn!(log = %log.description, "the log list gives no key for this log: its tree heads are not verified");
            None
        } else {
            match LogKey::from_list(&log.key, &log.log_id) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::error!(log = %log.description, error = %e, "unusable log key: its tree heads are not verified");
                    None
                }
            }
        };
        Verifier {
            key,
            frontier: None,
            frontier_retry: None,
            stored_root: None,
            history_checked: false,
        }
    }

    pub(super) fn key(&self) -> Option<&LogKey> {
        self.key.as_ref()
    }

    /// The root kept from before a restart.
    pub(super) fn set_stored_root(&mut self, root: Option<(u64, Hash)>) {
        self.stored_root = root;
    }

    /// Whether the tree at `pos` (in a signed tree of `size`) should be taken now.
    pub(super) fn needs_frontier(&self, pos: u64, size: u64) -> bool {
        self.key.is_some()
            && self.frontier.is_none()
            && pos <= size
            && self.frontier_retry.is_none_or(|at| Instant::now() >= at)
    }

    /// The tree was taken. Returns the stored root to compare with the
    /// log's history, once per follower: `(size, root)`.
    pub(super) fn frontier_taken(&mut self, frontier: Frontier) -> Option<(u64, Hash)> {
        self.frontier = Some(frontier);
        self.frontier_retry = None;
        if std::mem::replace(&mut self.history_checked, true) {
            return None;
        }
        self.stored_root
    }

    /// The tree could not be taken: read unchecked until [`FRONTIER_RETRY`].
    pub(super) fn frontier_failed(&mut self) {
        self.frontier_retry = Some(Instant::now() + FRONTIER_RETRY);
    }

    /// Whether reads should hash their entries.
    pub(super) fn wants_leaves(&self) -> bool {
        self.frontier.is_some()
    }

    /// The root of the tree read so far.
    pub(super) fn root(&self) -> Option<Hash> {
        self.frontier.as_ref().map(Frontier::root)
    }

    /// Add a read's leaf hashes; `None` (an entry could not be hashed) loses
    /// the tree until it is taken again. Returns false then.
    pub(super) fn add_leaves(&mut self, leaves: Option<Vec<Hash>>) -> bool {
        match (leaves, &mut self.frontier) {
            (_, None) => true,
            (Some(leaves), Some(f)) => {
                for leaf in leaves {
                    f.push(leaf);
                }
                true
            }
            (None, Some(_)) => {
                self.frontier = None;
                false
            }
        }
    }

    /// Caught up with `head`: compare. A mismatch drops the tree, so it is
    /// taken again from the log for the next check.
    pub(super) fn check_root(&mut self, head: &TreeHead) -> RootCheck {
        let Some(f) = &self.frontier else {
            return RootCheck::Unchecked;
        };
        if f.size() != head.tree_size {
            return RootCheck::Unchecked;
        }
        if f.root() != head.root_hash {
            self.frontier = None;
            return RootCheck::Mismatch;
        }
        if self
            .stored_root
            .is_some_and(|(size, _)| size == head.tree_size)
        {
            return RootCheck::Matched { store: None };
        }
        self.stored_root = Some((head.tree_size, head.root_hash));
        RootCheck::Matched {
            store: self.stored_root,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(frontier: &Frontier) -> TreeHead {
        TreeHead {
            tree_size: frontier.size(),
            root_hash: frontier.root(),
            timestamp: 0,
        }
    }

    #[test]
    fn roots_are_compared_once_caught_up_and_kept_once() {
        let log = LogInfo {
            description: "test".into(),
            operator: String::new(),
            log_id: String::new(),
            key: String::new(),
            url: "https://ct.example/".into(),
            tiled: true,
            state: "usable".into(),
            interval: None,
        };
        let mut v = Verifier::new(&log);
        assert!(!v.needs_frontier(0, 10), "no key: nothing to check");
        let mut f = Frontier::default();
        f.push([1; 32]);
        assert_eq!(v.frontier_taken(f.clone()), None);
        assert!(v.wants_leaves());
        assert!(v.add_leaves(Some(vec![[2; 32]])));
        f.push([2; 32]);
        let h = head(&f);
        assert_eq!(
            v.check_root(&h),
            RootCheck::Matched {
                store: Some((2, f.root()))
            }
        );
        assert_eq!(v.check_root(&h), RootCheck::Matched { store: None });
        let wrong = TreeHead {
            root_hash: [9; 32],
            ..h
        };
        assert_eq!(v.check_root(&wrong), RootCheck::Mismatch);
        assert!(!v.wants_leaves(), "a mismatch drops the tree");
        v.frontier_taken(f);
        assert!(!v.add_leaves(None), "an unhashable entry loses the tree");
        assert_eq!(v.check_root(&h), RootCheck::Unchecked);
    }
}
