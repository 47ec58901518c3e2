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
//!
//! A small list (a few dozen labels: most deployments protect a handful of
//! brands) skips the index: every target is checked against the query with
//! a length test and a character-set test, cheaper than hashing a label's
//! hundred deletion variants. Each edit brings at most one character the
//! other string lacks, so labels within distance k differ by at most k
//! characters each way, in any grouping of characters ([`char_set`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Keys are already well-mixed in their high bits ([`key`]); fold them into
/// the low bits, which the table indexes by.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
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

type Buckets = HashMap<u64, Vec<u32>, BuildHasherDefault<KeyHasher>>;

#[derive(Debug)]
pub(super) struct Target {
    pub brand: u32,
    pub label: String,
    pub char_len: usize,
    /// Largest OSA distance that counts as a typo of this label.
    pub allowed: usize,
    /// [`char_set`] of the label.
    chars: u64,
}

/// Up to this many targets, candidates are found by checking each one.
const LINEAR_MAX: usize = 64;

/// The characters of a label as a 64-bit set: letters, digits and `-` a bit
/// each, anything else folded onto the remaining bits.
fn char_set(chars: &[u32]) -> u64 {
    chars.iter().fold(0, |set, &c| {
        let bit = match c {
            0x61..=0x7a => c - 0x61,
            0x30..=0x39 => c - 0x30 + 26,
            0x2d => 36,
            _ => 37 + c % 27,
        };
        set | 1 << bit
    })
}

/// Whether `a` has at most `k` (≤ 2) members that `b` lacks.
fn at_most_extra(a: u64, b: u64, k: usize) -> bool {
    let mut extra = a & !b;
    for _ in 0..k {
        extra &= extra.wrapping_sub(1);
    }
    extra == 0
}

#[derive(Default)]
pub(super) struct TypoIndex {
    pub targets: Vec<Target>,
    buckets: Buckets,
    /// A bit per key (its top bits): most of a benign name's deletion
    /// variants are ruled out here, without touching the hash map.
    filter: Vec<u64>,
    filter_shift: u32,
    max_allowed: usize,
    max_len: usize,
    /// The deletion depth a name label of each length needs: the largest
    /// `allowed` of the targets within reach of that length. Most labels
    /// need one deletion even when a few long brands allow two.
    depth_by_len: Vec<u8>,
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

/// The key of a deletion variant: its polynomial hash and length, through
/// one odd multiplication (a bijection, so no collisions are added) that
/// leaves the high bits well mixed for the filter.
fn key(h: u64, len: usize) -> u64 {
    (h ^ ((len as u64) << 58)).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// Every deletion-variant key of `chars` with up to `depth` (≤ 2)
/// deletions, each in O(1) from prefix and suffix hashes:
/// h(s) = Σ cₘ·Bⁿ⁻¹⁻ᵐ, so deleting i (and j) only rescales the pieces.
/// With two deletions i < j the hash splits into a part of i and a part of
/// j: h = (pre[i] − pre[i+1])·Bⁿ⁻²⁻ⁱ + (pre[j]·Bⁿ⁻¹⁻ʲ + suf[j+1]), so the
/// inner loop is one addition.
fn for_each_deletion(chars: &[u32], depth: usize, mut f: impl FnMut(u64)) {
    let n = chars.len();
    if n >= MAX_CHARS {
        return;
    }
    let pow = &POW;
    // pre[k]: hash of chars[..k]; suf[k]: Σ_{m ≥ k} cₘ·Bⁿ⁻¹⁻ᵐ
    let mut pre = [0u64; MAX_CHARS + 1];
    for (k, c) in chars.iter().enumerate() {
        pre[k + 1] = pre[k].wrapping_mul(BASE).wrapping_add(u64::from(*c));
    }
    let mut suf = [0u64; MAX_CHARS + 2];
    for k in (0..n).rev() {
        suf[k] = suf[k + 1].wrapping_add(u64::from(chars[k]).wrapping_mul(pow[n - 1 - k]));
    }
    f(key(pre[n], n));
    if depth >= 1 {
        for i in 0..n {
            f(key(
                pre[i].wrapping_mul(pow[n - 1 - i]).wrapping_add(suf[i + 1]),
                n - 1,
            ));
        }
    }
    if depth >= 2 && n >= 2 {
        let mut right = [0u64; MAX_CHARS];
        for j in 1..n {
            right[j] = pre[j].wrapping_mul(pow[n - 1 - j]).wrapping_add(suf[j + 1]);
        }
        for i in 0..n - 1 {
            let left = pre[i].wrapping_sub(pre[i + 1]).wrapping_mul(pow[n - 2 - i]);
            for r in &right[i + 1..n] {
                f(key(left.wrapping_add(*r), n - 2));
            }
        }
    }
}

/// BASEᵏ for every k a label can need.
static POW: [u64; MAX_CHARS + 1] = {
    let mut pow = [1u64; MAX_CHARS + 1];
    let mut k = 1;
    while k <= MAX_CHARS {
        pow[k] = pow[k - 1].wrapping_mul(BASE);
        k += 1;
    }
    pow
};

impl TypoIndex {
    pub(super) fn add(&mut self, brand: u32, label: &str, allowed: usize) {
        let allowed = allowed.min(2);
        let chars: Vec<u32> = label.chars().map(u32::from).collect();
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
            chars: char_set(&chars),
        });
    }

