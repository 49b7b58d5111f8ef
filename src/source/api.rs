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

use super::identity;
use super::limiter::RateLimiter;
use super::token::{self, Before, Binding, Position};
use super::{Consumer, Flow, Origin, Outcome, Raw};
use crate::config::{redact_userinfo, ApiConfig};
use crate::error::{say, usage, warn, Interrupted};
use crate::event::{Envelope, Resource};
use crate::interrupt;
use crate::progress::Progress;
use crate::query::Attribute;
use crate::store::{self, coverage, Opened, Page, Part, ScopeKey, Span, Store, StoredReader, Written};

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
    runtime.block_on(async {
        let mut merge = Merge::new(config).await?;
        let result = merge.run(config, sink, progress).await;
        match merge.store.take().map(Store::finish) {
            Some(Err(err)) if result.is_ok() => Err(err),
            _ => result,
        }
    })
}

/// What every request to one region shares.
#[derive(Clone)]
struct Query {
    region: String,
    client: Client,
    limiter: Arc<RateLimiter>,
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
    /// The time window of the pages being fetched: the run's, or a part the store does not cover.
    start: Option<SdkDateTime>,
    end: Option<SdkDateTime>,
    /// With the store: where this lookup is kept, the parts of the window after the current one
    /// (newest first), the current part when the store answers it, and the recording of the
    /// current part when the API answers it.
    place: Option<Place>,
    parts: VecDeque<Part>,
    reader: Option<Box<StoredReader>>,
    recording: Option<Recording>,
    /// Its resume position is a place in time rather than an API page: the store cut its window,
    /// or it resumes such a position. Then `last` is the second of the last event handed out with
    /// the IDs handed out at that second, and `skip_ids` those the resumed position excludes.
    timed: bool,
    last: Option<(i64, HashSet<String>)>,
    skip_ids: Option<(i64, HashSet<String>)>,
}

/// Where one lookup is kept in the store.
struct Place {
    scope: i64,
    /// "" for a full scan, else `AttributeKey=value`.
    key: String,
    lookup: Option<(Attribute, String)>,
}

/// What the pages of one API part have proved so far.
struct Recording {
    span: Span,
    /// When the part's first request was sent (epoch seconds): the newest `LATE_SECS` before it
    /// are never covered.
    started: i64,
    /// What the store holds of this fetch.
    written: Written,
    /// The newest second the fetch's coverage row may claim: the part's end (never within
    /// `LATE_SECS` of the start), or, after another process removed what the row relied on, the
    /// second before the oldest of the page before.
    top: i64,
    /// The oldest second of the last page with events.
    prev_oldest: Option<i64>,
}

impl Recording {
    fn new(span: Span, started: i64) -> Recording {
        let top = span.hi.min(started - store::LATE_SECS);
        Recording { span, started, written: Written::default(), top, prev_oldest: None }
    }
}

/// Pages joined into one stored chunk.
const PAGES_PER_CHUNK: usize = 10;

/// The time of the oldest events of a page and their IDs (with those of the pages before at the same
/// time), and the IDs of the whole page.
struct Tail {
    time: Option<SdkDateTime>,
    ids: HashSet<String>,
    page: HashSet<String>,
}

