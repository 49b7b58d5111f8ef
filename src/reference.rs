//! The AWS Service Reference (DESIGN §5): every service prefix and its actions, read over HTTP(S) with the
//! SDK's own TLS stack (hyper-rustls, aws-lc-rs, the system's root certificates) and cached for a day under
//! the user's cache directory, so that discovery works offline and a lookup's "did you mean" never needs the
//! network.
//!
//! Cache layout, under `<cache_dir>/service-reference/`: `index.json` (the list of services) and
//! `services/<prefix>.json` (one service's actions), each `{"fetched_at": <unix seconds>, "url": <where it
//! came from>, "data": …}`, written to a temporary file and renamed into place.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, LOCATION, USER_AGENT};
use hyper::{Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Where the Service Reference lives.
const DEFAULT_URL: &str = "https://servicereference.us-east-1.amazonaws.com/";
/// Overrides [`DEFAULT_URL`] (tests point it at a local server).
const URL_VARIABLE: &str = "CTLOOKUP_SERVICE_REFERENCE_URL";
/// How long a cached file is used without asking the service again.
const MAX_AGE_SECS: u64 = 24 * 60 * 60;
/// Per request, redirects and body included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Service files fetched at once.
const CONCURRENCY: usize = 8;
/// The largest answer read (the biggest service files are a few MB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;

/// Service prefixes whose CloudTrail event source is not `<prefix>.amazonaws.com`.
const EVENT_SOURCE_EXCEPTIONS: &[(&str, &str)] = &[
    // Amazon CloudWatch (metrics, alarms, dashboards) records its API calls as monitoring.amazonaws.com.
    ("cloudwatch", "monitoring.amazonaws.com"),
    // Amazon Pinpoint's prefix is mobiletargeting; CloudTrail records its calls as pinpoint.amazonaws.com.
    ("mobiletargeting", "pinpoint.amazonaws.com"),
    // The Resource Groups Tagging API's prefix is tag; CloudTrail records its calls as tagging.amazonaws.com.
    ("tag", "tagging.amazonaws.com"),
];

/// The CloudTrail event source of a service prefix: `<prefix>.amazonaws.com`, but for a few known exceptions.
pub fn event_source(prefix: &str) -> String {
    match EVENT_SOURCE_EXCEPTIONS.iter().find(|(p, _)| *p == prefix) {
        Some((_, source)) => (*source).to_owned(),
        None => format!("{prefix}.amazonaws.com"),
    }
}

/// A service prefix and its CloudTrail event source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub prefix: String,
    pub event_source: String,
}

/// The Service Reference, read through its cache.
pub struct Reference {
    /// `<cache_dir>/service-reference`.
    dir: PathBuf,
    /// Fetch again whatever is asked for, however fresh the cache.
    refresh: bool,
    /// The index's address; the services' addresses come from the index.
    base_url: String,
    /// Cache files this value fetched (or failed to fetch): not fetched again, even under `refresh`.
    attempted: Mutex<HashSet<PathBuf>>,
    /// One warning at most per value.
    warned: AtomicBool,
    /// Created on the first fetch only: a lookup that just reads the cache never starts a runtime.
    fetcher: OnceLock<Fetcher>,
    #[cfg(test)]
    warnings: Mutex<Vec<String>>,
}

/// The index: one service's prefix and the address of its file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    service: String,
    url: String,
}

/// What is cached of one service.
#[derive(Debug, Serialize, Deserialize)]
struct ServiceData {
    service: String,
    actions: Vec<String>,
}

/// A cache file: the data, when and where it was fetched.
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile<T> {
    fetched_at: u64,
    url: String,
    data: T,
}

/// One service's file as published; only the action names are kept.
#[derive(Deserialize)]
struct ServiceDocument {
    #[serde(rename = "Actions")]
    actions: Vec<ActionDocument>,
}

#[derive(Deserialize)]
struct ActionDocument {
    #[serde(rename = "Name")]
    name: String,
}

impl Reference {
    /// `cache_dir`: where to keep the cache (the caller's XDG cache directory, e.g. `~/.cache/ctlookup`);
    /// `refresh`: fetch what is asked for even if the cache is fresh. Touches neither disk nor network.
    pub fn new(cache_dir: PathBuf, refresh: bool) -> Reference {
        let base_url = std::env::var(URL_VARIABLE)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        Reference::with_url(cache_dir, refresh, base_url)
    }

