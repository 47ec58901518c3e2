//! Common dictionary words and how common they are (`assets/common-words.txt`,
//! built by `scripts/make_common_words.py` from Debian's word lists and
//! wordfreq's frequencies). The matcher asks two things of it: is a brand
//! label a generic word (`mail`, `live`), and is a name that is one edit
//! from a brand a real word of its own (`chaser` is not a typo of `chase`).

use rustc_hash::FxHashMap;
use std::sync::LazyLock;

static WORDS: LazyLock<FxHashMap<&'static str, u8>> = LazyLock::new(|| {
    include_str!("../../assets/common-words.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (word, zipf) = l.split_once('\t')?;
            Some((word, zipf.trim().parse().ok()?))
        })
        .collect()
});

/// The word's Zipf frequency × 10 (30 is once per million words, 60 once
/// per thousand), when it is a common dictionary word.
pub(crate) fn word_frequency(word: &str) -> Option<u8> {
    WORDS.get(word).copied()
}

/// Whether `label` reads as words: an optional head of up to two
/// characters, one to three dictionary words (the first of four letters or
/// more when there is no head, three or more after one; the others of
/// three or more), an optional tail of up to two
/// (`latimes`, `jpost`, `cbox`), hyphens ignored. Misspellings rarely do
/// (`njjflix`, `vinguird`).
pub(crate) fn reads_as_words(label: &str) -> bool {
    let s: Vec<u8> = label.bytes().filter(|b| *b != b'-').collect();
    if !s.iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    (0..=2.min(s.len())).any(|head| covers(&s, head, 0, if head > 0 { 3 } else { 4 }, 2))
}

/// Whether `label` is one to three dictionary words and nothing else (the
/// first of four letters or more, the others of three or more), hyphens
/// ignored, with at most one stray letter at an end: `gamestop`, `rolex`,
/// not `aypapl` (`ay` + `pap` + `l`).
pub(crate) fn made_of_words(label: &str) -> bool {
    let s: Vec<u8> = label.bytes().filter(|b| *b != b'-').collect();
    let words = |s: &[u8]| covers(s, 0, 0, 4, 0);
    // one stray letter at either end still reads (`rolex`)
    s.iter().all(u8::is_ascii_lowercase)
        && (words(&s) || (s.len() >= 5 && (words(&s[1..]) || words(&s[..s.len() - 1]))))
}

/// Whether `s[i..]` is `3 - words` words at most (the first of
/// `first_len`+ letters, the others of 3+), then a tail of ≤ `tail`.
fn covers(s: &[u8], i: usize, words: usize, first_len: usize, tail: usize) -> bool {
    if words > 0 && s.len() - i <= tail {
        return true;
    }
    if words == 3 {
        return false;
    }
    let shortest = if words == 0 { first_len } else { 3 };
    (i + shortest..=s.len()).rev().any(|j| {
        std::str::from_utf8(&s[i..j]).is_ok_and(|w| WORDS.contains_key(w))
            && covers(s, j, words + 1, first_len, tail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_words_are_known_and_brands_made_up_are_not() {
        assert!(word_frequency("mail").is_some_and(|z| z > 45));
        assert!(word_frequency("chaser").is_some());
        assert_eq!(word_frequency("paypal"), None);
        assert_eq!(word_frequency("revolut"), None);
        assert_eq!(word_frequency("xzq"), None);
    }

    #[test]
    fn names_made_of_words_read_as_words() {
        for natural in ["latimes", "jpost", "ibtimes", "cbox", "nypost", "lexpress"] {
            assert!(reads_as_words(natural), "{natural}");
        }
        for made_up in [
            "njjflix", "vinguird", "byrclyys", "xiayyi", "paypal", "usps", "bbva",
        ] {
            assert!(!reads_as_words(made_up), "{made_up}");
        }
        assert!(made_of_words("gamestop") && made_of_words("sun-shine") && made_of_words("rolex"));
        assert!(reads_as_words("aypapl") && !made_of_words("aypapl"));
    }
}
