//! The LookupEvents source: pages of 50 through the AWS SDK, at the client-side rate limit of each
//! region, with retries for passing failures. The plan's lookups in every region run together and are
//! merged newest first without duplicates. A page is handed to the sink before the next page of the
//! same lookup is requested. The async runtime lives and dies here.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudtrail::config::http::HttpResponse;
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::{LookupEventsError, LookupEventsOutput};
use aws_sdk_cloudtrail::primitives::DateTime as SdkDateTime;
use aws_sdk_cloudtrail::types::{self as sdk, EventCategory, LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::limiter::RateLimiter;
use super::token::{self, Position};
use super::{Consumer, Flow, Origin, Outcome, Raw};
use crate::config::ApiConfig;
use crate::error::{usage, warn, Interrupted};
use crate::event::{Envelope, Resource};
use crate::interrupt;
use crate::progress::Progress;

/// The API's page size limit; asking for fewer only costs more requests.
const PAGE_SIZE: i32 = 50;

/// First retry delay; each further one doubles, up to `BACKOFF_CAP`, with full jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(400);
const BACKOFF_CAP: Duration = Duration::from_secs(20);

pub fn lookup(config: &ApiConfig, sink: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async { Merge::new(config).await?.run(config, sink, progress).await })
}

/// What every request to one region shares.
#[derive(Clone)]
struct Query {
    region: String,
    client: Client,
    limiter: Arc<RateLimiter>,
    start: Option<SdkDateTime>,
    end: Option<SdkDateTime>,
    category: Option<EventCategory>,
    retries: u32,
    /// Set once a request got an answer: a connection refused before that is a wrong endpoint, not a
    /// passing failure, and is not retried.
    answered: Arc<AtomicBool>,
}

/// Why a request failed, for the retry decision.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Throttled,
    Passing,
    Final,
}

/// One API lookup in one region, and the page of it being consumed.
struct Stream {
    /// Index of the region's `Query`.
    query: usize,
    attribute: Option<LookupAttribute>,
    /// The token that produced the buffered page (None: the first page).
    page_token: Option<String>,
    /// Events of that page not yet consumed, newest first, and how many were consumed.
    buffer: VecDeque<sdk::Event>,
    consumed: usize,
    /// Events to drop from the first page fetched (resuming inside a page).
    skip_first: usize,
    fetched: bool,
    next_token: Option<String>,
}

impl Stream {
    fn needs_page(&self) -> bool {
        self.buffer.is_empty() && (!self.fetched || self.next_token.is_some())
    }

    /// Where to continue from once every event handed out so far is done; None when finished.
    fn position(&self) -> Option<Position> {
        if !self.buffer.is_empty() {
            Some(Position { next_token: self.page_token.clone(), skip: self.consumed })
        } else if !self.fetched {
            Some(Position { next_token: self.page_token.clone(), skip: self.skip_first })
        } else {
            self.next_token.clone().map(|t| Position { next_token: Some(t), skip: 0 })
        }
    }

    fn take_page(&mut self, page: LookupEventsOutput) {
        if self.fetched {
            self.page_token = self.next_token.take();
        }
        self.fetched = true;
        self.buffer = page.events.unwrap_or_default().into();
        self.next_token = page.next_token.filter(|t| !t.is_empty());
        let skip = std::mem::take(&mut self.skip_first).min(self.buffer.len());
        self.buffer.drain(..skip);
        self.consumed = skip;
    }

    fn head_time(&self) -> Option<Option<SdkDateTime>> {
        self.buffer.front().map(|e| e.event_time)
    }
}

struct Merge {
    queries: Vec<Query>,
    streams: Vec<Stream>,
    /// IDs handed out at the newest time seen, to drop the same event found by another lookup. Merged
    /// streams are newest first, so a duplicate can only come at the same time.
    seen: HashSet<String>,
    seen_time: Option<SdkDateTime>,
}

