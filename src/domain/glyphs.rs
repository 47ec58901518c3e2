//! ASCII lookalikes: characters and short sequences a reader takes for
//! others in a URL bar (`rn` for `m`, `cl` for `d`, `vv` for `w`, `0` for
//! `o`, `d` for `b`). One table, shared by the generator (which writes
//! these variants) and the matcher (which recognises them), so what one
//! emits the other catches. Unicode lookalikes are `fold`'s business.

/// (what, read as each of these): every pair is a visual confusion.
pub(crate) const ASCII_LOOKALIKES: &[(&str, &[&str])] = &[
    ("0", &["o"]),
    ("1", &["l", "i"]),
    ("2", &["z"]),
    ("3", &["8", "e"]),
    ("5", &["s"]),
    ("6", &["9", "b"]),
    ("8", &["3", "b"]),
    ("9", &["6", "q", "g"]),
    ("a", &["4"]),
    ("b", &["d", "lb", "ld", "ib", "6", "8"]),
    ("c", &["e"]),
    ("d", &["b", "cl", "dl"]),
    ("e", &["c", "3"]),
    ("g", &["q", "9"]),
    ("h", &["lh", "ih", "b"]),
    ("i", &["1", "l", "j"]),
    ("j", &["i"]),
    ("k", &["lc", "lk", "ik"]),
    ("l", &["1", "i"]),
    ("m", &["n", "nn", "rn", "rr"]),
    ("n", &["m", "r", "h"]),
    ("o", &["0"]),
    ("q", &["g", "9"]),
    ("s", &["5"]),
    ("t", &["7"]),
    ("u", &["v"]),
    ("v", &["u"]),
    ("w", &["vv"]),
    ("z", &["2"]),
    ("rn", &["m"]),
    ("cl", &["d"]),
    ("vv", &["w"]),
    ("nn", &["m"]),
];

/// Every label one ASCII lookalike substitution away from `label`.
pub(crate) fn ascii_lookalikes(label: &str) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..label.len() {
        if !label.is_char_boundary(i) {
            continue;
        }
        let rest = &label[i..];
        for (key, reps) in ASCII_LOOKALIKES {
            if let Some(after) = rest.strip_prefix(key) {
                for rep in *reps {
                    out.push(format!("{}{rep}{after}", &label[..i]));
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out.retain(|v| v != label);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_substitution_including_sequences() {
        let v = ascii_lookalikes("modem");
        for want in [
            "rnodem", "nodem", "mobem", "modern", "moclem", "m0dem", "modcm",
        ] {
            assert!(v.contains(&want.to_owned()), "{want} in {v:?}");
        }
        assert!(!v.contains(&"modem".to_owned()));
        assert!(ascii_lookalikes("rn").contains(&"m".to_owned()));
        // non-ASCII labels are walked by character boundaries
        assert!(ascii_lookalikes("pаypal").contains(&"pаypa1".to_owned()));
    }
}
