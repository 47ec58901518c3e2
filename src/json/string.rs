//! The string parts of the scanner: finding where plain string content
//! ends, eight bytes at a time, and decoding escapes.

/// Whether a byte ends a run of plain string content: a quote, a
/// backslash or a control character.
fn is_special(c: u8) -> bool {
    // `|`, not `||`: no branches, so loops over it vectorise
    (c == b'"') | (c == b'\\') | (c < 0x20)
}

/// The high bit of each byte of `v` that [`is_special`], exact for the
/// lowest such byte (the bits above it may be spurious).
fn special_bytes(v: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = v ^ (ONES * b'"' as u64);
    let backslash = v ^ (ONES * b'\\' as u64);
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero(quote) | zero(backslash) | (v.wrapping_sub(ONES * 0x20) & !v)) & HIGH
}

/// The first special byte at or after `i` (or the end), eight bytes at a
/// time: most strings in a frame are short, so this beats a call out to a
/// vectorised search.
pub(super) fn find_special(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let found = special_bytes(u64::from_le_bytes(word));
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|&c| !is_special(c)) {
        i += 1;
    }
    i
}

fn hex4(h: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(h.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Resolve the escapes of a string whose shape [`Reader::string_span`]
/// checked; `\u` surrogates must pair, as serde_json requires of a string
/// it returns.
pub(super) fn unescape(raw: &[u8]) -> Result<String, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + k]);
        i += k + 1;
        let c = *raw.get(i).ok_or("invalid escape")?;
        i += 1;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(&raw[i..]).ok_or("invalid escape")?;
                i += 4;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        if raw.get(i..i + 2) != Some(b"\\u") {
                            return Err("lone leading surrogate in hex escape");
                        }
                        let lo = hex4(&raw[i + 2..]).ok_or("invalid escape")?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err("lone leading surrogate in hex escape");
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err("lone trailing surrogate in hex escape"),
                    code => code,
                };
                let ch = char::from_u32(code).ok_or("invalid unicode code point")?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return Err("invalid escape"),
        };
        out.push(byte);
    }
    out.extend_from_slice(&raw[i..]);
    String::from_utf8(out).map_err(|_| "invalid unicode code point")
}