impl Stream {
    fn new(
        query: usize,
        attribute: Option<LookupAttribute>,
        position: Option<Position>,
        window: [Option<SdkDateTime>; 2],
    ) -> Stream {
        let finished = position.is_none();
        let mut position = position.unwrap_or_default();
        let before = position.before.take().map(|b| (b.time, b.ids.into_iter().collect::<HashSet<String>>()));
        let end = match &before {
            Some((time, _)) => Some(SdkDateTime::from_secs(*time)),
            None => window[1],
        };
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
            start: window[0],
            end,
            place: None,
            parts: VecDeque::new(),
            reader: None,
            recording: None,
            timed: before.is_some(),
            last: before.clone(),
            skip_ids: before,
        }
    }

    /// Notes an event handed out (or dropped as handed out by another lookup), for a timed position.
    fn hand_out(&mut self, event: &sdk::Event) {
        if !self.timed {
            return;
        }
        let time = store::read::secs(event);
        match &mut self.last {
            Some((t, ids)) if *t == time => {
                ids.insert(event_id(event).to_owned());
            }
            last => *last = Some((time, HashSet::from([event_id(event).to_owned()]))),
        }
    }

    /// Starts fetching a part of the window from its first page; `tail`: the events already
    /// handed out at its newest second, which its first page must not repeat.
    fn begin_api(&mut self, window: [Option<SdkDateTime>; 2], tail: Option<Tail>, recording: Option<Recording>) {
        self.start = window[0];
        self.end = window[1];
        self.page_token = None;
        self.next_token = None;
        self.fetched = false;
        self.skip_first = 0;
        self.consumed = 0;
        self.tokens.clear();
        self.tail = tail;
        self.recording = recording;
    }

    fn needs_page(&self) -> bool {
        !self.stopped && self.buffer.is_empty() && self.reader.is_none() && (!self.fetched || self.next_token.is_some())
    }

    /// Where to continue from once every event handed out so far is done; None when finished.
    fn position(&self) -> Option<Position> {
        if self.timed {
            let finished = self.buffer.is_empty()
                && self.reader.is_none()
                && self.parts.is_empty()
                && self.fetched
                && self.next_token.is_none();
            let before = self.last.as_ref().map(|(time, ids)| {
                let mut ids: Vec<String> = ids.iter().cloned().collect();
                ids.sort();
                Before { time: *time, ids }
            });
            return (!finished).then_some(Position { next_token: None, skip: 0, before });
        }
        if !self.buffer.is_empty() {
            Some(Position { next_token: self.page_token.clone(), skip: self.consumed, before: None })
        } else if !self.fetched {
            Some(Position { next_token: self.page_token.clone(), skip: self.skip_first, before: None })
        } else {
            self.next_token.clone().map(|t| Position { next_token: Some(t), skip: 0, before: None })
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
        if let Some((time, ids)) = &self.skip_ids {
            self.buffer.retain(|e| !(store::read::secs(e) == *time && ids.contains(event_id(e))));
        }
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
            let head = self.buffer.pop_front().expect("a head event");
            self.hand_out(&head);
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
    /// The local event store, when this run uses it, and the run's window as it counts it.
    store: Option<Store>,
    store_window: Option<Span>,
    /// `--follow`: the IDs handed out within the lag behind the newest second seen (each event is
    /// printed once however many polls see it again), that newest second, whether being behind was
    /// said, and when the current poll began.
    followed: std::collections::HashMap<String, i64>,
    newest_seen: Option<i64>,
    said_behind: bool,
    poll_started: Option<std::time::Instant>,
    poll_secs: i64,
    following: bool,
}

/// The first page of a part starts at its newest second.
fn part_window(span: Span, window: Span, config: &ApiConfig) -> [Option<SdkDateTime>; 2] {
    // The run's own open ends stay open, as a run without the store sends them.
    let start = (span.lo != store::BEGINNING || config.window.start.is_some()).then(|| SdkDateTime::from_secs(span.lo));
    let end = (span.hi != window.hi || config.window.end.is_some()).then(|| SdkDateTime::from_secs(span.hi));
    [start, end]
}

/// The run's window in whole seconds, as the store counts: from the first whole second at or after
/// the start (or the beginning of history) to the end (or now). None when it holds no whole second.
fn store_window(config: &ApiConfig, now: DateTime<Utc>) -> Option<Span> {
    let lo =
        config.window.start.map_or(store::BEGINNING, |t| t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0));
    let hi = config.window.end.unwrap_or(now).timestamp();
    Span::new(lo, hi)
}

/// A lookup as tokens and the store name it: `EventName=ConsoleLogin`.
fn lookup_key(attribute: Attribute, value: &str) -> String {
    format!("{}={value}", attribute.api_name())
}