impl Merge {
    async fn new(config: &ApiConfig) -> Result<Merge> {
        let regions: Vec<Option<&str>> = if config.regions.is_empty() {
            vec![None]
        } else {
            config.regions.iter().map(|r| Some(r.as_str())).collect()
        };
        let count = regions.len() * config.plan.lookups.len();
        let mut positions = match &config.starting_token {
            Some(text) => token::decode(text, count).map_err(usage)?,
            None => vec![Some(Position::default()); count],
        }
        .into_iter();
        let attributes = config
            .plan
            .lookups
            .iter()
            .map(|lookup| {
                lookup
                    .as_ref()
                    .map(|(key, value)| {
                        LookupAttribute::builder()
                            .attribute_key(LookupAttributeKey::from(key.api_name()))
                            .attribute_value(value)
                            .build()
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()
            .context("cannot build the lookup attribute")?;
        let mut queries = Vec::new();
        let mut streams = Vec::new();
        for region in regions {
            let (client, region) = client(config, region).await?;
            queries.push(Query {
                region,
                client,
                limiter: Arc::new(RateLimiter::new(config.tps)),
                start: config.window.start.map(sdk_time),
                end: config.window.end.map(sdk_time),
                category: config.insight.then_some(EventCategory::Insight),
                retries: config.retries,
                answered: Arc::new(AtomicBool::new(false)),
            });
            for attribute in &attributes {
                let attribute = attribute.clone();
                let position = positions.next().expect("one position per stream");
                let finished = position.is_none();
                let position = position.unwrap_or_default();
                streams.push(Stream {
                    query: queries.len() - 1,
                    attribute,
                    page_token: position.next_token,
                    buffer: VecDeque::new(),
                    consumed: 0,
                    skip_first: position.skip,
                    fetched: finished,
                    next_token: None,
                });
            }
        }
        if config.names_global_service && !queries.iter().any(|q| q.region == "us-east-1") {
            warn(
                "IAM, STS, console sign-in, CloudFront, Route 53 and Organizations record their events in \
                  us-east-1: add --region us-east-1 to see them",
            );
        }
        Ok(Merge { queries, streams, seen: HashSet::new(), seen_time: None })
    }

    async fn run(mut self, config: &ApiConfig, sink: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
        let merged = self.streams.len() > 1;
        loop {
            if interrupt::interrupted() {
                sink.flush()?;
                return Err(self.interrupted());
            }
            let wanted: Vec<usize> = (0..self.streams.len()).filter(|&i| self.streams[i].needs_page()).collect();
            if !wanted.is_empty() {
                sink.flush()?;
                self.fetch(&wanted, config, progress).await?;
                continue;
            }
            // The stream whose next event is newest (the first on a tie).
            let Some(index) = (0..self.streams.len())
                .filter_map(|i| self.streams[i].head_time().map(|t| (i, t)))
                .fold(None, |best: Option<(usize, Option<SdkDateTime>)>, (i, t)| match best {
                    Some((_, bt)) if bt >= t => best,
                    _ => Some((i, t)),
                })
                .map(|(i, _)| i)
            else {
                sink.flush()?;
                return Ok(Outcome::default());
            };
            let stream = &mut self.streams[index];
            let sdk_event = stream.buffer.pop_front().expect("a head event");
            stream.consumed += 1;
            progress.scanned(sdk_event.event_time.and_then(|t| DateTime::from_timestamp(t.secs(), 0)));
            if merged && !self.first_sighting(&sdk_event) {
                continue;
            }
            let (envelope, record) = split_event(sdk_event);
            if sink.item(Raw::Api { envelope, record }, Origin::Api)? == Flow::Stop {
                sink.flush()?;
                return Ok(Outcome { resume_token: self.resume_token() });
            }
        }
    }

    /// Records the event's ID; false if another lookup already produced it.
    fn first_sighting(&mut self, event: &sdk::Event) -> bool {
        if event.event_time != self.seen_time {
            self.seen.clear();
            self.seen_time = event.event_time;
        }
        self.seen.insert(event.event_id.clone().unwrap_or_default())
    }

    /// The token that continues after the last event handed out; None when nothing is left.
    fn resume_token(&mut self) -> Option<String> {
        // Duplicates of events already handed out count as consumed, or a resumed run would print them.
        for stream in &mut self.streams {
            while let Some(head) = stream.buffer.front() {
                let duplicate = head.event_time == self.seen_time
                    && self.seen.contains(head.event_id.as_deref().unwrap_or_default());
                if !duplicate {
                    break;
                }
                stream.buffer.pop_front();
                stream.consumed += 1;
            }
        }
        let positions: Vec<Option<Position>> = self.streams.iter().map(Stream::position).collect();
        positions.iter().any(Option::is_some).then(|| token::encode(&positions))
    }

    /// The error for Ctrl-C, with the token that continues after the last event printed.
    fn interrupted(&mut self) -> anyhow::Error {
        match self.resume_token() {
            Some(token) => Interrupted(format!(
                "interrupted; to resume, run again with the same options and --starting-token {token}"
            ))
            .into(),
            None => Interrupted("interrupted".to_owned()).into(),
        }
    }

    /// Fetches the next page of each wanted stream, concurrently, each request waiting its region's turn.
    async fn fetch(&mut self, wanted: &[usize], config: &ApiConfig, progress: &Progress) -> Result<()> {
        let mut requests = JoinSet::new();
        for &i in wanted {
            let stream = &self.streams[i];
            let token = if stream.fetched { stream.next_token.clone() } else { stream.page_token.clone() };
            let query = self.queries[stream.query].clone();
            let attribute = stream.attribute.clone();
            requests.spawn(async move { (i, query.page(attribute, token).await) });
        }
        let mut failure = None;
        loop {
            let joined = tokio::select! {
                joined = requests.join_next() => joined,
                () = interrupt::wait() => return Err(self.interrupted()),
            };
            let Some(joined) = joined else { break };
            let (i, (attempts, result)) = joined.context("a LookupEvents request task failed")?;
            (0..attempts).for_each(|_| progress.request());
            match result {
                Ok(page) => {
                    self.streams[i].take_page(page);
                    progress.page();
                }
                Err(err) if failure.is_none() => failure = Some((i, err)),
                Err(_) => {}
            }
        }
        match failure {
            None => Ok(()),
            Some((i, err)) => {
                let positions: Vec<Option<Position>> = self.streams.iter().map(Stream::position).collect();
                let resumable = config.starting_token.is_some() || self.streams.iter().any(|s| s.fetched);
                let region = (self.queries.len() > 1).then(|| self.queries[self.streams[i].query].region.as_str());
                Err(describe_error(err, config, region, resumable.then(|| token::encode(&positions))))
            }
        }
    }
}

impl Query {
    /// One page, retried while failures pass: throttling slows the region's limiter down, and every
    /// retry waits an exponential backoff with full jitter. Returns the number of requests sent.
    async fn page(
        &self,
        attribute: Option<LookupAttribute>,
        token: Option<String>,
    ) -> (u32, Result<LookupEventsOutput, SdkError<LookupEventsError, HttpResponse>>) {
        let mut attempts = 0;
        loop {
            self.limiter.acquire().await;
            attempts += 1;
            let result = self
                .client
                .lookup_events()
                .set_lookup_attributes(attribute.clone().map(|a| vec![a]))
                .set_start_time(self.start)
                .set_end_time(self.end)
                .set_event_category(self.category.clone())
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await;
            let err = match result {
                Ok(page) => {
                    self.answered.store(true, Ordering::Relaxed);
                    self.limiter.recover();
                    return (attempts, Ok(page));
                }
                Err(err) => err,
            };
            let failure = classify(&err, self.answered.load(Ordering::Relaxed));
            if matches!(err, SdkError::ServiceError(_)) {
                self.answered.store(true, Ordering::Relaxed);
            }
            if failure == Failure::Final || attempts > self.retries {
                return (attempts, Err(err));
            }
            if failure == Failure::Throttled {
                self.limiter.slow_down();
            }
            tokio::time::sleep(backoff(attempts)).await;
        }
    }
}

/// Throttling and server faults pass; so do broken connections and timeouts once the endpoint has
/// answered at least once (before that, they mean a wrong endpoint or no network).
fn classify(err: &SdkError<LookupEventsError, HttpResponse>, answered: bool) -> Failure {
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
fn backoff(attempt: u32) -> Duration {
    let bound = BACKOFF_BASE.saturating_mul(1 << attempt.min(10)).min(BACKOFF_CAP);
    bound.mul_f64(fastrand::f64())
}

/// A client for one region (None: the SDK's usual resolution), with the SDK's own retries off: the
/// retry loop in `Query::page` waits its turn at the rate limiter, which the SDK's would not.
async fn client(config: &ApiConfig, region: Option<&str>) -> Result<(Client, String)> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk_config = loader.load().await;
    let Some(region) = sdk_config.region().map(|r| r.to_string()) else {
        return Err(anyhow!(
            "no AWS region: pass --region, set AWS_REGION, or set `region` in your profile (CloudShell sets it for you)"
        ));
    };
    Ok((Client::new(&sdk_config), region))
}

fn sdk_time(t: DateTime<Utc>) -> SdkDateTime {
    SdkDateTime::from_millis(t.timestamp_millis())
}

/// An API event as its envelope and its record's text; the record is decoded downstream.
fn split_event(event: sdk::Event) -> (Envelope, String) {
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
    (envelope, event.cloud_trail_event.unwrap_or_default())
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

/// One line that says what failed and, where it helps, what to do; `resume` is the token that
/// continues after the last event printed.
fn describe_error(
    err: SdkError<LookupEventsError, HttpResponse>,
    config: &ApiConfig,
    region: Option<&str>,
    resume: Option<String>,
) -> anyhow::Error {
    let operation = match region {
        Some(region) => format!("LookupEvents in {region}"),
        None => "LookupEvents".to_owned(),
    };
    let resumable = |message: String| match &resume {
        Some(token) => format!("{message}; to resume, run again with the same options and --starting-token {token}"),
        None => message,
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
        return anyhow!(resumable(format!("{operation} failed: {code}: {message}{hint}")));
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
    let target = match (config.endpoint_url.as_deref(), region) {
        (Some(url), _) => url.to_owned(),
        (None, Some(region)) => format!("the CloudTrail endpoint of {region}"),
        (None, None) => "the CloudTrail endpoint".to_owned(),
    };
    anyhow!(resumable(format!("cannot reach {target}: {detail}")))
}
