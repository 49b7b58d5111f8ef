//! How the events of stored pages are kept: each event's envelope fields and its record's text (the
//! project's own [`HistoryEvent`], never an SDK type), framed by lengths, the whole chunk compressed as
//! one zstd frame with a checksum (a damaged chunk is detected, never read as other events). Records of
//! neighbouring pages share most of their keys and values, which is what makes a chunk compress to a
//! small part of its size.
//!
//! The framing is binary and flat so that reading it back costs next to nothing beside zstd: an
//! event's time and ID are at fixed places before its other fields, and its record's text lies whole
//! in the decompressed bytes, where the prefilter scans it without parsing anything ([`Stored`]
//! borrows it). A chunk is its events one after another with nothing around them, so chunks join by
//! concatenating their decompressed bytes.
//!
//! One event: its time (`i64` seconds, `i64::MIN` for none; `u32` nanoseconds), a byte that says
//! whether its record is valid JSON on one line (checked once, when it is kept), then ID, name,
//! read-only, access key, source and user as strings, then its resources (a `u32` count, then type and
//! name of each as strings), then the record. A string is a `u32` length and its bytes; the length
//! [`NONE`] stands for a missing field (a count of [`NONE`] for missing resources). All little-endian.

use std::cell::RefCell;

use anyhow::{anyhow, bail, Context, Result};
use chrono::DateTime;

use crate::event::{is_one_line_json, Envelope, HistoryEvent, Resource};

/// zstd level: 9 compresses a page of 50 records about 10% better than the default 3, for about
/// 2 ms per page, nothing beside the half second a page takes to arrive; reading back is as fast
/// whatever the level.
const LEVEL: i32 = 9;

/// Chunks are at most a few MiB; a chunk that claims more is damaged.
const MAX_DECODED: u64 = 256 << 20;

/// The length that marks a missing string (or missing resources).
const NONE: u32 = u32::MAX;

/// No time at all: what [`HistoryEvent::secs`] answers for an event without one.
const NO_TIME: i64 = i64::MIN;

/// Events as a chunk holds them, not yet compressed.
pub fn frame(events: &[HistoryEvent], plain: &mut Vec<u8>) -> Result<()> {
    for event in events {
        let envelope = &event.envelope;
        plain.extend_from_slice(&envelope.event_time.map_or(NO_TIME, |t| t.timestamp()).to_le_bytes());
        plain.extend_from_slice(&envelope.event_time.map_or(0, |t| t.timestamp_subsec_nanos()).to_le_bytes());
        plain.push(u8::from(event.checked || is_one_line_json(&event.record)));
        for field in [
            &envelope.event_id,
            &envelope.event_name,
            &envelope.read_only,
            &envelope.access_key_id,
            &envelope.event_source,
            &envelope.username,
        ] {
            put(plain, field.as_deref().map(str::as_bytes))?;
        }
        match &envelope.resources {
            None => plain.extend_from_slice(&NONE.to_le_bytes()),
            Some(list) => {
                plain.extend_from_slice(&length(list.len())?.to_le_bytes());
                for resource in list {
                    put(plain, resource.resource_type.as_deref().map(str::as_bytes))?;
                    put(plain, resource.resource_name.as_deref().map(str::as_bytes))?;
                }
            }
        }
        put(plain, Some(event.record.as_bytes()))?;
    }
    Ok(())
}

fn length(len: usize) -> Result<u32> {
    u32::try_from(len).ok().filter(|&n| n != NONE).context("an event over 4 GiB")
}

fn put(plain: &mut Vec<u8>, part: Option<&[u8]>) -> Result<()> {
    match part {
        None => plain.extend_from_slice(&NONE.to_le_bytes()),
        Some(part) => {
            plain.extend_from_slice(&length(part.len())?.to_le_bytes());
            plain.extend_from_slice(part);
        }
    }
    Ok(())
}

/// Framed events compressed into one chunk: one frame that says its size, with a checksum.
pub fn compress(plain: &[u8]) -> Result<Vec<u8>> {
    let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
    compressor.set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(true))?;
    Ok(compressor.compress(plain)?)
}

/// One page (or several, newest first), compressed.
pub fn encode(events: &[HistoryEvent]) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(events.len() * 2048);
    frame(events, &mut plain)?;
    compress(&plain)
}

