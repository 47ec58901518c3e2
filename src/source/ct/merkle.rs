//! The log's Merkle tree (RFC 6962 §2.1), kept as a frontier while a
//! follower reads entries in order, so what was read can be checked
//! against the signed root of a tree head.
//!
//! The frontier of a tree of size n is the root of each perfect subtree
//! its size decomposes into (one per set bit of n, largest first); a new
//! leaf merges with the trailing ones like a carry, and the tree's root
//! folds them from the right, which is RFC 6962's split at the largest
//! power of two below n. A follower that starts in the middle of a log
//! takes the frontier from the log: a static-ct-api log's hash tiles (a
//! perfect subtree of height k = 8·l + r is 2ʳ consecutive hashes of a
//! level-l tile), or an RFC 6962 log's audit path of the entry before the
//! start (`get-proof-by-hash`: its left siblings are exactly the frontier).
//! Reading from there and comparing with the next signed root checks the
//! entries read, and the hashes the frontier started from, in one
//! comparison. The last root that matched is stored; after a restart the
//! log's tree at that size must still make it.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `MTH({d})` of one entry: SHA-256(0x00 ‖ MerkleTreeLeaf), where the
/// leaf is version 0, leaf type 0 and the entry's `TimestampedEntry`.
pub fn leaf_hash(timestamped_entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8, 0, 0]);
    h.update(timestamped_entry);
    h.finalize().into()
}

/// An interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a perfect run of hashes (a power of two of them).
pub fn perfect_root(hashes: &[Hash]) -> Hash {
    match hashes {
        [] => Sha256::digest([]).into(),
        [h] => *h,
        _ => {
            let (l, r) = hashes.split_at(hashes.len() / 2);
            node_hash(&perfect_root(l), &perfect_root(r))
        }
    }
}

/// The roots of the perfect subtrees of a tree, left to right.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    /// From the roots of [`subtrees`]`(size)`, in that order.
    pub fn from_roots(size: u64, roots: Vec<Hash>) -> Option<Frontier> {
        (roots.len() == size.count_ones() as usize).then_some(Frontier { size, roots })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append the next leaf.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut carry = self.size;
        while carry & 1 == 1 {
            // a full subtree of the same height sits on the left
            if let Some(left) = self.roots.pop() {
                h = node_hash(&left, &h);
            }
            carry >>= 1;
        }
        self.roots.push(h);
        self.size += 1;
    }

    /// The Merkle tree hash of the entries so far.
    pub fn root(&self) -> Hash {
        let mut it = self.roots.iter().rev();
        let Some(last) = it.next() else {
            return Sha256::digest([]).into();
        };
        it.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// `MTH({d})` from an RFC 6962 `leaf_input` (the whole MerkleTreeLeaf).
pub fn hash_leaf_input(merkle_tree_leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(merkle_tree_leaf);
    h.finalize().into()
}

/// The roots of the perfect subtrees left of leaf `index` (the frontier
/// of the first `index` leaves), from that leaf's audit path in a tree of
/// `size` (RFC 6962 §2.1.1, leaf level first): the path's left siblings.
/// `None` when the path has the wrong length for that leaf and size.
pub fn left_of_audit_path(index: u64, size: u64, path: &[Hash]) -> Option<Vec<Hash>> {
    // from the top: is the sibling at each split on the left?
    let mut left = Vec::new();
    let (mut m, mut n) = (index, size);
    while n > 1 {
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if m < k {
            left.push(false);
            n = k;
        } else {
            left.push(true);
            m -= k;
            n -= k;
        }
    }
    if index >= size || left.len() != path.len() {
        return None;
    }
    // the path runs bottom-up, the flags top-down
    Some(
        left.iter()
            .zip(path.iter().rev())
            .filter(|(l, _)| **l)
            .map(|(_, h)| *h)
            .collect(),
    )
}

/// The perfect subtrees a tree of `size` decomposes into, left to right:
/// (first leaf, height).
pub fn subtrees(size: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for k in (0..64).rev() {
        if size >> k & 1 == 1 {
            out.push((offset, k));
            offset += 1 << k;
        }
    }
    out
}

/// Where a perfect subtree's hashes are in the hash tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSpan {
    pub level: u32,
    pub tile: u64,
    /// The first hash's position in the tile, and how many.
    pub start: usize,
    pub count: usize,
}

