//! The RFC 6962 read API: `get-sth`, `get-entries` in batches (continuing
//! where a short answer stopped), and the tree where reading starts from
//! `get-proof-by-hash`.

use super::client::{FetchError, LogClient, fetch_err};
use super::event::{IssuerCache, LogMeta, Read, event_from_get_entries};
use super::merkle;
use super::sth::{self, LogKey, SthError, TreeHead};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(serde::Deserialize)]
struct GetEntries {
    entries: Vec<RawEntry>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    leaf_input: String,
    extra_data: String,
}

/// The log's current tree head; `Ok(Err(_))` when it is not believed.
pub(super) async fn tree_head(
    client: &mut LogClient,
    key: Option<&LogKey>,
) -> Result<Result<TreeHead, SthError>, FetchError> {
    let body = client.get("ct/v1/get-sth").await?;
    Ok(sth::parse_get_sth(&body, key))
}

/// Entries from `next` (below `size`), at most `batch_size`.
pub(super) async fn read(
    client: &mut LogClient,
    meta: &LogMeta,
    cache: &mut IssuerCache,
    (next, size, batch_size): (u64, u64, u64),
    want_leaves: bool,
    seen: f64,
) -> Result<Read, FetchError> {
    let end = (next + batch_size - 1).min(size - 1);
    let body = client
        .get(&format!("ct/v1/get-entries?start={next}&end={end}"))
        .await?;
    let answer: GetEntries =
        serde_json::from_slice(&body).map_err(|e| fetch_err(format!("get-entries: {e}")))?;
    if answer.entries.is_empty() {
        return Err(fetch_err(format!("get-entries {next}-{end}: no entries")));
    }
    let count = (answer.entries.len() as u64).min(end - next + 1);
    let mut leaves = want_leaves.then(Vec::new);
    let mut entries = Vec::with_capacity(count as usize);
    for (i, raw) in answer.entries.iter().take(count as usize).enumerate() {
        let index = next + i as u64;
        if let Some(hashes) = &mut leaves {
            match STANDARD.decode(&raw.leaf_input) {
                Ok(li) => hashes.push(merkle::hash_leaf_input(&li)),
                // counted as a bad entry by the caller; the tree is lost
                Err(_) => leaves = None,
            }
        }
        let ev = event_from_get_entries(&raw.leaf_input, &raw.extra_data, meta, index, seen, cache);
        entries.push((index, ev));
    }
    Ok(Read {
        entries,
        leaves,
        next: next + count,
    })
}

/// The entry before `at`, and its audit path in the tree of `size`
/// (`get-proof-by-hash`), whose left siblings are the frontier of the
/// tree's first `at` entries.
pub(super) async fn frontier(
    client: &mut LogClient,
    at: u64,
    size: u64,
) -> Result<merkle::Frontier, FetchError> {
    #[derive(serde::Deserialize)]
    struct Proof {
        leaf_index: u64,
        audit_path: Vec<String>,
    }
    let last = at - 1;
    let body = client
        .get(&format!("ct/v1/get-entries?start={last}&end={last}"))
        .await?;
    let answer: GetEntries =
        serde_json::from_slice(&body).map_err(|e| fetch_err(format!("get-entries: {e}")))?;
    let leaf = answer
        .entries
        .first()
        .and_then(|e| STANDARD.decode(&e.leaf_input).ok())
        .map(|li| merkle::hash_leaf_input(&li))
        .ok_or_else(|| fetch_err(format!("get-entries {last}: no readable entry")))?;
    let hash: String = STANDARD
        .encode(leaf)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let body = client
        .get(&format!(
            "ct/v1/get-proof-by-hash?hash={hash}&tree_size={size}"
        ))
        .await?;
    let proof: Proof =
        serde_json::from_slice(&body).map_err(|e| fetch_err(format!("get-proof-by-hash: {e}")))?;
    if proof.leaf_index != last {
        return Err(fetch_err(format!(
            "get-proof-by-hash: leaf {} for entry {last}",
            proof.leaf_index
        )));
    }
    let path: Option<Vec<merkle::Hash>> = proof
        .audit_path
        .iter()
        .map(|h| STANDARD.decode(h).ok().and_then(|h| h.try_into().ok()))
        .collect();
    let mut frontier = path
        .and_then(|p| merkle::left_of_audit_path(last, size, &p))
        .and_then(|roots| merkle::Frontier::from_roots(last, roots))
        .ok_or_else(|| fetch_err("get-proof-by-hash: not an audit path of that entry"))?;
    frontier.push(leaf);
    Ok(frontier)
}
