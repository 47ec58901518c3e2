//! Typo fuzzers: what a slip of the finger or of the eye makes of a label.
//! Each is a pure function from the registrable label to candidate labels;
//! validation (IDNA, hostname rules) happens in the caller.

use crate::domain::keyboard_neighbours as neighbours;

const ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u'];

fn chars(label: &str) -> Vec<char> {
    label.chars().collect()
}

fn join(cs: &[char]) -> String {
    cs.iter().collect()
}

/// Append each of `a-z0-9`; also insert each before every hyphen.
pub(super) fn addition(label: &str) -> Vec<String> {
    let cs = chars(label);
    let mut out = Vec::new();
    for c in ALNUM.chars() {
        out.push(format!("{label}{c}"));
        for (i, k) in cs.iter().enumerate() {
            if *k == '-' {
                let mut v = cs.clone();
                v.insert(i, c);
                out.push(join(&v));
            }
        }
    }
    out
}

/// Flip each of the 8 bits of each character; keep `[a-z0-9-]` results.
pub(super) fn bitsquatting(label: &str) -> Vec<String> {
    let cs = chars(label);
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let Ok(byte) = u8::try_from(u32::from(*c)) else {
            continue;
        };
        for bit in 0..8 {
            let flipped = (byte ^ (1 << bit)) as char;
            if flipped.is_ascii_lowercase() || flipped.is_ascii_digit() || flipped == '-' {
                let mut v = cs.clone();
                v[i] = flipped;
                out.push(join(&v));
            }
        }
    }
    out
}

/// A hyphen between each pair of characters.
pub(super) fn hyphenation(label: &str) -> Vec<String> {
    let cs = chars(label);
    (1..cs.len())
        .map(|i| {
            let mut v = cs.clone();
            v.insert(i, '-');
            join(&v)
        })
        .collect()
}

/// A keyboard neighbour of each character inserted before and after it.
pub(super) fn insertion(label: &str) -> Vec<String> {
    let cs = chars(label);
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        for &k in neighbours(*c) {
            let mut before = cs.clone();
            before.insert(i, k);
            out.push(join(&before));
            let mut after = cs.clone();
            after.insert(i + 1, k);
            out.push(join(&after));
        }
    }
    out
}

/// Each character left out.
pub(super) fn omission(label: &str) -> Vec<String> {
    let cs = chars(label);
    (0..cs.len())
        .map(|i| {
            let mut v = cs.clone();
            v.remove(i);
            join(&v)
        })
        .collect()
}

/// `s` (or `es` after s, x, z) inserted after each character: paypals, paypsal.
pub(super) fn plural(label: &str) -> Vec<String> {
    let cs = chars(label);
    let mut out = Vec::new();
    for i in 0..cs.len() {
        let ending = if matches!(cs[i], 's' | 'x' | 'z') {
            "es"
        } else {
            "s"
        };
        let mut v: Vec<char> = cs[..=i].to_vec();
        v.extend(ending.chars());
        v.extend_from_slice(&cs[i + 1..]);
        out.push(join(&v));
    }
    out
}

/// Each character doubled.
pub(super) fn repetition(label: &str) -> Vec<String> {
    let cs = chars(label);
    (0..cs.len())
        .filter(|i| cs[*i].is_alphanumeric())
        .map(|i| {
            let mut v = cs.clone();
            v.insert(i, cs[i]);
            join(&v)
        })
        .collect()
}

/// Each character replaced by a keyboard neighbour.
pub(super) fn replacement(label: &str) -> Vec<String> {
    let cs = chars(label);
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        for &k in neighbours(*c) {
            let mut v = cs.clone();
            v[i] = k;
            out.push(join(&v));
        }
    }
    out
}

/// A dot inside the label: `pay.pal` (the result spans two labels).
pub(super) fn subdomain(label: &str) -> Vec<String> {
    let cs = chars(label);
    (1..cs.len())
        .filter(|i| cs[*i] != '-' && cs[*i - 1] != '-')
        .map(|i| format!("{}.{}", join(&cs[..i]), join(&cs[i..])))
        .collect()
}

/// Adjacent characters swapped.
pub(super) fn transposition(label: &str) -> Vec<String> {
    let cs = chars(label);
    (0..cs.len().saturating_sub(1))
        .filter(|i| cs[*i] != cs[*i + 1])
        .map(|i| {
            let mut v = cs.clone();
            v.swap(i, i + 1);
            join(&v)
        })
        .collect()
}

/// Each vowel replaced by each other vowel.
pub(super) fn vowel_swap(label: &str) -> Vec<String> {
    let cs = chars(label);
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        if VOWELS.contains(c) {
            for v in VOWELS {
                if v != c {
                    let mut x = cs.clone();
                    x[i] = *v;
                    out.push(join(&x));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_fuzzers() {
        assert!(addition("pay-pal").contains(&"pay-pala".to_string()));
        assert!(addition("pay-pal").contains(&"payx-pal".to_string()));
        assert_eq!(addition("ab").len(), 36);
        assert!(bitsquatting("paypal").contains(&"qaypal".to_string())); // p ^ 1
        assert!(bitsquatting("a").iter().all(|v| {
            v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }));
        assert_eq!(hyphenation("abc"), vec!["a-bc", "ab-c"]);
        assert!(insertion("paypal").contains(&"paypaol".to_string()));
        assert_eq!(omission("abc"), vec!["bc", "ac", "ab"]);
        assert!(plural("paypal").contains(&"paypals".to_string()));
        assert!(plural("boss").contains(&"bosses".to_string()));
        assert_eq!(repetition("ab"), vec!["aab", "abb"]);
        assert!(replacement("paypal").contains(&"oaypal".to_string()));
        assert_eq!(subdomain("abc"), vec!["a.bc", "ab.c"]);
        assert_eq!(transposition("abb"), vec!["bab"]);
        assert!(vowel_swap("paypal").contains(&"peypal".to_string()));
        assert_eq!(vowel_swap("xyz"), Vec::<String>::new());
    }
}
