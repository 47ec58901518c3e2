//! `typo`: the registrable label is one or two edits (OSA distance: a
//! transposition is one edit) from a brand label, measured on the label as
//! written and on its folded skeleton (`pyapa1` is one edit from `paypal`
//! once `1` reads as `l`; a non-ASCII label that is an edit away once
//! folded is reported as a homograph). The deletion-neighbourhood index
//! ([`super::typo_index`]) picks the few candidate brands.
//!
//! What the edit is decides the score, not whether it alerts: browser
//! filters (a different first character alone, a trailing number alone)
//! and a candidate that is a real word of its own (`chaser`) lower it, as
//! do two edits and short brands. Two edits count only on labels of 6+
//! characters of distinctive brands; labels of 3–4 characters get the edits
//! that stay meaningful for them (keyboard and lookalike substitutions,
//! bit flips, an inserted or doubled character, a swap) at a medium score,
//! any other edit low.

use super::distinct::{Distinctiveness, is_real_word};
use super::score::{Found, verdict};
use super::settings::MatcherSettings;
use super::typo_index::TypoIndex;
use super::{Brands, Scratch};
use crate::domain::{Fqdn, keyboard_neighbours, made_of_words, reads_as_words, word_frequency};
use crate::model::{MatchDetail, MatchKind};
use crate::watchlist::Watchlist;
use rustc_hash::FxHashSet as HashSet;

#[derive(Debug)]
pub(super) struct Typos {
    index: TypoIndex,
    /// XSOAR-style similarity; > 0 is a floor no typo goes below.
    similarity: f64,
    min_label_len: usize,
    ignore_first_char: bool,
    ignore_trailing_number: bool,
}

