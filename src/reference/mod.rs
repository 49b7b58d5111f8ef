//! The AWS Service Reference: every service prefix and its actions (the eventName values of its
//! CloudTrail event source), for `ctlookup services` and `actions`, for the "did you mean" of a lookup
//! that matched nothing, and for checking the actions `policy` and `denied --policy` write. Read through a cache of a day under the user's cache directory, so that discovery
//! works offline and a lookup never needs the network.
//!
//! Parts: this module decides what is read from where (fresh cache, else a fetch, else a stale copy with a
//! warning); [`cache`] keeps the files; [`http`] fetches over HTTP(S).

mod cache;
mod http;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

use cache::{Cache, CacheFile};
use http::Fetcher;

/// Where the Service Reference lives.
const DEFAULT_URL: &str = "https://servicereference.us-east-1.amazonaws.com/";
/// Overrides [`DEFAULT_URL`] (tests point it at a local server).
const URL_VARIABLE: &str = "CTLOOKUP_SERVICE_REFERENCE_URL";

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

/// The service prefix of one of the known exceptional event sources (`monitoring.amazonaws.com` →
/// `cloudwatch`); None for any other source.
pub fn prefix_of(event_source: &str) -> Option<String> {
    EVENT_SOURCE_EXCEPTIONS.iter().find(|(_, s)| *s == event_source).map(|(p, _)| (*p).to_owned())
}

/// A service prefix and its CloudTrail event source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub prefix: String,
    pub event_source: String,
}

/// The Service Reference, read through its cache.
pub struct Reference {
    cache: Cache,
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

/// What [`Reference::actions_of`] read.
#[derive(Debug, Default)]
pub struct ServiceActions {
    /// Each prefix read (as asked), with its actions.
    pub actions: HashMap<String, Vec<String>>,
    /// The prefixes the list of services does not have.
    pub not_services: Vec<String>,
    /// The prefixes that could not be read: offline and not cached, or not fetched (`problem` says why).
    pub unread: Vec<String>,
    /// Why the first of `unread` could not be fetched; None offline.
    pub problem: Option<String>,
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

impl Reference {
    /// `cache_dir`: where to keep the cache (the user's cache directory, e.g. `~/.cache/ctlookup`);
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
            cache: Cache::new(cache_dir.join("service-reference")),
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

    /// The actions of every service as (event source, action) pairs, fetching what is not freshly cached, a
    /// few services at a time. A service that cannot be fetched and is not cached is left out with a
    /// warning; an error only when none could be read.
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
        let mut pairs = Vec::new();
        for path in self.cache.service_paths() {
            if let Some(cached) = cache::read::<ServiceData>(&path) {
                let source = event_source(&cached.data.service);
                pairs.extend(cached.data.actions.into_iter().map(|a| (source.clone(), a)));
            }
        }
        pairs.sort();
        pairs.dedup();
        pairs
    }

    /// The actions of the services `prefixes` names, to check actions against: from the cache when fresh,
    /// else fetched together and cached (the same cache `actions` fills), each service once; with
    /// `offline`, from the cache only, whatever its age. Never fails: what could not be read is said in
    /// the answer.
    pub fn actions_of(&self, prefixes: &BTreeSet<String>, offline: bool) -> ServiceActions {
        let mut answer = ServiceActions::default();
        let index = if offline {
            cache::read::<Vec<IndexEntry>>(&self.cache.index_path()).map(|file| file.data)
        } else {
            match self.index() {
                Ok(index) => Some(index),
                Err(err) => {
                    answer.unread = prefixes.iter().cloned().collect();
                    answer.problem = Some(format!("{err:#}"));
                    return answer;
                }
            }
        };
        let mut wanted: Vec<(&String, IndexEntry)> = Vec::new();
        for prefix in prefixes {
            let entry = match &index {
                Some(index) => match index.iter().find(|e| e.service.eq_ignore_ascii_case(prefix)) {
                    Some(entry) => entry.clone(),
                    None => {
                        answer.not_services.push(prefix.clone());
                        continue;
                    }
                },
                // Offline without the list of services: the service's own file, if cached.
                None => IndexEntry { service: prefix.to_ascii_lowercase(), url: String::new() },
            };
            wanted.push((prefix, entry));
        }
        if offline {
            for (prefix, entry) in wanted {
                match cache::read::<ServiceData>(&self.cache.service_path(&entry.service)) {
                    Some(file) => {
                        answer.actions.insert(prefix.clone(), file.data.actions);
                    }
                    None => answer.unread.push(prefix.clone()),
                }
            }
            return answer;
        }
        let entries: Vec<&IndexEntry> = wanted.iter().map(|(_, entry)| entry).collect();
        let loaded = self.load(&entries);
        for ((prefix, _), result) in wanted.iter().zip(loaded) {
            match result {
                Ok(actions) => {
                    answer.actions.insert((*prefix).clone(), actions);
                }
                Err(err) => {
                    answer.unread.push((*prefix).clone());
                    answer.problem.get_or_insert_with(|| format!("{err:#}"));
                }
            }
        }
        answer
    }

