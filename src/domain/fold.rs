//! Confusable folding: the "folded skeleton" two labels share when a reader
//! would take one for the other.
//!
//! Browser-style folding first (drop diacritics, then the supplementary folds
//! Chromium's spoof checker applies), then the UTS #39 skeleton, then
//! lowercase. Plain skeleton equality catches ~13% of real IDN homographs;
//! with the extra folding ~91% (reference/detection.md).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Characters the UTS #39 data does not map (or maps to an unhelpful
/// prototype) but which readers confuse with Latin letters.
fn extra_fold(c: char) -> Option<&'static str> {
    Some(match c {
        'æ' | 'ӕ' => "ae",
        'н' | 'ћ' | 'ң' | 'ҥ' | 'ӈ' | 'ӊ' | 'ԋ' | 'ԧ' | 'ԩ' | 'ħ' => "h",
        'к' | 'қ' | 'ҝ' | 'ҟ' | 'ҡ' | 'ӄ' | 'ԟ' | 'κ' | 'ĸ' => "k",
        'п' | 'ԥ' | 'ŋ' => "n",
        'т' | 'ҭ' | 'ԏ' | 'ŧ' => "t",
        'в' | 'ь' | 'ҍ' | 'ƅ' => "b",
        'ш' | 'щ' | 'ω' => "w",
        'м' | 'ӎ' => "m",
        'є' | 'ҽ' | 'ҿ' => "e",
        'ґ' => "r",
        'ғ' | 'ӻ' => "f",
        'ҫ' => "c",
        'ұ' => "y",
        'χ' | 'ҳ' | 'ӽ' | 'ӿ' => "x",
        'ԃ' => "d",
        'ԍ' => "g",
        'θ' => "0",
        'з' | 'ҙ' | 'ӡ' => "3",
        'ӏ' => "l",
        // Letters with a stroke do not decompose under NFD.
        'ł' => "l",
        'ø' => "o",
        'đ' => "d",
        'ı' => "i",
        'ƚ' => "l",
        'ɨ' => "i",
        'ƀ' => "b",
        'ɇ' => "e",
        // Latin small capitals, IPA and Latin-extended letters that UTS #39
        // leaves alone but that read as a Latin letter in a URL bar
        'ʙ' => "b",
        'ƈ' | 'ς' | 'ɔ' => "c",
        'ʀ' | 'ɾ' | 'ɽ' => "r",
        'ᴍ' | 'ʍ' => "m",
        'ɴ' | 'ꞑ' | 'ɲ' | 'ɳ' => "n",
        'ʟ' => "l",
        'ɢ' => "g",
        'ʜ' => "h",
        'ə' | 'ɛ' | 'ɜ' | 'ε' => "e",
        'ɐ' | 'ɒ' => "a",
        'ʊ' | 'μ' | 'и' => "u",
        'ʌ' => "v",
        'ζ' => "z",
        'τ' => "t",
        'β' => "b",
        'δ' | 'д' => "d",
        _ => return None,
    })
}

/// The folded skeleton of a label. Two labels with the same folded skeleton
/// look alike to a reader.
pub fn fold_skeleton(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 4);
    fold_skeleton_into(label, &mut out);
    out
}

/// [`fold_skeleton`] into a reused buffer (the matcher folds every name).
pub(crate) fn fold_skeleton_into(label: &str, out: &mut String) {
    // Every step (NFD, dropping marks, lowercasing, the extra folds, the
    // UTS #39 mapping) works code point by code point, so a label folds to
    // the concatenation of its characters' folds: tables built once with the
    // full path cover ASCII, Latin, Greek and Cyrillic.
    let table = char_table();
    out.clear();
    if label.is_ascii() {
        for b in label.bytes() {
            out.push_str(&table[usize::from(b)]);
        }
    } else {
        for c in label.chars() {
            match table.get(c as usize) {
                Some(f) => out.push_str(f),
                None => out.push_str(&fold_slow(c.encode_utf8(&mut [0; 4]))),
            }
        }
    }
    // `vv` reads as `w` (UTS #39 has `m` → `rn` but no `w` → `vv`), and
    // `rn` as `m`: the skeleton keeps the single letter, so a brand's
    // skeleton stays its label (`microsoft`, not `rnicrosoft`)
    if out.as_bytes().windows(2).any(|w| w == b"vv" || w == b"rn") {
        single_letters(out);
    }
}

/// `vv` → `w` and `rn` → `m`, left to right, in place: both pairs are
/// ASCII (never inside a multi-byte character) and neither replacement
/// can make the other pair, so one pass does what two `replace` calls do.
fn single_letters(out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    let (mut read, mut write) = (0, 0);
    while read < bytes.len() {
        let single = match bytes.get(read..read + 2) {
            Some(b"vv") => Some(b'w'),
            Some(b"rn") => Some(b'm'),
            _ => None,
        };
        bytes[write] = single.unwrap_or(bytes[read]);
        read += if single.is_some() { 2 } else { 1 };
        write += 1;
    }
    bytes.truncate(write);
    *out = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Folds of U+0000..U+052F (ASCII, Latin-1, Latin Extended, IPA, Greek, Cyrillic).
fn char_table() -> &'static [String] {
    static TABLE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0u32..0x530)
            .map(|cp| match char::from_u32(cp) {
                Some(c) => fold_slow(c.encode_utf8(&mut [0; 4])),
                None => String::new(),
            })
            .collect()
    })
}

fn fold_slow(label: &str) -> String {
    let mut folded = String::with_capacity(label.len());
    for c in label.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let lower = lower_char(c);
        match extra_fold(lower) {
            Some(s) => folded.push_str(s),
            None => folded.push(lower),
        }
    }
    let skeleton: String = unicode_security::confusable_detection::skeleton(&folded).collect();
    let mut out = String::with_capacity(skeleton.len());
    for c in skeleton.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        out.push(lower_char(c));
    }
    out
}

