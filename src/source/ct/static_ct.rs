//! The static-ct-api read API (C2SP): the signed `checkpoint`, data tiles
//! `tile/data/<N>` (full tiles; the partial `.p/<W>` tile only at the right
//! edge, read again as a full tile once it fills), issuers fetched once by
//! fingerprint from `issuer/<sha256>`, and the tree where reading starts
//! from the hash tiles.

use super::client::{FetchError, LogClient, fetch_err};
use super::event::{IssuerCache, LogMeta, Read, event};
use super::leaf::{self, Chain};
use super::merkle;
use super::sth::{self, LogKey, SthError, TreeHead};
use std::collections::HashMap;
use std::sync::Arc;

/// Entries in a data tile.
pub(super) const TILE_WIDTH: u64 = 256;

/// `tile/data/<N>` path segment: groups of three digits, all but the last
/// prefixed with `x` (1234067 → `x001/x234/067`).
pub(super) fn tile_index_path(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// The data tile holding `index` in a tree of `size`, and its width.
pub(super) fn data_tile_for(index: u64, size: u64) -> (String, u64, u64) {
    let n = index / TILE_WIDTH;
    let start = n * TILE_WIDTH;
    let width = (size - start).min(TILE_WIDTH);
    let path = if width == TILE_WIDTH {
        format!("tile/data/{}", tile_index_path(n))
    } else {
        format!("tile/data/{}.p/{width}", tile_index_path(n))
    };
    (path, start, width)
}

/// A tiled log's issuers, fetched once each.
#[derive(Default)]
pub(super) struct Issuers(HashMap<[u8; 32], Arc<Vec<u8>>>);

impl Issuers {
    /// An issuer certificate by SHA-256.
    async fn get(
        &mut self,
        client: &mut LogClient,
        fp: &[u8; 32],
    ) -> Result<Arc<Vec<u8>>, FetchError> {
        if let Some(der) = self.0.get(fp) {
            return Ok(der.clone());
        }
        let der = Arc::new(
            client
                .get(&format!("issuer/{}", hex::encode(fp)))
                .await?
                .to_vec(),
        );
        self.0.insert(*fp, der.clone());
        Ok(der)
    }
}

/// The log's current checkpoint; `Ok(Err(_))` when it is not believed.
pub(super) async fn tree_head(
    client: &mut LogClient,
    key: Option<&LogKey>,
) -> Result<Result<TreeHead, SthError>, FetchError> {
    let body = client.get("checkpoint").await?;
    Ok(sth::parse_checkpoint(&body, key))
}

/// The rest of the data tile holding `next`, in a tree of `size`.
pub(super) async fn read(
    client: &mut LogClient,
    issuers: &mut Issuers,
    meta: &LogMeta,
    cache: &mut IssuerCache,
    (next, size): (u64, u64),
    want_leaves: bool,
    seen: f64,
) -> Result<Read, FetchError> {
    let (path, start, width) = data_tile_for(next, size);
    let tile = client.get(&path).await?;
    let parsed = leaf::parse_data_tile(&tile).map_err(|e| fetch_err(format!("{path}: {e}")))?;
    if (parsed.len() as u64) < width {
        return Err(fetch_err(format!(
            "{path}: {} entries, expected {width}",
            parsed.len()
        )));
    }
    let from = (next - start) as usize;
    let mut leaves = want_leaves.then(Vec::new);
    let mut entries = Vec::with_capacity(width as usize - from);
    for (i, entry) in parsed.iter().enumerate().take(width as usize).skip(from) {
        let index = start + i as u64;
        if let Some(hashes) = &mut leaves {
            hashes.push(merkle::leaf_hash(entry.timestamped_entry));
        }
        let mut ders = Vec::new();
        if let Chain::Fingerprints(fps) = &entry.chain {
            for fp in fps {
                ders.push(issuers.get(client, fp).await?);
            }
        }
        let ders: Vec<&[u8]> = ders.iter().map(|d| d.as_slice()).collect();
        entries.push((index, event(entry, &ders, meta, index, seen, cache)));
    }
    Ok(Read {
        entries,
        leaves,
        next: start + width,
    })
}

/// The frontier of the tree's first `at` entries from the hash tiles of
/// the tree of `size` (a size the log signed, so its partial tiles are served).
pub(super) async fn frontier(
    client: &mut LogClient,
    at: u64,
    size: u64,
) -> Result<merkle::Frontier, FetchError> {
    let mut tiles: HashMap<(u32, u64), bytes::Bytes> = HashMap::new();
    let mut roots = Vec::new();
    for (offset, height) in merkle::subtrees(at) {
        let span = merkle::tile_span(offset, height);
        let width = merkle::tile_width(span.level, span.tile, size);
        let mut path = format!("tile/{}/{}", span.level, tile_index_path(span.tile));
        if width < TILE_WIDTH {
            path.push_str(&format!(".p/{width}"));
        }
        let tile = match tiles.get(&(span.level, span.tile)) {
            Some(t) => t.clone(),
            None => {
                let t = client.get(&path).await?;
                tiles.insert((span.level, span.tile), t.clone());
                t
            }
        };
        let (from, to) = (span.start * 32, (span.start + span.count) * 32);
        let Some(hashes) = tile.get(from..to) else {
            return Err(fetch_err(format!(
                "{path}: {} bytes, hashes up to byte {to} needed",
                tile.len()
            )));
        };
        let hashes: Vec<merkle::Hash> = hashes
            .chunks_exact(32)
            .map(|h| {
                let mut out = [0u8; 32];
                out.copy_from_slice(h);
                out
            })
            .collect();
        roots.push(merkle::perfect_root(&hashes));
    }
    merkle::Frontier::from_roots(at, roots)
        .ok_or_else(|| fetch_err("hash tiles do not make a frontier"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths() {
        assert_eq!(tile_index_path(0), "000");
        assert_eq!(tile_index_path(67), "067");
        assert_eq!(tile_index_path(1234067), "x001/x234/067");
        assert_eq!(tile_index_path(1000), "x001/000");
        assert_eq!(
            data_tile_for(0, 100),
            ("tile/data/000.p/100".into(), 0, 100)
        );
        assert_eq!(data_tile_for(100, 300), ("tile/data/000".into(), 0, 256));
        assert_eq!(
            data_tile_for(256, 300),
            ("tile/data/001.p/44".into(), 256, 44)
        );
        assert_eq!(data_tile_for(512, 768), ("tile/data/002".into(), 512, 256));
    }
}