    fn with_url(cache_dir: PathBuf, refresh: bool, base_url: String) -> Reference {
        Reference {
            dir: cache_dir.join("service-reference"),
            refresh,
            base_url,
            attempted: Mutex::new(HashSet::new()),
            warned: AtomicBool::new(false),
            fetcher: OnceLock::new(),
            #[cfg(test)]
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Every service prefix with its CloudTrail event source, sorted by prefix.
    pub fn services(&self) -> Result<Vec<ServiceEntry>> {
        Ok(self
            .index()?
            .into_iter()
            .map(|e| ServiceEntry { event_source: event_source(&e.service), prefix: e.service })
            .collect())
    }

    /// The actions (eventName values) of one service, sorted; `service` is a prefix (`ec2`) or an event
    /// source (`ec2.amazonaws.com`, `monitoring.amazonaws.com`). An unknown service is an error naming the
    /// nearest known ones.
    pub fn actions(&self, service: &str) -> Result<Vec<String>> {
        let index = self.index()?;
        let matched = find(&index, service)?;
        let mut actions = Vec::new();
        for result in self.load(&matched) {
            actions.extend(result?);
        }
        actions.sort();
        actions.dedup();
        Ok(actions)
    }

    /// The actions of every service as (event source, action) pairs, fetching what is not freshly cached,
    /// [`CONCURRENCY`] services at a time. A service that cannot be fetched and is not cached is left out with
    /// a warning; an error only when none could be read.
    pub fn all_actions(&self) -> Result<Vec<(String, String)>> {
        let index = self.index()?;
        let entries: Vec<&IndexEntry> = index.iter().collect();
        let mut pairs = Vec::new();
        let mut failures = Vec::new();
        for (entry, result) in entries.iter().zip(self.load(&entries)) {
            match result {
                Ok(actions) => {
                    let source = event_source(&entry.service);
                    pairs.extend(actions.into_iter().map(|a| (source.clone(), a)));
                }
                Err(err) => failures.push(err),
            }
        }
        if let Some(first) = failures.first() {
            if pairs.is_empty() {
                bail!("{first:#}");
            }
            self.warn(format!("{} services of the AWS Service Reference were left out: {first:#}", failures.len()));
        }
        pairs.sort();
        pairs.dedup();
        Ok(pairs)
    }

    /// The cached actions of every service cached so far, as (event source, action) pairs, sorted; empty when
    /// nothing is cached. Never touches the network, whatever the cache's age.
    pub fn cached_actions(&self) -> Vec<(String, String)> {
        let Ok(files) = fs::read_dir(self.dir.join("services")) else {
            return Vec::new();
        };
        let mut pairs = Vec::new();
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "json") || file.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if let Some(cached) = read_json::<CacheFile<ServiceData>>(&path) {
                let source = event_source(&cached.data.service);
                pairs.extend(cached.data.actions.into_iter().map(|a| (source.clone(), a)));
            }
        }
        pairs.sort();
        pairs.dedup();
        pairs
    }

    /// The event sources of the cached service list, sorted; empty when not cached. Never touches the network.
    pub fn cached_event_sources(&self) -> Vec<String> {
        let Some(cached) = read_json::<CacheFile<Vec<IndexEntry>>>(&self.index_path()) else {
            return Vec::new();
        };
        let mut sources: Vec<String> = cached.data.iter().map(|e| event_source(&e.service)).collect();
        sources.sort();
        sources.dedup();
        sources
    }

    /// The list of services, sorted by prefix, from the cache when fresh.
    fn index(&self) -> Result<Vec<IndexEntry>> {
        let path = self.index_path();
        let cached = read_json::<CacheFile<Vec<IndexEntry>>>(&path);
        if let Some(file) = &cached {
            if self.is_fresh(&path, file, &self.base_url) {
                return Ok(file.data.clone());
            }
        }
        let url = self.base_url.clone();
        let fetched = self
            .fetcher()
            .and_then(|f| f.block_on(fetch_index(f.client.clone(), url.clone()))?.map_err(|err| f.explain(err, &url)));
        self.settle(&path, &url, cached, fetched)
    }

