//! Resume tokens, in the aws CLI's own format (base64 of `{"NextToken": …, "boto_truncate_amount": N}`),
//! so that a token printed by either tool resumes the other.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A place in a lookup: the API page to ask for, and how many events of it were already consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
    #[serde(rename = "boto_truncate_amount", skip_serializing_if = "is_zero", default)]
    pub skip: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Position {
    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).expect("a position serializes"))
    }

    /// Reads a token printed by ctlookup or the aws CLI; anything else is taken as a raw API NextToken,
    /// which the service itself will judge.
    pub fn decode(token: &str) -> Position {
        STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Position>(&bytes).ok())
            .unwrap_or_else(|| Position { next_token: Some(token.trim().to_owned()), skip: 0 })
    }
}

/// Where each of several merged lookups stands; `None` for one that is finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Merged {
    #[serde(rename = "ctlookup_lookups")]
    lookups: Vec<Option<Position>>,
}

/// The token for a plan's lookups: the aws CLI's format for one lookup, ctlookup's own for several.
pub fn encode(positions: &[Option<Position>]) -> String {
    match positions {
        [Some(one)] => one.encode(),
        many => STANDARD.encode(serde_json::to_vec(&Merged { lookups: many.to_vec() }).expect("positions serialize")),
    }
}

/// Reads a token for a plan of `count` lookups; a token of another plan is refused.
pub fn decode(token: &str, count: usize) -> Result<Vec<Option<Position>>, String> {
    let merged = STANDARD.decode(token.trim()).ok().and_then(|bytes| serde_json::from_slice::<Merged>(&bytes).ok());
    match (merged, count) {
        (Some(merged), n) if merged.lookups.len() == n => Ok(merged.lookups),
        (None, 1) => Ok(vec![Some(Position::decode(token))]),
        _ => Err("--starting-token belongs to another query: repeat the options of the run that printed it".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aws_cli_tokens() {
        let p = Position { next_token: Some("abc==".into()), skip: 3 };
        assert_eq!(Position::decode(&p.encode()), p);
        // What the aws CLI prints for `--max-items 2` inside a page (Python's json.dumps spacing).
        let aws = STANDARD.encode(br#"{"NextToken": "tok", "boto_truncate_amount": 2}"#);
        assert_eq!(Position::decode(&aws), Position { next_token: Some("tok".into()), skip: 2 });
        let first_page = STANDARD.encode(br#"{"boto_truncate_amount": 7}"#);
        assert_eq!(Position::decode(&first_page), Position { next_token: None, skip: 7 });
        assert_eq!(Position::decode("raw-api-token"), Position { next_token: Some("raw-api-token".into()), skip: 0 });
    }

    #[test]
    fn several_lookups() {
        let positions = vec![Some(Position { next_token: Some("a".into()), skip: 2 }), None];
        let token = encode(&positions);
        assert_eq!(decode(&token, 2), Ok(positions));
        assert!(decode(&token, 1).is_err());
        assert!(decode(&encode(&[Some(Position::default())]), 2).is_err());
    }
}
