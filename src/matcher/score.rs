//! How strong each kind of evidence is (the base scores), how a verdict is
//! built from a name, and [`Found`]: the best verdict per brand for one name.

use crate::domain::Fqdn;
use crate::model::{MatchDetail, MatchKind, Severity, Verdict};

/// Scores by the strength of the evidence: exact variant > homograph >
/// embedded brand domain > one-edit typo > two edits > combosquat > rules
/// (which carry their own severity).
fn base_score(d: &MatchDetail) -> u8 {
    let base: u8 = match d.kind {
        MatchKind::ExactVariant => 95,
        MatchKind::Homograph => 90,
        MatchKind::Subdomain => 85,
        MatchKind::Typo => match d.distance {
            Some(1) => 80,
            Some(2) => 65,
            _ => 50,
        },
        MatchKind::Combosquat => 62,
        MatchKind::SuffixSwap => 55,
        MatchKind::Rule => 55,
    };
    let scripts = if d.mixed_scripts || d.whole_script {
        5
    } else {
        0
    };
    base.saturating_add(scripts).min(100)
}

/// The score a rule of `severity` gives.
pub(super) fn rule_score(severity: Severity) -> u8 {
    match severity {
        Severity::Low => 40,
        Severity::Medium => 55,
        Severity::High => 75,
        Severity::Critical => 92,
    }
}

/// A verdict that `name` imitates `brand`, scored by its evidence.
pub(super) fn verdict(brand: &str, name: &Fqdn, detail: MatchDetail) -> Verdict {
    let score = base_score(&detail);
    Verdict {
        brand: brand.to_owned(),
        domain: name.ascii().to_owned(),
        domain_unicode: name.unicode().to_owned(),
        registrable_domain: name.registrable_domain().to_owned(),
        registrable_domain_ascii: name.registrable_domain_ascii().to_owned(),
        detail,
        score,
        severity: Severity::from_score(score),
    }
}

/// A brand found inside `name` (`subdomain` or `combosquat`), with its
/// score; the variant shown is the brand's domain for an embedding, its
/// label for a combosquat.
pub(super) fn embedded(
    brand: &super::Brand,
    name: &Fqdn,
    kind: MatchKind,
    score: u8,
    explanation: String,
) -> Verdict {
    let variant = match kind {
        MatchKind::Subdomain => brand.domain.clone(),
        _ => brand.label.clone(),
    };
    let detail = MatchDetail {
        kind,
        variant: Some(variant),
        explanation,
        ..MatchDetail::default()
    };
    verdict(&brand.domain, name, detail).with_score(score)
}

/// The verdicts about one name: the best per brand.
#[derive(Default)]
pub(super) struct Found(Vec<Verdict>);

impl Found {
    /// Keep `verdict` if it beats what is held for its brand (ties keep the first).
    pub(super) fn offer(&mut self, verdict: Verdict) {
        match self.0.iter_mut().find(|v| v.brand == verdict.brand) {
            Some(existing) if existing.score >= verdict.score => {}
            Some(existing) => *existing = verdict,
            None => self.0.push(verdict),
        }
    }

    pub(super) fn retain(&mut self, keep: impl FnMut(&Verdict) -> bool) {
        self.0.retain(keep);
    }

    /// Best first, then by brand.
    pub(super) fn into_sorted(mut self) -> Vec<Verdict> {
        self.0
            .sort_by(|a, b| b.score.cmp(&a.score).then(a.brand.cmp(&b.brand)));
        self.0
    }
}