    /// The event sources of the cached service list, sorted; empty when not cached. Never touches the network.
    pub fn cached_event_sources(&self) -> Vec<String> {
        let Some(cached) = cache::read::<Vec<IndexEntry>>(&self.cache.index_path()) else {
            return Vec::new();
        };
        let mut sources: Vec<String> = cached.data.iter().map(|e| event_source(&e.service)).collect();
        sources.sort();
        sources.dedup();
        sources
    }

    /// The list of services, sorted by prefix, from the cache when fresh.
    fn index(&self) -> Result<Vec<IndexEntry>> {
        let path = self.cache.index_path();
        let cached = cache::read::<Vec<IndexEntry>>(&path);
        if let Some(file) = &cached {
            if self.is_fresh(&path, file, &self.base_url) {
                return Ok(file.data.clone());
            }
        }
        let fetched = self.fetcher().and_then(|f| f.index(&self.base_url));
        self.settle(&path, &self.base_url, cached, fetched)
    }

    /// The actions of each entry, in order: from the cache when fresh, else fetched together.
    fn load(&self, entries: &[&IndexEntry]) -> Vec<Result<Vec<String>>> {
        let mut results: Vec<Option<Result<Vec<String>>>> = Vec::with_capacity(entries.len());
        let mut pending = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let path = self.cache.service_path(&entry.service);
            let cached = cache::read::<ServiceData>(&path);
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
        match self.fetcher() {
            Ok(fetcher) => fetcher.services(urls),
            Err(err) => urls.iter().map(|_| Err(anyhow!("{err:#}"))).collect(),
        }
    }

