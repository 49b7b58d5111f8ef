//! The STS calls ctlookup makes, answered by the fake CloudTrail server on the same address (the SDK
//! sends every service to one `--endpoint-url`): `GetCallerIdentity`, which tells the account of the
//! signing credentials, and `DecodeAuthorizationMessage`, which turns EC2's encoded authorization
//! failure message into its JSON document. STS speaks the AWS query protocol: a form-encoded POST
//! (`Action=GetCallerIdentity&Version=2011-06-15`) answered with XML, errors as `<ErrorResponse>`.
//!
//! Accounts: each access key id may be given its own account ([`crate::server::FakeCloudTrail::set_account`]);
//! any other key belongs to [`DEFAULT_ACCOUNT`]. Both calls can be refused, as for credentials without
//! the permission.
//!
//! `AssumeRole` (`RoleArn=arn:aws:iam::ACCOUNT:role/NAME`) hands out temporary credentials (`ASIA…`
//! with a session token) that belong to the role's account and expire after the role lifetime
//! ([`crate::server::FakeCloudTrail::set_role_lifetime`], an hour by default); a request signed with
//! them after that is answered `ExpiredTokenException`, as the services do. Roles in chosen accounts
//! are refused (`AccessDenied`), as when the role is missing or its trust policy leaves the caller out.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

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
    /// Credentials handed out by AssumeRole, by access key id.
    pub temporary: HashMap<String, Temporary>,
    /// Accounts whose roles cannot be assumed.
    pub refused_roles: HashSet<String>,
    /// How long assumed credentials last (None: an hour).
    pub role_lifetime: Option<Duration>,
    /// Every n-th AssumeRole is answered `Throttling` (None: none), and how many were counted.
    pub throttle_assume_every: Option<u32>,
    pub assume_seen: u32,
}

/// Credentials AssumeRole handed out.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub account: String,
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub expires: Instant,
}

impl Sts {
    /// The account an access key belongs to: assumed credentials are their role's account.
    pub fn account_of(&self, key: &str) -> &str {
        match self.temporary.get(key) {
            Some(temporary) => &temporary.account,
            None => self.accounts.get(key).map_or(DEFAULT_ACCOUNT, String::as_str),
        }
    }

    /// Counts an AssumeRole call; whether it is one to throttle.
    fn throttled_assume(&mut self) -> bool {
        let Some(n) = self.throttle_assume_every else { return false };
        self.assume_seen += 1;
        self.assume_seen.is_multiple_of(n)
    }

    /// Whether the key is assumed credentials past their expiry.
    pub fn expired(&self, key: &str, now: Instant) -> bool {
        self.temporary.get(key).is_some_and(|t| now >= t.expires)
    }
}

/// The answer to a request signed with expired credentials (the same in every service).
pub const EXPIRED_CODE: &str = "ExpiredTokenException";
pub const EXPIRED_MESSAGE: &str = "The security token included in the request is expired";

/// One STS call as the server saw it.
#[derive(Debug, Clone)]
pub struct StsRequest {
    /// The `Action` parameter ("" when absent).
    pub action: String,
    /// Which credentials signed it.
    pub access_key_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// AssumeRole's `RoleArn`, `ExternalId` and `RoleSessionName`.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
}

/// Whether a request body is an STS (query protocol) call rather than a CloudTrail (JSON) one.
pub(crate) fn is_query_call(content_type: &str, body: &[u8]) -> bool {
    content_type.starts_with("application/x-www-form-urlencoded") || body.starts_with(b"Action=")
}

/// The answer (status, XML body) to one STS call.
pub(crate) fn answer(sts: &mut Sts, body: &[u8], access_key_id: Option<&str>) -> (u16, String) {
    let params: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let key = access_key_id.unwrap_or("AKIDUNKNOWN");
    let (status, xml) = match action.as_str() {
        _ if sts.expired(key, Instant::now()) => error(400, EXPIRED_CODE, EXPIRED_MESSAGE),
        "AssumeRole" if sts.throttled_assume() => error(400, "Throttling", "Rate exceeded"),
        "AssumeRole" => assume_role(sts, &params, key),
        "GetCallerIdentity" if sts.refuse_identity => {
            error(403, "AccessDenied", "User is not authorized to perform: sts:GetCallerIdentity")
        }
        "GetCallerIdentity" => {
            let account = sts.account_of(key);
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
    sts.requests.push(StsRequest {
        action,
        access_key_id: access_key_id.map(str::to_owned),
        status,
        role_arn: params.get("RoleArn").cloned(),
        external_id: params.get("ExternalId").cloned(),
        session_name: params.get("RoleSessionName").cloned(),
    });
    (status, xml)
}

/// AssumeRole: temporary credentials in the role's account, unless that account refuses.
fn assume_role(sts: &mut Sts, params: &HashMap<String, String>, caller: &str) -> (u16, String) {
    let role_arn = params.get("RoleArn").map(String::as_str).unwrap_or_default();
    let session_name = params.get("RoleSessionName").cloned().unwrap_or_default();
    // arn:PARTITION:iam::ACCOUNT:role/NAME
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let account = match parts.as_slice() {
        ["arn", _, "iam", "", account, resource]
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && resource.starts_with("role/") =>
        {
            (*account).to_owned()
        }
        _ => return error(400, "ValidationError", &format!("{role_arn:?} is not a valid role ARN")),
    };
    if session_name.is_empty() {
        return error(400, "ValidationError", "RoleSessionName is required");
    }
    if sts.refused_roles.contains(&account) {
        let caller_account = sts.account_of(caller).to_owned();
        return error(
            403,
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::{caller_account}:user/fake-user is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            ),
        );
    }
    let lifetime = sts.role_lifetime.unwrap_or(Duration::from_secs(3600));
    let key = format!("ASIA{}", fastrand_upper(16));
    let expiration = chrono::Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1));
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    let result = format!(
        "<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>fake-secret-{key}</SecretAccessKey>\
         <SessionToken>fake-session-{key}</SessionToken><Expiration>{}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>AROAFAKE{}:{}</AssumedRoleId>\
         <Arn>arn:aws:sts::{account}:assumed-role/{}/{}</Arn></AssumedRoleUser>",
        expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        fastrand_upper(12),
        escape(&session_name),
        escape(role_name),
        escape(&session_name),
    );
    sts.temporary.insert(
        key,
        Temporary {
            account,
            role_arn: role_arn.to_owned(),
            external_id: params.get("ExternalId").cloned(),
            session_name,
            expires: Instant::now() + lifetime,
        },
    );
    (200, response("AssumeRole", &result))
}

fn fastrand_upper(n: usize) -> String {
    (0..n).map(|_| fastrand::alphanumeric().to_ascii_uppercase()).collect()
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
