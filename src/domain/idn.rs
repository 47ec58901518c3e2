//! IDNA and hostname rules: LDH checks, tolerant A-label decoding (a label
//! that does not decode is kept as ASCII and flagged), and the normalisation
//! of list labels.

use super::{MAX_LABEL_LEN, MAX_NAME_LEN, NameError};

pub(super) fn check_ascii_hostname(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::Invalid("longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::Invalid("empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::Invalid("label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(NameError::Invalid("character not allowed in a hostname"));
        }
    }
    Ok(())
}

/// The Unicode form of a name UTS 46 just encoded: its labels are already
/// mapped and checked, so plain punycode decoding gives what the full
/// `to_unicode` would, at a fraction of the cost (list reloads decode a
/// million of these). `None` sends anything unexpected to the full path.
pub(super) fn decode_own_alabels(ascii: &str) -> Option<String> {
    let mut out = String::with_capacity(ascii.len() + 8);
    for (i, label) in ascii.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        match label.strip_prefix("xn--") {
            Some(encoded) => {
                let decoded = idna::punycode::decode_to_string(encoded)?;
                if decoded.is_empty() || decoded.is_ascii() || decoded.contains('.') {
                    return None;
                }
                out.push_str(&decoded);
            }
            None => out.push_str(label),
        }
    }
    Some(out)
}

/// Code point ranges of the fast path: Latin, IPA, Greek, Cyrillic,
/// Armenian and their extensions (all left-to-right scripts, so the bidi
/// rule has nothing to say about a label made of them).
const FAST_RANGES: &[(u32, u32)] = &[
    (0x00A0, 0x058F),
    (0x1D00, 0x1FFF),
    (0x2C60, 0x2C7F),
    (0xA640, 0xA69F),
    (0xA720, 0xA7FF),
];

/// Characters UTS 46 leaves as they are (valid, not mapped, not a
/// combining mark, no context rule): a label of these and lowercase LDH
/// ASCII needs punycode alone, not the full processing.
fn is_stable(c: char) -> bool {
    static TABLE: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    let bits = TABLE.get_or_init(|| {
        let mut bits = vec![0u64; 0xA800 / 64];
        for &(lo, hi) in FAST_RANGES {
            for cp in lo..=hi {
                let Some(c) = char::from_u32(cp) else {
                    continue;
                };
                if unicode_normalization::char::canonical_combining_class(c) != 0
                    || unicode_normalization::char::is_combining_mark(c)
                {
                    continue;
                }
                // alone and between letters, it must survive a round trip
                let stays = [format!("a{c}b"), format!("{c}a")].iter().all(|label| {
                    idna::domain_to_ascii(label).is_ok_and(|ascii| {
                        let (back, result) = idna::domain_to_unicode(&ascii);
                        result.is_ok() && back == *label
                    })
                });
                if stays {
                    bits[cp as usize / 64] |= 1 << (cp % 64);
                }
            }
        }
        bits
    });
    let cp = c as usize;
    cp < 0xA800 && bits[cp / 64] & (1 << (cp % 64)) != 0
}

/// A label of lowercase LDH ASCII and stable characters, in NFC.
fn is_stable_label(label: &str) -> bool {
    !label.is_empty()
        && label.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || is_stable(c)
        })
        && unicode_normalization::is_nfc_quick(label.chars())
            == unicode_normalization::IsNormalized::Yes
}

/// The (ASCII, Unicode) forms of a name in the shapes lists are made of
/// (`pаypal.com`, `xn--pypal-4ve.com`): Unicode labels of stable characters
/// (punycode-encoded here) and `xn--` labels that decode to them (and
/// re-encode to themselves). The answer is what UTS 46 would give, for a
/// fraction of its cost; `None` sends the name to the full path, which
/// handles everything else.
pub(super) fn fast_idn(name: &str) -> Option<(String, String)> {
    if name.len() > MAX_NAME_LEN * 4 {
        return None;
    }
    let mut ascii = String::with_capacity(name.len() + 16);
    let mut unicode = String::with_capacity(name.len() + 8);
    let mut idn = false;
    for (i, raw) in name.split('.').enumerate() {
        if i > 0 {
            ascii.push('.');
            unicode.push('.');
        }
        if raw.is_ascii() {
            let label = raw.to_ascii_lowercase();
            if label.is_empty() || label.len() > MAX_LABEL_LEN {
                return None;
            }
            match label.strip_prefix("xn--") {
                Some(encoded) => {
                    let decoded = idna::punycode::decode_to_string(encoded)?;
                    if decoded.is_ascii()
                        || !is_stable_label(&decoded)
                        || idna::punycode::encode_str(&decoded)? != encoded
                    {
                        return None;
                    }
                    unicode.push_str(&decoded);
                    idn = true;
                }
                None => {
                    if !label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        return None;
                    }
                    unicode.push_str(&label);
                }
            }
            ascii.push_str(&label);
        } else {
            let label = raw
                .chars()
                .map(|c| c.to_ascii_lowercase())
                .collect::<String>();
            if !is_stable_label(&label) {
                return None;
            }
            let encoded = idna::punycode::encode_str(&label)?;
            if encoded.len() + 4 > MAX_LABEL_LEN {
                return None;
            }
            ascii.push_str("xn--");
            ascii.push_str(&encoded);
            unicode.push_str(&label);
            idn = true;
        }
    }
    (idn && ascii.len() <= MAX_NAME_LEN).then_some((ascii, unicode))
}