    /// The actions of each entry, in order: from the cache when fresh, else fetched together.
    fn load(&self, entries: &[&IndexEntry]) -> Vec<Result<Vec<String>>> {
        let mut results: Vec<Option<Result<Vec<String>>>> = Vec::with_capacity(entries.len());
        let mut pending = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let path = self.dir.join("services").join(file_name(&entry.service));
            let cached = read_json::<CacheFile<ServiceData>>(&path);
            match cached {
                Some(file) if self.is_fresh(&path, &file, &entry.url) => results.push(Some(Ok(file.data.actions))),
                cached => {
                    results.push(None);
                    pending.push((i, *entry, path, cached));
                }
            }
        }
        if !pending.is_empty() {
            let urls: Vec<String> = pending.iter().map(|(_, entry, _, _)| entry.url.clone()).collect();
            let fetched = self.fetch_services(&urls);
            for ((i, entry, path, cached), result) in pending.into_iter().zip(fetched) {
                let result = result.map(|actions| ServiceData { service: entry.service.clone(), actions });
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(self.settle(&path, &entry.url, cached, result).map(|data| data.actions));
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(anyhow!("internal error: a service was not read"))))
            .collect()
    }

    /// Fetches service files concurrently; one result per address, in order.
    fn fetch_services(&self, urls: &[String]) -> Vec<Result<Vec<String>>> {
        let fetcher = match self.fetcher() {
            Ok(fetcher) => fetcher,
            Err(err) => return urls.iter().map(|_| Err(anyhow!("{err:#}"))).collect(),
        };
        match fetcher.block_on(fetch_many(fetcher.client.clone(), urls.to_vec())) {
            Ok(results) => {
                results.into_iter().zip(urls).map(|(r, url)| r.map_err(|e| fetcher.explain(e, url))).collect()
            }
            Err(err) => urls.iter().map(|_| Err(anyhow!("{err:#}"))).collect(),
        }
    }

    /// Fresh: fetched less than a day ago from the same address (or already fetched by this value).
    fn is_fresh<T>(&self, path: &Path, file: &CacheFile<T>, url: &str) -> bool {
        if lock(&self.attempted).contains(path) {
            return true;
        }
        if self.refresh || file.url != url {
            return false;
        }
        let now = unix_now();
        file.fetched_at <= now && now - file.fetched_at < MAX_AGE_SECS
    }

    /// After a fetch: cache what was fetched, or fall back on the cached copy with a warning, or fail.
    fn settle<T: Serialize>(
        &self,
        path: &Path,
        url: &str,
        cached: Option<CacheFile<T>>,
        fetched: Result<T>,
    ) -> Result<T> {
        lock(&self.attempted).insert(path.to_owned());
        match fetched {
            Ok(data) => {
                let file = CacheFile { fetched_at: unix_now(), url: url.to_owned(), data };
                if let Err(err) = write_json(path, &file) {
                    self.warn(format!("cannot write the AWS Service Reference cache: {err:#}"));
                }
                Ok(file.data)
            }
            Err(err) => match cached {
                Some(file) => {
                    self.warn(format!(
                        "using the AWS Service Reference as cached {} ago: {err:#}",
                        age(unix_now().saturating_sub(file.fetched_at))
                    ));
                    Ok(file.data)
                }
                None => Err(err),
            },
        }
    }

    fn fetcher(&self) -> Result<&Fetcher> {
        if let Some(fetcher) = self.fetcher.get() {
            return Ok(fetcher);
        }
        let fetcher = Fetcher::new()?;
        Ok(self.fetcher.get_or_init(|| fetcher))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn warn(&self, message: String) {
        let message = message.replace('\n', " ");
        #[cfg(test)]
        lock(&self.warnings).push(message.clone());
        if !self.warned.swap(true, Ordering::SeqCst) {
            crate::error::warn(message);
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; shutting it down in the background never does.
        if let Some(Fetcher { client, runtime, .. }) = self.fetcher.take() {
            drop(client);
            runtime.shutdown_background();
        }
    }
}

/// The entries a prefix or event source names: exactly, else ignoring case, else `<prefix>.amazonaws.com`.
fn find<'a>(index: &'a [IndexEntry], wanted: &str) -> Result<Vec<&'a IndexEntry>> {
    let wanted = wanted.trim();
    let lower = wanted.to_lowercase();
    let tiers: [&dyn Fn(&IndexEntry) -> bool; 3] = [
        &|e| e.service == wanted || event_source(&e.service) == wanted,
        &|e| e.service.to_lowercase() == lower || event_source(&e.service).to_lowercase() == lower,
        &|e| lower.strip_suffix(".amazonaws.com").is_some_and(|p| e.service.to_lowercase() == p),
    ];
    for matches in tiers {
        let found: Vec<&IndexEntry> = index.iter().filter(|e| matches(e)).collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    // Suggest event sources for what looks like one, else prefixes.
    let known: Vec<String> = if wanted.contains('.') {
        index.iter().map(|e| event_source(&e.service)).collect()
    } else {
        index.iter().map(|e| e.service.clone()).collect()
    };
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_lowercase()), k))
        .filter(|(score, _)| *score >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    let nearest: Vec<&str> = scored.iter().take(3).map(|(_, k)| k.as_str()).collect();
    let hint = if nearest.is_empty() { String::new() } else { format!("did you mean {}? ", nearest.join(", ")) };
    Err(anyhow!(
        "unknown service '{wanted}': not a service prefix or event source in the AWS Service Reference \
         ({hint}`ctlookup services` lists them all)"
    ))
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A current-thread runtime and an HTTP(S) client on it.
struct Fetcher {
    client: HttpClient,
    runtime: Runtime,
    /// Why no root certificate could be loaded, if so (HTTPS then fails; plain HTTP works).
    roots_error: Option<String>,
}

impl Fetcher {
    fn new() -> Result<Fetcher> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the HTTP client for the AWS Service Reference")?;
        // The crypto provider and root certificates the SDK's default HTTPS client uses.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (builder, roots_error) = match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone())
        {
            Ok(builder) => (builder, None),
            Err(err) => {
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .context("cannot set up TLS for the AWS Service Reference")?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                (HttpsConnectorBuilder::new().with_tls_config(config), Some(err.to_string()))
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Fetcher { client, runtime, roots_error })
    }

    /// Runs a future to completion, on a thread of its own when called inside another runtime (where
    /// `block_on` would panic).
    fn block_on<F>(&self, future: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(self.runtime.block_on(future));
        }
        std::thread::scope(|scope| scope.spawn(|| self.runtime.block_on(future)).join())
            .map_err(|_| anyhow!("internal error: the AWS Service Reference client stopped"))
    }

    /// Adds why HTTPS cannot work, when that is the likely cause.
    fn explain(&self, err: anyhow::Error, url: &str) -> anyhow::Error {
        match &self.roots_error {
            Some(roots) if url.starts_with("https:") => err.context(format!("no trusted root certificates ({roots})")),
            _ => err,
        }
    }
}

