//! Finding where a JSON value ends without reading it, 64 bytes a step.
//!
//! Most of a `/full-stream` message is members matching never reads: the
//! issuer chain (half the bytes and half of serde_json's time), the DER,
//! the extensions. Walking them token by token costs as much as parsing
//! them. [`container_end`] instead classifies a 64-byte block at once with
//! 16-byte vector compares (SSE2 on x86-64, NEON on aarch64, through
//! `wide`'s safe types): quotes, backslashes, openers and closers become
//! bitmasks; escaped quotes are removed; a prefix XOR of the quotes marks
//! the bytes inside strings; the brackets left are walked bit by bit to keep
//! the depth. A block wholly inside a string is the start of a long one
//! (base64 DER): its end is found with `memchr`.
//!
//! What this checks is the structure: strings end (escapes honoured) and
//! brackets balance. It does not check what is between them (numbers,
//! literals, separators, escapes' shapes, bracket kinds): the caller reads
//! strictly whatever it uses, and a value skipped here is parsed in full
//! before anything is built from it.

use wide::u8x16;

/// Bitmasks of one 64-byte block, bit `i` for byte `i`. `backslashes`,
/// `openers` and `closers` are left zero when the block has none of them,
/// the common case (base64, names): then only the quotes are extracted.
#[derive(Default)]
struct Block {
    quotes: u64,
    backslashes: u64,
    openers: u64,
    closers: u64,
}

impl Block {
    fn classify(bytes: &[u8; 64]) -> Block {
        let lanes: [u8x16; 4] = std::array::from_fn(|k| {
            let mut array = [0u8; 16];
            array.copy_from_slice(&bytes[16 * k..16 * k + 16]);
            u8x16::new(array)
        });
        let mask = |k: usize, m: u8x16| u64::from(m.to_bitmask()) << (16 * k);
        let mut block = Block::default();
        let mut others = [u8x16::splat(0); 4];
        let mut any = u8x16::splat(0);
        for (k, v) in lanes.iter().enumerate() {
            block.quotes |= mask(k, v.simd_eq(u8x16::splat(b'"')));
            // `[`/`{` and `]`/`}` differ only in bit 0x20
            let folded = *v | u8x16::splat(0x20);
            others[k] = v.simd_eq(u8x16::splat(b'\\'))
                | folded.simd_eq(u8x16::splat(b'{'))
                | folded.simd_eq(u8x16::splat(b'}'));
            any |= others[k];
        }
        if any.to_bitmask() == 0 {
            return block;
        }
        for (k, v) in lanes.iter().enumerate() {
            if others[k].to_bitmask() == 0 {
                continue;
            }
            let folded = *v | u8x16::splat(0x20);
            block.backslashes |= mask(k, v.simd_eq(u8x16::splat(b'\\')));
            block.openers |= mask(k, folded.simd_eq(u8x16::splat(b'{')));
            block.closers |= mask(k, folded.simd_eq(u8x16::splat(b'}')));
        }
        block
    }
}

/// The bytes escaped by a backslash in a block: `carry` says whether the
/// first byte is (a backslash ended the previous block); it is updated for
/// the next. Backslashes are rare in certstream messages, so this walks them.
fn escaped_bytes(backslashes: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    // an escaped backslash starts no escape
    let mut starters = backslashes & !escaped;
    *carry = false;
    while starters != 0 {
        let at = starters.trailing_zeros();
        if at == 63 {
            *carry = true;
        } else {
            escaped |= 1 << (at + 1);
        }
        starters &= !(1 << at);
        starters &= !escaped;
    }
    escaped
}

/// Bit `i` set for every byte from an opening quote up to (not including)
/// its closing quote; `inside` says whether the block starts in a string,
/// and is updated for the next.
fn string_bytes(quotes: u64, inside: &mut u64) -> u64 {
    // prefix XOR: bit i = parity of the quotes at or before i
    let mut x = quotes;
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    let strings = x ^ *inside;
    // all ones when the last byte is inside a string
    *inside = 0u64.wrapping_sub(strings >> 63);
    strings
}

/// The index just past the object or array that opens at `start` (which
/// must be `{` or `[`), or `None` if the document ends first.
pub(crate) fn container_end(bytes: &[u8], start: usize) -> Option<usize> {
    if !matches!(bytes.get(start), Some(b'{' | b'[')) {
        return None;
    }
    let mut inside = 0u64;
    let mut carry = false;
    let mut depth = 0u32;
    let mut at = start;
    while at < bytes.len() {
        let block = match bytes
            .get(at..at + 64)
            .and_then(|b| <&[u8; 64]>::try_from(b).ok())
        {
            Some(whole) => Block::classify(whole),
            None => {
                // the last, partial block: padded with spaces
                let mut chunk = [b' '; 64];
                let n = bytes.len() - at;
                chunk[..n].copy_from_slice(&bytes[at..]);
                Block::classify(&chunk)
            }
        };
        let escaped = escaped_bytes(block.backslashes, &mut carry);
        let strings = string_bytes(block.quotes & !escaped, &mut inside);
        let openers = block.openers & !strings & !escaped;
        let closers = block.closers & !strings & !escaped;
        // few brackets per block, most blocks none: walked one by one
        // (x86-64's baseline has no popcount instruction to count them)
        let mut brackets = openers | closers;
        while brackets != 0 {
            let bit = brackets & brackets.wrapping_neg();
            if openers & bit != 0 {
                depth += 1;
            } else {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + bit.trailing_zeros() as usize + 1);
                }
            }
            brackets &= brackets - 1;
        }
        at += 64;
        if block.quotes == 0 && inside != 0 && !carry {
            // the whole block was inside a string, a long one (base64 DER):
            // on to its next quote or backslash at memchr's speed
            at += memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
        }
    }
    None
}

