//! The one integration-test binary: the real service, real peers on 127.0.0.1.
// Tests: an unwrap that fails is a failed test; helpers are `pub` for the test modules.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod access;
#[cfg(feature = "nats")]
mod bus;
mod cli;
mod console;
mod ct_golden;
mod ct_logs;
mod delivery;
mod enrichment;
mod faults;
mod generator;
mod golden;
mod helpers;
mod http_api;
mod layout;
mod operations;
mod properties;
mod quality;
mod rules;
mod sinks;
mod soak;
mod stream_server;
mod tenants;
mod triage_sync;
mod xsoar_content;
