//! S3 for trails read in place: a client per bucket in the bucket's own region, delimiter listings with
//! a cap on pages, whole objects fetched with retries in their order, a bounded number ahead of the
//! reading threads, on a thread of their own, and what a refusal is said as (the permission and the
//! prefix).
//! CloudTrail `GetTrail` for `--trail` is here too. Callers see keys, sizes and bytes, never an SDK type.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_config::retry::RetryConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;

use super::Connection;
use crate::text::printable;

/// Pages of one listing at most (1,000 keys a page): a prefix with more is an error, not a hang.
const MAX_PAGES: usize = 10_000;

/// Clients of the buckets of a run, each in its bucket's region.
#[derive(Clone)]
pub struct Buckets {
    clients: HashMap<String, Client>,
    retries: u32,
    read_timeout: Duration,
}

/// What a delimiter listing found: sub-prefixes (ending in `/`), and objects with their sizes.
pub type Listed = (Vec<String>, Vec<(String, u64)>);

/// A trail's bucket and key prefix, as `GetTrail` says.
pub struct TrailPlace {
    pub bucket: String,
    pub prefix: String,
    pub organization: bool,
}

impl Buckets {
    /// Clients for `buckets`: the region of each asked with HeadBucket (S3 says it even when it refuses).
    pub async fn connect(connection: &Connection, retries: u32, buckets: &[String]) -> Result<Buckets> {
        if let Some(profile) = &connection.profile {
            super::check_profile(profile).await?;
        }
        let mut clients = HashMap::new();
        let (sdk_config, region) = match super::load_sdk_config(connection).await {
            Ok(loaded) => loaded,
            Err(_) => super::load_sdk_config(&connection.in_region(Some("us-east-1"))).await?,
        };
        // S3-compatible stores (an endpoint set) are addressed by path: no bucket names in host names.
        let endpoint = connection.endpoint_url.is_some()
            || ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().any(|v| std::env::var_os(v).is_some());
        let retry = RetryConfig::standard().with_max_attempts(retries + 1);
        let client_in = |region: &str| {
            let mut builder = aws_sdk_s3::config::Builder::from(&sdk_config)
                .region(aws_config::Region::new(region.to_owned()))
                .retry_config(retry.clone())
                .force_path_style(endpoint);
            if connection.profile.is_some() {
                builder.set_credentials_provider(super::credentials_provider(connection, &sdk_config));
            }
            Client::from_conf(builder.build())
        };
        for bucket in buckets {
            if clients.contains_key(bucket) {
                continue;
            }
            let first = client_in(&region);
            let home = match first.head_bucket().bucket(bucket).send().await {
                Ok(head) => head.bucket_region().map(str::to_owned),
                Err(err) => {
                    let said =
                        err.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_owned);
                    if said.is_none() {
                        if let Some(code) = err.code() {
                            if code == "NotFound" || code == "NoSuchBucket" {
                                return Err(anyhow!("s3://{bucket}: no such bucket"));
                            }
                        }
                        if err.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                            return Err(anyhow!("s3://{bucket}: no such bucket"));
                        }
                    }
                    said
                }
            };
            let client = match home {
                Some(home) if home != region => client_in(&home),
                _ => first,
            };
            clients.insert(bucket.clone(), client);
        }
        Ok(Buckets { clients, retries, read_timeout: connection.read_timeout })
    }

    fn client(&self, bucket: &str) -> &Client {
        self.clients.get(bucket).expect("every bucket was connected")
    }

    /// One level below `prefix` (`delimiter=/`), or with `delimiter` false every key below it.
    pub async fn list(&self, bucket: &str, prefix: &str, delimiter: bool) -> Result<Listed> {
        let mut prefixes = Vec::new();
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request = self.client(bucket).list_objects_v2().bucket(bucket).prefix(prefix);
            if delimiter {
                request = request.delimiter("/");
            }
            if let Some(token) = &token {
                request = request.continuation_token(token);
            }
            let page = request.send().await.map_err(|err| {
                let why = said(&err);
                if is_denied(&err) {
                    anyhow!(
                        "s3://{bucket}/{prefix}: access denied listing it ({why}); reading a trail in place needs \
                         s3:ListBucket on arn:aws:s3:::{bucket} for the prefix '{prefix}' (condition s3:prefix)"
                    )
                } else {
                    anyhow!("s3://{bucket}/{prefix}: cannot be listed ({why})")
                }
            })?;
            prefixes.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
            objects.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(|k| (k.to_owned(), o.size().unwrap_or(0).max(0) as u64))),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok((prefixes, objects)),
            }
        }
        Err(anyhow!("s3://{bucket}/{prefix}: more than {MAX_PAGES} pages of listing; give a narrower prefix or window"))
    }

    /// One level below each of `prefixes`, `concurrency` listings at a time; the answers in their order.
    pub async fn list_levels(
        self: &Arc<Self>,
        bucket: &str,
        prefixes: &[String],
        concurrency: usize,
    ) -> Vec<Result<Listed>> {
        let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, prefix) in prefixes.iter().enumerate() {
            let (buckets, bucket, prefix, slots) = (self.clone(), bucket.to_owned(), prefix.clone(), slots.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                (index, buckets.list(&bucket, &prefix, true).await)
            });
        }
        let mut answers: Vec<Option<Result<Listed>>> = prefixes.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, answer)) => answers[index] = Some(answer),
                Err(err) => return vec![Err(anyhow!("a listing task failed: {err}"))],
            }
        }
        answers.into_iter().map(|a| a.unwrap_or_else(|| Err(anyhow!("a listing was not answered")))).collect()
    }

    /// Streams an object into `chunks` as it comes. A body that breaks off or stalls for the read
    /// timeout is asked again from where it broke (a range request, on the same version: `If-Match` its
    /// ETag), up to the retries; the SDK retries each request itself (5xx, throttling and SlowDown,
    /// broken connections, timeouts). A failure is the last item.
    async fn stream(&self, bucket: &str, key: &str, chunks: &Chunks) {
        let mut offset = 0u64;
        let mut etag: Option<String> = None;
        let mut attempt = 0;
        loop {
            let mut request = self.client(bucket).get_object().bucket(bucket).key(key);
            if offset > 0 {
                request = request.range(format!("bytes={offset}-")).set_if_match(etag.clone());
            }
            let mut answer = match request.send().await {
                Ok(answer) => answer,
                Err(err) => {
                    let _ = chunks.send(Err(get_failed(&err, bucket, key)));
                    return;
                }
            };
            if etag.is_none() {
                etag = answer.e_tag().map(str::to_owned);
            }
            let why = loop {
                match tokio::time::timeout(self.read_timeout, answer.body.next()).await {
                    Ok(None) => return,
                    Ok(Some(Ok(bytes))) => {
                        offset += bytes.len() as u64;
                        if chunks.send(Ok(bytes.to_vec())).is_err() {
                            // The reader stopped (enough events, a bad spot in the file): nothing more is wanted.
                            return;
                        }
                    }
                    Ok(Some(Err(err))) => {
                        break format!("the download broke off: {}", printable(&err.to_string(), 200))
                    }
                    Err(_) => break format!("the download stalled for {} s", self.read_timeout.as_secs_f64()),
                }
            };
            if attempt >= self.retries {
                let _ = chunks.send(Err(format!("{why}, {} attempts", attempt + 1)));
                return;
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
        }
    }
}

