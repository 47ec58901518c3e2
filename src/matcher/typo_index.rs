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
    /// A bit per key hash (mod its size): most of a benign name's deletion
    /// variants are ruled out here, without touching the hash map.
    filter: Vec<u64>,
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

/// Polynomial hash base (odd, from the golden ratio).
const BASE: u64 = 0x9e37_79b9_7f4a_7c15;
/// Longest label (DNS allows 63 characters).
const MAX_CHARS: usize = 64;

/// Spread the bits (MurmurHash3's finaliser): buckets and the filter use the
/// low bits, which a polynomial hash leaves weak.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Every deletion-variant hash of `chars` with up to `depth` (≤ 2)
/// deletions, each in O(1) from prefix and suffix hashes:
/// h(s) = Σ cₘ·Bⁿ⁻¹⁻ᵐ, so deleting i (and j) only rescales the pieces.
fn for_each_deletion(chars: &[char], depth: usize, mut f: impl FnMut(u64)) {
    let n = chars.len();
    if n >= MAX_CHARS {
        return;
    }
    let mut pow = [1u64; MAX_CHARS + 1];
    for k in 1..=n {
        pow[k] = pow[k - 1].wrapping_mul(BASE);
    }
    // pre[k]: hash of chars[..k]; suf[k]: Σ_{m ≥ k} cₘ·Bⁿ⁻¹⁻ᵐ
    let mut pre = [0u64; MAX_CHARS + 1];
    for (k, c) in chars.iter().enumerate() {
        pre[k + 1] = pre[k].wrapping_mul(BASE).wrapping_add(u64::from(*c as u32));
    }
    let mut suf = [0u64; MAX_CHARS + 2];
    for k in (0..n).rev() {
        suf[k] = suf[k + 1].wrapping_add(u64::from(chars[k] as u32).wrapping_mul(pow[n - 1 - k]));
    }
    let key = |h: u64, len: usize| mix(h ^ ((len as u64) << 58));
    f(key(pre[n], n));
    if depth >= 1 {
        for i in 0..n {
            f(key(
                pre[i].wrapping_mul(pow[n - 1 - i]).wrapping_add(suf[i + 1]),
                n - 1,
            ));
        }
    }
    if depth >= 2 {
        for i in 0..n.saturating_sub(1) {
            let left = pre[i].wrapping_mul(pow[n - 2 - i]);
            for j in i + 1..n {
                let mid = pre[j].wrapping_sub(pre[i + 1].wrapping_mul(pow[j - i - 1]));
                let h = left
                    .wrapping_add(mid.wrapping_mul(pow[n - 1 - j]))
                    .wrapping_add(suf[j + 1]);
                f(key(h, n - 2));
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

    /// Build the filter; call once every target is added.
    pub fn seal(&mut self) {
        let bits = (self.buckets.len() * 16).next_power_of_two().max(64);
        let mut filter = vec![0u64; bits / 64];
        let mask = (bits - 1) as u64;
        for h in self.buckets.keys() {
            let b = h & mask;
            filter[(b / 64) as usize] |= 1 << (b % 64);
        }
        self.filter = filter;
    }

    fn maybe(&self, h: u64) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let b = h & ((self.filter.len() * 64 - 1) as u64);
        self.filter[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    /// Ids of targets that may be within their allowed distance of `label`.
    pub fn candidates(&self, label: &str, out: &mut Vec<u32>) {
        out.clear();
        if self.targets.is_empty() {
            return;
        }
        let mut buf = ['\0'; MAX_CHARS];
        let mut n = 0;
        for c in label.chars() {
            if n == MAX_CHARS {
                return;
            }
            buf[n] = c;
            n += 1;
        }
        if n > self.max_len + self.max_allowed {
            return;
        }
        for_each_deletion(&buf[..n], self.max_allowed, |h| {
            if self.maybe(h)
                && let Some(ids) = self.buckets.get(&h)
            {
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
    fn rolling_deletion_hashes_equal_hashes_of_the_deleted_strings() {
        let whole = |s: &[char]| {
            let mut h = 0;
            for_each_deletion(s, 0, |x| h = x);
            h
        };
        for word in ["paypal", "ab", "a", "bankofamerica", "аррӏе"] {
            let chars: Vec<char> = word.chars().collect();
            let mut fast = Vec::new();
            for_each_deletion(&chars, 2, |h| fast.push(h));
            let mut slow = vec![whole(&chars)];
            for i in 0..chars.len() {
                let mut v = chars.clone();
                v.remove(i);
                slow.push(whole(&v));
            }
            for i in 0..chars.len() {
                for j in i + 1..chars.len() {
                    let v: Vec<char> = chars
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| *k != i && *k != j)
                        .map(|(_, c)| *c)
                        .collect();
                    slow.push(whole(&v));
                }
            }
            assert_eq!(fast, slow, "{word}");
        }
    }

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
