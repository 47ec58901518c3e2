//! Homoglyph fuzzers: characters that look like others.
//!
//! Three sources of lookalikes:
//! - the ASCII table the matcher also reads (`crate::domain`'s glyphs: 0/o,
//!   1/l/i, rn/m, vv/w, cl/d, ...), including 2-character sequences, and a curated Latin-diacritics table (á, ä, ạ, ɑ, ...);
//! - the Unicode confusables data: every Latin, Cyrillic or Greek character
//!   whose folded skeleton ([`crate::domain::fold_skeleton`], UTS #39 plus
//!   browser folding) is one ASCII letter or digit, kept only when it is valid
//!   in IDNA and survives a round trip (computed once, on first use);
//! - whole-script replacements (`раураӏ`) when every letter has a twin.

use crate::domain::{ASCII_LOOKALIKES as ASCII, fold_skeleton, scripts_of};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// Latin letters with diacritics (and Latin-script lookalikes) readers take
/// for the plain letter. Characters IDNA rejects are filtered out later.
const DIACRITICS: &[(char, &str)] = &[
    ('a', "àáâãäåɑạǎăȧąāə"),
    ('b', "ʙɓḃḅḇƅ"),
    ('c', "ƈċćçčĉᴄ"),
    ('d', "ɗđďɖḑḋḍḏḓ"),
    ('e', "éèêëēĕěėẹęȩɇḛ"),
    ('f', "ƒḟ"),
    ('g', "ɢǵǧğĝġģɠǥḡɡ"),
    ('h', "ʜȟħɦḧḩⱨḣḥḫẖĥ"),
    ('i', "íìïîıɩǐĭỉịɨȋīɪĩį"),
    ('j', "ʝǰɉĵ"),
    ('k', "ḳḵⱪķᴋǩĸ"),
    ('l', "ʟŀḷḻḽłļĺľƚɭɫ"),
    ('m', "ᴍṁṃɱḿ"),
    ('n', "ńṅṇṉñņǹňꞑŋ"),
    ('o', "òóôõöȯọỏơōŏőøᴏ"),
    ('p', "ƿƥṕṗ"),
    ('q', "ʠ"),
    ('r', "ʀɼɽŕŗřɍɾȓȑṙṛṟ"),
    ('s', "ʂśṣṡșşŝšꜱ"),
    ('t', "ţŧṫṭțƫť"),
    ('u', "ᴜǔŭüʉùúûũūųưůűȕȗụ"),
    ('v', "ṿⱱᶌṽⱴᴠ"),
    ('w', "ŵẁẃẅⱳẇẉẘᴡ"),
    ('x', "ẋẍ"),
    ('y', "ʏýÿŷƴȳɏỿẏỵ"),
    ('2', "ƻ"),
    ('3', "ʒ"),
    ('5', "ƽ"),
    ('z', "ʐżźᴢƶẓẕⱬž"),
];

/// Scripts a confusable can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Script {
    Latin,
    Cyrillic,
    Greek,
}

/// Lookalikes of each ASCII letter/digit by script, from the confusables data.
pub(super) struct Confusables {
    by_script: BTreeMap<(Script, char), Vec<char>>,
}

/// Code point ranges scanned for confusables: Latin extensions, IPA, Greek,
/// Cyrillic, phonetic extensions, Latin Extended Additional/C/D.
const RANGES: &[(u32, u32)] = &[
    (0x00C0, 0x02AF),
    (0x0370, 0x03FF),
    (0x0400, 0x052F),
    (0x1D00, 0x1DBF),
    (0x1E00, 0x1EFF),
    (0x1F00, 0x1FFF),
    (0x2C60, 0x2C7F),
    (0xA640, 0xA69F),
    (0xA720, 0xA7FF),
];

/// The most convincing twin per letter, listed first (whole-script variants use it).
const PREFERRED: &[(Script, &str, &str)] = &[
    (
        Script::Cyrillic,
        "abcdeghijklmnopqrstvwxy",
        "аьсԁеԍһіјкӏмпорԛгѕтѵԝху",
    ),
    (Script::Greek, "aijknopuvwxy", "αιϳκηορυνωχγ"),
];

fn preferred(script: Script, target: char, c: char) -> bool {
    PREFERRED.iter().any(|(s, from, to)| {
        *s == script
            && from
                .chars()
                .zip(to.chars())
                .any(|(f, t)| f == target && t == c)
    })
}

