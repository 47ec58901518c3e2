//! The homograph list format (XSOAR list JSON): `{"paypal.com": ["paypa1", "pаypal.com"]}`.
//!
//! With tenants (`[[tenants]]`, an MSSP's customers) the lists of all
//! tenants travel as one bundle, `{"tenants": {"acme": {list}, "globex":
//! {list}}}`: each tenant's list is validated like a plain one, and a brand
//! several tenants list is one entry, with the variants of all of them and
//! the tenants that list it, so it is compiled once.
//!
//! Keys are protected domains (the brand's own; never alert). A variant with a
//! dot is a full domain, without a dot a label that matches any registrable
//! label equal to it. Parsing validates everything and names the place of the
//! first problem, so a broken list is rejected as a whole.

use crate::domain::{Fqdn, normalise_label};
use crate::json::Str;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

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
    #[error("tenant {tenant:?}: {problem}")]
    Tenant { tenant: String, problem: String },
}

/// The key of a tenant bundle: not a domain, so no plain list has it.
pub(crate) const TENANTS_KEY: &str = "tenants";

/// The tenant of a plain list (and of every incident made without tenants).
pub use crate::model::DEFAULT_TENANT;

/// A tenant id is 1 to 32 characters of `a-z 0-9 _ -`, starting with a
/// letter or digit: it is part of bus subjects, file names and URLs.
pub(crate) fn valid_tenant_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a tenant id (1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit)"
        ))
    }
}

/// A listed variant, normalised: a view into its brand's [`Variants`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant<'a> {
    text: &'a str,
    domain: bool,
    label_len: u16,
}

impl<'a> Variant<'a> {
    /// The variant as written in explanations (Unicode form).
    pub fn display(self) -> &'a str {
        self.text
    }

    /// A full domain (`pаypal.com`), not a registrable label (`paypa1`).
    pub fn is_domain(self) -> bool {
        self.domain
    }

    /// The registrable label it names: the label itself, or a domain's
    /// label left of its public suffix.
    /// `None` for a domain with labels left of its registrable one
    /// (`payp.al.com`): its registrable label (`al`) names nothing.
    pub(crate) fn label(self) -> Option<&'a str> {
        match self.label_len {
            0 => None,
            n => self.text.get(..usize::from(n)),
        }
    }
}

/// Where one variant sits in [`Variants::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u16,
    /// Length of the registrable label at the start; 0 when there is none.
    label_len: u16,
    domain: bool,
}

/// One brand's variants, packed: their display forms in one string and a
/// 12-byte span each. A generated list for 1,000 brands holds millions of
/// variants; one allocation per variant would be most of the memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variants {
    text: String,
    spans: Vec<Span>,
}

impl Variants {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Variant `i`, in list order.
    pub fn get(&self, i: usize) -> Option<Variant<'_>> {
        self.spans.get(i).map(|span| self.view(span))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Variant<'_>> + '_ {
        self.spans.iter().map(|span| self.view(span))
    }

    fn text_of(&self, span: &Span) -> &str {
        let start = span.start as usize;
        // spans are made by `push` over this text: always in range
        self.text
            .get(start..start + usize::from(span.len))
            .unwrap_or("")
    }

