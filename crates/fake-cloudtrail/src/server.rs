//! A fake CloudTrail `LookupEvents` endpoint on 127.0.0.1 that speaks the real awsJson1.1 protocol,
//! so the real AWS SDK (and botocore) can be pointed at it with `--endpoint-url`, and that can throttle,
//! fail, drop connections and delay on demand to exercise the client's reliability code.
//!
//! Behaviour worth knowing:
//! * Checks run in this order: dropped connection, method/path, SigV4 `Authorization` header (and, when
//!   partitioned by region, its credential scope), target, failing region, rate limit, injected fault,
//!   then the request itself. The signature is never verified.
//! * `NextToken` is base64 of `{"q":<canonical query>,"p":<position>}`; it only works with the same
//!   lookup attribute, times and category it was issued for (`MaxResults` may change between pages),
//!   and, when partitioned by region, in the same region.
//! * Events change only when a test adds some ([`FakeCloudTrail::add_events`], as late deliveries do);
//!   otherwise paging to the end yields every match exactly once.
//! * STS calls (form-encoded query protocol) on the same address are answered by [`crate::sts`]: the
//!   account of the signing key, and decoded authorization messages. They are recorded apart
//!   ([`FakeCloudTrail::sts_requests`]), so `requests` holds CloudTrail calls only.
//! * Athena calls (`X-Amz-Target: AmazonAthena.…`) on the same address are answered by [`crate::athena`]
//!   once it has a backend ([`FakeCloudTrail::set_athena`]): queries run on DuckDB. They are recorded
//!   apart too ([`FakeCloudTrail::athena_requests`]).
//! * Account partition (off by default, [`FakeCloudTrail::set_partition_by_account`]): each account
//!   has its own Event history, as in the service: a request sees only the events whose record's
//!   `recipientAccountId` is the account of the key that signed it (see [`crate::sts`]: keys given an
//!   account, and the credentials of assumed roles), and each account (each account and region, when
//!   partitioned by region too) has its own token bucket. Assumed credentials past their expiry are
//!   answered `ExpiredTokenException` whether or not this is on.
//! * Organizations `ListAccounts` (`X-Amz-Target: AWSOrganizationsV20161128.…`) is answered by
//!   [`crate::organizations`] from the members given with [`FakeCloudTrail::set_organization`].
//! * Region partition (off by default, [`FakeCloudTrail::set_partition_by_region`]): like the service,
//!   where each region has its own Event history and its own rate limit, a request then sees only the
//!   events whose record's `awsRegion` is the region it was signed for, and each region has its own
//!   token bucket. The region is read from the credential scope of the `Authorization` header
//!   (`Credential=AKID/20240722/us-west-2/cloudtrail/aws4_request`).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};

/// The `X-Amz-Target` the AWS SDKs send; botocore prefixes it with `com.amazonaws.cloudtrail.v20131101.`.
const TARGET: &str = "CloudTrail_20131101.LookupEvents";
const BOTOCORE_TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The attribute keys the real API accepts in `LookupAttributes`.
const ATTRIBUTE_KEYS: [&str; 8] =
    ["EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"];

/// A running fake server. It owns a tokio runtime on its own thread, so tests can stay synchronous;
/// dropping it stops the server and closes every connection.
pub struct FakeCloudTrail {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// One request as the server saw it, for tests that check what the client sent and how often.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The `X-Amz-Target` header ("" when absent).
    pub target: String,
    /// Whether an `Authorization: AWS4-HMAC-SHA256 …` header was present.
    pub signed: bool,
    /// The region of the signature's credential scope, when it could be read (whether or not the
    /// server is partitioned by region).
    pub region: Option<String>,
    /// The access key id of the signature's credential scope, when it could be read: which
    /// credentials signed the request.
    pub access_key_id: Option<String>,
    /// The request body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The HTTP status answered; 0 when the connection was dropped on purpose.
    pub status: u16,
    /// The `__type` of an error answer.
    pub error_type: Option<String>,
    /// When the request arrived.
    pub at: Instant,
}

