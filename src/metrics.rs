//! Counters every stage bumps, rendered as Prometheus text on `/metrics`.
//!
//! Plain atomics: the hot path pays one relaxed add per event, and nothing is
//! pushed anywhere. Gauges that live elsewhere (outbox depth, list size) are
//! passed in at render time.

use crate::matcher::MatchKind;
use crate::store::OutboxCounts;
use crate::watchlist::ListStatus;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub frames: AtomicU64,
    pub bad_frames: AtomicU64,
    pub heartbeats: AtomicU64,
    pub dns_entries: AtomicU64,
    pub duplicate_certs: AtomicU64,
    pub reconnects: AtomicU64,
    pub names_checked: AtomicU64,
    pub names_invalid: AtomicU64,
    matches: [AtomicU64; MatchKind::ALL.len()],
    pub incidents_new: AtomicU64,
    pub incidents_repeated: AtomicU64,
    pub incidents_updates: AtomicU64,
    pub deliveries_ok: AtomicU64,
    pub deliveries_retried: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub store_errors: AtomicU64,
    pub ct_entries: AtomicU64,
    pub ct_bad_entries: AtomicU64,
    pub ct_request_errors: AtomicU64,
    pub ct_tree_heads_refused: AtomicU64,
    pub ct_tree_mismatches: AtomicU64,
    pub ct_tree_checks: AtomicU64,
    pub stream_clients: AtomicU64,
    pub stream_clients_dropped: AtomicU64,
    pub stream_messages: AtomicU64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        inc(counter, n);
    }

    pub fn count_match(&self, kind: MatchKind) {
        let i = MatchKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        inc(&self.matches[i], 1);
    }

    pub fn matches(&self, kind: MatchKind) -> u64 {
        let i = MatchKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.matches[i].load(Ordering::Relaxed)
    }

    pub fn render(&self, list: &ListStatus, outbox: &[OutboxCounts]) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters: [(&str, &str, u64); 23] = [
            (
                "certsentry_frames_total",
                "certstream messages received",
                get(&self.frames),
            ),
            (
                "certsentry_bad_frames_total",
                "malformed messages skipped",
                get(&self.bad_frames),
            ),
            (
                "certsentry_heartbeats_total",
                "heartbeat messages skipped",
                get(&self.heartbeats),
            ),
            (
                "certsentry_dns_entries_total",
                "dns_entries messages received",
                get(&self.dns_entries),
            ),
            (
                "certsentry_duplicate_certs_total",
                "certificates dropped as already seen",
                get(&self.duplicate_certs),
            ),
            (
                "certsentry_reconnects_total",
                "source reconnections",
                get(&self.reconnects),
            ),
            (
                "certsentry_names_checked_total",
                "certificate names matched",
                get(&self.names_checked),
            ),
            (
                "certsentry_names_invalid_total",
                "certificate names skipped (IP, e-mail, invalid)",
                get(&self.names_invalid),
            ),
            (
                "certsentry_incidents_total",
                "new incidents",
                get(&self.incidents_new),
            ),
            (
                "certsentry_incident_sightings_total",
                "repeat sightings folded into an incident",
                get(&self.incidents_repeated),
            ),
            (
                "certsentry_ct_entries_total",
                "CT log entries read directly",
                get(&self.ct_entries),
            ),
            (
                "certsentry_ct_bad_entries_total",
                "CT log entries that could not be parsed (skipped)",
                get(&self.ct_bad_entries),
            ),
            (
                "certsentry_ct_request_errors_total",
                "failed CT log requests (retried with backoff)",
                get(&self.ct_request_errors),
            ),
            (
                "certsentry_ct_tree_heads_refused_total",
                "CT tree heads (get-sth, checkpoint) refused: malformed, or not signed by the log's key",
                get(&self.ct_tree_heads_refused),
            ),
            (
                "certsentry_ct_tree_mismatches_total",
                "times the entries read from a CT log did not make its signed root (entries it did not commit to)",
                get(&self.ct_tree_mismatches),
            ),
            (
                "certsentry_ct_tree_checks_total",
                "times the entries read from a CT log made its signed root",
                get(&self.ct_tree_checks),
            ),
            (
                "certsentry_stream_messages_total",
                "messages sent to certstream-compatible server clients",
                get(&self.stream_messages),
            ),
            (
                "certsentry_stream_clients_dropped_total",
                "certstream-compatible server clients dropped for falling behind",
                get(&self.stream_clients_dropped),
            ),
            (
                "certsentry_incident_updates_total",
                "updates queued for a known lookalike's new certificate",
                get(&self.incidents_updates),
            ),
            (
                "certsentry_deliveries_ok_total",
                "deliveries confirmed by a sink",
                get(&self.deliveries_ok),
            ),
            (
                "certsentry_deliveries_retried_total",
                "delivery attempts to be retried",
                get(&self.deliveries_retried),
            ),
            (
                "certsentry_deliveries_failed_total",
                "deliveries failed permanently",
                get(&self.deliveries_failed),
            ),
            (
                "certsentry_store_errors_total",
                "database errors",
                get(&self.store_errors),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP certsentry_matches_total matches by kind\n# TYPE certsentry_matches_total counter"
        );
        for kind in MatchKind::ALL {
            let _ = writeln!(
                out,
                "certsentry_matches_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                self.matches(kind)
            );
        }
        let _ = writeln!(
            out,
            "# HELP certsentry_deliveries_pending deliveries waiting in the outbox\n# TYPE certsentry_deliveries_pending gauge"
        );
        for c in outbox {
            let _ = writeln!(
                out,
                "certsentry_deliveries_pending{{sink=\"{}\"}} {}",
                c.sink, c.pending
            );
        }
        let _ = writeln!(
            out,
            "# HELP certsentry_deliveries_failed deliveries failed and kept\n# TYPE certsentry_deliveries_failed gauge"
        );
        for c in outbox {
            let _ = writeln!(
                out,
                "certsentry_deliveries_failed{{sink=\"{}\"}} {}",
                c.sink, c.failed
            );
        }
        let gauges = [
            (
                "certsentry_list_brands",
                "protected domains in the active list",
                list.brands as u64,
            ),
            (
                "certsentry_list_variants",
                "variants in the active list",
                list.variants as u64,
            ),
            (
                "certsentry_list_last_reload_timestamp_seconds",
                "unix time of the last good list load",
                list.loaded_at.unwrap_or(0),
            ),
            (
                "certsentry_list_reload_failures_total",
                "list loads that failed",
                list.reloads_failed,
            ),
            (
                "certsentry_list_error",
                "1 when the last list load failed",
                u64::from(list.last_error.is_some()),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}
