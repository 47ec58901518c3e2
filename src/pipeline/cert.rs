//! The certificate the pipeline receives ([`Cert`]: a whole event, or a
//! certstream frame whose event is built only when a name matched) and
//! matching it ([`match_cert`]).

use crate::matcher::{Matcher, NameStats};
use crate::model::{CertEvent, Verdict};
use crate::source::{FrameCert, FrameError};
use std::borrow::Cow;

/// A certificate as the pipeline receives it: a whole event (CT logs,
/// `/domains-only`), or a certstream frame whose event is built only if a
/// name matches.
#[derive(Debug, Clone, Copy)]
pub enum Cert<'a> {
    Event(&'a CertEvent),
    Frame(&'a FrameCert),
}

impl<'a> Cert<'a> {
    pub fn names(&self) -> &'a [String] {
        match self {
            Cert::Event(e) => &e.certificate.all_domains,
            Cert::Frame(f) => f.names(),
        }
    }

    pub fn source(&self) -> &'a str {
        match self {
            Cert::Event(e) => &e.source,
            Cert::Frame(f) => f.source(),
        }
    }

    /// Unix seconds when the source saw it (0 when unknown).
    pub fn seen(&self) -> f64 {
        match self {
            Cert::Event(e) => e.ct.seen,
            Cert::Frame(f) => f.seen(),
        }
    }

    pub fn fingerprint(&self) -> Option<&'a str> {
        match self {
            Cert::Event(e) => e.dedup_fingerprint(),
            Cert::Frame(f) => f.fingerprint(),
        }
    }

    /// The whole event; a frame's issuers only `with_chain` (the certstream
    /// server relays them; an incident does not carry them).
    pub fn event(&self, with_chain: bool) -> Result<Cow<'a, CertEvent>, FrameError> {
        match self {
            Cert::Event(e) => Ok(Cow::Borrowed(*e)),
            Cert::Frame(f) if with_chain => f.relayed_event().map(Cow::Owned),
            Cert::Frame(f) => f.event().map(Cow::Owned),
        }
    }

    /// The whole event; should the frame not give one (a member the scan
    /// checked only for structure is malformed, and so is the leaf), an
    /// event with just its names, so a match is never lost.
    pub(super) fn event_or_names(&self, with_chain: bool) -> Cow<'a, CertEvent> {
        match (self.event(with_chain), self) {
            (Ok(e), _) => e,
            (Err(e), Cert::Frame(f)) => {
                tracing::warn!(error = %e, "certificate kept with its names only");
                Cow::Owned(f.names_only())
            }
            (Err(_), Cert::Event(e)) => Cow::Borrowed(*e),
        }
    }
}

/// What matching one certificate found.
#[derive(Debug)]
pub struct Matched<'a> {
    /// Best first, one per (brand, registrable domain).
    pub verdicts: Vec<Verdict>,
    pub stats: NameStats,
    /// The whole certificate, when there is a verdict about it.
    pub event: Option<Cow<'a, CertEvent>>,
}

/// Match a certificate's names; build its whole event only when one matched
/// (the issuer then adjusts the scores). Verdicts below `matcher.min_score`
/// are left out: they do not become incidents.
pub fn match_cert<'a>(matcher: &Matcher, cert: Cert<'a>) -> Matched<'a> {
    let (mut verdicts, stats) = matcher.match_names(cert.names());
    // what the issuer could still add decides whether the event is read
    let reachable = matcher.min_score().saturating_sub(matcher.issuer_bonus());
    verdicts.retain(|v| v.score >= reachable);
    if verdicts.is_empty() {
        return Matched {
            verdicts,
            stats,
            event: None,
        };
    }
    let event = cert.event_or_names(false);
    matcher.adjust_for_issuer(&mut verdicts, &event.certificate.issuer);
    verdicts.retain(|v| v.score >= matcher.min_score());
    if verdicts.is_empty() {
        return Matched {
            verdicts,
            stats,
            event: None,
        };
    }
    Matched {
        verdicts,
        stats,
        event: Some(event),
    }
}
