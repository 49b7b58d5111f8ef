//! The LookupEvents source: pages of 50 through the AWS SDK, each handed to the sink before the next
//! is requested. The async runtime lives and dies here.

use anyhow::{anyhow, Context, Result};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::primitives::DateTime as SdkDateTime;
use aws_sdk_cloudtrail::types::{self as sdk, EventCategory, LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use chrono::{DateTime, Utc};

use super::token::Position;
use super::{Flow, Outcome, Sink};
use crate::config::ApiConfig;
use crate::error::warn;
use crate::event::{one_line, Envelope, Event, Resource};

/// The API's page size limit; asking for fewer only costs more requests.
const PAGE_SIZE: i32 = 50;

pub fn lookup(config: &ApiConfig, sink: &mut dyn Sink) -> Result<Outcome> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(lookup_async(config, sink))
}

async fn lookup_async(config: &ApiConfig, sink: &mut dyn Sink) -> Result<Outcome> {
    let client = client(config).await?;
    let attribute = config
        .plan
        .pushed
        .as_ref()
        .map(|(key, value)| {
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::from(key.api_name()))
                .attribute_value(value)
                .build()
        })
        .transpose()
        .context("cannot build the lookup attribute")?;
    let start = config.window.start.map(sdk_time);
    let end = config.window.end.map(sdk_time);
    let mut position = config.starting_token.as_deref().map(Position::decode).unwrap_or_default();
    let mut outcome = Outcome::default();

    loop {
        let page: LookupEventsOutput = client
            .lookup_events()
            .set_lookup_attributes(attribute.clone().map(|a| vec![a]))
            .set_start_time(start)
            .set_end_time(end)
            .set_event_category(config.insight.then_some(EventCategory::Insight))
            .max_results(PAGE_SIZE)
            .set_next_token(position.next_token.clone())
            .send()
            .await
            .map_err(|err| describe_error(err, config, &position))?;
        let events = page.events.unwrap_or_default();
        let next_token = page.next_token.filter(|t| !t.is_empty());
        let count = events.len();
        for (index, sdk_event) in events.into_iter().enumerate().skip(position.skip) {
            let Some(event) = convert(sdk_event, &mut outcome) else { continue };
            if sink.event(event)? == Flow::Stop {
                sink.flush()?;
                outcome.resume_token = if index + 1 < count {
                    Some(Position { next_token: position.next_token.clone(), skip: index + 1 }.encode())
                } else {
                    next_token.map(|t| Position { next_token: Some(t), skip: 0 }.encode())
                };
                return Ok(outcome);
            }
        }
        sink.flush()?;
        match next_token {
            Some(token) => position = Position { next_token: Some(token), skip: 0 },
            None => return Ok(outcome),
        }
    }
}

async fn client(config: &ApiConfig) -> Result<Client> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk_config = loader.load().await;
    if sdk_config.region().is_none() {
        return Err(anyhow!(
            "no AWS region: pass --region, set AWS_REGION, or set `region` in your profile (CloudShell sets it for you)"
        ));
    }
    Ok(Client::new(&sdk_config))
}

fn sdk_time(t: DateTime<Utc>) -> SdkDateTime {
    SdkDateTime::from_millis(t.timestamp_millis())
}

/// One API event into ctlookup's form; a CloudTrailEvent that is not JSON is warned about and counted.
fn convert(event: sdk::Event, outcome: &mut Outcome) -> Option<Event> {
    let id = event.event_id.clone().unwrap_or_default();
    let raw = one_line(event.cloud_trail_event.as_deref().unwrap_or_default());
    let record = match serde_json::from_str(&raw) {
        Ok(record) => record,
        Err(err) => {
            warn(format_args!("event {id}: CloudTrailEvent is not valid JSON ({err}); skipped"));
            outcome.unreadable += 1;
            return None;
        }
    };
    let envelope = Envelope {
        event_id: event.event_id,
        event_name: event.event_name,
        read_only: event.read_only,
        access_key_id: event.access_key_id,
        event_time: event.event_time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        event_source: event.event_source,
        username: event.username,
        resources: event.resources.map(|list| {
            list.into_iter()
                .map(|r| Resource { resource_type: r.resource_type, resource_name: r.resource_name })
                .collect()
        }),
    };
    Some(Event { envelope, raw, record })
}

/// The causes under an SDK error, on one line: "tcp connect error: Connection refused (os error 111)".
/// The SDK's own top level ("dispatch failure") and its debug dump say nothing to a user.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        let first_line = text.lines().next().unwrap_or_default().trim().to_owned();
        if !first_line.is_empty()
            && !matches!(first_line.as_str(), "io error" | "other")
            && !parts.contains(&first_line)
        {
            parts.push(first_line);
        }
        next = cause.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// One line that says what failed and, where it helps, what to do.
fn describe_error<E>(
    err: SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>,
    config: &ApiConfig,
    position: &Position,
) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>: std::error::Error + 'static,
{
    let resume = |message: String| {
        if position.next_token.is_some() || position.skip > 0 {
            format!("{message}; to resume, run again with the same options and --starting-token {}", position.encode())
        } else {
            message
        }
    };
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        let code = e.code().unwrap_or("error");
        let message = e.message().unwrap_or_default();
        let hint = match code {
            "InvalidNextTokenException" if config.starting_token.is_some() => {
                " (the --starting-token belongs to another query: repeat the options of the run that printed it)"
            }
            "UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException" => {
                " (check your credentials: aws sts get-caller-identity)"
            }
            "AccessDeniedException" => " (your identity needs cloudtrail:LookupEvents)",
            _ => "",
        };
        return anyhow!(resume(format!("LookupEvents failed: {code}: {message}{hint}")));
    }
    let detail = causes(&err);
    if detail.contains("credential") {
        if let Some(profile) = &config.profile {
            return anyhow!(
                "no AWS credentials for profile '{profile}': check that ~/.aws/config or ~/.aws/credentials defines \
                 it with credentials (aws configure --profile {profile}), or `aws sso login --profile {profile}`"
            );
        }
        return anyhow!(
            "no AWS credentials: run `aws configure` or `aws sso login`, pass --profile, set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or run in CloudShell"
        );
    }
    let target = config.endpoint_url.as_deref().unwrap_or("the CloudTrail endpoint");
    anyhow!(resume(format!("cannot reach {target}: {detail}")))
}