/// An event with the values every lookup needs worked out once, at start.
struct Stored {
    time: f64,
    insight: bool,
    /// The record's `awsRegion`, which decides who sees the event when partitioned by region.
    region: Option<String>,
    /// The record's `recipientAccountId`, which decides who sees the event when partitioned by account.
    account: Option<String>,
    value: Value,
}

struct Shared {
    /// Newest first (stable for equal times), which is the order answers use.
    events: std::sync::RwLock<Vec<Stored>>,
    sts: Mutex<crate::sts::Sts>,
    athena: Mutex<crate::athena::Athena>,
    organizations: Mutex<crate::organizations::Organizations>,
    /// Read once per request, before its answer is worked out; hence outside the lock.
    partition_by_region: AtomicBool,
    partition_by_account: AtomicBool,
    /// When the server started: the time origin of the request log.
    started: Instant,
    state: Mutex<State>,
}

/// Everything that changes at run time. One lock keeps the recorded order equal to the decision order.
#[derive(Default)]
struct State {
    /// Requests per second allowed (None = unlimited), per region when partitioned.
    rate: Option<f64>,
    /// Token buckets by region ("" for the single bucket when not partitioned by region).
    buckets: HashMap<String, Bucket>,
    fault_every: Option<u32>,
    faults_seen: u32,
    drop_every: Option<u32>,
    drops_seen: u32,
    /// Regions whose every request is refused (see `set_failing_regions`).
    failing_regions: Vec<String>,
    /// Accounts whose every request is refused (see `set_refused_accounts`).
    refused_accounts: Vec<String>,
    latency: Duration,
    requests: Vec<RecordedRequest>,
    log: Option<Box<dyn Write + Send>>,
}

/// Token bucket of capacity `rate` (at least one token) refilled continuously; starts full.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket { rate, tokens: rate.max(1.0), last: Instant::now() }
    }

    /// Takes a token if there is one; a refused request takes nothing, as the service behaves.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// An awsJson error answer.
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { status: 400, code, message: message.into() }
}

impl FakeCloudTrail {
    /// Starts a server on an ephemeral port with these API-shaped events (see [`load_aws_cli_events`]
    /// for the shape). Panics on malformed events or when the loopback socket cannot be bound: it is a
    /// test helper.
    pub fn start(events: Vec<Value>) -> FakeCloudTrail {
        FakeCloudTrail::start_on(events, 0).expect("start the fake CloudTrail server")
    }

