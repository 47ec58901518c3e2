//! `homograph`: the registrable label's folded skeleton
//! ([`crate::domain::fold_skeleton`]) equals the brand label's or a variant
//! label's, and the label is not identical to it.

use super::score::{Found, verdict};
use super::{Brands, Scratch};
use crate::domain::{Fqdn, fold_skeleton, fold_skeleton_into, scripts_of};
use crate::model::{MatchDetail, MatchKind};
use crate::watchlist::Watchlist;
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;

/// (brand, the label that folded to a skeleton); one per brand.
type SkeletonHits = SmallVec<[(u32, Box<str>); 1]>;

#[derive(Debug, Default)]
pub(super) struct Homographs {
    /// Folded skeleton → (brand, the label that produced it).
    skeletons: HashMap<Box<str>, SkeletonHits>,
}

impl Homographs {
    pub(super) fn compile(list: &Watchlist) -> Homographs {
        let mut h = Homographs::default();
        for (i, entry) in list.brands.iter().enumerate() {
            let b = i as u32;
            let label = entry.domain.registrable_label();
            h.add(b, label);
            for variant in &entry.variants {
                let variant_label = variant.label();
                if variant_label != label {
                    h.add(b, variant_label);
                }
            }
        }
        h
    }

    fn add(&mut self, brand: u32, label: &str) {
        let entry = self
            .skeletons
            .entry(fold_skeleton(label).into_boxed_str())
            .or_default();
        if !entry.iter().any(|(b, _)| *b == brand) {
            entry.push((brand, label.into()));
        }
    }

    pub(super) fn check(
        &self,
        brands: &Brands,
        name: &Fqdn,
        scratch: &mut Scratch,
        found: &mut Found,
    ) {
        let label = name.registrable_label();
        let skeleton = &mut scratch.skeleton;
        fold_skeleton_into(label, skeleton);
        let Some(hits) = self.skeletons.get(skeleton.as_str()) else {
            return;
        };
        let scripts = scripts_of(label);
        for (b, target) in hits {
            let brand = brands.get(*b);
            if label == brand.label || label == &**target {
                // identical label under another suffix: a registry-only
                // difference, not a lookalike (list it as a variant to alert)
                continue;
            }
            let whole_script = !scripts.is_mixed()
                && (scripts.cyrillic || scripts.greek)
                && name.suffix().is_ascii();
            let script_note = if scripts.is_mixed() {
                format!("{}, mixed scripts", scripts.describe())
            } else if whole_script {
                format!("{}, whole-script on .{}", scripts.describe(), name.suffix())
            } else {
                scripts.describe()
            };
            let explanation = format!(
                "homograph of {}: {label:?} folds to {target:?} ({script_note})",
                brand.domain
            );
            found.offer(verdict(
                &brand.domain,
                name,
                MatchDetail {
                    kind: MatchKind::Homograph,
                    variant: Some(target.to_string()),
                    skeleton: Some(skeleton.to_string()),
                    mixed_scripts: scripts.is_mixed(),
                    whole_script,
                    explanation,
                    ..MatchDetail::default()
                },
            ));
        }
    }
}