impl Confusables {
    fn build() -> Confusables {
        // what each ASCII letter or digit folds to (`m` folds to `rn`); letters win over digits
        let mut ascii_by_fold: std::collections::HashMap<String, char> =
            std::collections::HashMap::new();
        for x in "0123456789abcdefghijklmnopqrstuvwxyz".chars() {
            ascii_by_fold.insert(fold_skeleton(&x.to_string()), x);
        }
        let mut by_script: BTreeMap<(Script, char), Vec<char>> = BTreeMap::new();
        for &(lo, hi) in RANGES {
            for cp in lo..=hi {
                let Some(c) = char::from_u32(cp) else {
                    continue;
                };
                if !idna_valid_char(c) {
                    continue;
                }
                let Some(&target) = ascii_by_fold.get(&fold_skeleton(&c.to_string())) else {
                    continue;
                };
                let s = scripts_of(&c.to_string());
                let script = match (s.latin, s.cyrillic, s.greek, s.other) {
                    (true, false, false, false) => Script::Latin,
                    (false, true, false, false) => Script::Cyrillic,
                    (false, false, true, false) => Script::Greek,
                    _ => continue,
                };
                by_script.entry((script, target)).or_default().push(c);
            }
        }
        for ((script, target), list) in by_script.iter_mut() {
            // the preferred twin, then plain-looking characters (no combining mark), then by code point
            list.sort_by_key(|c| {
                (
                    !preferred(*script, *target, *c),
                    c.to_string().nfd().count(),
                    *c as u32,
                )
            });
        }
        Confusables { by_script }
    }