    fn view(&self, span: &Span) -> Variant<'_> {
        Variant {
            text: self.text_of(span),
            domain: span.domain,
            label_len: span.label_len,
        }
    }

    /// Append a variant; `None` when the packed text would outgrow its
    /// 32-bit offsets or the variant its 16-bit length.
    fn push(&mut self, text: &str, domain: bool, label_len: usize) -> Option<()> {
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u16::try_from(text.len()).ok()?;
        let label_len = u16::try_from(label_len).ok()?;
        start.checked_add(u32::from(len))?;
        self.text.push_str(text);
        self.spans.push(Span {
            start,
            len,
            label_len,
            domain,
        });
        Some(())
    }

    /// Add `other`'s variants after these (duplicates dropped).
    fn extend(&mut self, other: &Variants) {
        for span in &other.spans {
            // both fit: `other` holds them, and a brand's variants
            // stay far below 4 GB in any list `max_bytes` lets through
            let _ = self.push(
                other.text_of(span),
                span.domain,
                usize::from(span.label_len),
            );
        }
        self.dedup_keeping_first();
    }

    /// Drop variants that normalise to one already listed, keeping the
    /// first, in list order (a sort of indices), and repack the text.
    fn dedup_keeping_first(&mut self) {
        let text_of = |s: &Span| self.text_of(s);
        let mut order: Vec<u32> = (0..self.spans.len() as u32).collect();
        order.sort_unstable_by(|a, b| {
            text_of(&self.spans[*a as usize])
                .cmp(text_of(&self.spans[*b as usize]))
                .then(a.cmp(b))
        });
        let mut keep = vec![true; self.spans.len()];
        let mut dropped = false;
        for w in order.windows(2) {
            if text_of(&self.spans[w[0] as usize]) == text_of(&self.spans[w[1] as usize]) {
                keep[w[1] as usize] = false;
                dropped = true;
            }
        }
        if !dropped {
            return;
        }
        let mut packed = Variants {
            text: String::with_capacity(self.text.len()),
            spans: Vec::with_capacity(self.spans.len()),
        };
        for (span, keep) in self.spans.iter().zip(keep) {
            if keep {
                let start = packed.text.len() as u32;
                packed.text.push_str(text_of(span));
                packed.spans.push(Span { start, ..*span });
            }
        }
        *self = packed;
    }

    fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.spans.shrink_to_fit();
    }
}

/// One protected domain and its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandEntry {
    pub domain: Fqdn,
    pub variants: Variants,
    /// The tenants that list it (indices into [`Watchlist::tenants`]);
    /// empty in a plain list, whose brands are the default tenant's.
    pub tenants: Vec<u16>,
}

/// A validated list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Watchlist {
    pub brands: Vec<BrandEntry>,
    /// A bundle's tenants, sorted; empty for a plain list.
    pub tenants: Vec<String>,
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
        if let (1, Some(bundle)) = (object.len(), object.get(TENANTS_KEY)) {
            return parse_bundle(bundle);
        }
        Ok(Watchlist {
            brands: parse_brands(&object)?,
            tenants: Vec::new(),
        })
    }

    /// The brands of shard `shard` of `shards` (by a hash of the brand's
    /// domain: the same in every process and release), with the tenants.
    pub fn shard(&self, shard: u16, shards: u16) -> Watchlist {
        Watchlist {
            brands: self
                .brands
                .iter()
                .filter(|b| shard_of(b.domain.ascii(), shards) == shard)
                .cloned()
                .collect(),
            tenants: self.tenants.clone(),
        }
    }

    /// The tenants listing `brand` (the default tenant's for a plain list).
    pub fn tenants_of<'a>(&'a self, brand: &'a BrandEntry) -> impl Iterator<Item = &'a str> + 'a {
        let plain = self.tenants.is_empty().then_some(DEFAULT_TENANT);
        plain.into_iter().chain(
            brand
                .tenants
                .iter()
                .filter_map(|i| self.tenants.get(usize::from(*i)).map(String::as_str)),
        )
    }

    pub fn variant_count(&self) -> usize {
        self.brands.iter().map(|b| b.variants.len()).sum()
    }

    /// The list back in its JSON form (Unicode variants as given after
    /// normalisation); a bundle gives each tenant its brands, with the
    /// variants every tenant listing the brand gave (what is matched).
    pub fn to_json(&self) -> serde_json::Value {
        if self.tenants.is_empty() {
            return brands_json(self.brands.iter());
        }
        let tenants = self
            .tenants
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let own = self
                    .brands
                    .iter()
                    .filter(|b| b.tenants.iter().any(|t| usize::from(*t) == i));
                (id.clone(), brands_json(own))
            })
            .collect();
        serde_json::json!({ TENANTS_KEY: serde_json::Value::Object(tenants) })
    }
}