fn lower_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Which of the scripts used for lookalikes a label contains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scripts {
    pub latin: bool,
    pub cyrillic: bool,
    pub greek: bool,
    pub other: bool,
}

impl Scripts {
    /// Latin, Cyrillic and Greek (or another script) mixed in one label.
    pub(crate) fn is_mixed(&self) -> bool {
        [self.latin, self.cyrillic, self.greek, self.other]
            .iter()
            .filter(|b| **b)
            .count()
            > 1
    }

    /// A human-readable list, for explanations.
    pub(crate) fn describe(&self) -> String {
        let mut names = Vec::new();
        if self.latin {
            names.push("Latin");
        }
        if self.cyrillic {
            names.push("Cyrillic");
        }
        if self.greek {
            names.push("Greek");
        }
        if self.other {
            names.push("other");
        }
        names.join("+")
    }
}

pub(crate) fn scripts_of(label: &str) -> Scripts {
    let mut s = Scripts::default();
    for c in label.chars() {
        match c as u32 {
            0x30..=0x39 | 0x2D | 0x5F => {}
            0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => s.latin = true,
            0x370..=0x3FF | 0x1F00..=0x1FFF => s.greek = true,
            0x400..=0x52F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => s.cyrillic = true,
            0x300..=0x36F => {}
            _ => s.other = true,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folding the whole label, with the `vv` and `rn` collapses.
    fn collapsed(s: &str) -> String {
        fold_slow(s).replace("vv", "w").replace("rn", "m")
    }

    /// The per-character table gives what folding the whole label gives.
    #[test]
    fn table_folding_equals_whole_label_folding() {
        let whole = collapsed;
        let mut rng = fastrand::Rng::with_seed(39);
        let pool: Vec<char> = "paypal0123456789-аеорсухіјѕһԁԛԝӏкмптьԍοινκρχυáàâäãåąéèêëęėçñśšźżžýÿğłđřţ\u{301}\u{308}ﬁǅßæœ"
            .chars()
            .collect();
        for _ in 0..5_000 {
            let n = rng.usize(1..12);
            let s: String = (0..n).map(|_| pool[rng.usize(..pool.len())]).collect();
            assert_eq!(fold_skeleton(&s), whole(&s), "{s:?}");
        }
        for s in ["cafe\u{301}", "café", "rnicrosoft", "vvalmart", "аррӏе"] {
            assert_eq!(fold_skeleton(s), whole(s), "{s:?}");
        }
    }

    #[test]
    fn cyrillic_lookalikes_fold_to_latin() {
        assert_eq!(fold_skeleton("раураӏ"), fold_skeleton("paypal"));
        assert_eq!(fold_skeleton("аррӏе"), fold_skeleton("apple"));
        assert_eq!(fold_skeleton("pаypal"), fold_skeleton("paypal"));
    }

    #[test]
    fn diacritics_and_digits_fold() {
        assert_eq!(fold_skeleton("páypäl"), fold_skeleton("paypal"));
        assert_eq!(fold_skeleton("paypa1"), fold_skeleton("paypal"));
        assert_eq!(fold_skeleton("g00gle"), fold_skeleton("google"));
        assert_eq!(fold_skeleton("rnicrosoft"), fold_skeleton("microsoft"));
        assert_eq!(fold_skeleton("microsoft"), "microsoft");
        assert_ne!(fold_skeleton("paypal"), fold_skeleton("paypol"));
    }

    #[test]
    fn single_letters_in_one_pass_equal_the_two_replacements() {
        for s in [
            "vv", "vvv", "vvvv", "rnrn", "rrnn", "vvrn", "rnvv", "vrnv", "ärnvvé", "ѵѵrn", "rn",
            "r", "", "wm",
        ] {
            let mut out = s.to_owned();
            single_letters(&mut out);
            assert_eq!(out, s.replace("vv", "w").replace("rn", "m"), "{s}");
        }
    }

    #[test]
    fn ascii_fast_path_equals_full_folding() {
        for label in ["paypal", "g00gle", "PAYPAL-1", "a_b", "I|l1", "modern"] {
            assert_eq!(fold_skeleton(label), collapsed(label), "{label}");
        }
        for b in 0u8..128 {
            let s = char::from(b).to_string();
            assert_eq!(fold_skeleton(&s), collapsed(&s));
        }
    }

    /// Letters UTS #39 does not map but readers take for Latin ones.
    #[test]
    fn ipa_small_capital_and_greek_lookalikes_fold() {
        for (lookalike, brand) in [
            ("appɫe", "apple"),
            ("monzɵ", "monzo"),
            ("ɾevolut", "revolut"),
            ("gooɡle", "google"),
            ("amazoŋ", "amazon"),
            ("bĩnance", "binance"),
            ("bįnance", "binance"),
            ("spoτify", "spotify"),
            ("ϲhase", "chase"),
            ("moɴzo", "monzo"),
            ("ʙestbuy", "bestbuy"),
            ("mercaʀi", "mercari"),
            ("ɑpple", "apple"),
        ] {
            assert_eq!(
                fold_skeleton(lookalike),
                fold_skeleton(brand),
                "{lookalike}"
            );
        }
    }

    #[test]
    fn scripts() {
        assert!(scripts_of("pаypal").is_mixed());
        let whole = scripts_of("раураӏ");
        assert!(whole.cyrillic && !whole.latin && !whole.is_mixed());
        assert!(!scripts_of("paypal-2").is_mixed());
    }
}
