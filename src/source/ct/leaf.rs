//! The binary structures of CT log entries (RFC 6962 §3.4 and C2SP
//! static-ct-api), parsed without copying: `MerkleTreeLeaf` + `extra_data`
//! from `get-entries`, and the `TileLeaf`s of a data tile.

/// A malformed log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("entry truncated: wanted {wanted} bytes at offset {at}, {left} left")]
    Truncated {
        at: usize,
        wanted: usize,
        left: usize,
    },
    #[error("unsupported {what} {value}")]
    Unsupported { what: &'static str, value: u64 },
    #[error("{0} trailing bytes after the entry")]
    Trailing(usize),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("base64: {0}")]
    Base64(String),
}

/// Reads big-endian TLS-style fields.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], LeafError> {
        let left = self.buf.len() - self.at;
        if n > left {
            return Err(LeafError::Truncated {
                at: self.at,
                wanted: n,
                left,
            });
        }
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }
    fn uint(&mut self, bytes: usize) -> Result<u64, LeafError> {
        Ok(self
            .take(bytes)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
    /// An opaque vector with a `len_bytes`-byte length prefix.
    fn opaque(&mut self, len_bytes: usize) -> Result<&'a [u8], LeafError> {
        let n = self.uint(len_bytes)? as usize;
        self.take(n)
    }
    fn is_empty(&self) -> bool {
        self.at == self.buf.len()
    }
    fn rest(&self) -> usize {
        self.buf.len() - self.at
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    X509,
    Precert,
}

/// The issuers of an entry: DER certificates (RFC 6962) or SHA-256
/// fingerprints to fetch from the log's `issuer/` path (static-ct-api).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chain<'a> {
    Der(Vec<&'a [u8]>),
    Fingerprints(Vec<[u8; 32]>),
}

/// One log entry, borrowed from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    /// The log's timestamp, Unix milliseconds.
    pub timestamp_ms: u64,
    pub kind: EntryKind,
    /// The certificate, or for a precert the pre-certificate (with its poison
    /// extension): what certstream calls `as_der`.
    pub der: &'a [u8],
    pub chain: Chain<'a>,
    /// static-ct-api: the `leaf_index` extension, when present.
    pub leaf_index: Option<u64>,
    /// The `TimestampedEntry` bytes: what the log's Merkle tree hashes
    /// (a leaf is `0x00 0x00` + these, [`super::merkle::leaf_hash`]).
    pub timestamped_entry: &'a [u8],
}

fn kind(entry_type: u64) -> Result<EntryKind, LeafError> {
    match entry_type {
        0 => Ok(EntryKind::X509),
        1 => Ok(EntryKind::Precert),
        other => Err(LeafError::Unsupported {
            what: "entry_type",
            value: other,
        }),
    }
}

/// A `get-entries` entry: `leaf_input` (MerkleTreeLeaf) and `extra_data`, decoded.
pub fn parse_rfc6962<'a>(
    leaf_input: &'a [u8],
    extra_data: &'a [u8],
) -> Result<LogEntry<'a>, LeafError> {
    let mut r = Reader::new(leaf_input);
    let version = r.uint(1)?;
    if version != 0 {
        return Err(LeafError::Unsupported {
            what: "MerkleTreeLeaf version",
            value: version,
        });
    }
    let leaf_type = r.uint(1)?;
    if leaf_type != 0 {
        return Err(LeafError::Unsupported {
            what: "leaf_type",
            value: leaf_type,
        });
    }
    let entry_start = r.at;
    let timestamp_ms = r.uint(8)?;
    let kind = kind(r.uint(2)?)?;
    let leaf_cert = match kind {
        EntryKind::X509 => Some(r.opaque(3)?),
        EntryKind::Precert => {
            r.take(32)?; // issuer_key_hash
            r.opaque(3)?; // TBSCertificate: the pre-certificate in extra_data is richer
            None
        }
    };
    r.opaque(2)?; // CtExtensions
    if !r.is_empty() {
        return Err(LeafError::Trailing(r.rest()));
    }
    let timestamped_entry = &leaf_input[entry_start..];
    let mut x = Reader::new(extra_data);
    let der = match leaf_cert {
        Some(der) => der,
        None => x.opaque(3)?,
    };
    let chain_bytes = x.opaque(3)?;
    if !x.is_empty() {
        return Err(LeafError::Trailing(x.rest()));
    }
    let mut c = Reader::new(chain_bytes);
    let mut chain = Vec::new();
    while !c.is_empty() {
        chain.push(c.opaque(3)?);
    }
    Ok(LogEntry {
        timestamp_ms,
        kind,
        der,
        chain: Chain::Der(chain),
        leaf_index: None,
        timestamped_entry,
    })
}

