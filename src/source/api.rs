//! The LookupEvents source: pages of 50 through the AWS SDK, at the client-side rate limit of each
//! region, with retries for passing failures. The plan's lookups in every region run together and are
//! merged newest first without duplicates. A page is handed to the sink before the next page of the
//! same lookup is requested. The async runtime lives and dies here.
//!
//! Against an endpoint that misbehaves: every attempt has a connect timeout and a timeout for the whole
//! answer; an answer over `ANSWER_CAP` is refused without being read whole; a lookup whose pages come
//! back in a loop is stopped; an answer that is not CloudTrail's is shown for what it is; and a region
//! that fails stops alone, the others are finished and the resume token continues the failed one.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudtrail::config::http::HttpResponse;
use aws_sdk_cloudtrail::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
};
use aws_sdk_cloudtrail::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::{LookupEventsError, LookupEventsOutput};
use aws_sdk_cloudtrail::primitives::DateTime as SdkDateTime;
use aws_sdk_cloudtrail::types::{self as sdk, EventCategory, LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::task::JoinSet;

use super::limiter::RateLimiter;
use super::token::{self, Binding, Position};
use super::{Consumer, Flow, Origin, Outcome, Raw};
use crate::config::{redact_userinfo, ApiConfig};
use crate::error::{usage, warn, Interrupted};
use crate::event::{Envelope, Resource};
use crate::interrupt;
use crate::progress::Progress;

/// The API's page size limit; asking for fewer only costs more requests.
const PAGE_SIZE: i32 = 50;

/// First retry delay; each further one doubles, up to `BACKOFF_CAP`, with full jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(400);
const BACKOFF_CAP: Duration = Duration::from_secs(20);

/// The largest answer accepted. A page holds at most 50 events of at most a few hundred KiB each (in
/// practice a page is well under 1 MiB), so this is far above any real answer and still bounds the
/// memory an endpoint can make ctlookup take.
const ANSWER_CAP: u64 = 32 << 20;
const ANSWER_CAP_TEXT: &str = "32 MiB";

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
    /// Hashes of every NextToken this lookup started from or was given: one coming back is a loop.
    tokens: HashSet<u64>,
    /// The oldest events of the page before, which the next page must not go back past.
    tail: Option<Tail>,
    /// Its region failed: it stands where it was, for the resume token.
    stopped: bool,
}

/// The time of the oldest events of a page and their IDs (with those of the pages before at the same
/// time), and the IDs of the whole page.
struct Tail {
    time: Option<SdkDateTime>,
    ids: HashSet<String>,
    page: HashSet<String>,
}

impl Stream {
    fn new(query: usize, attribute: Option<LookupAttribute>, position: Option<Position>) -> Stream {
        let finished = position.is_none();
        let position = position.unwrap_or_default();
        Stream {
            query,
            attribute,
            tokens: position.next_token.iter().map(|t| token_hash(t)).collect(),
            page_token: position.next_token,
            buffer: VecDeque::new(),
            consumed: 0,
            skip_first: position.skip,
            fetched: finished,
            next_token: None,
            tail: None,
            stopped: false,
        }
    }

