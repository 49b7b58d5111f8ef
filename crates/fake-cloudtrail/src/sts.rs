//! The STS calls ctlookup makes, answered by the fake CloudTrail server on the same address (the SDK
//! sends every service to one `--endpoint-url`): `GetCallerIdentity`, which tells the account of the
//! signing credentials, and `DecodeAuthorizationMessage`, which turns EC2's encoded authorization
//! failure message into its JSON document. STS speaks the AWS query protocol: a form-encoded POST
//! (`Action=GetCallerIdentity&Version=2011-06-15`) answered with XML, errors as `<ErrorResponse>`.
//!
//! Accounts: each access key id may be given its own account ([`crate::server::FakeCloudTrail::set_account`]);
//! any other key belongs to [`DEFAULT_ACCOUNT`]. Both calls can be refused, as for credentials without
//! the permission.

use std::collections::HashMap;

/// The account of access keys not given one.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// What the STS part of the fake knows and has been asked.
#[derive(Default)]
pub(crate) struct Sts {
    pub accounts: HashMap<String, String>,
    /// Encoded message → decoded JSON document.
    pub messages: HashMap<String, String>,
    pub refuse_identity: bool,
    pub refuse_decode: bool,
    pub requests: Vec<StsRequest>,
}

/// One STS call as the server saw it.
#[derive(Debug, Clone)]
pub struct StsRequest {
    /// The `Action` parameter ("" when absent).
    pub action: String,
    /// Which credentials signed it.
    pub access_key_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
}

/// Whether a request body is an STS (query protocol) call rather than a CloudTrail (JSON) one.
pub(crate) fn is_query_call(content_type: &str, body: &[u8]) -> bool {
    content_type.starts_with("application/x-www-form-urlencoded") || body.starts_with(b"Action=")
}

/// The answer (status, XML body) to one STS call.
pub(crate) fn answer(sts: &mut Sts, body: &[u8], access_key_id: Option<&str>) -> (u16, String) {
    let params: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let (status, xml) = match action.as_str() {
        "GetCallerIdentity" if sts.refuse_identity => {
            error(403, "AccessDenied", "User is not authorized to perform: sts:GetCallerIdentity")
        }
        "GetCallerIdentity" => {
            let key = access_key_id.unwrap_or("AKIDUNKNOWN");
            let account = sts.accounts.get(key).map_or(DEFAULT_ACCOUNT, String::as_str);
            let result = format!(
                "<Arn>arn:aws:iam::{account}:user/fake-user</Arn><UserId>AIDAFAKE{}</UserId><Account>{account}</Account>",
                escape(&key.chars().take(8).collect::<String>())
            );
            (200, response("GetCallerIdentity", &result))
        }
        "DecodeAuthorizationMessage" if sts.refuse_decode => error(
            403,
            "AccessDenied",
            "User is not authorized to perform: sts:DecodeAuthorizationMessage because no identity-based policy allows the sts:DecodeAuthorizationMessage action",
        ),
        "DecodeAuthorizationMessage" => {
            let encoded = params.get("EncodedMessage").map(String::as_str).unwrap_or_default();
            match sts.messages.get(encoded) {
                Some(decoded) => (
                    200,
                    response("DecodeAuthorizationMessage", &format!("<DecodedMessage>{}</DecodedMessage>", escape(decoded))),
                ),
                None => error(400, "InvalidAuthorizationMessageException", "The message is not a valid encoded authorization message"),
            }
        }
        other => error(400, "InvalidAction", &format!("Could not find operation {other}")),
    };
    sts.requests.push(StsRequest { action, access_key_id: access_key_id.map(str::to_owned), status });
    (status, xml)
}

fn response(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        crate::server::request_id()
    )
}

fn error(status: u16, code: &str, message: &str) -> (u16, String) {
    let xml = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(message),
        crate::server::request_id()
    );
    (status, xml)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
