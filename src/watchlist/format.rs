//! The homograph list format (XSOAR list JSON): `{"paypal.com": ["paypa1", "pаypal.com"]}`.
//!
//! Keys are protected domains (the brand's own; never alert). A variant with a
//! dot is a full domain, without a dot a label that matches any registrable
//! label equal to it. Parsing validates everything and names the place of the
//! first problem, so a broken list is rejected as a whole.

use crate::domain::{Fqdn, normalise_label};
use crate::json::Str;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Drop variants that normalise to one already listed, keeping the first,
/// in list order (a sort of indices: no copy of any string).
fn dedup_keeping_first(variants: &mut Vec<Variant>) {
    let mut order: Vec<usize> = (0..variants.len()).collect();
    order.sort_by(|a, b| {
        variants[*a]
            .display()
            .cmp(variants[*b].display())
            .then(a.cmp(b))
    });
    let mut keep = vec![true; variants.len()];
    for w in order.windows(2) {
        if variants[w[0]].display() == variants[w[1]].display() {
            keep[w[1]] = false;
        }
    }
    let mut i = 0;
    variants.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("list is not valid JSON: {0}")]
    Json(String),
    #[error("list must be a JSON object of {{\"domain\": [variants]}}")]
    NotObject,
    #[error("list has no domains")]
    Empty,
    #[error("list key {key:?}: {problem}")]
    BadKey { key: String, problem: String },
    #[error("list key {key:?}: must map to an array of strings")]
    NotArray { key: String },
    #[error("list key {key:?}, item {index}: {problem}")]
    BadVariant {
        key: String,
        index: usize,
        problem: String,
    },
    #[error("list is {size} bytes, larger than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
}

/// A listed variant, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variant {
    /// A registrable label (Unicode form), e.g. `paypa1`.
    Label(String),
    /// A full domain, e.g. `pаypal.com`.
    Domain(Fqdn),
}

impl Variant {
    /// The variant as written in explanations (Unicode form).
    pub fn display(&self) -> &str {
        match self {
            Variant::Label(l) => l,
            Variant::Domain(d) => d.unicode(),
        }
    }

    /// The registrable label it names: the label itself, or a domain's
    /// label left of its public suffix.
    /// `None` for a domain with labels left of its registrable one
    /// (`payp.al.com`): its registrable label (`al`) names nothing.
    pub(crate) fn label(&self) -> Option<&str> {
        match self {
            Variant::Label(l) => Some(l),
            Variant::Domain(d) if d.subdomain_labels().next().is_none() => {
                Some(d.registrable_label())
            }
            Variant::Domain(_) => None,
        }
    }
}

/// One protected domain and its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandEntry {
    pub domain: Fqdn,
    pub variants: Vec<Variant>,
}

/// A validated list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Watchlist {
    pub brands: Vec<BrandEntry>,
}

impl Watchlist {
    /// Parse and validate list JSON.
    pub fn parse(text: &str, max_bytes: usize) -> Result<Watchlist, ListError> {
        if text.len() > max_bytes {
            return Err(ListError::TooLarge {
                size: text.len(),
                limit: max_bytes,
            });
        }
        // variants are read brand by brand from the raw text: a
        // million-variant list is never held as one JSON tree
        let object: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| {
            match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => ListError::NotObject,
                Err(_) => ListError::Json(e.to_string()),
            }
        })?;
        if object.is_empty() {
            return Err(ListError::Empty);
        }
        let mut brands = Vec::with_capacity(object.len());
        for (key, variants) in &object {
            let domain = Fqdn::parse_domain(key).map_err(|e| ListError::BadKey {
                key: key.clone(),
                problem: e.to_string(),
            })?;
            if domain.is_wildcard() {
                return Err(ListError::BadKey {
                    key: key.clone(),
                    problem: "a protected domain cannot be a wildcard".into(),
                });
            }
            let items: Vec<&RawValue> = serde_json::from_str(variants.get())
                .map_err(|_| ListError::NotArray { key: key.clone() })?;
            let mut parsed = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let bad = |problem: String| ListError::BadVariant {
                    key: key.clone(),
                    index,
                    problem,
                };
                // borrowed from the text unless the string has escapes
                let s = serde_json::from_str::<Str<'_>>(item.get())
                    .map_err(|_| bad("expected a string".into()))?
                    .0;
                let variant = if s.trim().trim_end_matches('.').contains('.') {
                    Variant::Domain(Fqdn::parse(&s).map_err(|e| bad(e.to_string()))?)
                } else {
                    Variant::Label(normalise_label(&s).map_err(|e| bad(e.to_string()))?)
                };
                parsed.push(variant);
            }
            dedup_keeping_first(&mut parsed);
            brands.push(BrandEntry {
                domain,
                variants: parsed,
            });
        }
        Ok(Watchlist { brands })
    }

    pub fn variant_count(&self) -> usize {
        self.brands.iter().map(|b| b.variants.len()).sum()
    }

    /// The list back in its JSON form (Unicode variants as given after normalisation).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for b in &self.brands {
            let variants = b
                .variants
                .iter()
                .map(|v| serde_json::Value::String(v.display().to_owned()))
                .collect();
            map.insert(
                b.domain.unicode().to_owned(),
                serde_json::Value::Array(variants),
            );
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    #[test]
    fn parses_labels_and_domains() {
        let w = Watchlist::parse(
            r#"{"PayPal.com": ["paypa1", "pаypal.com", "xn--pypal-4ve.com", "paypa1"], "apple.com": []}"#,
            MAX,
        )
        .unwrap();
        assert_eq!(w.brands.len(), 2);
        assert_eq!(w.brands[0].domain.ascii(), "paypal.com");
        // duplicates (also across Unicode / punycode forms) are dropped
        assert_eq!(w.brands[0].variants.len(), 2);
        assert_eq!(w.variant_count(), 2);
        // the first of each is kept, in list order; escaped strings are read too
        let w = Watchlist::parse(
            r#"{"a.com": ["Zed", "b\u0065e", "zed", "bee", "ant"]}"#,
            MAX,
        )
        .unwrap();
        let kept: Vec<&str> = w.brands[0].variants.iter().map(Variant::display).collect();
        assert_eq!(kept, ["zed", "bee", "ant"]);
    }

    #[test]
    fn errors_name_the_place() {
        let e = |t: &str| Watchlist::parse(t, MAX).unwrap_err().to_string();
        assert!(e("{").contains("not valid JSON"));
        assert!(e("[]").contains("JSON object"));
        assert!(e("{}").contains("no domains"));
        assert!(e(r#"{"paypal.com": "x"}"#).contains("\"paypal.com\""));
        let bad = e(r#"{"paypal.com": ["ok", 3]}"#);
        assert!(bad.contains("item 1") && bad.contains("string"), "{bad}");
        assert!(e(r#"{"not a domain": []}"#).contains("not a domain"));
        assert!(e(r#"{"paypal.com": ["a b"]}"#).contains("item 0"));
        assert!(matches!(
            Watchlist::parse(r#"{"a.com": []}"#, 3),
            Err(ListError::TooLarge { .. })
        ));
    }
}