    fn needs_page(&self) -> bool {
        !self.stopped && self.buffer.is_empty() && (!self.fetched || self.next_token.is_some())
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

    /// Takes the next page, unless it shows that the endpoint pages in a loop (its NextToken came
    /// before, or it goes back to events the lookup already had): then the page is refused whole and
    /// the lookup stands where it was. Events of the page before repeated at its start are dropped.
    fn take_page(&mut self, page: LookupEventsOutput) -> Result<(), &'static str> {
        let next_token = page.next_token.filter(|t| !t.is_empty());
        if next_token.as_deref().is_some_and(|t| self.tokens.contains(&token_hash(t))) {
            return Err("it answered a NextToken it had answered before");
        }
        let events: VecDeque<sdk::Event> = page.events.unwrap_or_default().into();
        let mut repeated = 0;
        if let Some(tail) = &self.tail {
            // Pages are newest first: nothing after the page before, and at its oldest time only
            // events it did not have.
            repeated =
                events.iter().take_while(|e| e.event_time == tail.time && tail.ids.contains(event_id(e))).count();
            if events.iter().skip(repeated).any(|e| tail.page.contains(event_id(e))) {
                return Err("it answered events of the page before again");
            }
            if events.iter().any(|e| e.event_time > tail.time) {
                return Err("it answered events newer than those of the page before");
            }
            if repeated > 0 && repeated == events.len() && next_token.is_some() {
                return Err("it answered events of the page before again");
            }
        }
        if let Some(token) = &next_token {
            self.tokens.insert(token_hash(token));
        }
        if let Some(oldest) = events.back() {
            let time = oldest.event_time;
            let mut ids: HashSet<String> =
                events.iter().rev().take_while(|e| e.event_time == time).map(|e| event_id(e).to_owned()).collect();
            if let Some(before) = self.tail.take().filter(|t| t.time == time) {
                ids.extend(before.ids);
            }
            let page = events.iter().map(|e| event_id(e).to_owned()).collect();
            self.tail = Some(Tail { time, ids, page });
        }
        if self.fetched {
            self.page_token = self.next_token.take();
        }
        self.fetched = true;
        self.buffer = events;
        self.next_token = next_token;
        let skip = std::mem::take(&mut self.skip_first).min(self.buffer.len());
        self.buffer.drain(..skip);
        self.consumed = skip;
        // Repeats count as consumed, as the service numbers the page's events for a resume.
        let repeats = repeated.saturating_sub(skip).min(self.buffer.len());
        self.buffer.drain(..repeats);
        self.consumed += repeats;
        Ok(())
    }

    fn head_time(&self) -> Option<Option<SdkDateTime>> {
        if self.stopped {
            return None;
        }
        self.buffer.front().map(|e| e.event_time)
    }

    /// Drops the head events that another lookup already handed out at `time`: a resumed run would
    /// print them again.
    fn consume_seen(&mut self, time: Option<SdkDateTime>, seen: &HashSet<String>) {
        while let Some(head) = self.buffer.front() {
            if head.event_time != time || !seen.contains(event_id(head)) {
                break;
            }
            self.buffer.pop_front();
            self.consumed += 1;
        }
    }
}

fn event_id(event: &sdk::Event) -> &str {
    event.event_id.as_deref().unwrap_or_default()
}

/// NextTokens are kept as hashes: a long scan sees thousands, each up to a few KiB. Within one process,
/// so any hasher does.
fn token_hash(token: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut hasher);
    hasher.finish()
}

/// Why a region stopped, said once at the end.
struct RegionFailure {
    message: String,
    /// The same without naming the region, to say it once when every region failed alike.
    bare: String,
    /// Whether running again from where it stopped can help (not for a token the service refused,
    /// nor for pages in a loop).
    resumable: bool,
}