impl Typos {
    pub(super) fn compile(list: &Watchlist, brands: &Brands, s: &MatcherSettings) -> Typos {
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
            let distinct = brands.get(b).distinct;
            if seen.insert((b, label)) {
                t.add(b, label, distinct, s);
            }
            if !s.typo_against_variants {
                continue;
            }
            for variant in entry.variants.iter() {
                let Some(variant_label) = variant.label() else {
                    continue;
                };
                if variant_label != label && seen.insert((b, variant_label)) {
                    t.add(b, variant_label, distinct, s);
                }
            }
        }
        t.index.seal();
        t
    }

    fn add(&mut self, brand: u32, label: &str, distinct: Distinctiveness, s: &MatcherSettings) {
        let len = label.chars().count();
        if len < 3 {
            return;
        }
        let allowed = if s.similarity > 0.0 {
            // the similarity check decides; index deep enough for the longest name it allows
            ((1.0 - s.similarity) * (len + 2) as f64).floor() as usize
        } else {
            allowed_distance(s.max_distance, len, distinct)
        };
        if allowed > 0 {
            self.index.add(brand, label, allowed);
        }
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
        // the skeleton the homograph signal folded into the scratch buffer
        let skeleton = scratch.skeleton.as_str();
        let folded = (skeleton != label).then_some(skeleton);
        let candidates = &mut scratch.candidates;
        self.index.candidates(label, candidates);
        if let Some(folded) = folded {
            let before = candidates.len();
            // one edit on top of lookalike characters: a fold and two edits at
            // once would double the index probes of every label with a digit
            self.index.candidates_more(folded, 1, candidates);
            if candidates.len() > before {
                candidates.sort_unstable();
                candidates.dedup();
            }
        }
        for id in candidates.iter() {
            let t = &self.index.targets[*id as usize];
            let brand = brands.get(t.brand);
            if label == brand.label {
                continue;
            }
            let raw = if t.char_len.abs_diff(len) <= t.allowed {
                strsim::osa_distance(label, &t.label)
            } else {
                usize::MAX
            };
            let (d, via_skeleton) = match folded {
                Some(f) => {
                    let fd = strsim::osa_distance(f, &t.label);
                    if fd < raw { (fd, true) } else { (raw, false) }
                }
                None => (raw, false),
            };
            if d == 0 || d > t.allowed {
                continue;
            }
            let similarity = 1.0 - d as f64 / t.char_len.max(len) as f64;
            if self.similarity > 0.0 && similarity < self.similarity {
                continue;
            }
            let compared = if via_skeleton {
                folded.unwrap_or(label)
            } else {
                label
            };
            let (mut score, mut why) = self.score(compared, &t.label, d, brand.distinct);
            if name.suffix() != brand.suffix_labels.join(".") && score > 45 {
                // two changes at once: the label and the suffix
                (score, why) = (45, Some("under another suffix than the brand's"));
            }
            let homograph = via_skeleton && !label.is_ascii();
            let (kind, what) = if homograph {
                (MatchKind::Homograph, "homograph")
            } else {
                (MatchKind::Typo, "typo")
            };
            let shown = if via_skeleton {
                format!("{label:?} (read as {compared:?})")
            } else {
                format!("{label:?}")
            };
            let mut explanation = format!(
                "{what} of {}: {shown} is {d} edit{} from {:?} (similarity {similarity:.2})",
                brand.domain,
                if d == 1 { "" } else { "s" },
                t.label
            );
            if let Some(why) = why {
                explanation.push_str(&format!("; weaker: {why}"));
            }
            let detail = MatchDetail {
                kind,
                variant: Some(t.label.clone()),
                distance: Some(d as u32),
                similarity: Some((similarity * 1000.0).round() / 1000.0),
                skeleton: via_skeleton.then(|| compared.to_owned()),
                explanation,
                ..MatchDetail::default()
            };
            found.offer(verdict(&brand.domain, name, detail).with_score(score));
        }
    }

    /// The score of a `d`-edit typo `label` of brand label `target`, and
    /// what weakened it.
    fn score(
        &self,
        label: &str,
        target: &str,
        d: usize,
        distinct: Distinctiveness,
    ) -> (u8, Option<&'static str>) {
        if d == 1 && digit_for_digit(label, target) {
            // `263` for 163, `movie2k` for movie4k: it reads as another number
            return (45, Some("one digit for another"));
        }
        let short = target.chars().count() <= 4;
        if short {
            if hyphenated_or_doubled(label, target) {
                // `u-ber`, `liive`: nobody writes a word that way by accident
                return (60, None);
            }
            if distinct == Distinctiveness::Common {
                return (35, Some("the brand label is a common word"));
            }
            if is_real_word(label) {
                return (35, Some("a real word of its own"));
            }
            return match short_edit(label, target) {
                ShortEdit::Precise if reads_as_words(label) && !reads_as_words(target) => {
                    (45, Some("it reads as words"))
                }
                ShortEdit::Precise => (60, None),
                ShortEdit::Loose => (45, Some("an edit that makes other short names too")),
            };
        }
        if is_real_word(label) {
            return (40, Some("a real word of its own"));
        }
        if label.strip_suffix('s') == Some(target) && word_frequency(target).is_some() {
            // `ledgers` for ledger: the plural of a dictionary word
            return (45, Some("the plural of a dictionary word"));
        }
        if self.ignore_trailing_number && only_trailing_number_differs(label, target) {
            return (40, Some("only a trailing number differs"));
        }
        if d == 1 {
            if distinct == Distinctiveness::Common {
                if made_of_words(label) && !hyphenated_or_doubled(label, target) {
                    return (45, Some("the brand label is a common word"));
                }
                // `offixe`: a misspelling of a common word that is no word
                return (55, Some("the brand label is a common word"));
            }
            if self.ignore_first_char && only_first_char_differs(label, target) {
                return (45, Some("only the first character differs"));
            }
            return (80, None);
        }
        if made_of_words(label) && !reads_as_words(target) {
            return (40, Some("two edits, and it reads as words"));
        }
        if !one_operation(label, target) {
            if prefix_differs_only(label, target) {
                return (40, Some("both edits change how the name starts"));
            }
            return (42, Some("two edits that are not one operation"));
        }
        if distinct == Distinctiveness::Word {
            return (52, Some("two edits of an everyday word"));
        }
        let score = if target.chars().count() >= 8 { 62 } else { 55 };
        (score, None)
    }
}