/// Parse one `TileLeaf` from the front of `r`.
fn tile_leaf<'a>(r: &mut Reader<'a>) -> Result<LogEntry<'a>, LeafError> {
    let entry_start = r.at;
    let timestamp_ms = r.uint(8)?;
    let kind = kind(r.uint(2)?)?;
    let leaf_cert = match kind {
        EntryKind::X509 => Some(r.opaque(3)?),
        EntryKind::Precert => {
            r.take(32)?;
            r.opaque(3)?;
            None
        }
    };
    let extensions = r.opaque(2)?;
    let timestamped_entry = &r.buf[entry_start..r.at];
    let der = match leaf_cert {
        Some(der) => der,
        None => r.opaque(3)?,
    };
    let fps = r.opaque(2)?;
    if fps.len() % 32 != 0 {
        return Err(LeafError::Certificate(format!(
            "certificate_chain of {} bytes is not a list of SHA-256 fingerprints",
            fps.len()
        )));
    }
    let chain = fps
        .chunks_exact(32)
        .map(|c| {
            let mut fp = [0u8; 32];
            fp.copy_from_slice(c);
            fp
        })
        .collect();
    Ok(LogEntry {
        timestamp_ms,
        kind,
        der,
        chain: Chain::Fingerprints(chain),
        leaf_index: leaf_index(extensions),
        timestamped_entry,
    })
}

/// The static-ct-api `leaf_index` extension (type 0, a 40-bit index).
fn leaf_index(extensions: &[u8]) -> Option<u64> {
    let mut r = Reader::new(extensions);
    while !r.is_empty() {
        let ty = r.uint(1).ok()?;
        let data = r.opaque(2).ok()?;
        if ty == 0 && data.len() == 5 {
            return Reader::new(data).uint(5).ok();
        }
    }
    None
}

/// Every `TileLeaf` of a data tile, in order.
pub fn parse_data_tile(tile: &[u8]) -> Result<Vec<LogEntry<'_>>, LeafError> {
    let mut r = Reader::new(tile);
    let mut out = Vec::with_capacity(256);
    while !r.is_empty() {
        out.push(tile_leaf(&mut r)?);
    }
    Ok(out)
}

fn put24(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(b);
}

/// `timestamp`, `entry_type` and the x509 certificate or precert
/// `issuer_key_hash` + TBS: the part RFC 6962 and tile leaves share.
fn put_entry(
    out: &mut Vec<u8>,
    timestamp_ms: u64,
    kind: EntryKind,
    der: &[u8],
    issuer_key_hash: [u8; 32],
    tbs: &[u8],
) {
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    match kind {
        EntryKind::X509 => {
            out.extend_from_slice(&0u16.to_be_bytes());
            put24(out, der);
        }
        EntryKind::Precert => {
            out.extend_from_slice(&1u16.to_be_bytes());
            out.extend_from_slice(&issuer_key_hash);
            put24(out, tbs);
        }
    }
}