/// What went wrong with one request of a fetch.
enum Problem {
    /// Boxed: the SDK error is large, and rare.
    Request(Box<SdkError<LookupEventsError, HttpResponse>>, u32),
    Loop(&'static str),
}

struct Merge {
    queries: Vec<Query>,
    streams: Vec<Stream>,
    /// IDs handed out at the newest time seen, to drop the same event found by another lookup. Merged
    /// streams are newest first, so a duplicate can only come at the same time.
    seen: HashSet<String>,
    seen_time: Option<SdkDateTime>,
    /// By region (the index of its `Query`): why it stopped.
    failed: Vec<Option<RegionFailure>>,
    /// What the resume tokens of several lookups are bound to.
    binding: Binding,
}

impl Merge {
    async fn new(config: &ApiConfig) -> Result<Merge> {
        if let Some(profile) = &config.profile {
            check_profile(profile).await?;
        }
        let regions: Vec<Option<&str>> = if config.regions.is_empty() {
            vec![None]
        } else {
            config.regions.iter().map(|r| Some(r.as_str())).collect()
        };
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
        }
        // Read only now that the regions are resolved (a token is bound to them); still before any request.
        let binding = binding(config, &queries);
        let count = queries.len() * attributes.len();
        let mut positions = match &config.starting_token {
            Some(text) => token::decode(text, count, &binding).map_err(usage)?,
            None => vec![Some(Position::default()); count],
        }
        .into_iter();
        let mut streams = Vec::new();
        for query in 0..queries.len() {
            for attribute in &attributes {
                streams.push(Stream::new(query, attribute.clone(), positions.next().expect("one position per stream")));
            }
        }
        if config.names_global_service && !queries.iter().any(|q| q.region == "us-east-1") {
            warn(
                "IAM, STS, console sign-in, CloudFront, Route 53 and Organizations record their events in \
                  us-east-1: add --region us-east-1 to see them",
            );
        }
        let failed = queries.iter().map(|_| None).collect();
        Ok(Merge { queries, streams, seen: HashSet::new(), seen_time: None, failed, binding })
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
                return self.finish(Outcome::default(), config);
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
                let outcome = Outcome { resume_token: self.resume_token() };
                return self.finish(outcome, config);
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
        for stream in &mut self.streams {
            stream.consume_seen(self.seen_time, &self.seen);
        }
        let positions: Vec<Option<Position>> = self.streams.iter().map(Stream::position).collect();
        positions.iter().any(Option::is_some).then(|| token::encode(&positions, &self.binding))
    }

    /// The error for Ctrl-C (or SIGTERM, SIGHUP), with the token that continues after the last event printed.
    fn interrupted(&mut self) -> anyhow::Error {
        let what = interrupt::what();
        match self.resume_token() {
            Some(token) => {
                Interrupted(format!("{what}; to resume, run again with the same options and --starting-token {token}"))
                    .into()
            }
            None => Interrupted(what.to_owned()).into(),
        }
    }

    /// The run's end: the outcome, or, when a region failed, an error that says so, names the regions
    /// that are complete, and carries the token that continues the failed ones.
    fn finish(&mut self, mut outcome: Outcome, config: &ApiConfig) -> Result<Outcome> {
        if self.failed.iter().all(Option::is_none) {
            return Ok(outcome);
        }
        let stopped_early = outcome.resume_token.is_some();
        let token = outcome.resume_token.take().or_else(|| self.resume_token());
        let several = self.queries.len() > 1;
        let failures: Vec<&RegionFailure> = self.failed.iter().flatten().collect();
        let mut message = String::new();
        if several && failures.len() > 1 && failures.iter().all(|f| f.bare == failures[0].bare) {
            let regions: Vec<&str> = (0..self.queries.len())
                .filter(|&q| self.failed[q].is_some())
                .map(|q| self.queries[q].region.as_str())
                .collect();
            message = format!("{} (in {})", failures[0].bare, join_and(&regions));
        } else {
            for failure in &failures {
                if !message.contains(&failure.message) {
                    if !message.is_empty() {
                        message.push_str("; ");
                    }
                    message.push_str(&failure.message);
                }
            }
        }
        let healthy: Vec<&str> = (0..self.queries.len())
            .filter(|&q| self.failed[q].is_none())
            .map(|q| self.queries[q].region.as_str())
            .collect();
        if several && !stopped_early && !healthy.is_empty() {
            let verb = if healthy.len() == 1 { "is" } else { "are" };
            message.push_str(&format!("; {} {verb} complete", join_and(&healthy)));
        }
        // When nothing was fetched and no token given, running again is the same as resuming.
        let progressed = config.starting_token.is_some() || self.streams.iter().any(|s| s.fetched);
        let resumable = progressed && self.failed.iter().flatten().any(|f| f.resumable);
        if let (true, Some(token)) = (resumable, token) {
            let failed: Vec<&str> = (0..self.queries.len())
                .filter(|&q| self.failed[q].is_some())
                .map(|q| self.queries[q].region.as_str())
                .collect();
            let what = match (stopped_early, several) {
                (true, _) => "to continue".to_owned(),
                (false, true) => format!("to resume {}", join_and(&failed)),
                (false, false) => "to resume".to_owned(),
            };
            message.push_str(&format!("; {what}, run again with the same options and --starting-token {token}"));
        }
        Err(anyhow!(message))
    }

