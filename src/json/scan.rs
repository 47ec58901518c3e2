//! A JSON reader that walks a document in place: the caller asks for the
//! members it wants and skips the rest, either checked
//! ([`Reader::skip`]) or checked only for structure ([`Reader::skip_unread`],
//! [`super::skip`]).
//!
//! What it reads and checks is what serde_json accepts when ignoring a
//! value (RFC 8259: no trailing commas, no comments, numbers by the
//! grammar, escapes `\" \\ \/ \b \f \n \r \t \uXXXX`, no raw control
//! characters, only whitespace after the document), and nesting to 128
//! levels, the limit serde_json puts on a value it builds. Strings the
//! caller takes ([`Reader::string`], [`Key::text`]) are unescaped and
//! checked as UTF-8; other strings are only scanned, as serde_json does for
//! an ignored value. A unit test holds [`Reader::skip`] and serde_json to
//! the same answer on mutated real frames.

use super::Str;
use super::string::{find_special, unescape};
use std::borrow::Cow;

/// serde_json's default recursion limit.
const MAX_DEPTH: usize = 128;

/// Why a document was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct SyntaxError {
    pub what: &'static str,
    pub at: usize,
}

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Literal,
}

/// A string as written (escapes not yet resolved): an object key, or a
/// value whose text may not be needed ([`Reader::string_raw`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'a> {
    raw: &'a [u8],
    escaped: bool,
    at: usize,
}

impl<'a> Key<'a> {
    /// Whether it is the empty string.
    pub(crate) fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The text, unescaped and checked as UTF-8; borrowed unless it had
    /// escapes.
    pub(crate) fn text(&self) -> Result<Str<'a>, SyntaxError> {
        let fail = |what| SyntaxError { what, at: self.at };
        Ok(Str(if self.escaped {
            Cow::Owned(unescape(self.raw).map_err(fail)?)
        } else {
            Cow::Borrowed(
                std::str::from_utf8(self.raw).map_err(|_| fail("invalid unicode code point"))?,
            )
        }))
    }

    /// Whether the key, unescaped, is `name`.
    pub(crate) fn is(&self, name: &str) -> bool {
        if !self.escaped {
            return self.raw == name.as_bytes();
        }
        unescape(self.raw).is_ok_and(|k| k == name)
    }
}

