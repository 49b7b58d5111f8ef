//! Everything that speaks to AWS through the SDK: how to reach it (SDK configuration, credentials and
//! profile, timeouts, endpoint), the LookupEvents request loop with its retries and rate limiter, the
//! answer cap, STS (identity and decoding) and what a failure is said as. Callers see the project's
//! own types: an answered page is envelopes and record text, never an SDK type.

pub mod accounts;
pub mod athena;
pub mod cap;
pub mod describe;
pub mod limiter;
pub mod request;
pub mod s3;
pub mod sts;

use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudtrail::Client;

use crate::error::usage;
use crate::text::printable;

/// How to reach AWS: what every client (CloudTrail, STS) is configured from.
#[derive(Debug, Clone)]
pub struct Connection {
    pub profile: Option<String>,
    /// An assumed role's credentials (`--accounts`), which sign instead of the profile's.
    pub assumed: Option<accounts::Assumed>,
    pub endpoint_url: Option<String>,
    /// None: the SDK's usual resolution.
    pub region: Option<String>,
    /// How long to wait for a connection, and for a whole answer (connecting included).
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Connection {
    /// The same connection in `region` (None: the SDK's usual resolution).
    pub fn in_region(&self, region: Option<&str>) -> Connection {
        Connection { region: region.map(str::to_owned), ..self.clone() }
    }
}

/// A client for one region (None: the SDK's usual resolution), with the SDK's own retries off: the
/// retry loop in `request::Lookup::page` waits its turn at the rate limiter, which the SDK's would not.
///
/// Timeouts: the connect timeout bounds the TCP (and TLS) connection; the attempt timeout bounds an
/// attempt as a whole, connecting, sending and reading the whole answer included. The SDK's own read
/// timeout is not enough on its own: it only waits for the answer's headers, so an endpoint that sends
/// headers and then nothing would hang the body read. Worst case per page with the defaults: 6 attempts
/// of 20 s plus at most 24.8 s of backoff, under 3 minutes (checked by a test below).
///
/// With --profile, that profile's credentials sign the requests, as with the aws CLI: the SDK's default
/// chain would take AWS_ACCESS_KEY_ID from the environment first and sign for another account.
pub async fn cloudtrail(connection: &Connection) -> Result<(Client, String, aws_config::SdkConfig)> {
    let (sdk_config, region) = load_sdk_config(connection).await?;
    let mut builder = aws_sdk_cloudtrail::config::Builder::from(&sdk_config).interceptor(cap::AnswerCap);
    if let Some(assumed) = &connection.assumed {
        builder.set_identity_cache(assumed.cache.clone());
    }
    if connection.profile.is_some() || connection.assumed.is_some() {
        builder.set_credentials_provider(credentials_provider(connection, &sdk_config));
    }
    Ok((Client::from_conf(builder.build()), region, sdk_config))
}

/// The SDK configuration of a connection (the SDK's own retries off: callers retry), and its region.
pub async fn load_sdk_config(connection: &Connection) -> Result<(aws_config::SdkConfig, String)> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(connection.connect_timeout)
        .operation_attempt_timeout(connection.read_timeout)
        .build();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled()).timeout_config(timeouts);
    if let Some(region) = &connection.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk_config = loader.load().await;
    let Some(region) = sdk_config.region().map(|r| r.to_string()) else {
        return Err(anyhow!(
            "no AWS region: pass --region, set AWS_REGION, or set `region` in your profile (CloudShell sets it for you)"
        ));
    };
    Ok((sdk_config, region))
}

/// The credentials requests are signed with: an assumed role's, the profile's with --profile, else
/// the SDK's chain.
pub fn credentials_provider(
    connection: &Connection,
    sdk_config: &aws_config::SdkConfig,
) -> Option<aws_sdk_cloudtrail::config::SharedCredentialsProvider> {
    if let Some(assumed) = &connection.assumed {
        return Some(assumed.provider.clone());
    }
    match connection.profile.as_deref() {
        Some(profile) => {
            let provider_config = ProviderConfig::without_region().with_region(sdk_config.region().cloned());
            let provider =
                ProfileFileCredentialsProvider::builder().configure(&provider_config).profile_name(profile).build();
            Some(aws_sdk_cloudtrail::config::SharedCredentialsProvider::new(provider))
        }
        None => sdk_config.credentials_provider(),
    }
}

/// `--profile NAME` must name a profile of the AWS config or credentials file (the aws CLI refuses
/// others too); said before any request, with the profiles there are.
pub async fn check_profile(name: &str) -> Result<()> {
    use aws_types::os_shim_internal::{Env, Fs};
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let profiles = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .map_err(|e| anyhow!("cannot read the AWS config files: {}", printable(&e.to_string(), 300)))?;
    if profiles.get_profile(name).is_some() {
        return Ok(());
    }
    let mut known: Vec<String> = profiles.profiles().map(|p| printable(p, 64)).collect();
    known.sort();
    let known =
        if known.is_empty() { "they define none".to_owned() } else { format!("they define {}", known.join(", ")) };
    Err(usage(format!(
        "--profile {}: no such profile in the AWS config and credentials files ({known})",
        printable(name, 64)
    )))
}