thread_local! {
    /// This thread's zstd context, made once: making one costs as much as decompressing a small chunk.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// A chunk's framed events, in place of what `plain` held (its memory kept), decompressed in one
/// step since the frame says its size; an error when the chunk is damaged.
pub fn decompress(data: &[u8], plain: &mut Vec<u8>) -> Result<()> {
    let size = zstd::zstd_safe::get_frame_content_size(data)
        .ok()
        .flatten()
        .filter(|&size| size <= MAX_DECODED)
        .ok_or_else(|| anyhow!("a damaged chunk (no readable size)"))? as usize;
    plain.clear();
    plain.reserve(size);
    let written = DECOMPRESSOR.with_borrow_mut(|context| -> Result<usize> {
        let context = match context {
            Some(context) => context,
            None => context.insert(zstd::bulk::Decompressor::new()?),
        };
        context.decompress_to_buffer(data, plain).context("a damaged chunk")
    })?;
    if written != size {
        bail!("a damaged chunk (not the size it says)");
    }
    Ok(())
}

/// The events back, in the order they were stored; an error when the chunk is damaged.
pub fn decode(data: &[u8]) -> Result<Vec<HistoryEvent>> {
    let mut plain = Vec::new();
    decompress(data, &mut plain)?;
    events(&plain).map(|stored| stored?.event()).collect()
}

/// One stored event, borrowed from a chunk's decompressed bytes: its time, ID and record's text at
/// hand, its other envelope fields read only when [`Stored::envelope`] is asked for.
pub struct Stored<'a> {
    /// Its second, `i64::MIN` without a time (as [`HistoryEvent::secs`]).
    pub secs: i64,
    nanos: u32,
    checked: bool,
    pub id: Option<&'a [u8]>,
    /// Name, read-only, access key, source, user.
    fields: [Option<&'a [u8]>; 5],
    resources: Option<(u32, &'a [u8])>,
    pub record: &'a [u8],
}

/// The events of a chunk's decompressed bytes, one after another.
pub fn events(plain: &[u8]) -> impl Iterator<Item = Result<Stored<'_>>> {
    let mut rest = plain;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let stored = next(&mut rest);
        if stored.is_err() {
            rest = &[];
        }
        Some(stored)
    })
}

fn next<'a>(rest: &mut &'a [u8]) -> Result<Stored<'a>> {
    let secs = i64::from_le_bytes(take(rest, 8)?.try_into().expect("8 bytes"));
    let nanos = u32::from_le_bytes(take(rest, 4)?.try_into().expect("4 bytes"));
    let checked = match take(rest, 1)? {
        [0] => false,
        [1] => true,
        _ => bail!("a damaged chunk (a flag neither 0 nor 1)"),
    };
    let id = string(rest)?;
    let fields = [string(rest)?, string(rest)?, string(rest)?, string(rest)?, string(rest)?];
    let resources = match number(rest)? {
        NONE => None,
        count => {
            let start = *rest;
            for _ in 0..count {
                string(rest)?;
                string(rest)?;
            }
            Some((count, &start[..start.len() - rest.len()]))
        }
    };
    let record = string(rest)?.ok_or_else(|| anyhow!("a damaged chunk (an event without a record)"))?;
    Ok(Stored { secs, nanos, checked, id, fields, resources, record })
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8]> {
    if rest.len() < len {
        bail!("a damaged chunk (cut short)");
    }
    let (part, after) = rest.split_at(len);
    *rest = after;
    Ok(part)
}

fn number(rest: &mut &[u8]) -> Result<u32> {
    Ok(u32::from_le_bytes(take(rest, 4)?.try_into().expect("4 bytes")))
}

fn string<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a [u8]>> {
    match number(rest)? {
        NONE => Ok(None),
        len => take(rest, len as usize).map(Some),
    }
}

fn text(bytes: Option<&[u8]>) -> Result<Option<String>> {
    bytes.map(|b| std::str::from_utf8(b).map(str::to_owned).context("a damaged chunk (not UTF-8)")).transpose()
}