    /// Stops the region of stream `i` where it stands, and says why once.
    fn fail(&mut self, i: usize, problem: Problem, config: &ApiConfig) {
        let q = self.streams[i].query;
        if self.failed[q].is_some() {
            return;
        }
        let region = (self.queries.len() > 1).then_some(self.queries[q].region.as_str());
        let failure = match problem {
            Problem::Request(err, attempts) => {
                let bare = describe_error(&err, config, None, attempts).message;
                RegionFailure { bare, ..describe_error(&err, config, region, attempts) }
            }
            Problem::Loop(why) => {
                let message =
                    |region| format!("{}{} pages in a loop ({why}); stopped", prefix(region), target(config, region));
                RegionFailure { message: message(region), bare: message(None), resumable: false }
            }
        };
        self.failed[q] = Some(failure);
        for stream in self.streams.iter_mut().filter(|s| s.query == q) {
            stream.stopped = true;
            stream.consume_seen(self.seen_time, &self.seen);
        }
    }

    /// Fetches the next page of each wanted stream, concurrently, each request waiting its region's turn.
    /// A failure stops the stream's region (see `fail`); only Ctrl-C and a crashed task are errors here.
    async fn fetch(&mut self, wanted: &[usize], config: &ApiConfig, progress: &Progress) -> Result<()> {
        let mut requests = JoinSet::new();
        for &i in wanted {
            let stream = &self.streams[i];
            let token = if stream.fetched { stream.next_token.clone() } else { stream.page_token.clone() };
            let query = self.queries[stream.query].clone();
            let attribute = stream.attribute.clone();
            requests.spawn(async move { (i, query.page(attribute, token).await) });
        }
        let mut problems = Vec::new();
        loop {
            let joined = tokio::select! {
                joined = requests.join_next() => joined,
                () = interrupt::wait() => return Err(self.interrupted()),
            };
            let Some(joined) = joined else { break };
            let (i, (attempts, result)) = joined.context("a LookupEvents request task failed")?;
            (0..attempts).for_each(|_| progress.request());
            match result {
                Ok(page) => match self.streams[i].take_page(page) {
                    Ok(()) => progress.page(),
                    Err(why) => problems.push((i, Problem::Loop(why))),
                },
                Err(err) => problems.push((i, Problem::Request(Box::new(err), attempts))),
            }
        }
        for (i, problem) in problems {
            self.fail(i, problem, config);
        }
        Ok(())
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

/// Throttling, server faults and timeouts waiting for an answer pass; so do broken connections and
/// connect timeouts once the endpoint has answered at least once (before that, they mean a wrong
/// endpoint or no network). An answer over the size cap is final: asking again brings it again.
fn classify(err: &SdkError<LookupEventsError, HttpResponse>, answered: bool) -> Failure {
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
fn backoff(attempt: u32) -> Duration {
    backoff_bound(attempt).mul_f64(fastrand::f64())
}

fn backoff_bound(attempt: u32) -> Duration {
    BACKOFF_BASE.saturating_mul(1 << attempt.min(10)).min(BACKOFF_CAP)
}

/// A client for one region (None: the SDK's usual resolution), with the SDK's own retries off: the
/// retry loop in `Query::page` waits its turn at the rate limiter, which the SDK's would not.
///
/// Timeouts: the connect timeout bounds the TCP (and TLS) connection; the attempt timeout bounds an
/// attempt as a whole, connecting, sending and reading the whole answer included. The SDK's own read
/// timeout is not enough on its own: it only waits for the answer's headers, so an endpoint that sends
/// headers and then nothing would hang the body read. Worst case per page with the defaults: 6 attempts
/// of 20 s plus at most 24.8 s of backoff, under 3 minutes (checked by a test below).
///
/// With --profile, that profile's credentials sign the requests, as with the aws CLI: the SDK's default
/// chain would take AWS_ACCESS_KEY_ID from the environment first and sign for another account.
async fn client(config: &ApiConfig, region: Option<&str>) -> Result<(Client, String)> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.connect_timeout)
        .operation_attempt_timeout(config.read_timeout)
        .build();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled()).timeout_config(timeouts);
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
    let mut builder = aws_sdk_cloudtrail::config::Builder::from(&sdk_config).interceptor(AnswerCap);
    if let Some(profile) = &config.profile {
        let provider_config = ProviderConfig::without_region().with_region(sdk_config.region().cloned());
        let provider =
            ProfileFileCredentialsProvider::builder().configure(&provider_config).profile_name(profile).build();
        builder = builder.credentials_provider(provider);
    }
    Ok((Client::from_conf(builder.build()), region))
}