fn get_failed<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
    bucket: &str,
    key: &str,
) -> String {
    if is_denied(err) {
        format!(
            "access denied ({}): reading it needs s3:GetObject on arn:aws:s3:::{bucket}/{key}, and kms:Decrypt on \
             the trail's key when it is encrypted with SSE-KMS",
            said(err)
        )
    } else {
        format!("cannot be fetched: {}", said(err))
    }
}

/// Where a download puts what came: unbounded, so that a download never waits for its reader (the
/// fetcher starts at most `concurrency` downloads ahead of the objects taken: that bounds the memory).
type Chunks = tokio::sync::mpsc::UnboundedSender<Result<Vec<u8>, String>>;

/// An object as it is downloaded, read by a reading thread.
pub struct ObjectReader {
    chunks: Received,
    chunk: Vec<u8>,
    at: usize,
    /// Bytes read so far.
    pub read: u64,
}

impl std::io::Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Some(Err(why)) => return Err(std::io::Error::other(why)),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.read += n as u64;
        Ok(n)
    }
}

fn is_denied<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("AccessDenied")
        || matches!(err, SdkError::ServiceError(s) if s.err().code() == Some("AccessDenied"))
}

fn said<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(err: &SdkError<E, R>) -> String {
    let text = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
    };
    printable(&text, 300)
}