/// The tile hashes whose root is the perfect subtree of height `height`
/// starting at leaf `offset` (a multiple of 2^height).
pub fn tile_span(offset: u64, height: u32) -> TileSpan {
    let level = height / 8;
    let index = offset >> (8 * level);
    TileSpan {
        level,
        tile: index / 256,
        start: (index % 256) as usize,
        count: 1 << (height % 8),
    }
}

/// The width of tile `tile` of `level` in a tree of `size` (0 when the
/// tree has none of its hashes).
pub fn tile_width(level: u32, tile: u64, size: u64) -> u64 {
    let hashes = size.checked_shr(8 * level).unwrap_or(0);
    hashes.saturating_sub(tile * 256).min(256)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 §2.1, definitionally: split at the largest power of two
    /// smaller than n.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn raw_leaf(data: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(data);
        h.finalize().into()
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]) by its definition, leaf level first.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn an_audit_paths_left_siblings_are_the_frontier_before_its_leaf() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| raw_leaf(&i.to_be_bytes())).collect();
        for size in 1..=leaves.len() {
            let mut f = Frontier::default();
            for index in 0..size {
                let p = path(index, &leaves[..size]);
                let roots = left_of_audit_path(index as u64, size as u64, &p);
                assert_eq!(
                    roots.and_then(|r| Frontier::from_roots(index as u64, r)),
                    Some(f.clone()),
                    "leaf {index} of {size}"
                );
                f.push(leaves[index]);
            }
        }
    }

    #[test]
    fn roots_match_the_rfc6962_test_vectors() {
        // the inputs and roots published with the reference implementation
        let inputs = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut f = Frontier::default();
        assert_eq!(
            hex::encode(f.root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (input, root) in inputs.iter().zip(roots) {
            f.push(raw_leaf(&hex::decode(input).unwrap()));
            assert_eq!(hex::encode(f.root()), root, "size {}", f.size());
        }
        // a leaf of a TimestampedEntry is the same hash over its MerkleTreeLeaf
        assert_eq!(leaf_hash(b"entry"), raw_leaf(b"\0\0entry"));
        assert_eq!(hash_leaf_input(b"\0\0entry"), leaf_hash(b"entry"));
    }

    #[test]
    fn the_frontier_equals_the_definition_and_its_tile_decomposition() {
        let leaves: Vec<Hash> = (0u32..70_000).map(|i| raw_leaf(&i.to_be_bytes())).collect();
        // tile hashes by level: level l+1 holds the roots of full level-l tiles
        let mut levels = vec![leaves.clone()];
        while levels.last().is_some_and(|l| l.len() >= 256) {
            let up = levels
                .last()
                .map(|l| l.chunks_exact(256).map(perfect_root).collect());
            levels.push(up.unwrap_or_default());
        }
        // the frontier at n, rebuilt from tile hashes
        let from_tiles = |n: u64| {
            let roots = subtrees(n)
                .into_iter()
                .map(|(offset, height)| {
                    let span = tile_span(offset, height);
                    assert!(
                        (span.start + span.count) as u64 <= tile_width(span.level, span.tile, n)
                    );
                    let first = span.tile as usize * 256 + span.start;
                    perfect_root(&levels[span.level as usize][first..first + span.count])
                })
                .collect();
            Frontier::from_roots(n, roots)
        };
        let mut f = Frontier::default();
        for (n, leaf) in leaves.iter().enumerate() {
            if n <= 600 || n == 65_536 || n == 69_999 {
                assert_eq!(f.root(), mth(&leaves[..n]), "size {n}");
                assert_eq!(from_tiles(n as u64), Some(f.clone()), "size {n}");
            }
            f.push(*leaf);
        }
        assert_eq!(tile_width(0, 5, 1300), 20);
        assert_eq!(left_of_audit_path(5, 5, &[]), None);
        assert_eq!(left_of_audit_path(2, 5, &[[0; 32]]), None);
        assert_eq!(tile_width(1, 0, 1300), 5);
        assert_eq!(tile_width(2, 0, 1300), 0);
        assert_eq!(tile_width(0, 9, 1300), 0);
        assert_eq!(Frontier::from_roots(3, vec![[0; 32]]), None);
    }
}