    /// Like [`FakeCloudTrail::start`] on a chosen port (0 = any), returning the bind error instead.
    pub fn start_on(events: Vec<Value>, port: u16) -> std::io::Result<FakeCloudTrail> {
        let mut stored: Vec<Stored> = events.into_iter().map(store).collect();
        stored.sort_by(|a, b| b.time.total_cmp(&a.time));
        let shared = Arc::new(Shared {
            events: std::sync::RwLock::new(stored),
            sts: Mutex::new(crate::sts::Sts::default()),
            athena: Mutex::new(crate::athena::Athena::default()),
            organizations: Mutex::new(crate::organizations::Organizations::default()),
            partition_by_region: AtomicBool::new(false),
            partition_by_account: AtomicBool::new(false),
            started: Instant::now(),
            state: Mutex::new(State::default()),
        });

        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let serving = shared.clone();
        let (shutdown, thread) =
            crate::listen::serve(listener, "fake-cloudtrail", move |stream| serve_connection(serving.clone(), stream))?;
        Ok(FakeCloudTrail { addr, shared, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The endpoint URL to give the client, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in the order the server decided on them.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// Limits LookupEvents to `per_second` requests per second (None = unlimited); over it the answer
    /// is `ThrottlingException` (HTTP 400). When partitioned by region, the limit applies to each
    /// region separately, as the service's does. Setting it refills the buckets.
    pub fn set_rate_limit(&self, per_second: Option<f64>) {
        let mut state = self.state();
        state.rate = per_second.filter(|r| *r > 0.0);
        state.buckets.clear();
    }

    /// Partitions the events by region (off by default): a request then sees only the events whose
    /// CloudTrail record has an `awsRegion` equal to the region of its SigV4 credential scope, a
    /// `NextToken` only works in the region that issued it, each region has its own rate limit, and a
    /// request whose region cannot be read is answered 400 `InvalidSignatureException`. Switching
    /// refills the rate-limit buckets.
    pub fn set_partition_by_region(&self, on: bool) {
        let mut state = self.state();
        self.shared.partition_by_region.store(on, Ordering::SeqCst);
        state.buckets.clear();
    }

    /// Partitions the events by account (off by default): a request then sees only the events whose
    /// record's `recipientAccountId` is the account of the key that signed it, and each account has
    /// its own rate limit (each account and region, with [`FakeCloudTrail::set_partition_by_region`]).
    /// Switching refills the rate-limit buckets.
    pub fn set_partition_by_account(&self, on: bool) {
        let mut state = self.state();
        self.shared.partition_by_account.store(on, Ordering::SeqCst);
        state.buckets.clear();
    }

    /// Makes AssumeRole refuse the roles of these accounts (AccessDenied), or none with an empty list.
    pub fn set_refused_roles(&self, accounts: &[&str]) {
        self.sts().refused_roles = accounts.iter().map(|a| a.to_string()).collect();
    }

    /// Answers every n-th AssumeRole from now on with 400 `Throttling` (None: none).
    pub fn set_assume_role_throttle_every(&self, n: Option<u32>) {
        let mut sts = self.sts();
        sts.throttle_assume_every = n.filter(|n| *n > 0);
        sts.assume_seen = 0;
    }

    /// How long the credentials AssumeRole hands out from now on last (an hour unless set).
    pub fn set_role_lifetime(&self, lifetime: Duration) {
        self.sts().role_lifetime = Some(lifetime);
    }

    /// The organisation's accounts for Organizations ListAccounts, as (id, name, status).
    pub fn set_organization(&self, members: &[(&str, &str, &str)]) {
        self.organizations().members = members
            .iter()
            .map(|(id, name, status)| crate::organizations::Member {
                id: id.to_string(),
                name: name.to_string(),
                status: status.to_string(),
            })
            .collect();
    }

    /// Refuses Organizations ListAccounts (AccessDeniedException), or answers it again.
    pub fn set_refuse_organizations(&self, refuse: bool) {
        self.organizations().refuse = refuse;
    }

    /// The `NextToken` of every Organizations call so far, in order (None: a first page).
    pub fn organizations_requests(&self) -> Vec<Option<String>> {
        self.organizations().requests.clone()
    }

    /// The account an access key id belongs to (assumed credentials: their role's account).
    pub fn account_of(&self, access_key_id: &str) -> String {
        self.sts().account_of(access_key_id).to_owned()
    }

    /// Writes one JSON line per request to `log` (None stops logging), in the order the server decided
    /// on them: `{"ms":…,"region":…,"key":…,"target":…,"status":…,"error":…,"events":…}`, with `ms`
    /// the arrival time in milliseconds since the server started, `region` the signing region (or
    /// null), `key` the access key id that signed the request (or null),
    /// `status` 0 for a connection dropped on purpose, `error` the `__type` of an error answer (or
    /// null), and `events` the number of events in a successful answer (or null). Each line is
    /// written with one `write_all` call; give an unbuffered writer (a `File`) to have every line out
    /// even if the process is killed. Write errors stop the logging.
    pub fn set_request_log(&self, log: Option<Box<dyn Write + Send>>) {
        self.state().log = log;
    }

    /// Answers every n-th LookupEvents request (counted from now, among those not throttled) with
    /// HTTP 500 `InternalFailure`; n = 1 fails them all, None turns it off.
    pub fn set_fault_every(&self, n: Option<u32>) {
        let mut state = self.state();
        state.fault_every = n.filter(|n| *n > 0);
        state.faults_seen = 0;
    }

    /// Closes the connection without answering every n-th request (counted from now, all requests).
    pub fn set_drop_every(&self, n: Option<u32>) {
        let mut state = self.state();
        state.drop_every = n.filter(|n| *n > 0);
        state.drops_seen = 0;
    }

    /// Refuses every LookupEvents request signed for one of these regions with HTTP 400
    /// `UnrecognizedClientException`, as the service answers in a region not enabled for the account;
    /// an empty list turns it off.
    pub fn set_failing_regions(&self, regions: &[&str]) {
        self.state().failing_regions = regions.iter().map(|r| r.to_string()).collect();
    }

    /// Refuses every LookupEvents request of these accounts (the account of the signing key) with
    /// HTTP 400 `AccessDeniedException`, as a service control policy denying `cloudtrail:LookupEvents`
    /// does; an empty list turns it off.
    pub fn set_refused_accounts(&self, accounts: &[&str]) {
        self.state().refused_accounts = accounts.iter().map(|a| a.to_string()).collect();
    }

    /// Delays every answer (and every dropped connection) by this much.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Adds events while the server runs, as Event history does when events are delivered late: they
    /// take their place by time (after the events already there at the same time).
    pub fn add_events(&self, events: Vec<Value>) {
        let mut stored = self.shared.events.write().unwrap_or_else(|e| e.into_inner());
        stored.extend(events.into_iter().map(store));
        stored.sort_by(|a, b| b.time.total_cmp(&a.time));
    }

    /// Gives an access key id its own account for STS GetCallerIdentity (others have
    /// [`crate::sts::DEFAULT_ACCOUNT`]).
    pub fn set_account(&self, access_key_id: &str, account: &str) {
        self.sts().accounts.insert(access_key_id.to_owned(), account.to_owned());
    }

    /// Refuses GetCallerIdentity (AccessDenied, HTTP 403), or answers it again.
    pub fn set_refuse_caller_identity(&self, refuse: bool) {
        self.sts().refuse_identity = refuse;
    }

    /// Teaches STS DecodeAuthorizationMessage one encoded message and the JSON document it decodes to;
    /// an unknown message is answered `InvalidAuthorizationMessageException`.
    pub fn add_authorization_message(&self, encoded: &str, decoded: &str) {
        self.sts().messages.insert(encoded.to_owned(), decoded.to_owned());
    }

    /// Refuses DecodeAuthorizationMessage (AccessDenied, HTTP 403), as for credentials without
    /// `sts:DecodeAuthorizationMessage`, or answers it again.
    pub fn set_refuse_decode(&self, refuse: bool) {
        self.sts().refuse_decode = refuse;
    }

    /// Every STS call received so far, in order.
    pub fn sts_requests(&self) -> Vec<crate::sts::StsRequest> {
        self.sts().requests.clone()
    }

    /// Answers Athena calls from now on, running queries with `backend`.
    pub fn set_athena(&self, backend: crate::athena::AthenaBackend) {
        self.athena().backend = Some(backend);
    }

    /// Makes every Athena query started from now on fail with this reason (None: run them again).
    pub fn set_athena_failure(&self, reason: Option<&str>) {
        self.athena().fail_with = reason.map(str::to_owned);
    }

    /// Refuses every n-th Athena call from now on with 400 `TooManyRequestsException` (None: none).
    pub fn set_athena_throttle_every(&self, n: Option<u32>) {
        let mut athena = self.athena();
        athena.throttle_every = n.filter(|n| *n > 0);
        athena.throttle_seen = 0;
    }

    /// Every Athena call received so far, in order.
    pub fn athena_requests(&self) -> Vec<crate::athena::AthenaRequest> {
        self.athena().requests.clone()
    }

    fn athena(&self) -> std::sync::MutexGuard<'_, crate::athena::Athena> {
        self.shared.athena.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn organizations(&self) -> std::sync::MutexGuard<'_, crate::organizations::Organizations> {
        self.shared.organizations.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sts(&self) -> std::sync::MutexGuard<'_, crate::sts::Sts> {
        self.shared.sts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeCloudTrail {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Checks one event and works out its time and category. Accepts EventTime as epoch seconds or an
/// ISO 8601 string (rewritten to epoch seconds, as the API answers).
fn store(mut value: Value) -> Stored {
    let time = match value.get("EventTime") {
        Some(t) => event_time(t).unwrap_or_else(|e| panic!("fake CloudTrail event: {e}: {value}")),
        None => panic!("fake CloudTrail event without EventTime: {value}"),
    };
    value["EventTime"] = epoch_value(time);
    let record =
        value.get("CloudTrailEvent").and_then(Value::as_str).and_then(|s| serde_json::from_str::<Value>(s).ok());
    let field = |name: &str| record.as_ref().and_then(|r| r.get(name)).and_then(Value::as_str);
    let insight = field("eventCategory") == Some("Insight");
    let region = field("awsRegion").map(str::to_string);
    let account = field("recipientAccountId").map(str::to_string);
    Stored { time, insight, region, account, value }
}

async fn serve_connection(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
    // Keep-alive is hyper's default: the SDK pools connections. Errors (including our own drops) just
    // end the connection.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

/// Answers one HTTP request. Returning an error makes hyper close the connection without an answer,
/// which is how `drop_every` breaks connections.
async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let at = Instant::now();
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let target = header("x-amz-target");
    let authorization = header("authorization");
    let signed = authorization.starts_with("AWS4-HMAC-SHA256 ");
    let region = signing_region(&authorization);
    let access_key_id = signing_access_key_id(&authorization);
    let partitioned = shared.partition_by_region.load(Ordering::SeqCst);
    let right_place = request.method() == hyper::Method::POST && request.uri().path() == "/";
    let content_type = header("content-type");
    let bytes = request.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
    if right_place && crate::sts::is_query_call(&content_type, &bytes) {
        let (status, xml) = {
            let mut sts = shared.sts.lock().unwrap_or_else(|e| e.into_inner());
            crate::sts::answer(&mut sts, &bytes, access_key_id.as_deref())
        };
        return Ok(respond(status, "text/xml", xml));
    }
    if let Some(operation) = target.strip_prefix("AmazonAthena.").filter(|_| right_place && signed) {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (status, answer) = {
            let mut athena = shared.athena.lock().unwrap_or_else(|e| e.into_inner());
            crate::athena::answer(&mut athena, operation, &body)
        };
        return Ok(respond(status, CONTENT_TYPE, answer.to_string()));
    }
    if let Some(operation) = target.strip_prefix("AWSOrganizationsV20161128.").filter(|_| right_place && signed) {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (status, answer) = {
            let mut organizations = shared.organizations.lock().unwrap_or_else(|e| e.into_inner());
            crate::organizations::answer(&mut organizations, operation, &body)
        };
        return Ok(respond(status, CONTENT_TYPE, answer.to_string()));
    }
    let body: Option<Value> =
        if bytes.iter().all(u8::is_ascii_whitespace) { Some(json!({})) } else { serde_json::from_slice(&bytes).ok() };
    // Whose Event history the request reads, and whether its credentials are still good.
    let (account, expired) = {
        let sts = shared.sts.lock().unwrap_or_else(|e| e.into_inner());
        let key = access_key_id.as_deref().unwrap_or("AKIDUNKNOWN");
        (sts.account_of(key).to_owned(), sts.expired(key, Instant::now()))
    };
    let by_account = shared.partition_by_account.load(Ordering::SeqCst).then_some(account.as_str());

    // Work the answer out before taking the state lock (events have their own). Partitioned, a request
    // whose region cannot be read is answered by `decide` and never looked up.
    let partition = match (partitioned, &region) {
        (false, _) => Partition::All,
        (true, Some(region)) => Partition::Region(region),
        (true, None) => Partition::Unreadable,
    };
    let answer = {
        let events = shared.events.read().unwrap_or_else(|e| e.into_inner());
        match (&partition, &body) {
            // Never sent: `decide` refuses the request first (unless it drops the connection).
            (Partition::Unreadable, _) => Err(bad("InvalidSignatureException", "no region")),
            (Partition::Region(r), Some(Value::Object(b))) => lookup(&events, b, Some(*r), by_account),
            (Partition::All, Some(Value::Object(b))) => lookup(&events, b, None, by_account),
            _ => Err(bad("SerializationException", "Request body is not a JSON object")),
        }
    };
    let bucket_key = match &partition {
        Partition::Region(r) => r,
        _ => "",
    };
    let bucket_key = match by_account {
        Some(account) => format!("{account}/{bucket_key}"),
        None => bucket_key.to_owned(),
    };
    let check = Checks {
        right_place,
        signed,
        region_readable: !matches!(partition, Partition::Unreadable),
        target: &target,
        bucket_key: &bucket_key,
        region: region.as_deref(),
        account: &account,
        expired,
    };

    let (answer, latency) = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let answer = decide(&mut state, Instant::now(), &check, answer);
        let status = answer.as_ref().map_or(0, |r| match r {
            Ok(_) => 200,
            Err(e) => e.status,
        });
        let error_type = match &answer {
            Some(Err(e)) => Some(e.code.to_string()),
            _ => None,
        };
        if let Some(log) = &mut state.log {
            let events = match &answer {
                Some(Ok(body)) => body.get("Events").and_then(Value::as_array).map(Vec::len),
                _ => None,
            };
            let ms = at.saturating_duration_since(shared.started).as_secs_f64() * 1000.0;
            let line = json!({"ms": (ms * 1000.0).round() / 1000.0, "region": region, "key": access_key_id,
                              "target": target, "status": status, "error": error_type, "events": events});
            if log.write_all(format!("{line}\n").as_bytes()).is_err() {
                state.log = None;
            }
        }
        state.requests.push(RecordedRequest {
            target,
            signed,
            region,
            access_key_id,
            body: body.unwrap_or(Value::Null),
            status,
            error_type,
            at,
        });
        (answer, state.latency)
    };

    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (status, body) = match answer {
        None => return Err(std::io::Error::other("connection dropped on purpose")),
        Some(Ok(body)) => (200, body),
        Some(Err(e)) => (e.status, json!({"__type": e.code, "message": e.message})),
    };
    Ok(respond(status, CONTENT_TYPE, body.to_string()))
}

/// An answer with a request id, as every AWS service sends.
fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id())
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

/// Which events a request may see.
enum Partition<'a> {
    /// Not partitioned by region: every event.
    All,
    /// Partitioned: the events of this region only.
    Region(&'a str),
    /// Partitioned, but the request's region could not be read.
    Unreadable,
}

/// What the protocol checks in [`decide`] look at, besides the state.
struct Checks<'a> {
    right_place: bool,
    signed: bool,
    region_readable: bool,
    target: &'a str,
    /// The token bucket the request draws from.
    bucket_key: &'a str,
    /// The signing region, if it could be read.
    region: Option<&'a str>,
    /// The account of the signing key.
    account: &'a str,
    /// Signed with assumed credentials past their expiry.
    expired: bool,
}

/// The region of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20240722/us-west-2/cloudtrail/aws4_request`), if it has a well-formed one.
fn signing_region(authorization: &str) -> Option<String> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential="))?;
    let scope: Vec<&str> = credential.split('/').collect();
    // The access key id cannot contain '/', so the scope is exactly five parts.
    match scope.as_slice() {
        [key, date, region, service, "aws4_request"]
            if !key.is_empty()
                && date.len() == 8
                && date.bytes().all(|b| b.is_ascii_digit())
                && !service.is_empty()
                && !region.is_empty()
                && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            Some(region.to_string())
        }
        _ => None,
    }
}

