//! `exact_variant`: the name, one of its parents, or one of its labels is a
//! listed variant.

use super::score::{Found, verdict};
use super::{Brands, Scratch};
use crate::domain::Fqdn;
use crate::model::{MatchDetail, MatchKind};
use crate::watchlist::Watchlist;
use hashbrown::HashTable;
use rustc_hash::FxHashMap as HashMap;
use std::hash::BuildHasher;

/// A variant's place in the list: (brand, index in its variants).
type Place = (u32, u32);

/// Lookup tables over the list's own strings: a generated list for 1,000
/// brands has millions of variants, so the tables hold 8-byte places into
/// the list, not copies of the strings.
#[derive(Debug, Default)]
pub(super) struct Exact {
    /// Full-domain variants (Unicode form), first place listing each.
    domains: HashTable<Place>,
    /// Label variants (Unicode form), first place listing each.
    labels: HashTable<Place>,
    /// The other brands listing the string at a first place (rare).
    also: HashMap<Place, Vec<u32>>,
}

fn hash(s: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(s)
}

fn text(list: &Watchlist, (b, i): Place) -> &str {
    list.brands[b as usize]
        .variants
        .get(i as usize)
        .map_or("", |v| v.display())
}

impl Exact {
    pub(super) fn compile(list: &Watchlist) -> Exact {
        let mut exact = Exact::default();
        // sized once: growing million-entry tables rehashes them several times
        let domains = list
            .brands
            .iter()
            .flat_map(|b| b.variants.iter())
            .filter(|v| v.is_domain())
            .count();
        exact.domains.reserve(domains, |p| hash(text(list, *p)));
        exact
            .labels
            .reserve(list.variant_count() - domains, |p| hash(text(list, *p)));
        for (b, entry) in list.brands.iter().enumerate() {
            for (i, variant) in entry.variants.iter().enumerate() {
                let place = (b as u32, i as u32);
                let s = variant.display();
                let table = if variant.is_domain() {
                    &mut exact.domains
                } else {
                    &mut exact.labels
                };
                let h = hash(s);
                match table.find(h, |p| text(list, *p) == s) {
                    Some(first) if first.0 == place.0 => {}
                    Some(first) => {
                        let others = exact.also.entry(*first).or_default();
                        if !others.contains(&place.0) {
                            others.push(place.0);
                        }
                    }
                    None => {
                        table.insert_unique(h, place, |p| hash(text(list, *p)));
                    }
                }
            }
        }
        exact
    }

    /// The brands listing `s` in `table`, in list order.
    fn brands_listing<'a>(
        &'a self,
        table: &'a HashTable<Place>,
        list: &Watchlist,
        s: &str,
    ) -> impl Iterator<Item = u32> + 'a {
        let first = table.find(hash(s), |p| text(list, *p) == s).copied();
        let also = first.and_then(|p| self.also.get(&p));
        first
            .map(|p| p.0)
            .into_iter()
            .chain(also.into_iter().flatten().copied())
    }

    pub(super) fn check(&self, brands: &Brands, name: &Fqdn, _: &mut Scratch, found: &mut Found) {
        let list = &*brands.source;
        // full-domain variants: the name or one of its parents
        for candidate in name.self_and_parents() {
            for b in self.brands_listing(&self.domains, list, candidate) {
                let brand = brands.get(b);
                let explanation = format!("listed variant of {}: {candidate:?}", brand.domain);
                found.offer(verdict(
                    &brand.domain,
                    name,
                    MatchDetail {
                        kind: MatchKind::ExactVariant,
                        variant: Some(candidate.to_owned()),
                        explanation,
                        ..MatchDetail::default()
                    },
                ));
            }
        }
        // label variants: any label outside the public suffix
        for label in name.non_suffix_labels() {
            for b in self.brands_listing(&self.labels, list, label) {
                let brand = brands.get(b);
                let explanation = format!(
                    "listed variant of {}: label {label:?} in {:?}",
                    brand.domain,
                    name.unicode()
                );
                found.offer(verdict(
                    &brand.domain,
                    name,
                    MatchDetail {
                        kind: MatchKind::ExactVariant,
                        variant: Some(label.to_owned()),
                        explanation,
                        ..MatchDetail::default()
                    },
                ));
            }
        }
    }
}