/// `--profile NAME` must name a profile of the AWS config or credentials file (the aws CLI refuses
/// others too); said before any request, with the profiles there are.
async fn check_profile(name: &str) -> Result<()> {
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

/// What a token of several lookups is bound to: the resolved regions, the lookups, the category and
/// the time window.
fn binding(config: &ApiConfig, queries: &[Query]) -> Binding {
    let regions: Vec<String> = queries.iter().map(|q| q.region.clone()).collect();
    let lookups: Vec<Option<String>> = config
        .plan
        .lookups
        .iter()
        .map(|lookup| lookup.as_ref().map(|(key, value)| format!("{}={value}", key.api_name())))
        .collect();
    let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
    Binding::new(&regions, &lookups, config.insight, [ms(config.window.start), ms(config.window.end)])
}

/// The size cap on answers. The SDK reads a whole non-streaming answer into memory (`read_body` of
/// aws-smithy-runtime collects the body) before it deserializes it, after the interceptors'
/// `modify_before_deserialization` hook. This interceptor uses that hook: an answer whose
/// Content-Length says it is over the cap is refused there, before a byte of its body is read, and any
/// other body is wrapped in `CappedBody`, which fails the read as soon as the bytes received pass the
/// cap. So at most `ANSWER_CAP` bytes (plus one frame) are ever held, whatever the endpoint sends or
/// declares; the failed read drops the connection.
///
/// It also refuses a successful answer with an empty body, which the SDK would take for a page of no
/// events and the end of the lookup.
#[derive(Debug)]
struct AnswerCap;

impl Intercept for AnswerCap {
    fn name(&self) -> &'static str {
        "ctlookup::AnswerCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response_mut();
        let declared = response.headers().get("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = declared.filter(|&n| n > ANSWER_CAP) {
            return Err(Box::new(TooLarge { declared: Some(length) }));
        }
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        *response.body_mut() = SdkBody::from_body_1_x(CappedBody { inner: Box::pin(body), left: ANSWER_CAP });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        let empty = response.body().bytes().is_some_and(|b| b.iter().all(u8::is_ascii_whitespace));
        if response.status().is_success() && empty {
            return Err("an empty answer".into());
        }
        Ok(())
    }
}

/// An answer body that fails once more than `left` bytes came.
struct CappedBody {
    inner: Pin<Box<SdkBody>>,
    left: u64,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            let size = frame.data_ref().map_or(0, |data| data.len() as u64);
            if size > self.left {
                return Poll::Ready(Some(Err(Box::new(TooLarge { declared: None }))));
            }
            self.left -= size;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer over `ANSWER_CAP`; `declared` is its Content-Length when that said so.
#[derive(Debug)]
struct TooLarge {
    declared: Option<u64>,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "answer over {ANSWER_CAP_TEXT}")
    }
}