/// The access key id of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20240722/us-west-2/cloudtrail/aws4_request`), if it has one.
pub fn signing_access_key_id(authorization: &str) -> Option<String> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential="))?;
    let key = credential.split('/').next()?;
    (!key.is_empty()).then(|| key.to_string())
}

/// Applies the switches and protocol checks in order; None means "drop the connection".
fn decide(
    state: &mut State,
    now: Instant,
    check: &Checks<'_>,
    answer: Result<Value, ApiError>,
) -> Option<Result<Value, ApiError>> {
    if let Some(n) = state.drop_every {
        state.drops_seen += 1;
        if state.drops_seen >= n {
            state.drops_seen = 0;
            return None;
        }
    }
    if !check.right_place {
        return Some(Err(ApiError {
            status: 404,
            code: "UnknownOperationException",
            message: "Only POST / is served".into(),
        }));
    }
    if !check.signed {
        return Some(Err(bad("MissingAuthenticationTokenException", "Missing Authentication Token")));
    }
    if !check.region_readable {
        let message = "Credential should be scoped to a valid region: \
                       Credential=<access key>/<yyyymmdd>/<region>/cloudtrail/aws4_request";
        return Some(Err(bad("InvalidSignatureException", message)));
    }
    let target = check.target;
    if target != TARGET && target != BOTOCORE_TARGET {
        return Some(Err(bad("UnknownOperationException", format!("Unknown operation {target:?}"))));
    }
    if check.expired {
        return Some(Err(bad(crate::sts::EXPIRED_CODE, crate::sts::EXPIRED_MESSAGE)));
    }
    if state.refused_accounts.iter().any(|a| a == check.account) {
        let message = format!(
            "User: arn:aws:iam::{}:user/fake-user is not authorized to perform: cloudtrail:LookupEvents with an \
             explicit deny in a service control policy",
            check.account
        );
        return Some(Err(bad("AccessDeniedException", message)));
    }
    if check.region.is_some_and(|r| state.failing_regions.iter().any(|f| f == r)) {
        return Some(Err(bad("UnrecognizedClientException", "The security token included in the request is invalid.")));
    }
    if let Some(rate) = state.rate {
        let bucket = state.buckets.entry(check.bucket_key.to_string()).or_insert_with(|| Bucket::new(rate));
        if !bucket.take(now) {
            return Some(Err(bad("ThrottlingException", "Rate exceeded")));
        }
    }
    if let Some(n) = state.fault_every {
        state.faults_seen += 1;
        if state.faults_seen >= n {
            state.faults_seen = 0;
            let message = "Internal failure (injected by the fake server)".to_string();
            return Some(Err(ApiError { status: 500, code: "InternalFailure", message }));
        }
    }
    Some(answer)
}