fn now_secs() -> i64 {
    Utc::now().timestamp()
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
        // Credentials are the same in every region: the first region's configuration finds the account.
        let mut first_sdk_config = None;
        for region in regions {
            let (client, region, sdk_config) = client(config, region).await?;
            first_sdk_config.get_or_insert(sdk_config);
            queries.push(Query {
                region,
                client,
                limiter: Arc::new(RateLimiter::new(config.tps)),
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
        let window = [config.window.start.map(sdk_time), config.window.end.map(sdk_time)];
        let mut streams = Vec::new();
        for query in 0..queries.len() {
            for attribute in &attributes {
                let position = positions.next().expect("one position per stream");
                streams.push(Stream::new(query, attribute.clone(), position, window));
            }
        }
        if config.names_global_service && !queries.iter().any(|q| q.region == "us-east-1") {
            warn(
                "IAM, STS, console sign-in, CloudFront, Route 53 and Organizations record their events in \
                  us-east-1: add --region us-east-1 to see them",
            );
        }
        let failed = queries.iter().map(|_| None).collect();
        let sdk_config = first_sdk_config.expect("at least one region");
        let regions: Vec<&str> = queries.iter().map(|q| q.region.as_str()).collect();
        let store = open_store(config, &sdk_config, &regions).await?;
        let mut merge = Merge {
            queries,
            streams,
            seen: HashSet::new(),
            seen_time: None,
            failed,
            binding,
            store: None,
            store_window: None,
            followed: std::collections::HashMap::new(),
            newest_seen: None,
            said_behind: false,
            poll_started: None,
            poll_secs: 0,
            following: config.follow.is_some(),
        };
        if let Some((store, account)) = store {
            merge.store = Some(store);
            merge.plan_store(config, &account)?;
        }
        Ok(merge)
    }

    /// With the store: each lookup's window cut into the parts the store covers, read back, and the
    /// rest, fetched and recorded. A window the store holds nothing of is fetched as it is, so that
    /// its requests and resume tokens are those of a run without the store.
    fn plan_store(&mut self, config: &ApiConfig, account: &str) -> Result<()> {
        let Some(store) = self.store.as_mut() else { return Ok(()) };
        let settings = store.config.clone();
        let Some(window) = store_window(config, settings.now) else {
            self.store = None;
            return Ok(());
        };
        self.store_window = Some(window);
        let category = if config.insight { "insight" } else { "management" };
        let lookups = config.plan.lookups.len();
        let mut planned = Vec::new();
        for (i, stream) in self.streams.iter().enumerate() {
            let lookup = config.plan.lookups[i % lookups].clone();
            let key = lookup.as_ref().map(|(a, v)| lookup_key(*a, v)).unwrap_or_default();
            let scope_key = ScopeKey {
                endpoint: settings.endpoint.clone(),
                account: account.to_owned(),
                region: self.queries[stream.query].region.clone(),
                category: category.to_owned(),
            };
            let placed = store.db.scope(&scope_key).and_then(|scope| Ok((scope, store.db.covered(scope, &key)?)));
            match placed {
                Ok((scope, covered)) => planned.push((Place { scope, key, lookup }, coverage::split(window, &covered))),
                Err(err) if settings.offline => return Err(err.context("--offline: cannot read the store")),
                Err(err) => {
                    store.fail(&err);
                    return Ok(());
                }
            }
        }
        if settings.offline {
            let gaps: Vec<String> = planned
                .iter()
                .enumerate()
                .flat_map(|(i, (place, parts))| {
                    let region = &self.queries[self.streams[i].query].region;
                    let settings = &settings;
                    coverage::missing(parts).into_iter().map(move |span| describe_gap(span, region, place, settings))
                })
                .collect();
            if !gaps.is_empty() {
                let shown = gaps.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
                let more = if gaps.len() > 3 { format!(" and {} more", gaps.len() - 3) } else { String::new() };
                return Err(anyhow!(
                    "--offline: the store does not cover {shown}{more}; nothing was sent (the newest 15 minutes are \
                     never covered: --until 15m leaves them out; `ctlookup sync` fills a window)"
                ));
            }
        }
        for (stream, (place, parts)) in self.streams.iter_mut().zip(planned) {
            if parts == [Part::Missing(window)] {
                stream.recording = store.records().then(|| Recording::new(window, now_secs()));
            } else {
                stream.timed = true;
                // Nothing pending until `advance` starts the first part.
                stream.fetched = true;
                stream.next_token = None;
                stream.parts = parts.into_iter().filter(|p| !(settings.sync && matches!(p, Part::Stored(_)))).collect();
            }
            stream.place = Some(place);
        }
        Ok(())
    }

    /// Makes stream `i` ready to hand out events: refills its buffer from the store, or moves on to
    /// the next part when the current one is done. Leaves it wanting a page, holding events, or finished.
    /// With `--offline`, a part the store can no longer answer is an error: nothing is sent.
    fn advance(&mut self, i: usize, config: &ApiConfig) -> Result<()> {
        loop {
            let stream = &mut self.streams[i];
            if stream.stopped || !stream.buffer.is_empty() {
                return Ok(());
            }
            if let Some(reader) = &mut stream.reader {
                let store = self.store.as_mut().expect("a reader reads the store");
                if !reader.done() {
                    match reader.next_batch(PAGE_SIZE as usize) {
                        Ok(batch) => {
                            store.from_store += batch.len() as u64;
                            stream.buffer = batch.into();
                        }
                        Err(err) if store.config.offline => {
                            store.fail(&err);
                            return Err(anyhow!("--offline: the store failed while reading it back ({err:#})"));
                        }
                        Err(err) => {
                            // The API takes over the rest of the part, after the events handed out.
                            store.fail(&err);
                            let span = reader.span();
                            let (hi, tail) = match reader.last() {
                                Some((time, ids)) => {
                                    let time = Some(SdkDateTime::from_secs(time));
                                    (time, Some(Tail { time, ids: ids.clone(), page: ids.clone() }))
                                }
                                None => (None, None),
                            };
                            let window = self.store_window.expect("parts come from a planned window");
                            let mut range = part_window(span, window, config);
                            if hi.is_some() {
                                range[1] = hi;
                            }
                            stream.reader = None;
                            stream.begin_api(range, tail, None);
                            return Ok(());
                        }
                    }
                    continue;
                }
                stream.reader = None;
            } else if stream.needs_page() {
                return Ok(());
            } else if let Some(recording) = stream.recording.take() {
                self.settle(i, recording);
            }
            let Some(part) = self.streams[i].parts.pop_front() else { return Ok(()) };
            self.begin(i, part, config)?;
        }
    }

    /// Starts the next part of stream `i`: read back from the store, or fetched and recorded. A
    /// part planned as stored that the store no longer holds whole (another process removed some of
    /// it since) is fetched instead.
    fn begin(&mut self, i: usize, part: Part, config: &ApiConfig) -> Result<()> {
        let store = self.store.as_mut().expect("parts come from the store");
        let stream = &mut self.streams[i];
        let place = stream.place.as_ref().expect("a planned stream has its place");
        if let (Part::Stored(span), true) = (part, store.usable()) {
            let opened = StoredReader::open(&store.db, place.scope, place.lookup.clone(), &place.key, span);
            let offline = store.config.offline;
            let region = &self.queries[stream.query].region;
            let gap = || describe_gap(span, region, place, &store.config);
            match opened {
                Ok(Opened::Reader(reader)) => {
                    stream.reader = Some(reader);
                    return Ok(());
                }
                Ok(Opened::Cut) if offline => {
                    return Err(anyhow!(
                        "--offline: the store no longer covers {} (another ctlookup process removed it meanwhile);                          nothing was sent",
                        gap()
                    ))
                }
                Ok(Opened::Cut) => {
                    if store.config.verbose {
                        say(format_args!(
                            "store: {} was removed by another process meanwhile: asking the API",
                            gap()
                        ));
                    }
                }
                Ok(Opened::Short { missing }) => {
                    let what = format!(
                        "the store covers {} but lacks {missing} of the stored pages its coverage counts",
                        gap()
                    );
                    if offline {
                        return Err(anyhow!("--offline: {what}; nothing was sent"));
                    }
                    warn(format_args!("{what}: asking the API for it"));
                    if store.records() {
                        if let Err(err) = store.db.forget_short(place.scope, &place.key) {
                            store.fail(&err);
                        }
                    }
                }
                Err(err) if offline => return Err(err.context("--offline: cannot read the store")),
                Err(err) => store.fail(&err),
            }
        }
        let span = part.span();
        let recording = store.records().then(|| Recording::new(span, now_secs()));
        let window = self.store_window.expect("parts come from a planned window");
        stream.begin_api(part_window(span, window, config), None, recording);
        Ok(())
    }

    /// A recorded part is complete: its pages joined, its coverage joined into as few rows as
    /// possible, and pages of earlier fetches that it saw again dropped.
    fn settle(&mut self, i: usize, mut recording: Recording) {
        let (Some(store), Some(place)) = (self.store.as_mut(), self.streams[i].place.as_ref()) else {
            return;
        };
        if store.records() {
            let settled = store
                .db
                .compact(&mut recording.written)
                .and_then(|()| store.db.settle(place.scope, &place.key, &recording.written, recording.started));
            if let Err(err) = settled {
                store.fail(&err);
            }
        }
    }

    /// The page about to be taken by stream `i`, compressed for the store when its part is recorded.
    fn encode_page(&mut self, i: usize, page: &LookupEventsOutput) -> Option<Chunk> {
        let store = self.store.as_mut()?;
        store.from_api += page.events().len() as u64;
        if self.streams[i].recording.is_none() || !store.records() {
            return None;
        }
        let events = page.events();
        let (Some(newest), Some(oldest)) = (events.first(), events.last()) else { return Some(Chunk::default()) };
        match store::chunk::encode(events) {
            Ok(data) => Some(Chunk {
                data,
                newest: store::read::secs(newest),
                oldest: store::read::secs(oldest),
                events: events.len() as i64,
            }),
            Err(err) => {
                store.fail(&err);
                None
            }
        }
    }

    /// Records a page stream `i` has taken, with the coverage its part has proved so far: the whole
    /// part once its last page came, else everything after the page's oldest second (more events
    /// of that second may follow on the next page); never the newest `LATE_SECS` before the part
    /// began. Should the store no longer hold the fetch's earlier pages (another process removed
    /// them), the page starts a new coverage row with what it proves by itself.
    fn record(&mut self, i: usize, chunk: Chunk) {
        let (Some(store), stream) = (self.store.as_mut(), &mut self.streams[i]) else { return };
        let (Some(recording), Some(place)) = (stream.recording.as_mut(), stream.place.as_ref()) else { return };
        if !store.records() {
            return;
        }
        let last = stream.next_token.is_none();
        let lo = if last {
            Some(recording.span.lo)
        } else if chunk.events > 0 {
            Some((chunk.oldest + 1).max(recording.span.lo))
        } else {
            None
        };
        let claimed = recording.written.row.map(|(_, span)| span);
        let covered = match lo {
            Some(lo) => Span::new(lo, recording.top).or(claimed),
            None => claimed,
        };
        // What this page proves alone: from its oldest second (left out) to the oldest second of the
        // page before (left out: that page held some of its events).
        let fresh_top = recording.prev_oldest.map_or(recording.top, |p| (p - 1).min(recording.top));
        let alone = lo.and_then(|lo| Span::new(lo, fresh_top));
        let page = Page {
            scope: place.scope,
            lookup: &place.key,
            fetched: recording.started,
            chunk: (chunk.events > 0).then_some((&chunk.data[..], chunk.newest, chunk.oldest, chunk.events)),
            covered,
            alone,
        };
        match store.db.record(&page, &mut recording.written) {
            Ok(stale) => {
                if stale {
                    recording.top = fresh_top;
                    if store.config.verbose {
                        say("store: another process removed pages this fetch had recorded: recording anew from here");
                    }
                }
            }
            Err(err) => return store.fail(&err),
        }
        if chunk.events > 0 {
            recording.prev_oldest = Some(chunk.oldest);
        }
        if recording.written.pending.len() >= PAGES_PER_CHUNK {
            if let Err(err) = store.db.compact(&mut recording.written) {
                store.fail(&err);
            }
        }
    }

    async fn run(&mut self, config: &ApiConfig, sink: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
        let merged = self.streams.len() > 1;
        loop {
            if interrupt::interrupted() {
                sink.flush()?;
                return Err(self.interrupted());
            }
            if let Some(store) = &self.store {
                // A sync whose store failed has nothing left to do.
                if store.config.sync && !store.usable() {
                    return self.finish(Outcome::default(), config);
                }
                for i in 0..self.streams.len() {
                    self.advance(i, config)?;
                }
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
                if let Some(follow) = config.follow {
                    if self.streams.iter().any(|s| !s.stopped) {
                        self.next_poll(follow, config).await?;
                        continue;
                    }
                }
                return self.finish(Outcome::default(), config);
            };
            let stream = &mut self.streams[index];
            let sdk_event = stream.buffer.pop_front().expect("a head event");
            stream.hand_out(&sdk_event);
            stream.consumed += 1;
            progress.scanned(sdk_event.event_time.and_then(|t| DateTime::from_timestamp(t.secs(), 0)));
            if merged && !self.first_sighting(&sdk_event) {
                continue;
            }
            if config.follow.is_some() && !self.first_follow_sighting(&sdk_event) {
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

    /// With `--follow`: records the event's ID; false if an earlier poll already handed it out.
    fn first_follow_sighting(&mut self, event: &sdk::Event) -> bool {
        let time = store::read::secs(event);
        self.newest_seen = Some(self.newest_seen.map_or(time, |t| t.max(time)));
        self.followed.insert(event_id(event).to_owned(), time).is_none()
    }

    /// Waits for the next poll (Ctrl-C ends the wait), then sets every lookup that still runs to ask
    /// for the events from `lag` before the newest second seen up to now. Said once: a poll that
    /// took longer than the interval means the account writes more than the rate lets through.
    async fn next_poll(&mut self, follow: crate::config::FollowConfig, config: &ApiConfig) -> Result<()> {
        let since_poll = self.poll_started.map(|t| t.elapsed());
        if let Some(took) = since_poll.filter(|took| *took > follow.poll) {
            if !self.said_behind {
                self.said_behind = true;
                warn(format_args!(
                    "following is {} s behind: a poll took {:.0} s, longer than --poll {:.0} s (each poll asks \
                     again for the last --lag; at {} requests/s this account has more events than that: narrow \
                     the filter, or shorten --lag)",
                    (took - follow.poll).as_secs(),
                    took.as_secs_f64(),
                    follow.poll.as_secs_f64(),
                    config.tps
                ));
            }
        }
        let wait = since_poll.map_or(follow.poll, |took| follow.poll.saturating_sub(took));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = interrupt::wait() => return Err(self.interrupted()),
        }
        // Nothing seen yet: what could still arrive is at most `lag` older than the last poll.
        let previous =
            self.poll_started.map_or_else(|| config.window.start.map(|t| t.timestamp()), |_| Some(self.poll_secs));
        self.poll_started = Some(std::time::Instant::now());
        let start = config.window.start.map_or(store::BEGINNING, |t| t.timestamp());
        let reference = self.newest_seen.or(previous);
        let lo = reference.map_or(start, |t| (t - follow.lag).max(start));
        let now = now_secs();
        self.poll_secs = now;
        // Memory stays flat: only the IDs a poll can see again are kept.
        self.followed.retain(|_, t| *t >= lo);
        let recording = self.store.as_ref().is_some_and(Store::records);
        for stream in self.streams.iter_mut().filter(|s| !s.stopped) {
            let recording = (recording && stream.place.is_some()).then(|| Recording::new(Span { lo, hi: now }, now));
            stream.timed = false;
            stream.begin_api([Some(SdkDateTime::from_secs(lo)), None], None, recording);
        }
        Ok(())
    }

    /// Records the event's ID; false if another lookup already produced it.
    fn first_sighting(&mut self, event: &sdk::Event) -> bool {
        if event.event_time != self.seen_time {
            self.seen.clear();
            self.seen_time = event.event_time;
        }
        self.seen.insert(event.event_id.clone().unwrap_or_default())
    }

    /// The token that continues after the last event handed out; None when nothing is left, and
    /// when following (Ctrl-C is how a follow ends; the next one starts from its own window).
    fn resume_token(&mut self) -> Option<String> {
        if self.following {
            return None;
        }
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
            let (start, end) = (stream.start, stream.end);
            requests.spawn(async move { (i, query.page(attribute, token, start, end).await) });
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
            if let Some(store) = self.store.as_mut() {
                store.requests += u64::from(attempts);
            }
            match result {
                Ok(page) => {
                    let chunk = self.encode_page(i, &page);
                    match self.streams[i].take_page(page) {
                        Ok(()) => {
                            progress.page();
                            if let Some(chunk) = chunk {
                                self.record(i, chunk);
                            }
                        }
                        Err(why) => problems.push((i, Problem::Loop(why))),
                    }
                }
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
        start: Option<SdkDateTime>,
        end: Option<SdkDateTime>,
    ) -> (u32, Result<LookupEventsOutput, SdkError<LookupEventsError, HttpResponse>>) {
        let mut attempts = 0;
        loop {
            self.limiter.acquire().await;
            attempts += 1;
            let result = self
                .client
                .lookup_events()
                .set_lookup_attributes(attribute.clone().map(|a| vec![a]))
                .set_start_time(start)
                .set_end_time(end)
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
async fn client(config: &ApiConfig, region: Option<&str>) -> Result<(Client, String, aws_config::SdkConfig)> {
    let connection = Connection {
        profile: config.profile.as_deref(),
        endpoint_url: config.endpoint_url.as_deref(),
        region,
        connect_timeout: config.connect_timeout,
        read_timeout: config.read_timeout,
    };
    let (sdk_config, region) = load_sdk_config(&connection).await?;
    let mut builder = aws_sdk_cloudtrail::config::Builder::from(&sdk_config).interceptor(AnswerCap);
    if config.profile.is_some() {
        builder.set_credentials_provider(credentials_provider(config.profile.as_deref(), &sdk_config));
    }
    Ok((Client::from_conf(builder.build()), region, sdk_config))
}

/// How to reach AWS: what every client (CloudTrail, STS) is configured from.
pub(crate) struct Connection<'a> {
    pub profile: Option<&'a str>,
    pub endpoint_url: Option<&'a str>,
    /// None: the SDK's usual resolution.
    pub region: Option<&'a str>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// The SDK configuration of a connection (the SDK's own retries off: callers retry), and its region.
pub(crate) async fn load_sdk_config(connection: &Connection<'_>) -> Result<(aws_config::SdkConfig, String)> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(connection.connect_timeout)
        .operation_attempt_timeout(connection.read_timeout)
        .build();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled()).timeout_config(timeouts);
    if let Some(region) = connection.region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(profile) = connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = connection.endpoint_url {
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

/// The credentials requests are signed with: the profile's with --profile, else the SDK's chain.
pub(crate) fn credentials_provider(
    profile: Option<&str>,
    sdk_config: &aws_config::SdkConfig,
) -> Option<aws_sdk_cloudtrail::config::SharedCredentialsProvider> {
    match profile {
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
    let lookups: Vec<Option<String>> =
        config.plan.lookups.iter().map(|lookup| lookup.as_ref().map(|(key, value)| lookup_key(*key, value))).collect();
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
pub(super) struct AnswerCap;

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
pub(crate) fn split_event(event: sdk::Event) -> (Envelope, String) {
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
pub(super) fn causes(err: &(dyn std::error::Error + 'static)) -> String {
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
pub(super) fn printable(text: &str, max: usize) -> String {
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
        let attempts = cli.api.retries + 1;
        let backoff: Duration = (1..=cli.api.retries).map(backoff_bound).sum();
        let worst = Duration::from_secs_f64(cli.api.read_timeout) * attempts + backoff;
        assert!(worst < Duration::from_secs(180), "{worst:?}");
        assert!(cli.api.connect_timeout <= cli.api.read_timeout, "the attempt timeout bounds connecting too");
    }

    #[test]
    fn printable_escapes_what_a_terminal_would_act_on() {
        assert_eq!(printable("a\x1b[31mb\x07", 100), "a\\u{1b}[31mb\\u{7}");
        assert_eq!(printable("\u{9b}\u{202e}\u{200b}é日本\\", 100), "\\u{9b}\\u{202e}\\u{200b}é日本\\\\");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}

/// A page compressed for the store, with its newest and oldest seconds; no events: nothing to keep.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    newest: i64,
    oldest: i64,
    events: i64,
}

/// Opens the store and finds the account when the run uses the store. Without `--offline`, a store
/// that cannot be opened or an account that cannot be found leaves the run to the API alone.
async fn open_store(
    config: &ApiConfig,
    sdk_config: &aws_config::SdkConfig,
    regions: &[&str],
) -> Result<Option<(Store, String)>> {
    let Some(settings) = &config.store else { return Ok(None) };
    let store = match Store::open(settings) {
        Ok(store) => store,
        Err(err) if err.downcast_ref::<store::NoStore>().is_some() => {
            let window = store_window(config, settings.now).map_or_else(String::new, |span| {
                let place = Place { scope: 0, key: String::new(), lookup: None };
                format!(" {}", describe_gap(span, &regions.join(", "), &place, settings))
            });
            return Err(anyhow!(
                "--offline: the store does not cover{window}: {err}; nothing was sent (run the question once \
                 without --offline, or `ctlookup sync`, to fill it)"
            ));
        }
        Err(err) if settings.offline => return Err(err.context("--offline needs the store")),
        Err(err) if settings.sync => return Err(err),
        Err(err) => {
            warn(format_args!("the store cannot be used now ({err:#}): going on without it"));
            return Ok(None);
        }
    };
    let provider = credentials_provider(config.profile.as_deref(), sdk_config);
    match identity::account(provider, sdk_config, &store.db, &settings.endpoint, settings.offline).await {
        Ok(account) => Ok(Some((store, account))),
        Err(err) if settings.offline => Err(err.context("--offline")),
        Err(err) => {
            if settings.verbose {
                say(format_args!("store: not used: {err:#}"));
            }
            Ok(None)
        }
    }
}

/// One part the store lacks, for `--offline`'s message.
fn describe_gap(span: Span, region: &str, place: &Place, settings: &store::StoreConfig) -> String {
    let time = |t: i64| match DateTime::from_timestamp(t, 0) {
        Some(t) if t.timestamp() != store::BEGINNING => settings.zone.format_rfc3339(t),
        _ => "the start of Event history".to_owned(),
    };
    let lookup = if place.key.is_empty() { String::new() } else { format!(" for {}", place.key) };
    let category = if settings.insight { " (insight events)" } else { "" };
    format!("{} to {} in {region}{lookup}{category}", time(span.lo), time(span.hi))
}
