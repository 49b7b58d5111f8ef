//! STS: which account the run's credentials belong to, for the store's key (GetCallerIdentity), and
//! EC2's encoded authorization failure messages turned into their JSON documents for
//! `ctlookup denied --decode` (DecodeAuthorizationMessage). Both through the same connection
//! (endpoint, profile, region, timeouts) and the one STS client builder.
//!
//! Which account the run's credentials belong to, for the store's key: remembered per access key ID
//! in the store, else asked once of STS GetCallerIdentity through the same configuration (endpoint,
//! profile, timeouts) as the LookupEvents client. Only the access key ID and the account are kept.
//!
//! While the store holds nothing of the endpoint under another account, there is nothing to share
//! and STS is not asked: events are filed under the access key itself (`key:AKIA…`; a key belongs
//! to one account), and moved under the account the first time STS is asked for that key. So a
//! first run sends exactly the requests of a run without the store.
//!
//! Decoding: one call per distinct message. A refusal (the identity lacks
//! `sts:DecodeAuthorizationMessage`) is said once and ends the decoding; a message STS cannot decode
//! is counted and left as it is.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_cloudtrail::config::{ProvideCredentials, SharedCredentialsProvider};

use super::describe::service_failure;
use super::{credentials_provider, load_sdk_config, Connection};
use crate::error::{say, warn};
use crate::store::Db;
use crate::text::printable;
/// STS is asked once per new access key; a slow answer must not hold the run up long.
const STS_TIMEOUT: Duration = Duration::from_secs(5);

/// The account of the credentials `provider` gives. `offline`: never ask STS.
pub async fn account(
    provider: Option<SharedCredentialsProvider>,
    sdk_config: &SdkConfig,
    db: &Db,
    endpoint: &str,
    offline: bool,
) -> Result<String> {
    let provider = provider.ok_or_else(|| anyhow!("no AWS credentials"))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| anyhow!("no AWS credentials ({})", printable(&e.to_string(), 200)))?;
    let key = credentials.access_key_id();
    if let Some(account) = db.account_of(key)? {
        return Ok(account);
    }
    let provisional = format!("key:{key}");
    // --offline sends nothing, STS included: it answers from what this key itself recorded.
    if offline || !db.holds_other(endpoint, &provisional)? {
        return Ok(provisional);
    }
    let answer = sts_client(sdk_config, provider, STS_TIMEOUT)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow!("{}", printable(&service_failure(&e), 300)))
        .context("STS GetCallerIdentity failed")?;
    let account = account_of(answer.account())?;
    db.remember_account(key, account)?;
    db.adopt(endpoint, &provisional, account)?;
    Ok(account.to_owned())
}

/// Files the events of a provisional scope (`key:AKID…`) under their account when the current
/// credentials are that key's: STS is asked at the endpoint they came from.
pub async fn resolve(db: &Db, endpoint_url: Option<&str>, endpoint: &str, provisional: &str) -> Result<()> {
    let Some(key) = provisional.strip_prefix("key:") else { return Ok(()) };
    let connection = Connection {
        profile: None,
        assumed: None,
        endpoint_url: endpoint_url.map(str::to_owned),
        region: None,
        connect_timeout: STS_TIMEOUT,
        read_timeout: STS_TIMEOUT,
    };
    let (sdk_config, _) = load_sdk_config(&connection).await?;
    let provider = credentials_provider(&connection, &sdk_config).ok_or_else(|| anyhow!("no AWS credentials"))?;
    let credentials = provider.provide_credentials().await.map_err(|e| anyhow!("no AWS credentials ({e})"))?;
    if credentials.access_key_id() != key {
        return Ok(());
    }
    let answer = sts_client(&sdk_config, provider, STS_TIMEOUT)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow!("{}", printable(&service_failure(&e), 300)))?;
    let account = account_of(answer.account())?;
    db.remember_account(key, account)?;
    db.adopt(endpoint, provisional, account)
}

/// The one way to build an STS client: the run's configuration (endpoint, region), these credentials,
/// the answer cap, and `timeout` for each attempt (the connect timeout no longer than the run's).
pub fn sts_client(
    sdk_config: &SdkConfig,
    provider: SharedCredentialsProvider,
    timeout: Duration,
) -> aws_sdk_sts::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(timeout.min(sdk_config.timeout_config().and_then(|t| t.connect_timeout()).unwrap_or(timeout)))
        .operation_attempt_timeout(timeout)
        .build();
    let sts_config = aws_sdk_sts::config::Builder::from(sdk_config)
        .credentials_provider(provider)
        .timeout_config(timeouts)
        .interceptor(super::cap::AnswerCap)
        .build();
    aws_sdk_sts::Client::from_conf(sts_config)
}

/// The account GetCallerIdentity answered. An AWS account is 12 digits; anything else is no key to
/// file events under.
fn account_of(answer: Option<&str>) -> Result<&str> {
    let account = answer.unwrap_or_default();
    if account.is_empty() || account.len() > 32 || !account.chars().all(|c| c.is_ascii_digit()) {
        bail!("STS GetCallerIdentity answered no account");
    }
    Ok(account)
}

/// The decoded document of each message, in order; None where it could not be decoded.
pub async fn decode_all(connection: &Connection, messages: &[String]) -> Result<Vec<Option<String>>> {
    let mut decoded = vec![None; messages.len()];
    if messages.is_empty() {
        return Ok(decoded);
    }
    let (sdk_config, _) = load_sdk_config(connection).await.context("--decode")?;
    let provider = credentials_provider(connection, &sdk_config)
        .ok_or_else(|| anyhow!("--decode: no AWS credentials to call STS with"))?;
    let client = sts_client(&sdk_config, provider, connection.read_timeout);
    let mut failed = 0usize;
    let mut first_failure = String::new();
    for (message, slot) in messages.iter().zip(decoded.iter_mut()) {
        match client.decode_authorization_message().encoded_message(message).send().await {
            Ok(answer) => *slot = answer.decoded_message().map(str::to_owned),
            Err(err) => {
                let code = err.as_service_error().and_then(|e| aws_sdk_sts::error::ProvideErrorMetadata::code(e));
                let text = printable(&service_failure(&err), 300);
                if matches!(code, Some("AccessDenied" | "AccessDeniedException")) {
                    say(format_args!(
                        "--decode: STS refused DecodeAuthorizationMessage ({text}); the identity needs \
                         sts:DecodeAuthorizationMessage. The encoded messages stay undecoded"
                    ));
                    break;
                }
                if failed == 0 {
                    first_failure = text;
                }
                failed += 1;
            }
        }
    }
    if failed > 0 {
        warn(format_args!("--decode: {failed} encoded messages could not be decoded: {first_failure}"));
    }
    Ok(decoded)
}