/// Fetches the objects of a read in their order, on a thread of its own that drives the requests on the
/// process's runtime: up to `concurrency` downloads run ahead of the objects the reading threads have
/// taken, so that the network is kept busy however few reading threads inflate what came (they are as
/// many as for files: the work is the CPUs'). What is downloaded ahead is held until its reader takes it:
/// at most `concurrency` objects, never the tree.
pub struct Fetcher {
    started: Arc<Started>,
    /// Dropped when the run ends: the fetching thread starts nothing more and aborts what still runs.
    stop: Option<tokio::sync::watch::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The downloads started and not yet taken by their readers, by their place in the order.
struct Started {
    state: std::sync::Mutex<Ready>,
    changed: std::sync::Condvar,
    /// One a download may start: taken by each download started, given back by each object taken.
    slots: tokio::sync::Semaphore,
}

#[derive(Default)]
struct Ready {
    objects: HashMap<usize, Received>,
    /// The fetching thread has ended: an object not started by then never will be.
    ended: bool,
}

type Received = tokio::sync::mpsc::UnboundedReceiver<Result<Vec<u8>, String>>;

/// Says the fetching thread's end to readers waiting for objects, however it ends.
struct Ending(Arc<Started>);

impl Drop for Ending {
    fn drop(&mut self) {
        let mut ready = self.0.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ready.ended = true;
        self.0.changed.notify_all();
    }
}

impl Fetcher {
    /// Starts fetching `objects` (bucket and key) in their order.
    pub fn start(buckets: Arc<Buckets>, concurrency: usize, objects: Vec<(String, String)>) -> Result<Fetcher> {
        let runtime = crate::runtime::get()?;
        let started = Arc::new(Started {
            state: std::sync::Mutex::new(Ready::default()),
            changed: std::sync::Condvar::new(),
            slots: tokio::sync::Semaphore::new(concurrency.max(1)),
        });
        let (stop, mut stopped) = tokio::sync::watch::channel(());
        let ending = Ending(started.clone());
        let thread = std::thread::spawn(move || {
            let started = ending.0.clone();
            runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for (index, (bucket, key)) in objects.into_iter().enumerate() {
                    tokio::select! {
                        slot = started.slots.acquire() => match slot {
                            Ok(slot) => slot.forget(),
                            Err(_) => break,
                        },
                        _ = stopped.changed() => break,
                    }
                    let (chunks, received) = tokio::sync::mpsc::unbounded_channel();
                    {
                        let mut ready = started.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        ready.objects.insert(index, received);
                        started.changed.notify_all();
                    }
                    let buckets = buckets.clone();
                    tasks.spawn(async move { buckets.stream(&bucket, &key, &chunks).await });
                    while tasks.try_join_next().is_some() {}
                }
                // The downloads run to their ends, unless the run ends first: then no one wants them.
                tokio::select! {
                    () = async { while tasks.join_next().await.is_some() {} } => {}
                    _ = stopped.changed() => {}
                }
                tasks.shutdown().await;
            });
            drop(ending);
        });
        Ok(Fetcher { started, stop: Some(stop), thread: Some(thread) })
    }

    /// The `index`-th object, read as it is downloaded; taking it lets one more download start.
    pub fn get(&self, index: usize) -> ObjectReader {
        let mut ready = self.started.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let chunks = loop {
            if let Some(chunks) = ready.objects.remove(&index) {
                self.started.slots.add_permits(1);
                break chunks;
            }
            if ready.ended {
                let (failed, chunks) = tokio::sync::mpsc::unbounded_channel();
                let _ = failed.send(Err("its download was never started (the fetching ended)".to_owned()));
                break chunks;
            }
            ready = self.started.changed.wait(ready).unwrap_or_else(std::sync::PoisonError::into_inner);
        };
        ObjectReader { chunks, chunk: Vec::new(), at: 0, read: 0 }
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where a trail delivers: `GetTrail` on the trail's name or ARN (in the ARN's region, when one is given).
pub async fn trail_place(connection: &Connection, trail: &str) -> Result<TrailPlace> {
    let region = trail.strip_prefix("arn:").and_then(|rest| rest.split(':').nth(2)).filter(|r| !r.is_empty());
    let connection = match region {
        Some(region) => connection.in_region(Some(region)),
        None => connection.clone(),
    };
    let (client, _, _) = super::cloudtrail(&connection).await?;
    let answer = client.get_trail().name(trail).send().await.map_err(|err| {
        let why = printable(&aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(), 300);
        anyhow!("--trail {}: GetTrail failed ({why}); it needs cloudtrail:GetTrail", printable(trail, 200))
    })?;
    let found = answer.trail().ok_or_else(|| anyhow!("--trail {}: no such trail", printable(trail, 200)))?;
    let bucket = found
        .s3_bucket_name()
        .ok_or_else(|| anyhow!("--trail {}: the trail names no S3 bucket", printable(trail, 200)))?
        .to_owned();
    Ok(TrailPlace {
        bucket,
        prefix: found.s3_key_prefix().unwrap_or_default().to_owned(),
        organization: found.is_organization_trail().unwrap_or(false),
    })
}