impl std::error::Error for TooLarge {}

fn too_large<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a TooLarge> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<TooLarge>() {
            return Some(found);
        }
        next = e.source();
    }
    None
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

/// "a", "a and b", "a, b and c".
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// "LookupEvents in REGION: " when several regions run, else nothing.
fn prefix(region: Option<&str>) -> String {
    region.map(|r| format!("LookupEvents in {r}: ")).unwrap_or_default()
}

/// The endpoint as a message names it: the URL without its userinfo, or the region's endpoint.
fn target(config: &ApiConfig, region: Option<&str>) -> String {
    match (config.endpoint_url.as_deref(), region) {
        (Some(url), _) => redact_userinfo(url),
        (None, Some(region)) => format!("the CloudTrail endpoint of {region}"),
        (None, None) => "the CloudTrail endpoint".to_owned(),
    }
}

/// The userinfo of the endpoint URL, which must appear nowhere in a message.
fn userinfo(config: &ApiConfig) -> Option<&str> {
    let url = config.endpoint_url.as_deref()?;
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')?;
    Some(&url[start..start + at]).filter(|u| !u.is_empty())
}

/// Text from outside (an answer's bytes, a header, an error message) made safe for a terminal: ASCII
/// printables and letters or digits of other scripts as they are, anything else (controls, escapes,
/// format and bidi characters, invalid UTF-8) as `\u{..}`; cut after `max` characters.
fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if !c.is_ascii() && c.is_alphanumeric() => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    out
}

/// What came back instead of a CloudTrail answer: status, content type, where a redirect points, and
/// the first bytes of the body.
fn describe_answer(raw: &HttpResponse) -> String {
    let status = raw.status().as_u16();
    let mut parts = vec![format!("HTTP {status}")];
    match raw.headers().get("content-type") {
        Some(kind) => parts.push(printable(kind, 100)),
        None => parts.push("no content type".to_owned()),
    }
    if (300..400).contains(&status) {
        match raw.headers().get("location") {
            Some(to) => parts.push(format!(
                "a redirect to {} (ctlookup does not follow redirects: check --endpoint-url)",
                printable(to, 200)
            )),
            None => parts.push("a redirect".to_owned()),
        }
    }
    match raw.body().bytes() {
        Some([]) => parts.push("empty body".to_owned()),
        Some(bytes) => {
            parts.push(format!("{} bytes: \"{}\"", bytes.len(), printable(&String::from_utf8_lossy(bytes), 160)))
        }
        None => {}
    }
    parts.join(", ")
}

/// One line that says what failed and, where it helps, what to do; the caller adds how to resume.
fn describe_error(
    err: &SdkError<LookupEventsError, HttpResponse>,
    config: &ApiConfig,
    region: Option<&str>,
    attempts: u32,
) -> RegionFailure {
    let (message, resumable) = explain(err, config, region, attempts);
    let message = match userinfo(config) {
        Some(secret) => message.replace(secret, "***"),
        None => message,
    };
    RegionFailure { bare: String::new(), message, resumable }
}