/// One LookupEvents call against the events (newest first): validate, filter, page. With a region,
/// only that region's events are seen and the token is bound to the region; likewise with an account.
fn lookup(
    events: &[Stored],
    body: &Map<String, Value>,
    region: Option<&str>,
    account: Option<&str>,
) -> Result<Value, ApiError> {
    let attribute = lookup_attribute(body.get("LookupAttributes"))?;
    let start = time_field(body, "StartTime")?;
    let end = time_field(body, "EndTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(bad("InvalidTimeRangeException", "Start time must not be after end time"));
        }
    }
    let insight = match body.get("EventCategory") {
        None | Some(Value::Null) => false,
        Some(Value::String(c)) if c == "insight" => true,
        Some(other) => return Err(bad("InvalidEventCategoryException", format!("Invalid EventCategory {other}"))),
    };
    let max = match body.get("MaxResults") {
        None | Some(Value::Null) => 50,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=50) => n as usize,
            _ => return Err(bad("InvalidMaxResultsException", "MaxResults must be between 1 and 50")),
        },
    };
    // The token is bound to everything that selects events, so it cannot be reused with another query
    // (or, partitioned, in another region).
    let mut query = json!({"a": attribute, "s": start, "e": end, "c": insight});
    if let Some(region) = region {
        query["r"] = json!(region);
    }
    if let Some(account) = account {
        query["u"] = json!(account);
    }
    let query = query.to_string();

    // Events are newest first: skip those after the window, stop at the first one before it.
    let mut position = end.map_or(0, |e| events.partition_point(|ev| ev.time > e));
    match body.get("NextToken") {
        None | Some(Value::Null) => {}
        Some(token) => position = position.max(decode_token(token, &query, events.len())?),
    }
    let mut page = Vec::new();
    let mut next = None;
    for (i, event) in events.iter().enumerate().skip(position) {
        if start.is_some_and(|s| event.time < s) {
            break;
        }
        let matches = event.insight == insight
            && region.is_none_or(|r| event.region.as_deref() == Some(r))
            && account.is_none_or(|a| event.account.as_deref() == Some(a))
            && attribute.as_ref().is_none_or(|(k, v)| attribute_matches(&event.value, k, v));
        if matches {
            if page.len() == max {
                next = Some(i);
                break;
            }
            page.push(event.value.clone());
        }
    }
    let mut answer = Map::new();
    answer.insert("Events".into(), Value::Array(page));
    if let Some(p) = next {
        let token = json!({"q": query, "p": p}).to_string();
        answer.insert("NextToken".into(), base64::engine::general_purpose::STANDARD.encode(token).into());
    }
    Ok(Value::Object(answer))
}