/// A cursor over one JSON document.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            b: bytes,
            i: 0,
            depth: 0,
        }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, SyntaxError> {
        Err(SyntaxError { what, at: self.i })
    }

    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    /// Only whitespace may follow the document.
    pub(crate) fn finish(mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.fail("trailing characters"),
        }
    }

    /// The kind of the next value, without consuming it.
    pub(crate) fn kind(&mut self) -> Result<Kind, SyntaxError> {
        match self.peek() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b't' | b'f' | b'n') => Ok(Kind::Literal),
            Some(_) => self.fail("expected value"),
            None => self.fail("EOF while parsing a value"),
        }
    }

    /// Consume a `null`; `false` (nothing consumed) for any other value.
    pub(crate) fn null(&mut self) -> Result<bool, SyntaxError> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.skip().map(|()| true)
    }

    fn open(&mut self, byte: u8, what: &'static str) -> Result<(), SyntaxError> {
        if self.peek() != Some(byte) {
            return self.fail(what);
        }
        if self.depth == MAX_DEPTH {
            return self.fail("recursion limit exceeded");
        }
        self.depth += 1;
        self.i += 1;
        Ok(())
    }

    /// Step into an object; then call [`Reader::next_key`] until `None`.
    pub(crate) fn begin_object(&mut self) -> Result<(), SyntaxError> {
        self.open(b'{', "expected an object")
    }

    /// Step into an array; then call [`Reader::next_item`] until `false`.
    pub(crate) fn begin_array(&mut self) -> Result<(), SyntaxError> {
        self.open(b'[', "expected an array")
    }

    /// Before each member but the first: a comma, or the end of the
    /// container. `Ok(false)` when the container ended.
    fn separator(&mut self, first: &mut bool, close: u8) -> Result<bool, SyntaxError> {
        let c = self.peek();
        if c == Some(close) {
            // (a comma before the close is caught where the comma is read)
            self.i += 1;
            self.depth -= 1;
            return Ok(false);
        }
        if *first {
            *first = false;
            return Ok(true);
        }
        match c {
            Some(b',') => {
                self.i += 1;
                // a comma must be followed by a member, not the close
                if self.peek() == Some(close) {
                    return self.fail("trailing comma");
                }
                Ok(true)
            }
            Some(_) => self.fail(if close == b'}' {
                "expected `,` or `}`"
            } else {
                "expected `,` or `]`"
            }),
            None => self.fail("EOF while parsing a container"),
        }
    }

    /// The next member's key (the reader is then at its value, which the
    /// caller must read or skip), or `None` at the end of the object.
    pub(crate) fn next_key(&mut self, first: &mut bool) -> Result<Option<Key<'a>>, SyntaxError> {
        if !self.separator(first, b'}')? {
            return Ok(None);
        }
        if self.peek() != Some(b'"') {
            return self.fail("key must be a string");
        }
        let at = self.i;
        let (raw, escaped) = self.string_span()?;
        if self.peek() != Some(b':') {
            return self.fail("expected `:`");
        }
        self.i += 1;
        Ok(Some(Key { raw, escaped, at }))
    }

    /// Whether the array has another element (the reader is then at it).
    pub(crate) fn next_item(&mut self, first: &mut bool) -> Result<bool, SyntaxError> {
        self.separator(first, b']')
    }

    /// A string value, unescaped and checked as UTF-8; borrowed unless it
    /// had escapes.
    pub(crate) fn string(&mut self) -> Result<Str<'a>, SyntaxError> {
        self.string_raw()?.text()
    }

    /// A string value as written: its escapes are checked for shape, its
    /// text is decoded only if asked ([`Key::text`]).
    pub(crate) fn string_raw(&mut self) -> Result<Key<'a>, SyntaxError> {
        if self.peek() != Some(b'"') {
            return self.fail("expected a string");
        }
        let at = self.i;
        let (raw, escaped) = self.string_span()?;
        Ok(Key { raw, escaped, at })
    }

    /// A number value as `f64`.
    pub(crate) fn number(&mut self) -> Result<f64, SyntaxError> {
        self.peek();
        let start = self.i;
        self.skip_number()?;
        // the grammar was checked, so this is ASCII and parses
        std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or_else(|| self.fail("invalid number"), Ok)
    }

    /// Skip one value of any kind, checking it.
    pub(crate) fn skip(&mut self) -> Result<(), SyntaxError> {
        match self.kind()? {
            Kind::Object => {
                self.begin_object()?;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip()?;
                }
                Ok(())
            }
            Kind::Array => {
                self.begin_array()?;
                let mut first = true;
                while self.next_item(&mut first)? {
                    self.skip()?;
                }
                Ok(())
            }
            Kind::String => self.string_span().map(|_| ()),
            Kind::Number => self.skip_number(),
            Kind::Literal => {
                let rest = &self.b[self.i..];
                for word in [&b"true"[..], b"false", b"null"] {
                    if rest.starts_with(word) {
                        self.i += word.len();
                        return Ok(());
                    }
                }
                self.fail("expected value")
            }
        }
    }

    /// Skip one value this reader's caller does not use: an object or an
    /// array is checked only for its structure ([`super::skip`]), a string
    /// only for its end; a number or a literal is checked as by
    /// [`Reader::skip`] (it is short).
    pub(crate) fn skip_unread(&mut self) -> Result<(), SyntaxError> {
        let end = match self.kind()? {
            Kind::Object | Kind::Array => super::skip::container_end(self.b, self.i),
            Kind::String => super::skip::string_end(self.b, self.i),
            Kind::Number | Kind::Literal => return self.skip(),
        };
        match end {
            Some(end) => {
                self.i = end;
                Ok(())
            }
            None => self.fail("EOF while skipping a value"),
        }
    }

    /// The byte offset of the next value (after any whitespace).
    pub(crate) fn position(&mut self) -> usize {
        self.peek();
        self.i
    }

    fn digits(&mut self) -> usize {
        let n = self.b[self.i..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        self.i += n;
        n
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn skip_number(&mut self) -> Result<(), SyntaxError> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("invalid number"),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        Ok(())
    }

    /// From the opening quote to past the closing one: the raw content and
    /// whether it has escapes (each checked for shape).
    fn string_span(&mut self) -> Result<(&'a [u8], bool), SyntaxError> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = find_special(self.b, self.i);
            match self.b.get(self.i) {
                Some(b'"') => {
                    let raw = &self.b[start..self.i];
                    self.i += 1;
                    return Ok((raw, escaped));
                }
                Some(b'\\') => {}
                Some(_) => {
                    return self
                        .fail("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => return self.fail("EOF while parsing a string"),
            }
            escaped = true;
            self.i += 1;
            match self.b.get(self.i) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                Some(b'u') => {
                    let hex = self.b.get(self.i + 1..self.i + 5);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return self.fail("invalid escape");
                    }
                    self.i += 5;
                }
                Some(_) => return self.fail("invalid escape"),
                None => return self.fail("EOF while parsing a string"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::frames::mutated_real_frames;
    use serde::de::IgnoredAny;

    fn accepts(doc: &[u8]) -> bool {
        let mut r = Reader::new(doc);
        r.skip().is_ok() && r.finish().is_ok()
    }

    fn serde_accepts(doc: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(doc).is_ok()
    }

    #[test]
    fn accepts_and_rejects_like_serde_json_on_hand_picked_documents() {
        let docs: &[&[u8]] = &[
            b"{}",
            b" [ ] ",
            b"[1,2]",
            b"[1,2,]",
            b"[,1]",
            b"{\"a\":1,}",
            b"{,}",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{1:2}",
            b"[01]",
            b"[-0.5e+3, 1E9, -0, 0.0]",
            b"[1.]",
            b"[.5]",
            b"[-]",
            b"[1e]",
            b"[true,false,null]",
            b"[tru]",
            b"[nul]",
            b"\"a\\u00e9\\n\"",
            b"\"a\\x\"",
            b"\"a\\u12\"",
            b"\"tab\there\"",
            b"\"unterminated",
            b"[\"a\"] x",
            b"[[[[]]]]",
            b"{\"a\":[{\"b\":\"c\\\"\"}]}",
            b"",
            b"   ",
            b"\"\\ud800\"",
        ];
        for doc in docs {
            assert_eq!(
                accepts(doc),
                serde_accepts(doc),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
        // nesting is limited as serde_json limits a value it builds (an
        // ignored value it walks without limit)
        let nested = |n: usize| [vec![b'['; n], vec![b']'; n]].concat();
        let too_deep = serde_json::from_slice::<serde_json::Value>(&nested(129));
        assert!(!accepts(&nested(129)) && too_deep.is_err());
        assert!(accepts(&nested(128)));
    }

    #[test]
    fn accepts_and_rejects_like_serde_json_on_mutated_real_frames() {
        let (mut accepted, mut rejected) = (0, 0);
        for (round, doc) in mutated_real_frames(6_000).into_iter().enumerate() {
            let ours = accepts(&doc);
            assert_eq!(
                ours,
                serde_accepts(&doc),
                "round {round}: {}",
                String::from_utf8_lossy(&doc)
            );
            if ours { accepted += 1 } else { rejected += 1 }
        }
        // both outcomes were exercised
        assert!(accepted > 500 && rejected > 500, "{accepted} / {rejected}");
    }

    #[test]
    fn strings_are_unescaped_and_borrowed_when_plain() {
        let mut r = Reader::new(
            br#"["paypa1.com", "p\u0061y\/pal\n", "\ud83d\ude00", "\udc00", "\ud800x"]"#,
        );
        r.begin_array().unwrap();
        let mut first = true;
        assert!(r.next_item(&mut first).unwrap());
        assert!(matches!(r.string().unwrap().0, Cow::Borrowed("paypa1.com")));
        assert!(r.next_item(&mut first).unwrap());
        assert_eq!(r.string().unwrap().0, "pay/pal\n");
        assert!(r.next_item(&mut first).unwrap());
        assert_eq!(r.string().unwrap().0, "😀");
        assert!(r.next_item(&mut first).unwrap());
        assert!(r.string().is_err());
        let mut r = Reader::new(b"\"\xff\"");
        assert!(r.string().is_err());
    }

    #[test]
    fn keys_numbers_and_positions() {
        let mut r = Reader::new(br#"{"se\u0065n": 1700000000.5, "n": -2e3, "x": 01}"#);
        r.begin_object().unwrap();
        let mut first = true;
        let k = r.next_key(&mut first).unwrap().unwrap();
        assert!(k.is("seen") && !k.is("see"));
        assert_eq!(r.number().unwrap(), 1_700_000_000.5);
        assert!(r.next_key(&mut first).unwrap().unwrap().is("n"));
        assert_eq!(r.number().unwrap(), -2000.0);
        assert!(r.next_key(&mut first).unwrap().unwrap().is("x"));
        r.skip().unwrap();
        // `01` is `0` then a stray `1`
        let e = r.next_key(&mut first).unwrap_err();
        assert_eq!(e.what, "expected `,` or `}`");
        assert_eq!(e.at, 45);
    }
}