/// The largest OSA distance that counts as a typo of a `len`-character
/// brand label: one edit, two from six characters on (not for the
/// commonest words), unless `max_distance` sets it.
fn allowed_distance(max_distance: u32, len: usize, distinct: Distinctiveness) -> usize {
    match max_distance {
        0 if len >= 6 && distinct != Distinctiveness::Common => 2,
        0 => 1,
        d => d as usize,
    }
}

/// Lookalike pairs for the filters (beyond what folding already equates).
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

fn lookalike(x: char, y: char) -> bool {
    LOOKALIKE
        .iter()
        .any(|(p, q)| (*p == x && *q == y) || (*p == y && *q == x))
}

/// How an edit of a short brand label reads.
#[derive(Debug, PartialEq, Eq)]
enum ShortEdit {
    /// A slip or a lookalike: substituting a keyboard neighbour, a
    /// lookalike or a one-bit neighbour, inserting a character, doubling
    /// one, dropping one of a double, swapping two neighbours.
    Precise,
    /// Anything else (dropping a single letter, substituting a far one).
    Loose,
}

fn short_edit(label: &str, target: &str) -> ShortEdit {
    let a: Vec<char> = label.chars().collect();
    let b: Vec<char> = target.chars().collect();
    let precise = match a.len() as isize - b.len() as isize {
        1 => true, // an inserted character (doubling one included)
        0 => {
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            match diff.as_slice() {
                [i] => {
                    let (x, y) = (a[*i], b[*i]);
                    let bit = (x as u32 ^ y as u32).is_power_of_two();
                    keyboard_neighbours(y).contains(&x) || lookalike(x, y) || bit
                }
                // a swap of neighbours, in four letters (in three, `usb`
                // for ubs, it changes most of the name)
                [i, j] => a.len() >= 4 && *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
                _ => false,
            }
        }
        -1 => (0..b.len()).any(|i| {
            let doubled = (i > 0 && b[i - 1] == b[i]) || (i + 1 < b.len() && b[i + 1] == b[i]);
            doubled
                && a.iter()
                    .copied()
                    .eq(b[..i].iter().chain(&b[i + 1..]).copied())
        }),
        _ => false,
    };
    if precise {
        ShortEdit::Precise
    } else {
        ShortEdit::Loose
    }
}

/// A substitution of `x` (written) for `y` (meant) that a slip or a
/// lookalike explains: a keyboard neighbour, a lookalike, a vowel for a
/// vowel, or `x` doubling the character beside it (`at` in `written`).
fn slip(x: char, y: char, written: &[char], at: usize) -> bool {
    let vowel = |c: char| "aeiou".contains(c);
    let doubled = (at > 0 && written[at - 1] == x) || written.get(at + 1) == Some(&x);
    keyboard_neighbours(y).contains(&x) || lookalike(x, y) || (vowel(x) && vowel(y)) || doubled
}

/// Whether two edits of `target` into `label` are one operation of the
/// kind typists and squatters make: two characters swapped (`sfotipy`), one
/// moved (`afterypa`), vowels changed for vowels or lookalikes for
/// lookalikes (`spetofy`), a character or a pair written as a doubled
/// character (`alibabcc`, `spotiqq`), a letter doubled or undoubled beside a
/// swap or a vowel change (`payyapl`, `reveloot`), two letters doubled
/// (`paypaall`), a plural `es` inside the name (`atlasessian`). Two edits at
/// two unrelated places make another real name as often as a typo
/// (`boeing` for booking, `gallup` for gulfup, `peypak` for paypal).
fn one_operation(label: &str, target: &str) -> bool {
    let a: Vec<char> = label.chars().collect();
    let b: Vec<char> = target.chars().collect();
    match a.len() as isize - b.len() as isize {
        0 => moved(&a, &b) || same_length_operation(&a, &b),
        1 => {
            pair_for_one(&a, &b)
                || (0..a.len())
                    .any(|k| repeats(&a, k) && same_length_operation(&without(&a, k), &b))
        }
        -1 => (0..b.len()).any(|k| repeats(&b, k) && same_length_operation(&a, &without(&b, k))),
        2 => plural_es(&a, &b) || two_doublings(&a, &b),
        _ => false,
    }
}