/// The one optional lookup attribute as (key, value).
fn lookup_attribute(attributes: Option<&Value>) -> Result<Option<(String, String)>, ApiError> {
    let list = match attributes {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("InvalidLookupAttributesException", "LookupAttributes must be a list")),
    };
    match list.as_slice() {
        [] => Ok(None),
        [one] => {
            let key = one.get("AttributeKey").and_then(Value::as_str);
            let value = one.get("AttributeValue").and_then(Value::as_str);
            match (key, value) {
                (Some(k), Some(v)) if ATTRIBUTE_KEYS.contains(&k) => Ok(Some((k.to_string(), v.to_string()))),
                _ => Err(bad("InvalidLookupAttributesException", format!("Invalid lookup attribute {one}"))),
            }
        }
        _ => Err(bad("InvalidLookupAttributesException", "You can specify only one lookup attribute")),
    }
}

/// Exact, case-sensitive match on the envelope field; resource keys match any element of `Resources`.
fn attribute_matches(event: &Value, key: &str, value: &str) -> bool {
    match key {
        "ResourceType" | "ResourceName" => event
            .get("Resources")
            .and_then(Value::as_array)
            .is_some_and(|rs| rs.iter().any(|r| r.get(key).and_then(Value::as_str) == Some(value))),
        _ => event.get(key).and_then(Value::as_str) == Some(value),
    }
}

