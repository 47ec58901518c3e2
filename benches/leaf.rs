//! CT leaf parsing (issue #6: ≥ 20,000 entries/s on one core): the 40 real
//! `get-entries` entries of `tests/fixtures/live_ct.json` (base64 decode,
//! MerkleTreeLeaf + extra_data, x509 of the leaf and its chain, certstream
//! fields), and the same certificates as static-ct-api tile leaves, also
//! with the Merkle tree check a follower of a keyed tiled log adds.
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certsentry::ct::leaf::{self, Chain};
use certsentry::ct::{LogMeta, event, event_from_get_entries};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let fixtures: Vec<Value> =
        serde_json::from_str(include_str!("../tests/fixtures/live_ct.json")).unwrap();
    let entries: Vec<(String, String, u64)> = fixtures
        .iter()
        .map(|f| {
            (
                f["leaf_input"].as_str().unwrap().to_owned(),
                f["extra_data"].as_str().unwrap().to_owned(),
                f["cert_index"].as_u64().unwrap(),
            )
        })
        .collect();
    let log = LogMeta {
        name: "Google 'Argon2026h2'".into(),
        url: "https://ct.googleapis.com/logs/us1/argon2026h2/".into(),
        tiled: false,
    };
    // the same entries as one data tile, issuers resolved from a cache
    let mut tile = Vec::new();
    let mut issuers: std::collections::HashMap<[u8; 32], Vec<u8>> = Default::default();
    for (i, (li, ed, _)) in entries.iter().enumerate() {
        let (li, ed) = (STANDARD.decode(li).unwrap(), STANDARD.decode(ed).unwrap());
        let e = leaf::parse_rfc6962(&li, &ed).unwrap();
        let Chain::Der(chain) = &e.chain else {
            unreachable!()
        };
        let fps: Vec<[u8; 32]> = chain
            .iter()
            .map(|d| {
                use sha2::Digest;
                let fp: [u8; 32] = sha2::Sha256::digest(d).into();
                issuers.insert(fp, d.to_vec());
                fp
            })
            .collect();
        tile.extend(leaf::encode_tile_leaf(
            e.timestamp_ms,
            e.kind,
            e.der,
            [0; 32],
            b"tbs",
            i as u64,
            &fps,
        ));
    }
    let tiled = LogMeta {
        tiled: true,
        ..log.clone()
    };

    let mut cache = certsentry::ct::IssuerCache::default();
    let mut group = c.benchmark_group("leaf");
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.bench_function("rfc6962_get_entries_to_event", |b| {
        b.iter(|| {
            for (li, ed, idx) in &entries {
                black_box(event_from_get_entries(li, ed, &log, *idx, 0.0, &mut cache).unwrap());
            }
        })
    });
    // each entry of the tile to an event; `also` sees the entry
    let mut tile_to_events = |also: &mut dyn FnMut(&leaf::LogEntry<'_>)| {
        for (i, e) in leaf::parse_data_tile(&tile).unwrap().iter().enumerate() {
            let Chain::Fingerprints(fps) = &e.chain else {
                unreachable!()
            };
            let ders: Vec<&[u8]> = fps.iter().map(|fp| issuers[fp].as_slice()).collect();
            black_box(event(e, &ders, &tiled, i as u64, 0.0, &mut cache).unwrap());
            also(e);
        }
    };
    group.bench_function("tile_leaf_to_event", |b| {
        b.iter(|| tile_to_events(&mut |_| {}))
    });
    // what a follower of a keyed static-ct-api log does besides: each
    // entry's leaf hash into the Merkle frontier checked against the root
    group.bench_function("tile_leaf_to_event_with_tree_check", |b| {
        let mut frontier = certsentry::ct::merkle::Frontier::default();
        b.iter(|| {
            tile_to_events(&mut |e| {
                frontier.push(certsentry::ct::merkle::leaf_hash(e.timestamped_entry))
            });
            black_box(frontier.root());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