async fn fetch_index(client: HttpClient, url: String) -> Result<Vec<IndexEntry>> {
    let mut entries: Vec<IndexEntry> = get_json(&client, &url).await?;
    entries.retain(|e| !e.service.is_empty() && !e.url.is_empty());
    for entry in &mut entries {
        entry.url = resolve(&url, &entry.url);
    }
    entries.sort_by(|a, b| a.service.cmp(&b.service));
    entries.dedup_by(|a, b| a.service == b.service);
    if entries.is_empty() {
        bail!("unexpected answer from the AWS Service Reference at {url}: it lists no services");
    }
    Ok(entries)
}

/// Fetches each service file, [`CONCURRENCY`] at a time; one result per address, in order.
async fn fetch_many(client: HttpClient, urls: Vec<String>) -> Vec<Result<Vec<String>>> {
    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    let count = urls.len();
    for (i, url) in urls.into_iter().enumerate() {
        let (client, semaphore) = (client.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (i, fetch_service(&client, &url).await)
        });
    }
    let mut results: Vec<Option<Result<Vec<String>>>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, result)) = joined {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(anyhow!("internal error: a fetch did not finish")))).collect()
}

async fn fetch_service(client: &HttpClient, url: &str) -> Result<Vec<String>> {
    let document: ServiceDocument = get_json(client, url).await?;
    let mut actions: Vec<String> = document.actions.into_iter().map(|a| a.name).filter(|n| !n.is_empty()).collect();
    actions.sort();
    actions.dedup();
    Ok(actions)
}

/// GETs a JSON document: an error naming the address when it cannot be reached in time, answers an HTTP
/// error, or is not the expected JSON.
async fn get_json<T: DeserializeOwned>(client: &HttpClient, url: &str) -> Result<T> {
    let body = match tokio::time::timeout(TIMEOUT, get(client, url)).await {
        Ok(body) => body?,
        Err(_) => {
            bail!("the AWS Service Reference could not be reached at {url}: no answer within {} s", TIMEOUT.as_secs())
        }
    };
    serde_json::from_slice(&body).map_err(|err| {
        anyhow!("unexpected answer from the AWS Service Reference at {url}: not the expected JSON ({err})")
    })
}

async fn get(client: &HttpClient, url: &str) -> Result<Bytes> {
    let mut current = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let uri: Uri =
            current.parse().with_context(|| format!("invalid address for the AWS Service Reference: {current}"))?;
        let request = Request::get(uri)
            .header(USER_AGENT, concat!("ctlookup/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "application/json")
            .body(Empty::new())
            .with_context(|| format!("invalid address for the AWS Service Reference: {current}"))?;
        let response = client.request(request).await.map_err(|err| {
            anyhow::Error::new(err).context(format!("the AWS Service Reference could not be reached at {current}"))
        })?;
        let status = response.status();
        if status.is_redirection() {
            if let Some(location) = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()) {
                current = resolve(&current, location);
                continue;
            }
        }
        if !status.is_success() {
            bail!("the AWS Service Reference at {current} answered HTTP {status}");
        }
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|err| anyhow!("cannot read the answer of the AWS Service Reference at {current}: {err}"))?;
        return Ok(body.to_bytes());
    }
    bail!("the AWS Service Reference at {url} redirects too many times")
}