/// Write one `TileLeaf` (for building test logs; the inverse of the parser).
pub fn encode_tile_leaf(
    timestamp_ms: u64,
    kind: EntryKind,
    der: &[u8],
    issuer_key_hash: [u8; 32],
    tbs: &[u8],
    leaf_index: u64,
    chain: &[[u8; 32]],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(der.len() + tbs.len() + 64);
    put_entry(&mut out, timestamp_ms, kind, der, issuer_key_hash, tbs);
    // extensions: leaf_index
    out.extend_from_slice(&8u16.to_be_bytes());
    out.push(0);
    out.extend_from_slice(&5u16.to_be_bytes());
    out.extend_from_slice(&leaf_index.to_be_bytes()[3..]);
    if kind == EntryKind::Precert {
        put24(&mut out, der);
    }
    out.extend_from_slice(&((chain.len() * 32) as u16).to_be_bytes());
    for fp in chain {
        out.extend_from_slice(fp);
    }
    out
}

/// Write a `get-entries` entry (`leaf_input`, `extra_data`) for building test logs.
pub fn encode_rfc6962(
    timestamp_ms: u64,
    kind: EntryKind,
    der: &[u8],
    issuer_key_hash: [u8; 32],
    tbs: &[u8],
    chain: &[&[u8]],
) -> (Vec<u8>, Vec<u8>) {
    let mut leaf = vec![0u8, 0u8];
    put_entry(&mut leaf, timestamp_ms, kind, der, issuer_key_hash, tbs);
    leaf.extend_from_slice(&0u16.to_be_bytes());
    let mut extra = Vec::new();
    if kind == EntryKind::Precert {
        put24(&mut extra, der);
    }
    let mut chain_bytes = Vec::new();
    for c in chain {
        put24(&mut chain_bytes, c);
    }
    put24(&mut extra, &chain_bytes);
    (leaf, extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_leaves_round_trip_and_truncation_is_an_error() {
        let a = encode_tile_leaf(1, EntryKind::X509, b"cert-a", [0; 32], b"", 7, &[[9; 32]]);
        let b = encode_tile_leaf(2, EntryKind::Precert, b"pre-b", [1; 32], b"tbs", 8, &[]);
        let tile = [a.clone(), b].concat();
        let entries = parse_data_tile(&tile).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].der, b"cert-a");
        assert_eq!(entries[0].leaf_index, Some(7));
        assert_eq!(entries[0].chain, Chain::Fingerprints(vec![[9; 32]]));
        assert_eq!(entries[1].kind, EntryKind::Precert);
        assert_eq!(entries[1].der, b"pre-b");
        assert_eq!(entries[1].timestamp_ms, 2);
        assert!(matches!(
            parse_data_tile(&a[..a.len() - 3]),
            Err(LeafError::Truncated { .. })
        ));
        let (leaf, extra) = encode_rfc6962(
            5,
            EntryKind::Precert,
            b"pre",
            [2; 32],
            b"tbs",
            &[b"ca1", b"ca2"],
        );
        let e = parse_rfc6962(&leaf, &extra).unwrap();
        assert_eq!(e.der, b"pre");
        assert_eq!(e.timestamped_entry, &leaf[2..]);
        // a tile leaf's TimestampedEntry is the same bytes (with its
        // leaf_index extension in place of RFC 6962's empty extensions)
        let t = encode_tile_leaf(5, EntryKind::Precert, b"pre", [2; 32], b"tbs", 9, &[]);
        let te = parse_data_tile(&t).unwrap()[0].timestamped_entry;
        assert_eq!(&te[..te.len() - 10], &leaf[2..leaf.len() - 2]);
        assert_eq!(&te[te.len() - 10..], &[0, 8, 0, 0, 5, 0, 0, 0, 0, 9]);
        assert_eq!(e.chain, Chain::Der(vec![b"ca1", b"ca2"]));
        assert!(parse_rfc6962(&leaf[..10], &extra).is_err());
        let mut bad = leaf.clone();
        bad[0] = 1;
        assert!(matches!(
            parse_rfc6962(&bad, &extra),
            Err(LeafError::Unsupported { .. })
        ));
    }
}