/// awsJson sends timestamps as epoch seconds, possibly fractional.
fn time_field(body: &Map<String, Value>, name: &str) -> Result<Option<f64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(bad("SerializationException", format!("{name} must be epoch seconds, not {other}"))),
    }
}

/// The position a token carries, if the token was issued for this query.
fn decode_token(token: &Value, query: &str, len: usize) -> Result<usize, ApiError> {
    let invalid = || bad("InvalidNextTokenException", "Invalid NextToken");
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(token.as_str().ok_or_else(invalid)?).map_err(|_| invalid())?;
    let token: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let position = token.get("p").and_then(Value::as_u64).ok_or_else(invalid)? as usize;
    if token.get("q").and_then(Value::as_str) != Some(query) || position > len {
        return Err(invalid());
    }
    Ok(position)
}

/// A request id in the usual UUID shape.
pub(crate) fn request_id() -> String {
    let n = fastrand::u128(..);
    let h = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// EventTime as epoch seconds, from a number or an ISO 8601 / RFC 3339 string (no offset = UTC).
fn event_time(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad EventTime {n}")),
        Value::String(s) => {
            let parsed = chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .or_else(|_| s.parse::<chrono::NaiveDateTime>().map(|t| t.and_utc()))
                .map_err(|e| format!("bad EventTime {s:?}: {e}"))?;
            Ok(parsed.timestamp() as f64 + f64::from(parsed.timestamp_subsec_nanos()) / 1e9)
        }
        other => Err(format!("bad EventTime {other}")),
    }
}

