//! A static HTTP server on 127.0.0.1 for tests of HTTP clients (ctlookup's AWS Service Reference client, in
//! its unit tests and in the integration tests alike): a fixed answer per path, changeable while the server
//! runs, an optional delay before each answer, and a log of the paths asked for.
//!
//! Behaviour worth knowing:
//! * Every request is answered the same way whatever its method; a path without a route answers
//!   404 `not found`. Routes are looked up by the request target as sent (path and query).
//! * Answers carry `Content-Type: application/json` and `Connection: close`, so each request is a
//!   connection of its own: a client that asks for several files at once shows as several requests in
//!   flight ([`StaticServer::max_in_flight`]).
//! * A request is logged when it arrives, before the delay; its route is read after the delay, so a
//!   route set meanwhile is the one answered.
//! * [`StaticServer::stop`] (or dropping the server) closes the port and every open connection before it
//!   returns: a client that tries again is refused.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// Path (with query, if any) → (HTTP status, body).
pub type Routes = HashMap<String, (u16, String)>;

/// A running static server. It owns a tokio runtime on its own thread, so tests stay synchronous and may
/// use it from inside a runtime of their own.
pub struct StaticServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

struct State {
    routes: HashMap<String, Route>,
    delay: Duration,
    hits: Vec<String>,
}

#[derive(Clone)]
struct Route {
    status: StatusCode,
    body: String,
    location: Option<HeaderValue>,
}

impl Route {
    fn new(status: u16, body: String, location: Option<HeaderValue>) -> Route {
        let status = StatusCode::from_u16(status).unwrap_or_else(|_| panic!("not an HTTP status: {status}"));
        Route { status, body, location }
    }
}

impl StaticServer {
    /// Starts a server on an ephemeral port. `routes` is given the server's own address
    /// (`http://127.0.0.1:PORT`), for answers that name other paths of it. Panics when the loopback
    /// socket cannot be bound or a status is not an HTTP status: it is a test helper.
    pub fn start(routes: impl FnOnce(&str) -> Routes) -> StaticServer {
        StaticServer::try_start(routes).expect("start the static HTTP server")
    }

    fn try_start(routes: impl FnOnce(&str) -> Routes) -> std::io::Result<StaticServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let routes = routes(&format!("http://{addr}"))
            .into_iter()
            .map(|(path, (status, body))| (path, Route::new(status, body, None)))
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { routes, delay: Duration::ZERO, hits: Vec::new() }),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let serving = shared.clone();
        let (shutdown, thread) =
            crate::listen::serve(listener, "static-http", move |stream| serve_connection(serving.clone(), stream))?;
        Ok(StaticServer { addr, shared, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/`, the address of the `/` route.
    pub fn base(&self) -> String {
        format!("{}/", self.url())
    }

    /// Answers `path` with `status` and `body` from now on.
    pub fn set(&self, path: &str, status: u16, body: &str) {
        self.state().routes.insert(path.to_owned(), Route::new(status, body.to_owned(), None));
    }

    /// Answers `path` with `status` (a 3xx) and a `Location: location` header from now on. Panics when
    /// `location` cannot be a header value.
    pub fn redirect(&self, path: &str, status: u16, location: &str) {
        let location = HeaderValue::from_str(location).unwrap_or_else(|_| panic!("not a header value: {location:?}"));
        self.state().routes.insert(path.to_owned(), Route::new(status, String::new(), Some(location)));
    }

    /// Waits this long before each answer from now on (none at start).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// How many requests arrived so far.
    pub fn hits(&self) -> usize {
        self.state().hits.len()
    }

    /// The paths asked for so far, in the order they arrived.
    pub fn paths(&self) -> Vec<String> {
        self.state().hits.clone()
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests that were ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes the port and every connection; the logs stay readable. Idempotent.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    let service = hyper::service::service_fn(move |request| answer(shared.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

/// Counts a request in flight until dropped, so that a request whose connection closes during the delay
/// (its future dropped) is not counted for ever.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let _in_flight = InFlight::enter(&shared);
    let delay = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.hits.push(path.clone());
        state.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let route = shared.state.lock().unwrap_or_else(|e| e.into_inner()).routes.get(&path).cloned();
    let route = route.unwrap_or_else(|| Route::new(404, "not found".to_owned(), None));
    let mut response =
        Response::builder().status(route.status).header(CONTENT_TYPE, "application/json").header(CONNECTION, "close");
    if let Some(location) = route.location {
        response = response.header(LOCATION, location);
    }
    // Status and header values were checked when the route was set.
    Ok(response.body(Full::new(Bytes::from(route.body))).expect("a valid answer"))
}
