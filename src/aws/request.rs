//! One region's LookupEvents requests: a page of 50 at the region's client-side rate limit, retried
//! while failures pass (throttling slows the limiter down; every retry waits an exponential backoff
//! with full jitter). What comes back is the project's own: envelopes and record text.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_cloudtrail::config::http::HttpResponse;
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError;
use aws_sdk_cloudtrail::primitives::DateTime as SdkDateTime;
use aws_sdk_cloudtrail::types::{self as sdk, EventCategory, LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use chrono::{DateTime, Utc};

use super::cap::too_large;
use super::limiter::RateLimiter;
use crate::event::{Envelope, HistoryEvent, Resource};
use crate::query::Attribute;

/// The API's page size limit; asking for fewer only costs more requests.
pub const PAGE_SIZE: i32 = 50;

/// First retry delay; each further one doubles, up to `BACKOFF_CAP`, with full jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(400);
const BACKOFF_CAP: Duration = Duration::from_secs(20);

/// What every request to one region of one account shares.
#[derive(Clone)]
pub struct Region {
    pub name: String,
    /// How messages name it: the region, or with several accounts `us-east-1 of account 111111111111`.
    pub place: String,
    client: Client,
    limiter: Arc<RateLimiter>,
    category: Option<EventCategory>,
    retries: u32,
    /// Shared by the regions of a run: at most this many requests in flight (`--parallel`). Taken
    /// after the rate limiter's turn, so that a region waiting for its turn holds no place.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Set once a request got an answer: a connection refused before that is a wrong endpoint, not a
    /// passing failure, and is not retried.
    answered: Arc<AtomicBool>,
}

/// A lookup attribute as the API takes it.
#[derive(Clone)]
pub struct LookupKey(LookupAttribute);

impl LookupKey {
    pub fn new(attribute: Attribute, value: &str) -> Result<LookupKey> {
        let built = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::from(attribute.api_name()))
            .attribute_value(value)
            .build()
            .context("cannot build the lookup attribute")?;
        Ok(LookupKey(built))
    }
}

/// One request: the lookup, the page (None: the first) and the time window.
pub struct Request {
    pub key: Option<LookupKey>,
    pub token: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// An answered page: its events, newest first, and the token of the next page.
pub struct Page {
    pub events: Vec<HistoryEvent>,
    pub next_token: Option<String>,
}

/// A request that failed for good, for [`super::describe`] to say.
pub struct Failed(pub(super) Box<SdkError<LookupEventsError, HttpResponse>>);

/// Why a request failed, for the retry decision.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    Throttled,
    Passing,
    Final,
}

impl Region {
    pub fn new(
        name: String,
        client: Client,
        tps: f64,
        insight: bool,
        retries: u32,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Region {
        Region {
            place: name.clone(),
            name,
            client,
            limiter: Arc::new(RateLimiter::new(tps)),
            category: insight.then_some(EventCategory::Insight),
            retries,
            answered: Arc::new(AtomicBool::new(false)),
            in_flight,
        }
    }

    /// One page, retried while failures pass. Returns the number of requests sent.
    pub async fn page(&self, request: Request) -> (u32, Result<Page, Failed>) {
        let mut attempts = 0;
        loop {
            self.limiter.acquire().await;
            attempts += 1;
            // The semaphore is never closed: a place always comes.
            let place = self.in_flight.acquire().await.ok();
            let result = self
                .client
                .lookup_events()
                .set_lookup_attributes(request.key.clone().map(|k| vec![k.0]))
                .set_start_time(request.start.map(sdk_time))
                .set_end_time(request.end.map(sdk_time))
                .set_event_category(self.category.clone())
                .max_results(PAGE_SIZE)
                .set_next_token(request.token.clone())
                .send()
                .await;
            drop(place);
            let err = match result {
                Ok(page) => {
                    self.answered.store(true, Ordering::Relaxed);
                    self.limiter.recover();
                    let next_token = page.next_token.filter(|t| !t.is_empty());
                    let events = page.events.unwrap_or_default().into_iter().map(history_event).collect();
                    return (attempts, Ok(Page { events, next_token }));
                }
                Err(err) => err,
            };
            let failure = classify(&err, self.answered.load(Ordering::Relaxed));
            if matches!(err, SdkError::ServiceError(_)) {
                self.answered.store(true, Ordering::Relaxed);
            }
            if failure == Failure::Final || attempts > self.retries {
                return (attempts, Err(Failed(Box::new(err))));
            }
            if failure == Failure::Throttled {
                self.limiter.slow_down();
            }
            tokio::time::sleep(backoff(attempts)).await;
        }
    }
}

/// Throttling, server faults and timeouts waiting for an answer pass; so do broken connections and
/// connect timeouts once the endpoint has answered at least once (before that, they mean a wrong
/// endpoint or no network). An answer over the size cap is final: asking again brings it again.
fn classify(err: &SdkError<LookupEventsError, HttpResponse>, answered: bool) -> Failure {
    classify_any(err, answered)
}

/// [`classify`] for any operation's error (Athena's too).
pub(super) fn classify_any<E>(err: &SdkError<E, HttpResponse>, answered: bool) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if too_large(err).is_some() {
        return Failure::Final;
    }
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if matches!(
                code,
                "ThrottlingException" | "Throttling" | "RequestLimitExceeded" | "TooManyRequestsException"
            ) {
                Failure::Throttled
            } else if service.raw().status().is_server_error() {
                Failure::Passing
            } else {
                Failure::Final
            }
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Passing,
        // A kept-alive connection closed by the server is "other", not "io": only the caller's own
        // mistakes (`user`) are final once the endpoint has answered.
        SdkError::DispatchFailure(dispatch) if answered && !dispatch.is_user() => Failure::Passing,
        _ => Failure::Final,
    }
}

/// Full jitter: a random wait up to the exponential bound, so that parallel lookups do not retry in step.
pub(super) fn backoff(attempt: u32) -> Duration {
    backoff_bound(attempt).mul_f64(fastrand::f64())
}

fn backoff_bound(attempt: u32) -> Duration {
    BACKOFF_BASE.saturating_mul(1 << attempt.min(10)).min(BACKOFF_CAP)
}

fn sdk_time(t: DateTime<Utc>) -> SdkDateTime {
    SdkDateTime::from_millis(t.timestamp_millis())
}

/// An API event as its envelope and its record's text; the record is decoded downstream.
fn history_event(event: sdk::Event) -> HistoryEvent {
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
    HistoryEvent { envelope, record: event.cloud_trail_event.unwrap_or_default(), checked: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    #[test]
    fn a_silent_endpoint_ends_within_3_minutes_with_the_default_settings() {
        let cli = crate::cli::Cli::try_parse_from(["ctlookup"]).unwrap().lookup;
        let attempts = cli.api.retries + 1;
        let backoff: Duration = (1..=cli.api.retries).map(backoff_bound).sum();
        let worst = Duration::from_secs_f64(cli.api.read_timeout) * attempts + backoff;
        assert!(worst < Duration::from_secs(180), "{worst:?}");
        assert!(cli.api.connect_timeout <= cli.api.read_timeout, "the attempt timeout bounds connecting too");
    }
}
