//! JSON strings read without copying: certstream frames and homograph lists
//! are mostly strings, and most of them are only looked at once.

#[cfg(test)]
pub(crate) mod frames;
pub(crate) mod scan;
mod skip;
mod string;

use serde::de::{Deserialize, Deserializer, Visitor};
use std::borrow::Cow;

/// A JSON string borrowed from the input unless it had escapes.
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Str<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(v)))
    }
}

impl Str<'_> {
    pub(crate) fn owned(self) -> String {
        self.0.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_unless_escaped() {
        let plain: Str<'_> = serde_json::from_str(r#""paypa1.com""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("paypa1.com")));
        let escaped: Str<'_> = serde_json::from_str(r#""p\u0061ypa1""#).unwrap();
        assert!(matches!(escaped.0, Cow::Owned(ref s) if s == "paypa1"));
        assert!(serde_json::from_str::<Str<'_>>("5").is_err());
    }
}
