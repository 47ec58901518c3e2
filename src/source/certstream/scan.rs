//! The scan of a certstream message: one pass that reads what matching
//! needs (the type, the names, the fingerprint, the time, where the leaf
//! is) strictly, and checks every other member for structure only.

use super::frame::FrameError;
use crate::json::Str;
use crate::json::scan::{Key, Kind, Reader, SyntaxError};

/// What a message's `data` is: a certificate update's object, a
/// `dns_entries` list of names, or anything else.
pub(super) enum Data<'a> {
    Update(ScanUpdate<'a>),
    Names(Vec<Str<'a>>),
    Other,
}

/// What [`scan_frame`] reads of a certificate update.
#[derive(Default)]
pub(super) struct ScanUpdate<'a> {
    /// `leaf_cert.all_domains`, the one field read strictly: without names
    /// there is nothing to match.
    pub(super) names: Option<Vec<Str<'a>>>,
    /// `leaf_cert.{sha256, sha1, fingerprint}` when strings, as written:
    /// only the one used is decoded.
    pub(super) fingerprints: [Option<Key<'a>>; 3],
    /// `seen` when a number.
    pub(super) seen: Option<f64>,
    /// Where the `leaf_cert` object is in the message.
    pub(super) leaf: Option<(u32, u32)>,
}

/// A member read twice is refused, as serde's derived readers do.
fn first_time(read: &mut u8, bit: u8) -> Result<(), FrameError> {
    if *read & bit != 0 {
        return Err(FrameError::Duplicate);
    }
    *read |= bit;
    Ok(())
}

/// The whole message, in one pass and whatever its key order.
pub(super) fn scan(bytes: &[u8]) -> Result<(Option<Str<'_>>, Option<Data<'_>>), FrameError> {
    let mut r = Reader::new(bytes);
    let (mut message_type, mut data, mut read) = (None, None, 0);
    r.begin_object()?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        if key.is("message_type") {
            first_time(&mut read, 1)?;
            message_type = match r.kind()? {
                Kind::String => Some(r.string()?),
                Kind::Literal if r.null()? => None,
                _ => return Err(FrameError::Field("message_type")),
            };
        } else if key.is("data") {
            first_time(&mut read, 2)?;
            data = Some(match r.kind()? {
                Kind::Object => Data::Update(scan_update(&mut r)?),
                Kind::Array => Data::Names(strings(&mut r).ok_or(FrameError::Field("data"))??),
                _ => {
                    r.skip()?;
                    Data::Other
                }
            });
        } else {
            r.skip_unread()?;
        }
    }
    r.finish()?;
    Ok((message_type, data))
}

fn scan_update<'a>(r: &mut Reader<'a>) -> Result<ScanUpdate<'a>, FrameError> {
    let mut update = ScanUpdate::default();
    let mut read = 0;
    r.begin_object()?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        if key.is("leaf_cert") {
            first_time(&mut read, 1)?;
            match r.kind()? {
                Kind::Object => {
                    let start = r.position();
                    scan_leaf(r, &mut update)?;
                    let end = r.position();
                    update.leaf = u32::try_from(start).ok().zip(u32::try_from(end).ok());
                }
                Kind::Literal if r.null()? => {}
                _ => return Err(FrameError::Field("leaf_cert")),
            }
        } else if key.is("seen") {
            first_time(&mut read, 2)?;
            match r.kind()? {
                Kind::Number => update.seen = Some(r.number()?),
                _ => r.skip_unread()?,
            }
        } else {
            r.skip_unread()?;
        }
    }
    Ok(update)
}

fn scan_leaf<'a>(r: &mut Reader<'a>, update: &mut ScanUpdate<'a>) -> Result<(), FrameError> {
    const FINGERPRINTS: [&str; 3] = ["sha256", "sha1", "fingerprint"];
    let mut read = 0;
    r.begin_object()?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        if key.is("all_domains") {
            first_time(&mut read, 1 << 3)?;
            update.names = match r.kind()? {
                Kind::Array => Some(strings(r).ok_or(FrameError::Field("all_domains"))??),
                Kind::Literal if r.null()? => None,
                _ => return Err(FrameError::Field("all_domains")),
            };
        } else if let Some(k) = FINGERPRINTS.iter().position(|f| key.is(f)) {
            first_time(&mut read, 1 << k)?;
            match r.kind()? {
                Kind::String => update.fingerprints[k] = Some(r.string_raw()?),
                _ => r.skip_unread()?,
            }
        } else {
            r.skip_unread()?;
        }
    }
    Ok(())
}

/// An array of strings: `None` when an element is not a string.
fn strings<'a>(r: &mut Reader<'a>) -> Option<Result<Vec<Str<'a>>, SyntaxError>> {
    let mut out = Vec::new();
    let mut step = || -> Result<Option<()>, SyntaxError> {
        r.begin_array()?;
        let mut first = true;
        while r.next_item(&mut first)? {
            if r.kind()? != Kind::String {
                return Ok(None);
            }
            out.push(r.string()?);
        }
        Ok(Some(()))
    };
    match step() {
        Ok(Some(())) => Some(Ok(out)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}