/// UTS 46 to Unicode; a label that does not decode is kept in its ASCII form.
pub(super) fn to_unicode_tolerant(ascii: &str) -> (String, bool) {
    let (unicode, result) = idna::domain_to_unicode(ascii);
    if result.is_ok() && unicode.split('.').count() == ascii.split('.').count() {
        return (unicode, false);
    }
    let mut out = String::with_capacity(ascii.len());
    let mut bad = false;
    for (i, label) in ascii.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if label.starts_with("xn--") {
            let (decoded, result) = idna::domain_to_unicode(label);
            if result.is_ok() && !decoded.contains('.') && !decoded.contains('\u{FFFD}') {
                out.push_str(&decoded);
                continue;
            }
            bad = true;
        }
        out.push_str(label);
    }
    (out, bad)
}

/// Normalise a single label from a list (no dots): lowercase, decode `xn--`.
pub fn normalise_label(raw: &str) -> Result<String, NameError> {
    let label = raw.trim().to_lowercase();
    if label.is_empty() {
        return Err(NameError::Empty);
    }
    if label.contains('.') {
        return Err(NameError::Invalid("a label has no dots"));
    }
    if label
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "/\\@:*?#".contains(c))
    {
        return Err(NameError::Invalid("character not allowed in a hostname"));
    }
    if label.is_ascii() {
        check_ascii_hostname(&label)?;
        if label.starts_with("xn--") {
            let (unicode, bad) = to_unicode_tolerant(&label);
            if bad {
                return Err(NameError::Invalid("undecodable xn-- label"));
            }
            return Ok(unicode);
        }
        return Ok(label);
    }
    Ok(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fqdn;

    #[test]
    fn punycode_decoding_of_encoded_names_equals_full_to_unicode() {
        let names = [
            "pаypal.com",
            "аррӏе.com",
            "Bücher.DE",
            "ｗｗｗ.ｅｘａｍｐｌｅ.com",
            "straße.de",
            "παράδειγμα.ελ",
            "例え.テスト.jp",
            "www.faceb00k-lоgin.top",
        ];
        for name in names {
            let ascii = idna::domain_to_ascii(name).unwrap();
            let full = to_unicode_tolerant(&ascii);
            assert_eq!(decode_own_alabels(&ascii), Some(full.0), "{name}");
        }
        let alphabet: Vec<char> = "abcopxy019-аеорсхіӏαορνüéßＡｂ例テ".chars().collect();
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..5_000 {
            let label: String = (0..rng.usize(1..12))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let name = format!("{label}.com");
            if let Ok(ascii) = idna::domain_to_ascii(&name)
                && let Some(fast) = decode_own_alabels(&ascii)
            {
                assert_eq!(fast, to_unicode_tolerant(&ascii).0, "{name}");
            }
        }
        let f = Fqdn::parse("Bücher.DE").unwrap();
        assert_eq!((f.unicode(), f.ascii()), ("bücher.de", "xn--bcher-kva.de"));
    }

    #[test]
    fn the_fast_idn_path_agrees_with_uts46() {
        // the characters generated lists are made of, contextual and
        // combining ones, mixed at random; each name also in A-label form
        let mut names: Vec<String> = Vec::new();
        let alphabet: Vec<char> = "abcopxy019-_аеорсхіӏαορνüéßÅɑɡŋĩįạǎȧəɫɾʙᴍꞑζςτ·͵ʹΐ᾽ϓ\u{301}"
            .chars()
            .collect();
        let mut rng = fastrand::Rng::with_seed(15);
        for _ in 0..20_000 {
            let label: String = (0..rng.usize(1..12))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            names.push(format!("www.{label}.com"));
            names.push(format!("{label}.ɡoogle.com"));
            if let Ok(ascii) = idna::domain_to_ascii(&label) {
                names.push(format!("{ascii}.co.uk"));
                names.push(ascii.to_uppercase() + ".com");
            }
        }
        let mut fast = 0;
        for name in &names {
            if let Some((ascii, unicode)) = fast_idn(name) {
                fast += 1;
                let full = Fqdn::parse_general(name, false, false);
                let ok = full
                    .as_ref()
                    .is_ok_and(|f| f.ascii() == ascii && f.unicode() == unicode);
                assert!(ok, "{name}: fast ({ascii}, {unicode}), full {full:?}");
            }
        }
        assert!(
            fast > names.len() / 3,
            "the fast path took {fast} of {}",
            names.len()
        );
    }

    #[test]
    fn labels_normalise() {
        assert_eq!(normalise_label("PayPa1").unwrap(), "paypa1");
        assert_eq!(normalise_label("xn--pypal-4ve").unwrap(), "pаypal");
        assert!(normalise_label("a b").is_err());
        assert!(normalise_label("").is_err());
    }
}
