//! Candidate index for edit-distance matching (symmetric deletion
//! neighbourhoods): a name is compared only with the few labels that share a
//! deletion variant with it, never with every target.
//!
//! A target with allowed distance k is indexed under the hashes of every
//! string made by deleting up to k of its characters; a query looks up its own
//! deletions up to the largest k. Any pair within OSA distance k shares a
//! deletion variant (a substitution or a transposition costs one deletion on
//! each side, an insertion one on one side), so no match is lost; hash
//! collisions only add candidates, which the exact OSA check removes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Keys are already hashes: pass them through.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Buckets = HashMap<u64, Vec<u32>, BuildHasherDefault<IdentityHasher>>;

#[derive(Debug)]
pub struct Target {
    pub brand: u32,
    pub label: String,
    pub char_len: usize,
    /// Largest OSA distance that counts as a typo of this label.
    pub allowed: usize,
}

#[derive(Default)]
pub struct TypoIndex {
    pub targets: Vec<Target>,
    buckets: Buckets,
    max_allowed: usize,
    max_len: usize,
}

impl std::fmt::Debug for TypoIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypoIndex")
            .field("targets", &self.targets.len())
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `chars` without the characters at `skip_a` and `skip_b`.
fn hash_without(chars: &[char], skip_a: usize, skip_b: usize) -> u64 {
    let mut h = FNV_OFFSET;
    for (i, c) in chars.iter().enumerate() {
        if i == skip_a || i == skip_b {
            continue;
        }
        h ^= u64::from(*c as u32);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Every deletion-variant hash of `chars` with up to `depth` (≤ 2) deletions.
fn for_each_deletion(chars: &[char], depth: usize, mut f: impl FnMut(u64)) {
    const NONE: usize = usize::MAX;
    f(hash_without(chars, NONE, NONE));
    if depth >= 1 {
        for i in 0..chars.len() {
            f(hash_without(chars, i, NONE));
        }
    }
    if depth >= 2 {
        for i in 0..chars.len() {
            for j in i + 1..chars.len() {
                f(hash_without(chars, i, j));
            }
        }
    }
}

impl TypoIndex {
    pub fn add(&mut self, brand: u32, label: &str, allowed: usize) {
        let allowed = allowed.min(2);
        let chars: Vec<char> = label.chars().collect();
        let id = self.targets.len() as u32;
        for_each_deletion(&chars, allowed, |h| {
            let bucket = self.buckets.entry(h).or_default();
            if bucket.last() != Some(&id) {
                bucket.push(id);
            }
        });
        self.max_allowed = self.max_allowed.max(allowed);
        self.max_len = self.max_len.max(chars.len());
        self.targets.push(Target {
            brand,
            label: label.to_owned(),
            char_len: chars.len(),
            allowed,
        });
    }

    /// Ids of targets that may be within their allowed distance of `label`.
    pub fn candidates(&self, label: &str, out: &mut Vec<u32>) {
        out.clear();
        if self.targets.is_empty() {
            return;
        }
        let chars: Vec<char> = label.chars().collect();
        if chars.len() > self.max_len + self.max_allowed {
            return;
        }
        for_each_deletion(&chars, self.max_allowed, |h| {
            if let Some(ids) = self.buckets.get(&h) {
                out.extend_from_slice(ids);
            }
        });
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_target_within_distance() {
        let mut idx = TypoIndex::default();
        idx.add(0, "paypal", 1);
        idx.add(1, "microsoft", 2);
        idx.add(2, "amazon", 1);
        let mut out = Vec::new();
        for (q, want) in [
            ("paypall", 0u32),
            ("pyapal", 0),
            ("paypl", 0),
            ("paypbl", 0),
            ("micorsoft", 1),
            ("mcrosof", 1),
            ("micros0fft", 1),
            ("amaz0n", 2),
        ] {
            idx.candidates(q, &mut out);
            assert!(out.contains(&want), "{q}: {out:?}");
        }
        idx.candidates("completelyunrelated", &mut out);
        assert!(out.is_empty());
        idx.candidates("google", &mut out);
        assert!(out.is_empty());
    }
}