/// The shard of `domain` among `shards`: FNV-1a 64 of its ASCII form.
pub(crate) fn shard_of(domain: &str, shards: u16) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in domain.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(shards.max(1))) as u16
}

fn brands_json<'a>(brands: impl Iterator<Item = &'a BrandEntry>) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for b in brands {
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

/// `{"acme": {list}, ...}`: every tenant's list parsed, then one entry per
/// brand with the variants and tenants of all who list it. Tenants share
/// brands (10,000 customers, 50,000 distinct brands): each distinct key is
/// parsed once, on every core.
fn parse_bundle(bundle: &RawValue) -> Result<Watchlist, ListError> {
    let lists: BTreeMap<String, &RawValue> =
        serde_json::from_str(bundle.get()).map_err(|_| ListError::Tenant {
            tenant: String::new(),
            problem: format!("\"{TENANTS_KEY}\" must map tenant ids to lists"),
        })?;
    if lists.is_empty() {
        return Err(ListError::Empty);
    }
    if lists.len() > usize::from(u16::MAX) {
        return Err(ListError::Tenant {
            tenant: String::new(),
            problem: "more than 65,535 tenants".into(),
        });
    }
    let wrap = |tenant: &str, problem: String| ListError::Tenant {
        tenant: tenant.to_owned(),
        problem,
    };
    let mut objects = Vec::with_capacity(lists.len());
    for (id, raw) in &lists {
        valid_tenant_id(id).map_err(|e| wrap(id, e))?;
        // owned keys: a key may have escapes
        let object: Vec<(String, &RawValue)> =
            serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get())
                .map_err(|_| wrap(id, ListError::NotObject.to_string()))?
                .into_iter()
                .collect();
        if object.is_empty() {
            return Err(wrap(id, ListError::Empty.to_string()));
        }
        objects.push((id.as_str(), object));
    }
    // every distinct key once
    let mut key_index: std::collections::HashMap<&str, usize> = Default::default();
    let mut keys: Vec<&str> = Vec::new();
    for (_, object) in &objects {
        for (key, _) in object {
            key_index.entry(key.as_str()).or_insert_with(|| {
                keys.push(key);
                keys.len() - 1
            });
        }
    }
    let domains = crate::parallel::map_in_order(
        keys.len(),
        |i| Ok::<_, ListError>(parse_key(keys[i])),
        |_| {},
    )?;
    // the brand entry each key merges into: keys that name one domain
    // (`PayPal.com`, `paypal.com`) share it
    let mut slot_of_domain: BTreeMap<&str, usize> = BTreeMap::new();
    let mut slots: Vec<usize> = Vec::with_capacity(keys.len());
    for d in &domains {
        let next = slot_of_domain.len();
        slots.push(match d {
            Ok(d) => *slot_of_domain.entry(d.ascii()).or_insert(next),
            Err(_) => usize::MAX,
        });
    }
    let mut merged: Vec<Option<BrandEntry>> = vec![None; slot_of_domain.len()];
    let mut tenants = Vec::with_capacity(objects.len());
    for (t, (id, object)) in objects.iter().enumerate() {
        let index = t as u16; // at most u16::MAX tenants, checked above
        let variants = crate::parallel::map_in_order(
            object.len(),
            |i| parse_variants(&object[i].0, object[i].1),
            |_| {},
        )
        .map_err(|e| wrap(id, e.to_string()))?;
        for ((key, _), variants) in object.iter().zip(variants) {
            let k = key_index[key.as_str()];
            let domain = match &domains[k] {
                Ok(d) => d,
                Err(e) => return Err(wrap(id, e.to_string())),
            };
            match &mut merged[slots[k]] {
                Some(entry) => {
                    entry.variants.extend(&variants);
                    entry.variants.shrink_to_fit();
                    if entry.tenants.last() != Some(&index) {
                        entry.tenants.push(index);
                    }
                }
                empty @ None => {
                    *empty = Some(BrandEntry {
                        domain: domain.clone(),
                        variants,
                        tenants: vec![index],
                    });
                }
            }
        }
        tenants.push((*id).to_owned());
    }
    // in domain order, as before
    let brands = slot_of_domain
        .into_values()
        .filter_map(|slot| merged[slot].take())
        .collect();
    Ok(Watchlist { brands, tenants })
}