    pub(super) fn get() -> &'static Confusables {
        static TABLE: OnceLock<Confusables> = OnceLock::new();
        TABLE.get_or_init(Confusables::build)
    }

    pub(super) fn of(&self, script: Script, c: char) -> &[char] {
        self.by_script
            .get(&(script, c))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// True for a character of the lookalike tables that stays itself through
/// IDNA (so a label made of such characters and LDH ASCII only needs punycode
/// encoding, not a full UTS 46 round trip).
pub(super) fn is_idna_safe(c: char) -> bool {
    // a bitmap of the Basic Multilingual Plane, where every table character lives
    static SAFE: OnceLock<Vec<u64>> = OnceLock::new();
    let bits = SAFE.get_or_init(|| {
        let mut bits = vec![0u64; 0x10000 / 64];
        let mut set = |c: char| {
            let cp = c as usize;
            if cp < 0x10000 {
                bits[cp / 64] |= 1 << (cp % 64);
            }
        };
        for c in Confusables::get().by_script.values().flatten() {
            set(*c);
        }
        for (_, glyphs) in DIACRITICS {
            glyphs
                .chars()
                .filter(|c| idna_valid_char(*c))
                .for_each(&mut set);
        }
        bits
    });
    let cp = c as usize;
    cp < 0x10000 && bits[cp / 64] & (1 << (cp % 64)) != 0
}

/// A character that stays itself through IDNA (valid, lowercase, not mapped).
fn idna_valid_char(c: char) -> bool {
    let label = format!("a{c}a");
    match idna::domain_to_ascii(&label) {
        Ok(ascii) => {
            let (back, result) = idna::domain_to_unicode(&ascii);
            result.is_ok() && back == label && ascii.starts_with("xn--")
        }
        Err(_) => false,
    }
}

/// Substitution options at each position: (replacement, characters consumed).
type Options = Vec<Vec<(String, usize)>>;

/// All one- and two-substitution variants (non-overlapping) from `options`.
fn substitute(cs: &[char], options: &Options, doubles: bool) -> Vec<String> {
    let mut out = Vec::new();
    let n = cs.len();
    let s = |a: usize, b: usize| cs[a..b].iter().collect::<String>();
    for i in 0..n {
        for (rep1, len1) in &options[i] {
            let head = s(0, i);
            out.push(format!("{head}{rep1}{}", s(i + len1, n)));
            if !doubles {
                continue;
            }
            for (j, options_j) in options.iter().enumerate().skip(i + len1) {
                for (rep2, len2) in options_j {
                    out.push(format!(
                        "{head}{rep1}{}{rep2}{}",
                        s(i + len1, j),
                        s(j + len2, n)
                    ));
                }
            }
        }
    }
    out
}

fn ascii_and_diacritic_options(cs: &[char]) -> Options {
    ascii_and_diacritic_options_from(cs, 0)
}

/// Options at positions `start..` (earlier positions stay empty).
fn ascii_and_diacritic_options_from(cs: &[char], start: usize) -> Options {
    let mut options: Options = vec![Vec::new(); cs.len()];
    for (i, c) in cs.iter().enumerate().skip(start) {
        for (key, reps) in ASCII {
            let key_len = key.chars().count();
            if i + key_len <= cs.len() && cs[i..i + key_len].iter().copied().eq(key.chars()) {
                options[i].extend(reps.iter().map(|r| (r.to_string(), key_len)));
            }
        }
        if let Some((_, glyphs)) = DIACRITICS.iter().find(|(k, _)| k == c) {
            options[i].extend(glyphs.chars().map(|g| (g.to_string(), 1)));
        }
        // a doubled letter replaced as a pair counts as one substitution
        // (`ŏŏ` for `oo`, `rr` for `nn`, `rnrn` for `mm`)
        if cs.get(i + 1) == Some(c) {
            let singles: Vec<String> = options[i]
                .iter()
                .filter(|(_, len)| *len == 1)
                .map(|(rep, _)| rep.repeat(2))
                .collect();
            options[i].extend(singles.into_iter().map(|r| (r, 2)));
        }
    }
    options
}

/// ASCII lookalikes and Latin diacritics, one or two substitutions (the second
/// may act on what the first produced: l→i→ì); plus single substitutions with
/// every other Latin confusable. Single script (Latin).
pub(super) fn homoglyph(label: &str) -> Vec<String> {
    let cs: Vec<char> = label.chars().collect();
    let options = ascii_and_diacritic_options(&cs);
    let mut out = Vec::new();
    let mut one: Vec<char> = Vec::with_capacity(cs.len() + 2);
    for (i, opts_i) in options.iter().enumerate() {
        for (rep, len) in opts_i {
            one.clear();
            one.extend_from_slice(&cs[..i]);
            one.extend(rep.chars());
            one.extend_from_slice(&cs[i + len..]);
            out.push(one.iter().collect::<String>());
            // the second substitution from just before the first on (a
            // pair the first one made, `cc` in `binancc`, is one
            // substitution), chains (l→i→ì) included; duplicates go below
            let from = i.saturating_sub(1);
            let second = ascii_and_diacritic_options_from(&one, from);
            for (j, opts_j) in second.iter().enumerate().skip(from) {
                for (rep2, len2) in opts_j {
                    let mut two = String::with_capacity(one.len() * 2);
                    two.extend(&one[..j]);
                    two.push_str(rep2);
                    two.extend(&one[j + len2..]);
                    out.push(two);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    let table = Confusables::get();
    let extra: Options = cs
        .iter()
        .map(|c| {
            table
                .of(Script::Latin, *c)
                .iter()
                .map(|g| (g.to_string(), 1))
                .collect()
        })
        .collect();
    out.extend(substitute(&cs, &extra, false));
    out
}

/// One or two Cyrillic, or one or two Greek, lookalikes in a Latin label
/// (`pаypal`): the mixed-script shape of real IDN homograph attacks.
pub(super) fn confusable(label: &str) -> Vec<String> {
    let cs: Vec<char> = label.chars().collect();
    let table = Confusables::get();
    let mut out = Vec::new();
    for script in [Script::Cyrillic, Script::Greek] {
        let options: Options = cs
            .iter()
            .map(|c| {
                table
                    .of(script, *c)
                    .iter()
                    .take(2)
                    .map(|g| (g.to_string(), 1))
                    .collect()
            })
            .collect();
        out.extend(substitute(&cs, &options, true));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every letter replaced by its twin in `script`, when each letter has one;
/// plus the variants using a letter's second-best twin.
pub(super) fn whole_script(label: &str, script: Script) -> Vec<String> {
    let table = Confusables::get();
    let cs: Vec<char> = label.chars().collect();
    let mut primary = Vec::with_capacity(cs.len());
    for c in &cs {
        if c.is_ascii_digit() || *c == '-' {
            primary.push(*c);
            continue;
        }
        match table.of(script, *c).first() {
            Some(twin) => primary.push(*twin),
            None => return Vec::new(),
        }
    }
    if !cs.iter().any(|c| c.is_ascii_lowercase()) {
        return Vec::new();
    }
    let mut out = vec![primary.iter().collect::<String>()];
    for (i, c) in cs.iter().enumerate() {
        if let Some(second) = table.of(script, *c).get(1) {
            let mut v = primary.clone();
            v[i] = *second;
            out.push(v.iter().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_script_cyrillic() {
        let v = whole_script("apple", Script::Cyrillic);
        assert_eq!(v[0], "аррӏе", "{v:?}");
        assert_eq!(whole_script("paypal", Script::Cyrillic)[0], "раураӏ");
        assert!(whole_script("123", Script::Cyrillic).is_empty());
        let t = Confusables::get();
        for (script, from, to) in PREFERRED {
            for (f, c) in from.chars().zip(to.chars()) {
                assert_eq!(t.of(*script, f).first(), Some(&c), "{script:?} {f}");
            }
        }
        assert!(t.of(Script::Latin, 'm').contains(&'ṁ'));
    }

    #[test]
    fn confusables_cover_cyrillic_greek_and_latin() {
        let t = Confusables::get();
        assert!(t.of(Script::Cyrillic, 'a').contains(&'а'));
        assert!(t.of(Script::Cyrillic, 'o').contains(&'о'));
        assert!(t.of(Script::Greek, 'o').contains(&'ο'));
        assert!(t.of(Script::Greek, 'a').contains(&'α'));
        assert!(t.of(Script::Latin, 'a').contains(&'á'));
        assert!(t.of(Script::Latin, 'l').contains(&'ł'));
        // every character in the tables is IDNA-valid
        for ((_, _), list) in &t.by_script {
            assert!(list.iter().all(|c| idna_valid_char(*c)));
        }
    }

    #[test]
    fn substitutions() {
        let h = homoglyph("paypal");
        assert!(h.contains(&"paypa1".to_string()));
        assert!(!h.contains(&"pаypal".to_string()), "homoglyph stays Latin");
        assert!(h.contains(&"pàypàl".to_string()));
        assert!(homoglyph("modern").contains(&"rnodern".to_string()));
        assert!(homoglyph("clear").contains(&"dear".to_string()));
        let c = confusable("paypal");
        assert!(c.contains(&"pаypal".to_string()));
        assert!(c.contains(&"pаypаl".to_string()));
    }
}