impl Stored<'_> {
    /// Its ID as text (empty without one, as [`HistoryEvent::id`]).
    pub fn id(&self) -> Result<&str> {
        std::str::from_utf8(self.id.unwrap_or_default()).context("a damaged chunk (not UTF-8)")
    }

    /// Its envelope, as LookupEvents sent it.
    pub fn envelope(&self) -> Result<Envelope> {
        let [name, read_only, key, source, user] = self.fields;
        let resources = match self.resources {
            None => None,
            Some((count, mut rest)) => Some(
                (0..count)
                    .map(|_| {
                        Ok(Resource {
                            resource_type: text(string(&mut rest)?)?,
                            resource_name: text(string(&mut rest)?)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Envelope {
            event_id: text(self.id)?,
            event_name: text(name)?,
            read_only: text(read_only)?,
            access_key_id: text(key)?,
            event_time: (self.secs != NO_TIME).then(|| DateTime::from_timestamp(self.secs, self.nanos)).flatten(),
            event_source: text(source)?,
            username: text(user)?,
            resources,
        })
    }

    /// The whole event, owned.
    pub fn event(&self) -> Result<HistoryEvent> {
        let record = std::str::from_utf8(self.record).context("a damaged chunk (not UTF-8)")?.to_owned();
        Ok(HistoryEvent { envelope: self.envelope()?, record, checked: self.checked })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, secs: i64, resources: Option<Vec<Resource>>) -> HistoryEvent {
        let envelope = Envelope {
            event_id: Some(id.to_owned()),
            event_name: Some("RunInstances".to_owned()),
            read_only: Some("false".to_owned()),
            access_key_id: None,
            event_time: DateTime::from_timestamp(secs, 500),
            event_source: Some("ec2.amazonaws.com".to_owned()),
            username: Some("alice".to_owned()),
            resources,
        };
        HistoryEvent { envelope, record: format!("{{\"eventID\":\"{id}\",\"note\":\"ü\\n\"}}"), checked: false }
    }

    #[test]
    fn a_page_comes_back_the_same() {
        let mut timeless = event("d", 0, None);
        timeless.envelope.event_time = None;
        timeless.envelope.event_id = None;
        timeless.record = String::new();
        let page = vec![
            event("a", 100, None),
            event("b", 99, Some(vec![])),
            event(
                "c",
                99,
                Some(vec![Resource { resource_type: Some("AWS::EC2::Instance".to_owned()), resource_name: None }]),
            ),
            timeless,
        ];
        let back = decode(&encode(&page).unwrap()).unwrap();
        assert_eq!(
            back.iter().map(|e| e.checked).collect::<Vec<_>>(),
            [true, true, true, false],
            "an empty record is no JSON"
        );
        let unchecked: Vec<HistoryEvent> = back.into_iter().map(|e| HistoryEvent { checked: false, ..e }).collect();
        assert_eq!(unchecked, page);
        assert!(decode(&encode(&[]).unwrap()).unwrap().is_empty());
        let mut plain = Vec::new();
        decompress(&encode(&page).unwrap(), &mut plain).unwrap();
        let stored: Vec<Stored<'_>> = events(&plain).collect::<Result<_>>().unwrap();
        assert_eq!(stored.iter().map(|s| s.secs).collect::<Vec<_>>(), [100, 99, 99, i64::MIN]);
        assert_eq!(stored[2].id().unwrap(), "c");
        assert_eq!(stored[3].id().unwrap(), "");
        assert_eq!(stored[0].record, page[0].record.as_bytes(), "the record's text lies whole in the chunk");
    }

    #[test]
    fn chunks_join_by_concatenation() {
        let (first, second) = (vec![event("a", 100, None)], vec![event("b", 99, None), event("c", 98, None)]);
        let (mut plain, mut page_plain) = (Vec::new(), Vec::new());
        for page in [&first, &second] {
            decompress(&encode(page).unwrap(), &mut page_plain).unwrap();
            plain.extend_from_slice(&page_plain);
        }
        let joined: Vec<HistoryEvent> = decode(&compress(&plain).unwrap()).unwrap();
        let checked: Vec<HistoryEvent> =
            [first, second].concat().into_iter().map(|e| HistoryEvent { checked: true, ..e }).collect();
        assert_eq!(joined, checked);
    }

    #[test]
    fn damage_is_an_error() {
        let mut data = encode(&[event("a", 1, None), event("b", 2, None)]).unwrap();
        let middle = data.len() / 2;
        data[middle] ^= 0x55;
        assert!(decode(&data).is_err());
        assert!(decode(&data[..data.len() - 3]).is_err());
        assert!(decode(b"not zstd").is_err());
        let mut plain = Vec::new();
        frame(&[event("a", 1, None)], &mut plain).unwrap();
        plain.pop();
        assert!(events(&plain).any(|e| e.is_err()), "a framing cut short");
    }
}
