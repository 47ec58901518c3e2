//! What the matcher decided about one name: kind, evidence, score,
//! severity. Plain data: the matcher builds verdicts and decides their
//! scores (`matcher::score`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// A listed variant (label or full domain).
    #[default]
    ExactVariant,
    /// The folded skeleton equals the brand's or a variant's.
    Homograph,
    /// OSA distance under the threshold on the registrable label.
    Typo,
    /// Target embedding: the brand's domain or label inside another name
    /// (`paypal.com.secure-verify.top`, `www-paypal-com.xyz`).
    Subdomain,
    /// The brand label joined with other words (`paypal-login.com`, `securepaypal.net`).
    Combosquat,
    /// The brand label under another suffix (`spotify.net`, `paypal.herokuapp.com`).
    SuffixSwap,
    /// A configured regex or keyword rule.
    Rule,
}

impl MatchKind {
    pub const ALL: [MatchKind; 7] = [
        MatchKind::ExactVariant,
        MatchKind::Homograph,
        MatchKind::Typo,
        MatchKind::Subdomain,
        MatchKind::Combosquat,
        MatchKind::SuffixSwap,
        MatchKind::Rule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::ExactVariant => "exact_variant",
            MatchKind::Homograph => "homograph",
            MatchKind::Typo => "typo",
            MatchKind::Subdomain => "subdomain",
            MatchKind::Combosquat => "combosquat",
            MatchKind::SuffixSwap => "suffix_swap",
            MatchKind::Rule => "rule",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn from_score(score: u8) -> Severity {
        match score {
            90.. => Severity::Critical,
            75..=89 => Severity::High,
            50..=74 => Severity::Medium,
            _ => Severity::Low,
        }
    }

    /// XSOAR's incident severity scale (1 low … 4 critical).
    pub fn xsoar(self) -> u8 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }
}

/// The evidence behind a verdict (the incident's `match` object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchDetail {
    pub kind: MatchKind,
    /// The listed variant or brand label that matched.
    pub variant: Option<String>,
    pub distance: Option<u32>,
    pub similarity: Option<f64>,
    pub skeleton: Option<String>,
    pub mixed_scripts: bool,
    /// All-Cyrillic or all-Greek label on a non-IDN top-level domain.
    #[serde(default)]
    pub whole_script: bool,
    pub explanation: String,
}

/// One name judged to imitate one brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The protected domain (list key).
    pub brand: String,
    /// The name, normalised, ASCII form.
    pub domain: String,
    pub domain_unicode: String,
    pub registrable_domain: String,
    pub registrable_domain_ascii: String,
    #[serde(rename = "match")]
    pub detail: MatchDetail,
    pub score: u8,
    pub severity: Severity,
}

impl Verdict {
    /// The same verdict with another score (signals with several strengths).
    pub fn with_score(mut self, score: u8) -> Verdict {
        self.score = score.min(100);
        self.severity = Severity::from_score(self.score);
        self
    }

    /// Add `points` for circumstantial evidence, noted in the explanation.
    pub fn adjust(&mut self, points: u8, why: &str) {
        if points == 0 {
            return;
        }
        self.score = self.score.saturating_add(points).min(100);
        self.severity = Severity::from_score(self.score);
        let note = format!(" ({why})");
        if !self.detail.explanation.contains(&note) {
            self.detail.explanation.push_str(&note);
        }
    }

    /// A wildcard certificate covers every subdomain: slightly stronger evidence.
    pub fn apply_wildcard(&mut self) {
        self.adjust(2, "wildcard certificate");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_scale() {
        assert_eq!(Severity::from_score(95), Severity::Critical);
        assert_eq!(Severity::from_score(80), Severity::High);
        assert_eq!(Severity::from_score(65), Severity::Medium);
        assert_eq!(Severity::from_score(10), Severity::Low);
        assert_eq!(Severity::Critical.xsoar(), 4);
        assert_eq!(Severity::Low.xsoar(), 1);
    }
}