/// A plain list's brands, parsed on every core.
fn parse_brands(object: &BTreeMap<String, &RawValue>) -> Result<Vec<BrandEntry>, ListError> {
    // brand by brand on every core: a generated list for 1,000 brands
    // has millions of variants, and a reload should take seconds
    let entries: Vec<(&String, &&RawValue)> = object.iter().collect();
    crate::parallel::map_in_order(
        entries.len(),
        |i| parse_brand(entries[i].0, entries[i].1),
        |_| {},
    )
}

fn parse_brand(key: &str, variants: &RawValue) -> Result<BrandEntry, ListError> {
    Ok(BrandEntry {
        domain: parse_key(key)?,
        variants: parse_variants(key, variants)?,
        tenants: Vec::new(),
    })
}

/// A list key: a protected domain, not a wildcard.
fn parse_key(key: &str) -> Result<Fqdn, ListError> {
    let domain = Fqdn::parse_domain(key).map_err(|e| ListError::BadKey {
        key: key.to_owned(),
        problem: e.to_string(),
    })?;
    if domain.is_wildcard() {
        return Err(ListError::BadKey {
            key: key.to_owned(),
            problem: "a protected domain cannot be a wildcard".into(),
        });
    }
    Ok(domain)
}

/// The variants of list key `key`, normalised, duplicates dropped.
fn parse_variants(key: &str, variants: &RawValue) -> Result<Variants, ListError> {
    let items: Vec<&RawValue> =
        serde_json::from_str(variants.get()).map_err(|_| ListError::NotArray {
            key: key.to_owned(),
        })?;
    let mut parsed = Variants {
        text: String::with_capacity(variants.get().len() / 2),
        spans: Vec::with_capacity(items.len()),
    };
    // the ASCII form of the last domain variant: lists carry each IDN
    // variant twice, Unicode then punycode (the generator does), and the
    // punycode twin would parse to the same variant and be dropped
    let mut last_ascii = String::new();
    for (index, item) in items.iter().enumerate() {
        let raw = item.get();
        if !last_ascii.is_empty()
            && raw.len() == last_ascii.len() + 2
            && raw.get(1..raw.len() - 1) == Some(last_ascii.as_str())
        {
            continue;
        }
        let bad = |problem: String| ListError::BadVariant {
            key: key.to_owned(),
            index,
            problem,
        };
        // borrowed from the text unless the string has escapes
        let s = serde_json::from_str::<Str<'_>>(item.get())
            .map_err(|_| bad("expected a string".into()))?
            .0;
        let pushed = if s.trim().trim_end_matches('.').contains('.') {
            let d = Fqdn::parse(&s).map_err(|e| bad(e.to_string()))?;
            let label_len = if d.subdomain_labels().next().is_none() {
                d.registrable_label().len()
            } else {
                0
            };
            last_ascii.clear();
            if d.ascii() != d.unicode() {
                last_ascii.push_str(d.ascii());
            }
            parsed.push(d.unicode(), true, label_len)
        } else {
            let l = normalise_label(&s).map_err(|e| bad(e.to_string()))?;
            parsed.push(&l, false, l.len())
        };
        if pushed.is_none() {
            return Err(bad("the brand's variants exceed 4 GB".into()));
        }
    }
    parsed.dedup_keeping_first();
    parsed.shrink_to_fit();
    Ok(parsed)
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

    #[test]
    fn a_bundle_merges_the_brands_tenants_share() {
        let w = Watchlist::parse(
            r#"{"tenants": {"globex": {"paypal.com": ["paypa1", "paypai"], "globex.com": []},
                            "acme": {"PayPal.com": ["paypa1", "pаypal.com"], "acme.co.uk": ["acrne"]}}}"#,
            MAX,
        )
        .unwrap();
        assert_eq!(w.tenants, ["acme", "globex"]);
        assert_eq!(w.brands.len(), 3, "paypal.com is compiled once");
        let paypal = w
            .brands
            .iter()
            .find(|b| b.domain.ascii() == "paypal.com")
            .unwrap();
        assert_eq!(w.tenants_of(paypal).collect::<Vec<_>>(), ["acme", "globex"]);
        let kept: Vec<&str> = paypal.variants.iter().map(Variant::display).collect();
        assert_eq!(kept, ["paypa1", "pаypal.com", "paypai"]);
        let globex = w
            .brands
            .iter()
            .find(|b| b.domain.ascii() == "globex.com")
            .unwrap();
        assert_eq!(w.tenants_of(globex).collect::<Vec<_>>(), ["globex"]);
        // what GET /v1/lists/current serves parses back to the same matching
        let again = Watchlist::parse(&w.to_json().to_string(), MAX).unwrap();
        assert_eq!(again.tenants, w.tenants);
        assert_eq!(again.variant_count(), w.variant_count());

        let plain = Watchlist::parse(r#"{"a.com": []}"#, MAX).unwrap();
        assert_eq!(
            plain.tenants_of(&plain.brands[0]).collect::<Vec<_>>(),
            ["default"]
        );
    }

    #[test]
    fn shards_part_the_brands_and_keep_the_tenants() {
        let keys: Vec<String> = (0..200).map(|i| format!("\"brand{i}.com\": []")).collect();
        let w = Watchlist::parse(&format!("{{{}}}", keys.join(",")), MAX).unwrap();
        let parts: Vec<Watchlist> = (0..3).map(|i| w.shard(i, 3)).collect();
        let mut seen: Vec<&str> = parts
            .iter()
            .flat_map(|p| p.brands.iter().map(|b| b.domain.ascii()))
            .collect();
        assert!(parts.iter().all(|p| p.brands.len() > 40), "even enough");
        seen.sort();
        let mut all: Vec<&str> = w.brands.iter().map(|b| b.domain.ascii()).collect();
        all.sort();
        assert_eq!(seen, all, "each brand in exactly one shard");
        // fixed for good: processes of different releases agree
        assert_eq!(shard_of("paypal.com", 4), shard_of("paypal.com", 4));
        assert_eq!(
            [
                shard_of("paypal.com", 2),
                shard_of("microsoft.com", 2),
                shard_of("apple.com", 2)
            ],
            [1, 0, 0]
        );
        let b = Watchlist::parse(
            r#"{"tenants": {"a": {"x.com": []}, "b": {"y.com": []}}}"#,
            MAX,
        )
        .unwrap();
        assert_eq!(b.shard(0, 2).tenants, ["a", "b"]);
    }

    #[test]
    fn a_bundle_names_the_tenant_at_fault() {
        let e = |t: &str| Watchlist::parse(t, MAX).unwrap_err().to_string();
        let bad = e(r#"{"tenants": {"acme": {"a.com": []}, "globex": {"b.com": [3]}}}"#);
        assert!(
            bad.contains("\"globex\"") && bad.contains("item 0"),
            "{bad}"
        );
        assert!(e(r#"{"tenants": {"Acme Corp": {"a.com": []}}}"#).contains("not a tenant id"));
        assert!(e(r#"{"tenants": {"acme": {}}}"#).contains("no domains"));
        assert!(e(r#"{"tenants": {}}"#).contains("no domains"));
        assert!(e(r#"{"tenants": []}"#).contains("tenant ids"));
        // a key beside "tenants" makes it a plain list, where it is no domain
        assert!(e(r#"{"tenants": {}, "a.com": []}"#).contains("\"tenants\""));
    }
}