    /// Build the filter; call once every target is added.
    pub(super) fn seal(&mut self) {
        let mut depth = vec![0u8; MAX_CHARS + 1];
        for t in &self.targets {
            let lo = t.char_len.saturating_sub(t.allowed);
            let hi = (t.char_len + t.allowed).min(MAX_CHARS);
            for d in &mut depth[lo..=hi] {
                *d = (*d).max(t.allowed as u8);
            }
        }
        self.depth_by_len = depth;
        // 32 bits a key: about 3% of a benign name's keys get past it
        // (16 let 6% through, for more table lookups); at most 16 MB
        let bits = (self.buckets.len() * 32)
            .next_power_of_two()
            .clamp(64, 1 << 27);
        self.filter_shift = 64 - bits.trailing_zeros();
        let mut filter = vec![0u64; bits / 64];
        for h in self.buckets.keys() {
            let b = h >> self.filter_shift;
            filter[(b / 64) as usize] |= 1 << (b % 64);
        }
        self.filter = filter;
    }

    /// The filter's bit for a key is its top bits.
    fn maybe(&self, h: u64) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let b = h >> self.filter_shift;
        self.filter[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    /// Ids of targets that may be within their allowed distance of `label`.
    pub(super) fn candidates(&self, label: &str, out: &mut Vec<u32>) {
        out.clear();
        self.candidates_more(label, 2, out);
    }

    /// [`TypoIndex::candidates`] within `max_depth` edits added to `out`
    /// (deduplicated among themselves only).
    pub(super) fn candidates_more(&self, label: &str, max_depth: usize, out: &mut Vec<u32>) {
        if self.targets.is_empty() {
            return;
        }
        let mut buf = [0u32; MAX_CHARS];
        let mut n = 0;
        if label.is_ascii() {
            if label.len() >= MAX_CHARS {
                return;
            }
            for (slot, b) in buf.iter_mut().zip(label.bytes()) {
                *slot = u32::from(b);
            }
            n = label.len();
        } else {
            for c in label.chars() {
                if n == MAX_CHARS {
                    return;
                }
                buf[n] = u32::from(c);
                n += 1;
            }
        }
        if n > self.max_len + self.max_allowed {
            return;
        }
        if self.targets.len() <= LINEAR_MAX {
            let set = char_set(&buf[..n]);
            for (id, t) in self.targets.iter().enumerate() {
                let k = t.allowed.min(max_depth);
                if t.char_len.abs_diff(n) <= k
                    && at_most_extra(set, t.chars, k)
                    && at_most_extra(t.chars, set, k)
                {
                    out.push(id as u32);
                }
            }
            return;
        }
        let start = out.len();
        let depth = self
            .depth_by_len
            .get(n)
            .map_or(self.max_allowed, |d| usize::from(*d))
            .min(max_depth);
        for_each_deletion(&buf[..n], depth, |h| {
            if self.maybe(h)
                && let Some(ids) = self.buckets.get(&h)
            {
                out.extend_from_slice(ids);
            }
        });
        out[start..].sort_unstable();
        let mut kept = start;
        for i in start..out.len() {
            if i == start || out[i] != out[kept - 1] {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_deletion_hashes_equal_hashes_of_the_deleted_strings() {
        let whole = |s: &[u32]| {
            let mut h = 0;
            for_each_deletion(s, 0, |x| h = x);
            h
        };
        for word in ["paypal", "ab", "a", "bankofamerica", "аррӏе"] {
            let chars: Vec<u32> = word.chars().map(u32::from).collect();
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
                    let v: Vec<u32> = chars
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

    /// Both ways of finding candidates (a check of every target for small
    /// lists, the deletion index for large ones) miss no target within its
    /// allowed distance, on random labels and random edits.
    #[test]
    fn no_target_within_distance_is_missed_by_either_path() {
        let mut rng = fastrand::Rng::with_seed(5);
        let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789-аеорсӏ"
            .chars()
            .collect();
        let random_label = |rng: &mut fastrand::Rng| -> String {
            (0..rng.usize(5..15))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect()
        };
        for count in [LINEAR_MAX / 2, LINEAR_MAX * 3] {
            let mut idx = TypoIndex::default();
            let labels: Vec<String> = (0..count).map(|_| random_label(&mut rng)).collect();
            for (b, l) in labels.iter().enumerate() {
                let allowed = if l.chars().count() >= 9 { 2 } else { 1 };
                idx.add(b as u32, l, allowed);
            }
            idx.seal();
            let mut out = Vec::new();
            let mut found = 0;
            for _ in 0..3_000 {
                let mut q: Vec<char> = labels[rng.usize(..labels.len())].chars().collect();
                for _ in 0..rng.usize(0..=2) {
                    let at = rng.usize(..q.len());
                    match rng.u8(..4) {
                        0 if q.len() > 1 => {
                            q.remove(at);
                        }
                        1 => q.insert(at, alphabet[rng.usize(..alphabet.len())]),
                        2 if at + 1 < q.len() => q.swap(at, at + 1),
                        _ => q[at] = alphabet[rng.usize(..alphabet.len())],
                    }
                }
                let q: String = q.into_iter().collect();
                idx.candidates(&q, &mut out);
                for (id, t) in idx.targets.iter().enumerate() {
                    if strsim::osa_distance(&q, &t.label) <= t.allowed {
                        found += 1;
                        assert!(out.contains(&(id as u32)), "{q} vs {}", t.label);
                    }
                }
            }
            assert!(found > 2_000, "{found}");
        }
    }
}