/// A vowel for a vowel (`y` counts: generators swap it in) or a lookalike.
fn vowel_or_lookalike(x: char, y: char) -> bool {
    let vowel = |c: char| "aeiouy".contains(c);
    (vowel(x) && vowel(y)) || lookalike(x, y)
}

/// The differences between two names of one length as one operation.
fn same_length_operation(a: &[char], b: &[char]) -> bool {
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let swap = |p: usize, q: usize| a[p] == b[q] && a[q] == b[p];
    let changed = |p: usize| vowel_or_lookalike(a[p], b[p]);
    match diff.as_slice() {
        [] => true,
        [i] => changed(*i),
        [i, j] => swap(*i, *j) || (*j == i + 1 && a[*i] == a[*j]) || (changed(*i) && changed(*j)),
        // an adjacent swap and a vowel or lookalike beside it
        [i, j, k] => {
            (*j == i + 1 && swap(*i, *j) && changed(*k))
                || (*k == j + 1 && swap(*j, *k) && changed(*i))
        }
        _ => false,
    }
}

fn without(s: &[char], k: usize) -> Vec<char> {
    s[..k].iter().chain(&s[k + 1..]).copied().collect()
}

/// Whether `s[k]` repeats the character beside it.
fn repeats(s: &[char], k: usize) -> bool {
    (k > 0 && s[k - 1] == s[k]) || s.get(k + 1) == Some(&s[k])
}

/// One character moved elsewhere (`afterypa`, `micrsofot`).
fn moved(a: &[char], b: &[char]) -> bool {
    (0..a.len()).any(|k| {
        let rest = without(a, k);
        (0..=rest.len()).any(|p| {
            rest[..p]
                .iter()
                .chain([&a[k]])
                .chain(&rest[p..])
                .eq(b.iter())
        })
    })
}

/// One character of `b` written as a doubled other one (`alibabcc`).
fn pair_for_one(a: &[char], b: &[char]) -> bool {
    (0..b.len())
        .any(|i| a[i] == a[i + 1] && a[i] != b[i] && a[..i] == b[..i] && a[i + 2..] == b[i + 1..])
}

/// `es` inserted inside the name after an s, x, z or h (`atlasessian`,
/// `amazeson`): a plural where none belongs. At the end it is a plural,
/// which the combosquat signal weighs.
fn plural_es(a: &[char], b: &[char]) -> bool {
    (1..b.len()).any(|i| {
        "sxzh".contains(b[i - 1])
            && a[i] == 'e'
            && a[i + 1] == 's'
            && a[..i] == b[..i]
            && a[i + 2..] == b[i..]
    })
}

/// Two letters doubled (`paypaall`).
fn two_doublings(a: &[char], b: &[char]) -> bool {
    (0..a.len()).any(|k| {
        repeats(a, k) && {
            let rest = without(a, k);
            (0..rest.len()).any(|m| repeats(&rest, m) && without(&rest, m) == b)
        }
    })
}

/// `target` with a hyphen inserted inside it, or one of its characters doubled.
fn hyphenated_or_doubled(label: &str, target: &str) -> bool {
    if label.len() != target.len() + 1 {
        return false;
    }
    let (a, b) = (label.as_bytes(), target.as_bytes());
    (1..a.len() - 1).any(|i| {
        let inserted = a[i];
        let rest_matches = a[..i] == b[..i] && a[i + 1..] == b[i..];
        rest_matches && (inserted == b'-' || inserted == a[i - 1] || inserted == a[i + 1])
    }) || (a[0] == a[1] && a[1..] == *b)
        || (a[a.len() - 1] == a[a.len() - 2] && a[..a.len() - 1] == *b)
}

/// `hank` for `tank`: one substitution at the first character, and neither
/// a slip ([`slip`]) nor a flipped bit explains the new character.
fn only_first_char_differs(label: &str, target: &str) -> bool {
    let mut a = label.chars();
    let mut b = target.chars();
    let (Some(x), Some(y)) = (a.next(), b.next()) else {
        return false;
    };
    if x == y || a.as_str() != b.as_str() {
        return false;
    }
    let written: Vec<char> = label.chars().collect();
    let bit = (x as u32 ^ y as u32).is_power_of_two();
    // a digit for the first letter starts no other name (`3evolut`)
    !(bit || slip(x, y, &written, 0) || x.is_ascii_digit())
}

