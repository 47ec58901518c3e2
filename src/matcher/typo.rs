//! `typo`: OSA distance (a transposition is one edit) between the
//! registrable label and a brand label (and, with `typo_against_variants`,
//! the variant labels) within the allowed distance, with the browser-style
//! filters against false positives. The deletion-neighbourhood index
//! ([`super::typo_index`]) picks the few candidate labels.

use super::score::{Found, verdict};
use super::settings::MatcherSettings;
use super::typo_index::TypoIndex;
use super::{Brands, Scratch};
use crate::domain::{Fqdn, keyboard_neighbours};
use crate::model::{MatchDetail, MatchKind};
use crate::watchlist::Watchlist;
use rustc_hash::FxHashSet as HashSet;

#[derive(Debug)]
pub(super) struct Typos {
    index: TypoIndex,
    /// XSOAR-style similarity; > 0 replaces the distance rule.
    similarity: f64,
    min_label_len: usize,
    ignore_first_char: bool,
    ignore_trailing_number: bool,
}

impl Typos {
    pub(super) fn compile(list: &Watchlist, s: &MatcherSettings) -> Typos {
        let mut t = Typos {
            index: TypoIndex::default(),
            similarity: s.similarity,
            min_label_len: s.min_label_len,
            ignore_first_char: s.typo_ignore_first_char,
            ignore_trailing_number: s.typo_ignore_trailing_number,
        };
        let mut seen: HashSet<(u32, &str)> = HashSet::default();
        for (i, entry) in list.brands.iter().enumerate() {
            let b = i as u32;
            let label = entry.domain.registrable_label();
            if seen.insert((b, label)) {
                t.add(b, label, s);
            }
            if !s.typo_against_variants {
                continue;
            }
            for variant in &entry.variants {
                let variant_label = variant.label();
                if variant_label != label && seen.insert((b, variant_label)) {
                    t.add(b, variant_label, s);
                }
            }
        }
        t.index.seal();
        t
    }

    fn add(&mut self, brand: u32, label: &str, s: &MatcherSettings) {
        let len = label.chars().count();
        let allowed = if s.similarity > 0.0 {
            // the similarity check decides; index deep enough for the longest name it allows
            ((1.0 - s.similarity) * (len + 2) as f64).floor() as usize
        } else {
            allowed_distance(s.max_distance, len)
        };
        self.index.add(brand, label, allowed);
    }

    pub(super) fn check(
        &self,
        brands: &Brands,
        name: &Fqdn,
        scratch: &mut Scratch,
        found: &mut Found,
    ) {
        let label = name.registrable_label();
        let len = label.chars().count();
        if len < self.min_label_len {
            return;
        }
        let candidates = &mut scratch.candidates;
        self.index.candidates(label, candidates);
        for id in candidates.iter() {
            let t = &self.index.targets[*id as usize];
            let brand = brands.get(t.brand);
            if label == brand.label || t.char_len.abs_diff(len) > t.allowed {
                continue;
            }
            let d = strsim::osa_distance(label, &t.label);
            if d == 0 || d > t.allowed {
                continue;
            }
            if self.ignore_first_char && only_first_char_differs(label, &t.label) {
                continue;
            }
            if self.ignore_trailing_number && only_trailing_number_differs(label, &t.label) {
                continue;
            }
            let similarity = 1.0 - d as f64 / t.char_len.max(len) as f64;
            if self.similarity > 0.0 && similarity < self.similarity {
                continue;
            }
            let explanation = format!(
                "typo of {}: {label:?} is {d} edit{} from {:?} (similarity {similarity:.2})",
                brand.domain,
                if d == 1 { "" } else { "s" },
                t.label
            );
            found.offer(verdict(
                &brand.domain,
                name,
                MatchDetail {
                    kind: MatchKind::Typo,
                    variant: Some(t.label.clone()),
                    distance: Some(d as u32),
                    similarity: Some((similarity * 1000.0).round() / 1000.0),
                    explanation,
                    ..MatchDetail::default()
                },
            ));
        }
    }
}

/// The largest OSA distance that counts as a typo of a `len`-character label.
fn allowed_distance(max_distance: u32, len: usize) -> usize {
    match max_distance {
        0 if len >= 9 => 2,
        0 => 1,
        d => d as usize,
    }
}

/// `hank` for `tank`: one substitution at the first character, and the new
/// character is neither a keyboard neighbour nor a lookalike of the old one.
fn only_first_char_differs(label: &str, target: &str) -> bool {
    let mut a = label.chars();
    let mut b = target.chars();
    let (Some(x), Some(y)) = (a.next(), b.next()) else {
        return false;
    };
    if x == y || a.as_str() != b.as_str() {
        return false;
    }
    const LOOKALIKE: &[(char, char)] = &[
        ('0', 'o'),
        ('1', 'l'),
        ('1', 'i'),
        ('l', 'i'),
        ('3', 'e'),
        ('4', 'a'),
        ('5', 's'),
        ('8', 'b'),
        ('9', 'g'),
        ('q', 'g'),
        ('c', 'e'),
        ('n', 'm'),
        ('u', 'v'),
        ('v', 'w'),
        ('a', 'o'),
        ('e', 'o'),
        ('c', 'o'),
        ('i', 'j'),
    ];
    let lookalike = LOOKALIKE
        .iter()
        .any(|(p, q)| (*p == x && *q == y) || (*p == y && *q == x));
    let neighbour = keyboard_neighbours(y).contains(&x);
    !(lookalike || neighbour)
}

/// `site35` for `site45`: the same stem, different trailing numbers.
fn only_trailing_number_differs(label: &str, target: &str) -> bool {
    let stem = |s: &str| s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (ls, ts) = (stem(label), stem(target));
    ls < label.len() && ts < target.len() && label[..ls] == target[..ts]
}
