//! Organizations `ListAccounts`, answered by the fake CloudTrail server on the same address (awsJson1.1,
//! `X-Amz-Target: AWSOrganizationsV20161128.ListAccounts`): the organisation's accounts in pages of
//! `MaxResults` (at most 20, the service's limit), each with its `Status` and `State`, as the service
//! answers. The call can be refused, as for credentials outside the management account.

use serde_json::{json, Value};

/// The organisation's management account, which owns the account ARNs.
pub const MANAGEMENT_ACCOUNT: &str = "111111111111";
const ORGANIZATION_ID: &str = "o-fake12345";

/// One member account.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE`.
    pub status: String,
}

/// What the Organizations part of the fake knows and has been asked.
#[derive(Default)]
pub(crate) struct Organizations {
    pub members: Vec<Member>,
    pub refuse: bool,
    /// One entry per call: the `NextToken` it carried.
    pub requests: Vec<Option<String>>,
}

/// The answer (status, JSON body) to one Organizations call.
pub(crate) fn answer(organizations: &mut Organizations, operation: &str, body: &Value) -> (u16, Value) {
    let token = body.get("NextToken").and_then(Value::as_str).map(str::to_owned);
    organizations.requests.push(token.clone());
    if operation != "ListAccounts" {
        return error(400, "InvalidInputException", &format!("Unknown operation {operation:?}"));
    }
    if organizations.refuse {
        return error(
            400,
            "AccessDeniedException",
            "You don't have permissions to access this resource: organizations:ListAccounts",
        );
    }
    let max = match body.get("MaxResults") {
        None | Some(Value::Null) => 20,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=20) => n as usize,
            _ => return error(400, "InvalidInputException", "MaxResults must be between 1 and 20"),
        },
    };
    let start = match token.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) if n <= organizations.members.len() => n,
        Some(_) => return error(400, "InvalidInputException", "The NextToken is not valid"),
    };
    let end = (start + max).min(organizations.members.len());
    let accounts: Vec<Value> = organizations.members[start..end]
        .iter()
        .map(|m| {
            json!({
                "Id": m.id,
                "Arn": format!("arn:aws:organizations::{MANAGEMENT_ACCOUNT}:account/{ORGANIZATION_ID}/{}", m.id),
                "Email": format!("{}@example.com", m.name),
                "Name": m.name,
                "Status": m.status,
                "State": m.status,
                "JoinedMethod": "CREATED",
                "JoinedTimestamp": 1_700_000_000,
            })
        })
        .collect();
    let mut answer = json!({ "Accounts": accounts });
    if end < organizations.members.len() {
        answer["NextToken"] = json!(end.to_string());
    }
    (200, answer)
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"__type": code, "Message": message}))
}
