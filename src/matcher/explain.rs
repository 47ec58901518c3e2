//! One name's verdict in the shape `POST /v1/match` and `certsentry match`
//! print: whether it matched, the best verdict's brand, kind, score and
//! explanation, and every verdict.

use super::Matcher;
use crate::domain::Fqdn;
use serde_json::json;

/// The verdict for a raw name (or why it is not a hostname).
pub fn verdict_json(matcher: &Matcher, raw: &str) -> serde_json::Value {
    match Fqdn::parse(raw) {
        Err(e) => json!({"name": raw, "matched": false, "error": e.to_string()}),
        Ok(name) => {
            let own = matcher.is_own(&name);
            let verdicts = matcher.match_name(&name);
            let best = verdicts.first();
            json!({
                "name": raw,
                "domain": name.ascii(),
                "domain_unicode": name.unicode(),
                "registrable_domain": name.registrable_domain_ascii(),
                "matched": best.is_some(),
                "incident": best.is_some_and(|v| v.score >= matcher.min_score()),
                "own_domain": own,
                "brand": best.map(|v| v.brand.clone()),
                "kind": best.map(|v| v.detail.kind.as_str()),
                "score": best.map(|v| v.score),
                "severity": best.map(|v| v.severity),
                "explanation": best.map(|v| v.detail.explanation.clone()),
                "verdicts": verdicts,
            })
        }
    }
}