    /// Fresh: fetched less than a day ago from the same address (or already fetched by this value).
    fn is_fresh<T>(&self, path: &Path, file: &CacheFile<T>, url: &str) -> bool {
        if lock(&self.attempted).contains(path) {
            return true;
        }
        !self.refresh && file.is_fresh_for(url)
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
                let file = CacheFile::fetched_now(url, data);
                if let Err(err) = cache::write(path, &file) {
                    self.warn(format!("cannot write the AWS Service Reference cache: {err:#}"));
                }
                Ok(file.data)
            }
            Err(err) => match cached {
                Some(file) => {
                    self.warn(format!("using the AWS Service Reference as cached {} ago: {err:#}", file.age()));
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
        if let Some(fetcher) = self.fetcher.take() {
            fetcher.shut_down();
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
    let nearest = crate::suggest::nearest(wanted, known.iter().map(String::as_str), 3);
    let hint = if nearest.is_empty() { String::new() } else { format!("did you mean {}? ", nearest.join(", ")) };
    Err(anyhow!(
        "unknown service '{wanted}': not a service prefix or event source in the AWS Service Reference \
         ({hint}`ctlookup services` lists them all)"
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;
    use std::net::TcpListener;
    use std::time::Duration;

    use fake_cloudtrail::http::{Routes, StaticServer};
    use serde_json::{json, Value};

    use cache::unix_now;
    use http::CONCURRENCY;

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
        Routes::from([
            ("/".to_owned(), (200, index.to_string())),
            ("/ec2.json".to_owned(), service("ec2", &["TerminateInstances", "RunInstances", "DescribeInstances"])),
            ("/cloudwatch.json".to_owned(), service("cloudwatch", &["PutMetricAlarm", "DescribeAlarms"])),
            ("/s3.json".to_owned(), service("s3", &["CreateBucket", "PutBucketPolicy"])),
            ("/tag.json".to_owned(), service("tag", &["GetResources", "TagResources"])),
        ])
    }

    fn fixture() -> (StaticServer, tempfile::TempDir) {
        (StaticServer::start(routes), tempfile::tempdir().unwrap())
    }

    fn reference(server: &StaticServer, dir: &tempfile::TempDir, refresh: bool) -> Reference {
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
    fn actions_of_reads_the_services_asked_for_only_and_says_what_it_could_not() {
        let (server, dir) = fixture();
        let asked: BTreeSet<String> = ["ec2", "S3", "nosuch"].iter().map(|s| (*s).to_owned()).collect();
        let read = reference(&server, &dir, false).actions_of(&asked, false);
        assert_eq!(read.actions["ec2"].len(), 3);
        assert_eq!(read.actions["S3"], strings(&["CreateBucket", "PutBucketPolicy"]));
        assert_eq!((read.not_services, read.unread, read.problem), (strings(&["nosuch"]), vec![], None));
        let mut paths = server.paths();
        paths.sort();
        assert_eq!(paths, ["/", "/ec2.json", "/s3.json"]);

        // Offline: the cache only, however old; nothing sent.
        let hits = server.hits();
        age_cache_file(&dir.path().join("service-reference/services/ec2.json"), 3 * 86_400);
        let asked: BTreeSet<String> = ["ec2", "cloudwatch", "nosuch"].iter().map(|s| (*s).to_owned()).collect();
        let read = reference(&server, &dir, false).actions_of(&asked, true);
        assert_eq!(read.actions.keys().collect::<Vec<_>>(), ["ec2"]);
        assert_eq!((read.not_services, read.unread), (strings(&["nosuch"]), strings(&["cloudwatch"])));
        assert_eq!(server.hits(), hits);
        let empty = tempfile::tempdir().unwrap();
        let read = reference(&server, &empty, false).actions_of(&asked, true);
        assert!(read.actions.is_empty() && read.not_services.is_empty(), "no list of services cached: {read:?}");
        assert_eq!(read.unread.len(), 3);

        // A service that cannot be fetched is unread, and the answer says why.
        server.set("/cloudwatch.json", 500, "oops");
        let read = reference(&server, &dir, false).actions_of(&asked, false);
        assert_eq!(read.unread, strings(&["cloudwatch"]));
        assert!(read.problem.as_deref().is_some_and(|p| p.contains("HTTP 500")), "{:?}", read.problem);
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let unreachable = Reference::with_url(empty.path().to_owned(), false, format!("http://{closed}/"));
        let read = unreachable.actions_of(&asked, false);
        assert_eq!(read.unread.len(), 3);
        assert!(read.problem.as_deref().is_some_and(|p| p.contains("could not be reached")), "{:?}", read.problem);
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
        let elsewhere = Reference::with_url(dir.path().to_owned(), false, format!("{}/index", server.url()));
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
        assert!(warned[0].contains("could not be reached") && warned[0].contains(&server.url()), "{warned:?}");
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

        server.set("/", 200, &routes(&server.url())["/"].1);
        server.set("/ec2.json", 200, r#"{"Name": "ec2"}"#);
        let err = format!("{:#}", reference(&server, &dir, false).actions("ec2").unwrap_err());
        assert!(
            err.contains("missing field `Actions`") && err.contains(&format!("{}/ec2.json", server.url())),
            "{err}"
        );
        assert!(!err.contains('\n'));
        assert!(!dir.path().join("service-reference/services/ec2.json").exists(), "a broken answer is not cached");

        // With a cached copy, a broken answer falls back on it, with a warning.
        server.set("/ec2.json", 200, &routes(&server.url())["/ec2.json"].1);
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
        let server = StaticServer::start(|base| {
            let mut routes = Routes::new();
            let mut index = Vec::new();
            for i in 0..20 {
                index.push(json!({"service": format!("svc{i:02}"), "url": format!("{base}/svc{i:02}.json")}));
                routes.insert(format!("/svc{i:02}.json"), service(&format!("svc{i:02}"), &["Get", "Put"]));
            }
            routes.insert("/".to_owned(), (200, Value::Array(index).to_string()));
            routes
        });
        server.set_delay(Duration::from_millis(100));
        let dir = tempfile::tempdir().unwrap();
        let pairs = reference(&server, &dir, false).all_actions().unwrap();
        assert_eq!(pairs.len(), 40);
        assert_eq!(pairs[0], ("svc00.amazonaws.com".to_owned(), "Get".to_owned()));
        let max = server.max_in_flight();
        assert!((2..=CONCURRENCY).contains(&max), "{max} at once");
        assert_eq!(server.in_flight(), 0);
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
    fn redirects_are_followed_relative_to_where_they_come_from() {
        let (server, dir) = fixture();
        let index = json!([{"service": "ec2", "url": "/old/v1/ec2.json"}]);
        server.set("/", 200, &index.to_string());
        server.redirect("/old/v1/ec2.json", 301, "../../new/ec2.json?v=2");
        server.redirect("/new/ec2.json?v=2", 302, "/ec2.json");
        let reference = reference(&server, &dir, false);
        assert_eq!(
            reference.actions("ec2").unwrap(),
            strings(&["DescribeInstances", "RunInstances", "TerminateInstances"])
        );
        assert_eq!(server.paths(), ["/", "/old/v1/ec2.json", "/new/ec2.json?v=2", "/ec2.json"]);
        // Cached under the address the index gave, which is what the next index names again.
        let cached: Value =
            serde_json::from_slice(&fs::read(dir.path().join("service-reference/services/ec2.json")).unwrap()).unwrap();
        assert_eq!(cached["url"], format!("{}/old/v1/ec2.json", server.url()));
    }

    #[test]
    fn endless_or_broken_redirects_are_clear_errors() {
        let (server, dir) = fixture();
        server.redirect("/ec2.json", 307, "/ec2.json");
        let err = format!("{:#}", reference(&server, &dir, false).actions("ec2").unwrap_err());
        assert_eq!(err, format!("the AWS Service Reference at {}/ec2.json redirects too many times", server.url()));
        assert_eq!(server.paths().iter().filter(|p| *p == "/ec2.json").count(), 6, "{:?}", server.paths());

        server.redirect("/s3.json", 302, "http://[::1");
        let err = format!("{:#}", reference(&server, &dir, false).actions("s3").unwrap_err());
        assert!(
            err.starts_with(&format!(
                "the AWS Service Reference at {}/s3.json redirects to an invalid address: ",
                server.url()
            )),
            "{err}"
        );
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
}
