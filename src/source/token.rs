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
}
