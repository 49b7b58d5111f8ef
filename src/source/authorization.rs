//! STS DecodeAuthorizationMessage, for `ctlookup denied --decode`: EC2's encoded authorization failure
//! messages turned into their JSON documents, one call per distinct message, through the same
//! configuration (endpoint, profile, region, timeouts) and STS client builder as the rest of the run.
//! A refusal (the identity lacks `sts:DecodeAuthorizationMessage`) is said once and ends the decoding;
//! a message STS cannot decode is counted and left as it is.

use anyhow::{anyhow, Context, Result};

use super::api::{credentials_provider, load_sdk_config, printable, Connection};
use super::identity::{describe, sts_client};
use crate::config::DecodeConfig;
use crate::error::{say, warn};

/// The decoded document of each message, in order; None where it could not be decoded.
pub fn decode_all(config: &DecodeConfig, messages: &[String]) -> Result<Vec<Option<String>>> {
    let mut decoded = vec![None; messages.len()];
    if messages.is_empty() {
        return Ok(decoded);
    }
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let connection = Connection {
            profile: config.profile.as_deref(),
            endpoint_url: config.endpoint_url.as_deref(),
            region: config.region.as_deref(),
            connect_timeout: config.connect_timeout,
            read_timeout: config.read_timeout,
        };
        let (sdk_config, _) = load_sdk_config(&connection).await.context("--decode")?;
        let provider = credentials_provider(config.profile.as_deref(), &sdk_config)
            .ok_or_else(|| anyhow!("--decode: no AWS credentials to call STS with"))?;
        let client = sts_client(&sdk_config, provider, config.read_timeout);
        let mut failed = 0usize;
        let mut first_failure = String::new();
        for (message, slot) in messages.iter().zip(decoded.iter_mut()) {
            match client.decode_authorization_message().encoded_message(message).send().await {
                Ok(answer) => *slot = answer.decoded_message().map(str::to_owned),
                Err(err) => {
                    let code = err.as_service_error().and_then(|e| aws_sdk_sts::error::ProvideErrorMetadata::code(e));
                    let text = printable(&describe(&err), 300);
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
    })
}