/// `reference` (absolute, `//host/…`, `/path` or relative) as an absolute address, relative to `base`.
fn resolve(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    if let Some(rest) = reference.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if reference.starts_with('/') {
        return format!("{scheme}://{authority}{reference}");
    }
    let directory = path.rfind('/').and_then(|i| path.get(..=i)).unwrap_or("/");
    format!("{scheme}://{authority}{directory}{reference}")
}

/// A safe file name for a service prefix: lowercase letters, digits and `-` kept, anything else `_xx`.
fn file_name(prefix: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 5);
    for byte in prefix.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' {
            name.push(char::from(byte));
        } else {
            let _ = write!(name, "_{byte:02x}");
        }
    }
    name.push_str(".json");
    name
}

/// A cache file, or `None` when missing or unreadable.
fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Writes a temporary file next to `path` and renames it into place.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = serde_json::to_vec(value)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display())))
        .and_then(|()| fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display())));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::AtomicUsize;
    use std::thread::JoinHandle;

    use serde_json::{json, Value};

    type Routes = HashMap<String, (u16, String)>;

    /// A local stand-in for the Service Reference: a thread per connection, so that concurrency shows.
    struct Server {
        url: String,
        routes: Arc<Mutex<Routes>>,
        hits: Arc<Mutex<Vec<String>>>,
        in_flight: Arc<AtomicUsize>,
        max_in_flight: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(routes: impl FnOnce(&str) -> Routes, delay: Duration) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let routes = Arc::new(Mutex::new(routes(&url)));
            let hits = Arc::new(Mutex::new(Vec::new()));
            let in_flight = Arc::new(AtomicUsize::new(0));
            let max_in_flight = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let shared = (routes.clone(), hits.clone(), in_flight.clone(), max_in_flight.clone(), stop.clone());
            let thread = std::thread::spawn(move || {
                let (routes, hits, in_flight, max_in_flight, stop) = shared;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (routes, hits, in_flight, max_in_flight) =
                        (routes.clone(), hits.clone(), in_flight.clone(), max_in_flight.clone());
                    std::thread::spawn(move || {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        max_in_flight.fetch_max(now, Ordering::SeqCst);
                        answer(stream, &routes, &hits, delay);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            });
            Server { url, routes, hits, in_flight, max_in_flight, stop, thread: Some(thread) }
        }

        fn hits(&self) -> usize {
            self.hits.lock().unwrap().len()
        }

        fn paths(&self) -> Vec<String> {
            self.hits.lock().unwrap().clone()
        }

        fn set(&self, path: &str, status: u16, body: &str) {
            self.routes.lock().unwrap().insert(path.to_owned(), (status, body.to_owned()));
        }

        fn base(&self) -> String {
            format!("{}/", self.url)
        }

        /// Stops accepting and closes the port.
        fn stop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
            if let Some(thread) = self.thread.take() {
                thread.join().unwrap();
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop();
        }
    }

    fn answer(stream: TcpStream, routes: &Mutex<Routes>, hits: &Mutex<Vec<String>>, delay: Duration) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut header = String::new();
        while reader.read_line(&mut header).map(|n| n > 2).unwrap_or(false) {
            header.clear();
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        hits.lock().unwrap().push(path.clone());
        std::thread::sleep(delay);
        let (status, body) = routes.lock().unwrap().get(&path).cloned().unwrap_or((404, "not found".to_owned()));
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn service(name: &str, actions: &[&str]) -> (u16, String) {
        let actions: Vec<Value> = actions.iter().map(|a| json!({"Name": a, "ActionConditionKeys": []})).collect();
        (200, json!({"Name": name, "Actions": actions, "Version": "v1.4"}).to_string())
    }

    fn routes(base: &str) -> Routes {
        let index = json!([
            {"service": "s3", "url": format!("{base}/s3.json")},
            {"service": "ec2", "url": format!("{base}/ec2.json")},
            {"service": "cloudwatch", "url": format!("{base}/cloudwatch.json")},
            {"service": "tag", "url": "/tag.json"},
        ]);
        HashMap::from([
            ("/".to_owned(), (200, index.to_string())),
            ("/ec2.json".to_owned(), service("ec2", &["TerminateInstances", "RunInstances", "DescribeInstances"])),
            ("/cloudwatch.json".to_owned(), service("cloudwatch", &["PutMetricAlarm", "DescribeAlarms"])),
            ("/s3.json".to_owned(), service("s3", &["CreateBucket", "PutBucketPolicy"])),
            ("/tag.json".to_owned(), service("tag", &["GetResources", "TagResources"])),
        ])
    }

    fn fixture() -> (Server, tempfile::TempDir) {
        (Server::start(routes, Duration::ZERO), tempfile::tempdir().unwrap())
    }

    fn reference(server: &Server, dir: &tempfile::TempDir, refresh: bool) -> Reference {
        Reference::with_url(dir.path().to_owned(), refresh, server.base())
    }

    fn warnings(reference: &Reference) -> Vec<String> {
        reference.warnings.lock().unwrap().clone()
    }

    /// Moves the fetch time of a cache file `secs` into the past.
    fn age_cache_file(path: &Path, secs: u64) {
        let mut file: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        file["fetched_at"] = json!(unix_now() - secs);
        fs::write(path, file.to_string()).unwrap();
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn event_sources_follow_the_prefix_but_for_known_exceptions() {
        assert_eq!(event_source("ec2"), "ec2.amazonaws.com");
        assert_eq!(event_source("cloudwatch"), "monitoring.amazonaws.com");
        assert_eq!(event_source("mobiletargeting"), "pinpoint.amazonaws.com");
        assert_eq!(event_source("tag"), "tagging.amazonaws.com");
        assert_eq!(event_source("ses"), "ses.amazonaws.com");
        assert_eq!(event_source("elasticloadbalancing"), "elasticloadbalancing.amazonaws.com");
    }

    #[test]
    fn services_are_listed_with_their_event_sources() {
        let (server, dir) = fixture();
        let services = reference(&server, &dir, false).services().unwrap();
        let listed: Vec<(&str, &str)> = services.iter().map(|s| (s.prefix.as_str(), s.event_source.as_str())).collect();
        assert_eq!(
            listed,
            [
                ("cloudwatch", "monitoring.amazonaws.com"),
                ("ec2", "ec2.amazonaws.com"),
                ("s3", "s3.amazonaws.com"),
                ("tag", "tagging.amazonaws.com"),
            ]
        );
        assert_eq!(server.paths(), ["/"]);
    }

    #[test]
    fn actions_by_prefix_or_event_source() {
        let (server, dir) = fixture();
        let reference = reference(&server, &dir, false);
        let ec2 = strings(&["DescribeInstances", "RunInstances", "TerminateInstances"]);
        assert_eq!(reference.actions("ec2").unwrap(), ec2);
        assert_eq!(reference.actions("ec2.amazonaws.com").unwrap(), ec2);
        assert_eq!(reference.actions(" EC2 ").unwrap(), ec2);
        assert_eq!(
            reference.actions("monitoring.amazonaws.com").unwrap(),
            strings(&["DescribeAlarms", "PutMetricAlarm"])
        );
        assert_eq!(
            reference.actions("cloudwatch.amazonaws.com").unwrap(),
            strings(&["DescribeAlarms", "PutMetricAlarm"])
        );
        // The index's relative address is taken relative to the index.
        assert_eq!(reference.actions("tagging.amazonaws.com").unwrap(), strings(&["GetResources", "TagResources"]));
        assert_eq!(server.paths(), ["/", "/ec2.json", "/cloudwatch.json", "/tag.json"]);
        assert!(warnings(&reference).is_empty());
    }

    #[test]
    fn an_unknown_service_names_the_nearest() {
        let (server, dir) = fixture();
        let reference = reference(&server, &dir, false);
        let err = format!("{:#}", reference.actions("ec3").unwrap_err());
        assert!(err.contains("unknown service 'ec3'") && err.contains("did you mean ec2"), "{err}");
        let err = format!("{:#}", reference.actions("monitoring.amazonaws.co").unwrap_err());
        assert!(err.contains("did you mean monitoring.amazonaws.com"), "{err}");
        let err = format!("{:#}", reference.actions("zzzzzz").unwrap_err());
        assert!(err.contains("`ctlookup services` lists them all") && !err.contains("did you mean"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn the_cache_answers_again_and_without_the_server() {
        let (mut server, dir) = fixture();
        let first = reference(&server, &dir, false);
        let services = first.services().unwrap();
        let actions = first.actions("ec2").unwrap();
        let hits = server.hits();
        assert_eq!(hits, 2);

        let second = reference(&server, &dir, false);
        assert_eq!(second.services().unwrap(), services);
        assert_eq!(second.actions("ec2").unwrap(), actions);
        assert_eq!(server.hits(), hits, "the second read comes from the cache");

        server.stop();
        let offline = reference(&server, &dir, false);
        assert_eq!(offline.services().unwrap(), services);
        assert_eq!(offline.actions("ec2.amazonaws.com").unwrap(), actions);
        assert!(warnings(&offline).is_empty(), "a fresh cache needs no network, so no warning");
        assert_eq!(
            offline.cached_event_sources(),
            strings(&["ec2.amazonaws.com", "monitoring.amazonaws.com", "s3.amazonaws.com", "tagging.amazonaws.com"])
        );
        let pairs = offline.cached_actions();
        assert_eq!(pairs.len(), 3);
        assert!(pairs.contains(&("ec2.amazonaws.com".to_owned(), "RunInstances".to_owned())));
        // An action of a service not yet fetched is not cached, and is not fetched for this.
        assert!(!pairs.iter().any(|(_, a)| a == "CreateBucket"));
    }

    #[test]
    fn cached_names_are_empty_without_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let reference = Reference::with_url(dir.path().join("none"), false, "http://127.0.0.1:9/".to_owned());
        assert!(reference.cached_actions().is_empty());
        assert!(reference.cached_event_sources().is_empty());
        assert!(reference.fetcher.get().is_none(), "reading the cache starts no client");
    }

    #[test]
    fn a_day_old_cache_is_fetched_again() {
        let (server, dir) = fixture();
        reference(&server, &dir, false).actions("ec2").unwrap();
        let index = dir.path().join("service-reference/index.json");
        let ec2 = dir.path().join("service-reference/services/ec2.json");
        age_cache_file(&index, 23 * 3600);
        age_cache_file(&ec2, 23 * 3600);
        reference(&server, &dir, false).actions("ec2").unwrap();
        assert_eq!(server.hits(), 2, "23 hours old is still fresh");

        age_cache_file(&index, 25 * 3600);
        reference(&server, &dir, false).actions("ec2").unwrap();
        assert_eq!(server.paths(), ["/", "/ec2.json", "/"], "only the stale file is fetched");
        age_cache_file(&ec2, 25 * 3600);
        reference(&server, &dir, false).actions("ec2").unwrap();
        assert_eq!(server.paths(), ["/", "/ec2.json", "/", "/ec2.json"]);

        // A cache from another address is not fresh (and is still better than nothing).
        let elsewhere = Reference::with_url(dir.path().to_owned(), false, format!("{}/index", server.url));
        assert_eq!(elsewhere.services().unwrap().len(), 4);
        assert_eq!(server.hits(), 5, "/index is asked for");
        assert!(warnings(&elsewhere)[0].contains("answered HTTP 404"), "{:?}", warnings(&elsewhere));
    }

    #[test]
    fn a_stale_cache_is_used_offline_with_one_warning() {
        let (mut server, dir) = fixture();
        reference(&server, &dir, false).actions("ec2").unwrap();
        age_cache_file(&dir.path().join("service-reference/index.json"), 3 * 86_400);
        age_cache_file(&dir.path().join("service-reference/services/ec2.json"), 3 * 86_400);
        server.stop();
        let offline = reference(&server, &dir, false);
        assert_eq!(
            offline.actions("ec2").unwrap(),
            strings(&["DescribeInstances", "RunInstances", "TerminateInstances"])
        );
        let warned = warnings(&offline);
        assert_eq!(warned.len(), 2, "{warned:?}");
        assert!(warned[0].starts_with("using the AWS Service Reference as cached 3 days ago: "), "{warned:?}");
        assert!(warned[0].contains("could not be reached") && warned[0].contains(&server.url), "{warned:?}");
        assert!(offline.warned.load(Ordering::SeqCst), "printed once");
        // What failed once is not tried again by the same value.
        offline.actions("ec2").unwrap();
        assert_eq!(warnings(&offline).len(), 2);
    }

    #[test]
    fn refresh_fetches_again_once() {
        let (server, dir) = fixture();
        reference(&server, &dir, false).actions("ec2").unwrap();
        assert_eq!(server.hits(), 2);
        let refreshing = reference(&server, &dir, true);
        refreshing.services().unwrap();
        refreshing.actions("ec2").unwrap();
        refreshing.actions("ec2").unwrap();
        assert_eq!(server.paths(), ["/", "/ec2.json", "/", "/ec2.json"]);
    }

    #[test]
    fn a_broken_answer_is_a_clear_error() {
        let (server, dir) = fixture();
        server.set("/", 200, "<html>oops</html>");
        let err = format!("{:#}", reference(&server, &dir, false).services().unwrap_err());
        assert!(err.contains("not the expected JSON") && err.contains(&server.base()), "{err}");

        server.set("/", 200, r#"{"services": []}"#);
        let err = format!("{:#}", reference(&server, &dir, false).services().unwrap_err());
        assert!(err.contains("not the expected JSON") && err.contains(&server.base()), "{err}");

        server.set("/", 200, "[]");
        let err = format!("{:#}", reference(&server, &dir, false).services().unwrap_err());
        assert!(err.contains("lists no services"), "{err}");

        server.set("/", 500, "internal error");
        let err = format!("{:#}", reference(&server, &dir, false).services().unwrap_err());
        assert!(err.contains("answered HTTP 500") && err.contains(&server.base()), "{err}");

        server.set("/", 200, &routes(&server.url)["/"].1);
        server.set("/ec2.json", 200, r#"{"Name": "ec2"}"#);
        let err = format!("{:#}", reference(&server, &dir, false).actions("ec2").unwrap_err());
        assert!(err.contains("missing field `Actions`") && err.contains(&format!("{}/ec2.json", server.url)), "{err}");
        assert!(!err.contains('\n'));
        assert!(!dir.path().join("service-reference/services/ec2.json").exists(), "a broken answer is not cached");

        // With a cached copy, a broken answer falls back on it, with a warning.
        server.set("/ec2.json", 200, &routes(&server.url)["/ec2.json"].1);
        reference(&server, &dir, false).actions("ec2").unwrap();
        server.set("/ec2.json", 503, "busy");
        let refreshing = reference(&server, &dir, true);
        assert_eq!(refreshing.actions("ec2").unwrap().len(), 3);
        assert!(warnings(&refreshing).iter().any(|w| w.contains("answered HTTP 503")), "{:?}", warnings(&refreshing));
    }

    #[test]
    fn offline_without_a_cache_is_a_clear_error() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{closed}/");
        let reference = Reference::with_url(dir.path().to_owned(), false, url.clone());
        let err = format!("{:#}", reference.services().unwrap_err());
        assert!(err.starts_with(&format!("the AWS Service Reference could not be reached at {url}: ")), "{err}");
        assert!(!err.contains('\n'));
        let err = format!("{:#}", reference.actions("ec2").unwrap_err());
        assert!(err.contains("could not be reached"), "{err}");
        assert!(warnings(&reference).is_empty());
    }

    #[test]
    fn all_services_are_fetched_concurrently_within_the_bound() {
        let server = Server::start(
            |base| {
                let mut routes = Routes::new();
                let mut index = Vec::new();
                for i in 0..20 {
                    index.push(json!({"service": format!("svc{i:02}"), "url": format!("{base}/svc{i:02}.json")}));
                    routes.insert(format!("/svc{i:02}.json"), service(&format!("svc{i:02}"), &["Get", "Put"]));
                }
                routes.insert("/".to_owned(), (200, Value::Array(index).to_string()));
                routes
            },
            Duration::from_millis(100),
        );
        let dir = tempfile::tempdir().unwrap();
        let pairs = reference(&server, &dir, false).all_actions().unwrap();
        assert_eq!(pairs.len(), 40);
        assert_eq!(pairs[0], ("svc00.amazonaws.com".to_owned(), "Get".to_owned()));
        let max = server.max_in_flight.load(Ordering::SeqCst);
        assert!((2..=CONCURRENCY).contains(&max), "{max} at once");
        assert_eq!(server.in_flight.load(Ordering::SeqCst), 0);
        assert_eq!(server.hits(), 21);
        assert_eq!(reference(&server, &dir, false).cached_actions(), pairs);
        reference(&server, &dir, false).all_actions().unwrap();
        assert_eq!(server.hits(), 21, "all cached");
    }

    #[test]
    fn all_actions_leaves_out_a_broken_service_with_a_warning() {
        let (server, dir) = fixture();
        server.set("/s3.json", 500, "oops");
        let reference = reference(&server, &dir, false);
        let pairs = reference.all_actions().unwrap();
        assert_eq!(pairs.len(), 7);
        assert!(warnings(&reference)[0].starts_with("1 services of the AWS Service Reference were left out"));
    }

    #[test]
    fn it_works_inside_another_runtime() {
        let (server, dir) = fixture();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let reference = reference(&server, &dir, false);
            assert_eq!(reference.actions("s3").unwrap(), strings(&["CreateBucket", "PutBucketPolicy"]));
            drop(reference);
        });
    }

    #[test]
    fn addresses_resolve_against_the_index() {
        let base = "http://127.0.0.1:8080/v1/index.json?x=1";
        assert_eq!(resolve(base, "https://a.example/b.json"), "https://a.example/b.json");
        assert_eq!(resolve(base, "//b.example/c.json"), "http://b.example/c.json");
        assert_eq!(resolve(base, "/ec2.json"), "http://127.0.0.1:8080/ec2.json");
        assert_eq!(resolve(base, "ec2/ec2.json"), "http://127.0.0.1:8080/v1/ec2/ec2.json");
        assert_eq!(resolve("http://127.0.0.1:8080", "ec2.json"), "http://127.0.0.1:8080/ec2.json");
    }

    #[test]
    fn cache_file_names_are_safe() {
        assert_eq!(file_name("ec2"), "ec2.json");
        assert_eq!(file_name("s3-object-lambda"), "s3-object-lambda.json");
        assert_eq!(file_name("../Evil/x"), "_2e_2e_2f_45vil_2fx.json");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(30), "30 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(5 * 3600), "5 h");
        assert_eq!(age(3 * 86_400 + 5), "3 days");
    }
}
