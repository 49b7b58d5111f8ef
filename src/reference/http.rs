//! Reading the AWS Service Reference over HTTP(S): on the process's one runtime (`crate::runtime`), a hyper-util client
//! on the SDK's own TLS stack (hyper-rustls, aws-lc-rs, the system's root certificates); redirects followed,
//! a time and size limit per request, service files fetched a few at a time; and the published documents,
//! of which only the service prefixes, their addresses and the action names are kept.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
use serde::Deserialize;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use url::Url;

use super::IndexEntry;

/// Per request, redirects and body included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Service files fetched at once.
pub(super) const CONCURRENCY: usize = 8;
/// The largest answer read (the biggest service files are a few MB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;

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

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// An HTTP(S) client on the process's runtime.
pub(super) struct Fetcher {
    client: HttpClient,
    runtime: &'static Runtime,
    /// Why no root certificate could be loaded, if so (HTTPS then fails; plain HTTP works).
    roots_error: Option<String>,
}

impl Fetcher {
    pub fn new() -> Result<Fetcher> {
        let runtime = crate::runtime::get().context("cannot start the HTTP client for the AWS Service Reference")?;
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

    /// The list of services at `url`, sorted by prefix, each service's address made absolute.
    pub fn index(&self, url: &str) -> Result<Vec<IndexEntry>> {
        let client = self.client.clone();
        self.block_on(fetch_index(client, url.to_owned()))?.map_err(|err| self.explain(err, url))
    }

    /// The actions of the service files at `urls`, [`CONCURRENCY`] at a time; one result per address, in
    /// order.
    pub fn services(&self, urls: &[String]) -> Vec<Result<Vec<String>>> {
        match self.block_on(fetch_many(self.client.clone(), urls.to_vec())) {
            Ok(results) => results.into_iter().zip(urls).map(|(r, url)| r.map_err(|e| self.explain(e, url))).collect(),
            Err(err) => urls.iter().map(|_| Err(anyhow!("{err:#}"))).collect(),
        }
    }

    /// Lets the client go; its idle connections end on the runtime's next turn.
    pub fn shut_down(self) {
        drop(self);
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
        // An address that cannot be joined stays as it is: fetching that one service then fails, naming it.
        if let Ok(absolute) = resolve(&url, &entry.url) {
            entry.url = absolute;
        }
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
                current = resolve(&current, location).with_context(|| {
                    format!("the AWS Service Reference at {current} redirects to an invalid address")
                })?;
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

/// `reference` (absolute, `//host/…`, `/path` or relative) as an absolute address, relative to `base`, the
/// way a browser joins them (RFC 3986).
fn resolve(base: &str, reference: &str) -> Result<String> {
    let base = Url::parse(base).with_context(|| format!("{base} is not an absolute address"))?;
    let joined = base.join(reference).with_context(|| format!("{reference} is not an address"))?;
    Ok(joined.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_resolve_against_the_index() {
        let base = "http://127.0.0.1:8080/v1/index.json?x=1";
        assert_eq!(resolve(base, "https://a.example/b.json").unwrap(), "https://a.example/b.json");
        assert_eq!(resolve(base, "//b.example/c.json").unwrap(), "http://b.example/c.json");
        assert_eq!(resolve(base, "/ec2.json").unwrap(), "http://127.0.0.1:8080/ec2.json");
        assert_eq!(resolve(base, "ec2/ec2.json").unwrap(), "http://127.0.0.1:8080/v1/ec2/ec2.json");
        assert_eq!(resolve("http://127.0.0.1:8080", "ec2.json").unwrap(), "http://127.0.0.1:8080/ec2.json");
    }

    #[test]
    fn addresses_that_cannot_be_joined_are_errors() {
        let err = resolve("not an address", "ec2.json").unwrap_err();
        assert_eq!(format!("{err:#}"), "not an address is not an absolute address: relative URL without a base");
        let err = resolve("http://127.0.0.1:8080/", "http://[::1").unwrap_err();
        assert!(format!("{err:#}").starts_with("http://[::1 is not an address: "), "{err:#}");
    }
}
