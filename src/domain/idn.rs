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
    fn labels_normalise() {
        assert_eq!(normalise_label("PayPa1").unwrap(), "paypa1");
        assert_eq!(normalise_label("xn--pypal-4ve").unwrap(), "pаypal");
        assert!(normalise_label("a b").is_err());
        assert!(normalise_label("").is_err());
    }
}
