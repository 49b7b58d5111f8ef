//! How the events of one LookupEvents page are kept: each event's envelope fields and its record's
//! text (the project's own [`HistoryEvent`], never an SDK type), framed by lengths, the whole page compressed as one zstd frame with a checksum (a damaged
//! chunk is detected, never read as other events). Records of one page share most of their keys and
//! values, which is what makes a page compress to a small part of its size.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use crate::event::{Envelope, HistoryEvent, Resource};

/// zstd level: 9 compresses a page of 50 records about 10% better than the default 3, for about
/// 2 ms per page, nothing beside the half second a page takes to arrive.
const LEVEL: i32 = 9;

/// Pages are at most a few MiB; a chunk that claims more is damaged.
const MAX_DECODED: u64 = 256 << 20;

/// The envelope of a stored event, as LookupEvents sent it.
#[derive(Serialize, Deserialize)]
struct Header {
    id: Option<String>,
    name: Option<String>,
    read_only: Option<String>,
    key: Option<String>,
    secs: Option<i64>,
    nanos: u32,
    source: Option<String>,
    user: Option<String>,
    resources: Option<Vec<(Option<String>, Option<String>)>>,
}

/// One page, compressed.
pub fn encode(events: &[HistoryEvent]) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(events.len() * 2048);
    for event in events {
        let envelope = &event.envelope;
        let header = Header {
            id: envelope.event_id.clone(),
            name: envelope.event_name.clone(),
            read_only: envelope.read_only.clone(),
            key: envelope.access_key_id.clone(),
            secs: envelope.event_time.map(|t| t.timestamp()),
            nanos: envelope.event_time.map_or(0, |t| t.timestamp_subsec_nanos()),
            source: envelope.event_source.clone(),
            user: envelope.username.clone(),
            resources: envelope
                .resources
                .as_ref()
                .map(|list| list.iter().map(|r| (r.resource_type.clone(), r.resource_name.clone())).collect()),
        };
        let header = serde_json::to_vec(&header)?;
        let record = event.record.as_bytes();
        for part in [&header[..], record] {
            plain.extend_from_slice(&u32::try_from(part.len()).context("an event over 4 GiB")?.to_le_bytes());
            plain.extend_from_slice(part);
        }
    }
    let mut encoder = zstd::stream::Encoder::new(Vec::with_capacity(plain.len() / 6), LEVEL)?;
    encoder.include_checksum(true)?;
    encoder.write_all(&plain)?;
    Ok(encoder.finish()?)
}

/// The page back, in the order it was stored; an error when the chunk is damaged.
pub fn decode(data: &[u8]) -> Result<Vec<HistoryEvent>> {
    let mut plain = Vec::new();
    zstd::stream::read::Decoder::new(data)?.take(MAX_DECODED).read_to_end(&mut plain).context("a damaged chunk")?;
    let mut events = Vec::new();
    let mut rest = &plain[..];
    while !rest.is_empty() {
        let header: Header = serde_json::from_slice(take(&mut rest)?).context("a damaged chunk")?;
        let record = std::str::from_utf8(take(&mut rest)?).context("a damaged chunk")?;
        let resources = header.resources.map(|list| {
            list.into_iter().map(|(kind, name)| Resource { resource_type: kind, resource_name: name }).collect()
        });
        let envelope = Envelope {
            event_id: header.id,
            event_name: header.name,
            read_only: header.read_only,
            access_key_id: header.key,
            event_time: header.secs.and_then(|secs| DateTime::from_timestamp(secs, header.nanos)),
            event_source: header.source,
            username: header.user,
            resources,
        };
        events.push(HistoryEvent { envelope, record: record.to_owned() });
    }
    Ok(events)
}

fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8]> {
    if rest.len() < 4 {
        bail!("a damaged chunk (cut short)");
    }
    let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    let part = rest.get(4..4 + len).ok_or_else(|| anyhow!("a damaged chunk (cut short)"))?;
    *rest = &rest[4 + len..];
    Ok(part)
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
            event_time: DateTime::from_timestamp(secs, 0),
            event_source: Some("ec2.amazonaws.com".to_owned()),
            username: Some("alice".to_owned()),
            resources,
        };
        HistoryEvent { envelope, record: format!("{{\"eventID\":\"{id}\",\"note\":\"ü\\n\"}}") }
    }

    #[test]
    fn a_page_comes_back_the_same() {
        let page = vec![
            event("a", 100, None),
            event("b", 99, Some(vec![])),
            event(
                "c",
                99,
                Some(vec![Resource { resource_type: Some("AWS::EC2::Instance".to_owned()), resource_name: None }]),
            ),
        ];
        assert_eq!(decode(&encode(&page).unwrap()).unwrap(), page);
        assert!(decode(&encode(&[]).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn damage_is_an_error() {
        let mut data = encode(&[event("a", 1, None), event("b", 2, None)]).unwrap();
        let middle = data.len() / 2;
        data[middle] ^= 0x55;
        assert!(decode(&data).is_err());
        assert!(decode(&data[..data.len() - 3]).is_err());
        assert!(decode(b"not zstd").is_err());
    }
}