/// Whole seconds as an integer, as the service usually sends them; otherwise a fraction.
fn epoch_value(seconds: f64) -> Value {
    if seconds.fract() == 0.0 && seconds.abs() < 1e15 {
        Value::from(seconds as i64)
    } else {
        Value::from(seconds)
    }
}

/// Parses saved `aws cloudtrail lookup-events --output json` output (`{"Events":[…]}`, EventTime as an
/// ISO 8601 string such as "2024-07-22T09:00:00+09:00" or as epoch seconds) into API-shaped events
/// with EventTime as epoch seconds, so a real capture can be replayed through the fake.
pub fn load_aws_cli_events(json: &str) -> Result<Vec<Value>, String> {
    let document: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let events =
        document.get("Events").and_then(Value::as_array).ok_or("expected an object with an \"Events\" array")?;
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let mut event = event.clone();
            let object = event.as_object_mut().ok_or(format!("event {i} is not an object"))?;
            let time = object.get("EventTime").ok_or(format!("event {i} has no EventTime"))?;
            let time = event_time(time).map_err(|e| format!("event {i}: {e}"))?;
            object.insert("EventTime".into(), epoch_value(time));
            // Some tools save the record parsed; the API carries it as a string.
            if let Some(record) = object.get_mut("CloudTrailEvent") {
                if !record.is_string() {
                    *record = Value::String(record.to_string());
                }
            }
            Ok(event)
        })
        .collect()
}