/// `latimes` for `nytimes`, `lexpress` for `aliexpress`: the names share a
/// tail of 4+ characters and differ only in heads of up to three, so they
/// are the same word with different heads.
fn prefix_differs_only(label: &str, target: &str) -> bool {
    let common = label
        .chars()
        .rev()
        .zip(target.chars().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (ha, hb) = (
        label.chars().count() - common,
        target.chars().count() - common,
    );
    common >= 4 && ha <= 3 && hb <= 3 && ha + hb > 0
}

/// `site35` for `site45`: the same stem, different trailing numbers.
/// Whether `label` is `target` with one digit written as another.
fn digit_for_digit(label: &str, target: &str) -> bool {
    label.len() == target.len() && {
        let mut diff = label.bytes().zip(target.bytes()).filter(|(x, y)| x != y);
        matches!(
            (diff.next(), diff.next()),
            (Some((x, y)), None) if x.is_ascii_digit() && y.is_ascii_digit()
        )
    }
}

fn only_trailing_number_differs(label: &str, target: &str) -> bool {
    let stem = |s: &str| s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (ls, ts) = (stem(label), stem(target));
    ls < label.len() && ts < target.len() && label[..ls] == target[..ts]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_edits_that_stay_meaningful() {
        for (label, target) in [
            ("uspd", "usps"),
            ("bbvaa", "bbva"),
            ("bva", "bbva"),
            ("dh1", "dhl"),
            ("upss", "ups"),
            ("lng", "ing"),
            ("bbav", "bbva"),
        ] {
            assert_eq!(short_edit(label, target), ShortEdit::Precise, "{label}");
        }
        for (label, target) in [
            ("usp", "usps"),
            ("ufps", "usps"),
            ("dhz", "dhl"),
            ("usb", "ubs"),
        ] {
            assert_eq!(short_edit(label, target), ShortEdit::Loose, "{label}");
        }
    }

    #[test]
    fn hyphens_and_doubled_characters() {
        for label in ["u-ber", "ub-er", "uuber", "ubber", "uberr", "ubeer"] {
            assert!(hyphenated_or_doubled(label, "uber"), "{label}");
        }
        for label in ["-uber", "uber-", "ubera", "uer", "ubre"] {
            assert!(!hyphenated_or_doubled(label, "uber"), "{label}");
        }
    }

    #[test]
    fn two_edits_that_are_one_operation() {
        for (label, target) in [
            ("sfotipy", "spotify"),
            ("spetofy", "spotify"),
            ("spotiqq", "spotify"),
            ("reveloot", "revolut"),
            ("alibabcc", "alibaba"),
            ("paypaall", "paypal"),
            ("payyapl", "paypal"),
            ("micrsofot", "microsoft"),
            ("afterypa", "afterpay"),
            ("zzlassian", "atlassian"),
            ("atlasessian", "atlassian"),
            ("ymyzon", "amazon"),
        ] {
            assert!(one_operation(label, target), "{label}");
        }
        for (label, target) in [
            ("nbcsports", "cbssports"),
            ("funbrain", "outbrain"),
            ("latimes", "nytimes"),
            ("stagram", "instagram"),
            ("basecamphq", "basecamp"),
            ("incruit", "intuit"),
            ("tblog", "tabelog"),
            ("boeing", "booking"),
            ("gallup", "gulfup"),
            ("peypak", "paypal"),
            ("eveonline", "eonline"),
            ("indiedb", "indeed"),
            ("fox31news", "foxnews"),
            ("wordpresses", "wordpress"),
        ] {
            assert!(!one_operation(label, target), "{label}");
        }
    }

    #[test]
    fn prefix_only_differences() {
        assert!(prefix_differs_only("latimes", "nytimes"));
        assert!(prefix_differs_only("lexpress", "aliexpress"));
        assert!(!prefix_differs_only("spotiqq", "spotify"));
        assert!(!prefix_differs_only("sfotipy", "spotify"));
    }
}