/// The index just past the string whose opening quote is at `start`, or
/// `None` if the document ends first.
pub(crate) fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        at += memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[at] == b'"' {
            return Some(at + 1);
        }
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answer by walking byte by byte. A backslash escapes the
    /// next byte wherever it is (outside a string it is invalid JSON, and
    /// only the answer's consistency matters).
    fn slow_end(bytes: &[u8], start: usize) -> Option<usize> {
        let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
        for (i, &c) in bytes.iter().enumerate().skip(start) {
            if escaped {
                escaped = false;
                continue;
            }
            if c == b'\\' {
                escaped = true;
                continue;
            }
            if in_string {
                in_string = c != b'"';
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }

    #[test]
    fn ends_of_hand_picked_values() {
        let cases: &[(&str, Option<usize>)] = &[
            ("{}", Some(2)),
            ("[1, [2], {\"a\": [3]}] tail", Some(20)),
            (r#"{"a": "}]"} x"#, Some(11)),
            (r#"{"a": "\"}"} x"#, Some(12)),
            (r#"{"a": "\\"} x"#, Some(11)),
            (r#"{"a": "\\\"}"}"#, Some(14)),
            ("{\"a\": [", None),
            ("{\"a\": \"}", None),
            ("x", None),
            ("", None),
        ];
        for (doc, end) in cases {
            assert_eq!(container_end(doc.as_bytes(), 0), *end, "{doc}");
            if doc.starts_with(['{', '[']) {
                assert_eq!(slow_end(doc.as_bytes(), 0), *end, "{doc}");
            }
        }
    }

    #[test]
    fn escapes_quotes_and_brackets_across_block_boundaries() {
        // a backslash run, a quote or a bracket at every offset around the
        // 64-byte boundaries, starting at several offsets
        let mut rng = fastrand::Rng::with_seed(11);
        let pieces = ["\\\\", "\\\"", "\"", "[", "]", "{", "}", "a", " ", "\\"];
        for round in 0..20_000 {
            let mut doc = String::from(if round % 2 == 0 { "{" } else { "[\"" });
            for _ in 0..rng.usize(0..200) {
                doc.push_str(pieces[rng.usize(..pieces.len())]);
            }
            let prefix = " ".repeat(round % 70);
            let doc = format!("{prefix}{doc}");
            let start = prefix.len();
            assert_eq!(
                container_end(doc.as_bytes(), start),
                slow_end(doc.as_bytes(), start),
                "round {round}: {doc:?}"
            );
        }
    }

    #[test]
    fn long_strings_with_escapes_anywhere() {
        // blocks wholly inside a string are jumped over with memchr
        for before in (0..200).step_by(7) {
            for after in (0..140).step_by(5) {
                for escape in ["\\\"", "\\\\", "\\u005d", "]"] {
                    let doc = format!(
                        "{{\"der\":\"{}{escape}{}\",\"x\":[1]}} tail",
                        "A".repeat(before),
                        "B".repeat(after)
                    );
                    let want = doc.len() - " tail".len();
                    assert_eq!(container_end(doc.as_bytes(), 0), Some(want), "{doc}");
                    assert_eq!(slow_end(doc.as_bytes(), 0), Some(want), "{doc}");
                }
            }
        }
    }

    #[test]
    fn whole_real_frames_and_their_chains() {
        let entries: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/fixtures/live_ct.json")).unwrap();
        for e in &entries {
            let frame = e["expected_full"].as_str().unwrap().as_bytes();
            assert_eq!(container_end(frame, 0), Some(frame.len()));
            let chain = memchr::memmem::find(frame, b"\"chain\":").unwrap() + 8;
            let end = container_end(frame, chain).unwrap();
            let parsed: serde_json::Value = serde_json::from_slice(&frame[chain..end]).unwrap();
            assert!(parsed.is_array());
        }
    }

    #[test]
    fn strings() {
        let doc = br#""ab\"c\\" rest"#;
        assert_eq!(string_end(doc, 0), Some(9));
        assert_eq!(string_end(br#""abc\""#, 0), None);
        assert_eq!(string_end(b"\"abc\\", 0), None);
    }
}
