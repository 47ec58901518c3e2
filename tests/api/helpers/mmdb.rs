//! A small MaxMind DB file (format 2.0: an IPv4 search tree of 24-bit
//! records, a data section, the metadata), written as the specification
//! lays it out, for the ASN enricher to read with the `maxminddb` crate.

use std::net::Ipv4Addr;

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        _ => {
            let n = size - 285;
            (30, vec![(n >> 8) as u8, n as u8])
        }
    };
    if kind <= 7 {
        out.push((kind << 5) | bits);
    } else {
        out.push(bits);
        out.push(kind - 7);
    }
    out.extend(extra);
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, 2, s.len());
    out.extend(s.as_bytes());
}

/// An unsigned integer of type 5 (16 bits), 6 (32) or 9 (64), in the
/// fewest bytes.
fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes: Vec<u8> = v
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    control(out, kind, bytes.len());
    out.extend(bytes);
}

/// A GeoLite2-ASN-shaped file: `(cidr, as number, as organisation)`.
pub fn asn_mmdb(entries: &[(&str, u32, &str)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    for (cidr, asn, org) in entries {
        let (ip, len) = cidr.split_once('/').unwrap();
        let ip: u32 = ip.parse::<Ipv4Addr>().unwrap().into();
        let len: usize = len.parse().unwrap();
        let offset = data.len();
        control(&mut data, 7, 2);
        string(&mut data, "autonomous_system_number");
        uint(&mut data, 6, u64::from(*asn));
        string(&mut data, "autonomous_system_organization");
        string(&mut data, org);
        let mut node = 0;
        for i in 0..len {
            let bit = ((ip >> (31 - i)) & 1) as usize;
            if i == len - 1 {
                nodes[node][bit] = Rec::Data(offset);
                break;
            }
            node = match nodes[node][bit] {
                Rec::Node(n) => n,
                Rec::Empty => {
                    nodes.push([Rec::Empty, Rec::Empty]);
                    let n = nodes.len() - 1;
                    nodes[node][bit] = Rec::Node(n);
                    n
                }
                Rec::Data(_) => panic!("{cidr} overlaps a network before it"),
            };
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for rec in pair {
            let v = match *rec {
                Rec::Empty => count,
                Rec::Node(n) => n,
                Rec::Data(off) => count + 16 + off,
            } as u32;
            out.extend(&v.to_be_bytes()[1..]);
        }
    }
    out.extend([0u8; 16]);
    out.extend(&data);
    out.extend(b"\xAB\xCD\xEFMaxMind.com");
    let mut meta = Vec::new();
    control(&mut meta, 7, 9);
    string(&mut meta, "binary_format_major_version");
    uint(&mut meta, 5, 2);
    string(&mut meta, "binary_format_minor_version");
    uint(&mut meta, 5, 0);
    string(&mut meta, "build_epoch");
    uint(&mut meta, 9, 1_796_299_200);
    string(&mut meta, "database_type");
    string(&mut meta, "GeoLite2-ASN");
    string(&mut meta, "description");
    control(&mut meta, 7, 1);
    string(&mut meta, "en");
    string(&mut meta, "certsentry test ASN database");
    string(&mut meta, "ip_version");
    uint(&mut meta, 5, 4);
    string(&mut meta, "languages");
    control(&mut meta, 11, 1);
    string(&mut meta, "en");
    string(&mut meta, "node_count");
    uint(&mut meta, 6, count as u64);
    string(&mut meta, "record_size");
    uint(&mut meta, 5, 24);
    out.extend(meta);
    out
}