fn explain(
    err: &SdkError<LookupEventsError, HttpResponse>,
    config: &ApiConfig,
    region: Option<&str>,
    attempts: u32,
) -> (String, bool) {
    let prefix = prefix(region);
    let target = target(config, region);
    let seconds = |d: Duration| d.as_secs_f64();
    if let Some(big) = too_large(err) {
        let size = match big.declared {
            Some(length) => format!("is {length} bytes,"),
            None => "runs".to_owned(),
        };
        return (
            format!(
                "{prefix}the answer of {target} {size} over the {ANSWER_CAP_TEXT} that ctlookup accepts (a page of \
                 50 events needs far less): refused"
            ),
            true,
        );
    }
    if let SdkError::ServiceError(service) = err {
        let e = service.err();
        if let Some(code) = e.code() {
            let code = printable(code, 100);
            let message = printable(e.message().unwrap_or_default(), 300);
            let hint = match code.as_str() {
                "InvalidNextTokenException" if config.starting_token.is_some() => {
                    " (the --starting-token belongs to another query: repeat the options of the run that printed it)"
                }
                "UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException" => {
                    " (check your credentials: aws sts get-caller-identity)"
                }
                "AccessDeniedException" => " (your identity needs cloudtrail:LookupEvents)",
                _ => "",
            };
            let operation = match region {
                Some(region) => format!("LookupEvents in {region}"),
                None => "LookupEvents".to_owned(),
            };
            // A token the service refused is no way to resume.
            let resumable = code != "InvalidNextTokenException";
            return (format!("{operation} failed: {code}: {message}{hint}"), resumable);
        }
    }
    if let SdkError::ServiceError(_) | SdkError::ResponseError(_) = err {
        if let Some(raw) = err.raw_response() {
            return (
                format!("{prefix}{target} sent something that is not a CloudTrail answer: {}", describe_answer(raw)),
                true,
            );
        }
    }
    if let SdkError::TimeoutError(_) = err {
        let tries = if attempts == 1 { "1 attempt".to_owned() } else { format!("{attempts} attempts") };
        return (
            format!(
                "{prefix}timed out waiting for the answer of {target}: none within {} s ({tries}; --read-timeout)",
                seconds(config.read_timeout)
            ),
            true,
        );
    }
    let detail = causes(err);
    if detail.contains("credential") {
        if let Some(profile) = &config.profile {
            return (
                format!(
                    "no AWS credentials for profile '{profile}': check that ~/.aws/config or ~/.aws/credentials defines \
                     it with credentials (aws configure --profile {profile}), or `aws sso login --profile {profile}` \
                     ({})",
                    printable(&detail, 200)
                ),
                false,
            );
        }
        return (
            "no AWS credentials: run `aws configure` or `aws sso login`, pass --profile, set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or run in CloudShell"
                .to_owned(),
            false,
        );
    }
    if let SdkError::DispatchFailure(dispatch) = err {
        // hyper's words for an answer it could not parse as HTTP at all.
        if ["invalid HTTP", "message head is too large", "invalid URI"].iter().any(|w| detail.contains(w)) {
            return (
                format!(
                    "{prefix}{target} sent something that is not a CloudTrail answer: not HTTP ({})",
                    printable(&detail, 200)
                ),
                true,
            );
        }
        if dispatch.is_timeout() {
            return (
                format!(
                    "{prefix}cannot reach {target}: no connection within {} s (--connect-timeout)",
                    seconds(config.connect_timeout)
                ),
                true,
            );
        }
    }
    (format!("{prefix}cannot reach {target}: {}", printable(&detail, 300)), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_silent_endpoint_ends_within_3_minutes_with_the_default_settings() {
        let cli = crate::cli::Cli::try_parse_from(["ctlookup"]).unwrap().lookup;
        let attempts = cli.retries + 1;
        let backoff: Duration = (1..=cli.retries).map(backoff_bound).sum();
        let worst = Duration::from_secs_f64(cli.read_timeout) * attempts + backoff;
        assert!(worst < Duration::from_secs(180), "{worst:?}");
        assert!(cli.connect_timeout <= cli.read_timeout, "the attempt timeout bounds connecting too");
    }

    #[test]
    fn printable_escapes_what_a_terminal_would_act_on() {
        assert_eq!(printable("a\x1b[31mb\x07", 100), "a\\u{1b}[31mb\\u{7}");
        assert_eq!(printable("\u{9b}\u{202e}\u{200b}é日本\\", 100), "\\u{9b}\\u{202e}\\u{200b}é日本\\\\");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
