//! How the events of one LookupEvents page are kept: each event's envelope fields and its record's
//! text, framed by lengths, the whole page compressed as one zstd frame with a checksum (a damaged
//! chunk is detected, never read as other events). Records of one page share most of their keys and
//! values, which is what makes a page compress to a small part of its size.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_cloudtrail::primitives::DateTime as SdkDateTime;
use aws_sdk_cloudtrail::types::{self as sdk};
use serde::{Deserialize, Serialize};

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
pub fn encode(events: &[sdk::Event]) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(events.len() * 2048);
    for event in events {
        let header = Header {
            id: event.event_id.clone(),
            name: event.event_name.clone(),
            read_only: event.read_only.clone(),
            key: event.access_key_id.clone(),
            secs: event.event_time.map(|t| t.secs()),
            nanos: event.event_time.map_or(0, |t| t.subsec_nanos()),
            source: event.event_source.clone(),
            user: event.username.clone(),
            resources: event
                .resources
                .as_ref()
                .map(|list| list.iter().map(|r| (r.resource_type.clone(), r.resource_name.clone())).collect()),
        };
        let header = serde_json::to_vec(&header)?;
        let record = event.cloud_trail_event.as_deref().unwrap_or_default().as_bytes();
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
pub fn decode(data: &[u8]) -> Result<Vec<sdk::Event>> {
    let mut plain = Vec::new();
    zstd::stream::read::Decoder::new(data)?.take(MAX_DECODED).read_to_end(&mut plain).context("a damaged chunk")?;
    let mut events = Vec::new();
    let mut rest = &plain[..];
    while !rest.is_empty() {
        let header: Header = serde_json::from_slice(take(&mut rest)?).context("a damaged chunk")?;
        let record = std::str::from_utf8(take(&mut rest)?).context("a damaged chunk")?;
        let time = match header.secs {
            Some(secs) => Some(SdkDateTime::from_secs_and_nanos(secs, header.nanos)),
            None => None,
        };
        let resources = header.resources.map(|list| {
            list.into_iter()
                .map(|(kind, name)| sdk::Resource::builder().set_resource_type(kind).set_resource_name(name).build())
                .collect()
        });
        events.push(
            sdk::Event::builder()
                .set_event_id(header.id)
                .set_event_name(header.name)
                .set_read_only(header.read_only)
                .set_access_key_id(header.key)
                .set_event_time(time)
                .set_event_source(header.source)
                .set_username(header.user)
                .set_resources(resources)
                .cloud_trail_event(record)
                .build(),
        );
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

    fn event(id: &str, secs: i64, resources: Option<Vec<sdk::Resource>>) -> sdk::Event {
        sdk::Event::builder()
            .event_id(id)
            .event_name("RunInstances")
            .read_only("false")
            .event_time(SdkDateTime::from_secs(secs))
            .event_source("ec2.amazonaws.com")
            .username("alice")
            .set_resources(resources)
            .cloud_trail_event(format!("{{\"eventID\":\"{id}\",\"note\":\"ü\\n\"}}"))
            .build()
    }

    #[test]
    fn a_page_comes_back_the_same() {
        let page = vec![
            event("a", 100, None),
            event("b", 99, Some(vec![])),
            event("c", 99, Some(vec![sdk::Resource::builder().resource_type("AWS::EC2::Instance").build()])),
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
