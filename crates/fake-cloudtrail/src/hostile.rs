//! A misbehaving HTTP endpoint on 127.0.0.1 for the client's defences: it reads requests with a
//! deliberately small HTTP/1.1 parser of its own (no hyper, so it can break the protocol at will) and
//! answers each one as the test's handler says: bytes, silence, headers and then silence, or an
//! endless body. Every request is recorded with the access key id of its SigV4 signature.
//!
//! One thread accepts and one thread serves each connection (blocking I/O: a test server holds a few
//! connections at most). Dropping the server stops accepting; connections still open end when the
//! client closes them, which a silent answer waits for.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// One request as the hostile server read it.
#[derive(Debug, Clone)]
pub struct HostileRequest {
    /// Counted from 0 over the server's life, across connections.
    pub index: usize,
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The access key id of the SigV4 `Authorization` header's credential scope.
    pub access_key_id: Option<String>,
}

impl HostileRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `NextToken` of a LookupEvents request body.
    pub fn next_token(&self) -> Option<&str> {
        self.body.get("NextToken").and_then(Value::as_str)
    }
}

/// What to do with one request.
pub enum Answer {
    /// Write these bytes (a whole HTTP response, status line included) and keep the connection.
    Raw(Vec<u8>),
    /// Write these bytes, then close the connection.
    RawThenClose(Vec<u8>),
    /// Never answer; hold the connection open until the client gives up.
    Silence,
    /// Write these bytes (typically a status line and headers), then never another byte.
    ThenSilence(Vec<u8>),
    /// Write `head`, then `chunk` again and again until the client stops reading or `limit` bytes
    /// of chunks were written. With a `Transfer-Encoding: chunked` head, give `chunk` in chunked
    /// framing.
    Endless { head: Vec<u8>, chunk: Vec<u8>, limit: u64 },
}

impl Answer {
    /// A complete response with this status, content type and body (Content-Length framing).
    pub fn http(status: u16, content_type: &str, body: impl AsRef<[u8]>) -> Answer {
        Answer::Raw(response(status, &[("content-type", content_type)], body.as_ref()))
    }

    /// A 200 awsJson answer with this JSON body.
    pub fn json(body: &Value) -> Answer {
        Answer::http(200, "application/x-amz-json-1.1", body.to_string())
    }
}

/// An HTTP/1.1 response: status line, the headers, Content-Length, the body.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

type Handler = dyn Fn(&HostileRequest) -> Answer + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    requests: Mutex<Vec<HostileRequest>>,
    /// Bytes of body written by `Answer::Endless` answers.
    streamed: AtomicU64,
    stop: AtomicBool,
}

/// A running hostile server; see the module documentation.
pub struct HostileServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepter: Option<JoinHandle<()>>,
}

impl HostileServer {
    /// Starts on an ephemeral port of 127.0.0.1; `handler` decides every answer. Panics when the
    /// socket cannot be bound: it is a test helper.
    pub fn start(handler: impl Fn(&HostileRequest) -> Answer + Send + Sync + 'static) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hostile server");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            streamed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let serving = shared.clone();
        let accepter = std::thread::Builder::new()
            .name("hostile-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if serving.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = serving.clone();
                    let _ =
                        std::thread::Builder::new().name("hostile-conn".into()).spawn(move || serve(&shared, stream));
                }
            })
            .expect("spawn the hostile server");
        HostileServer { addr, shared, accepter: Some(accepter) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request read so far, in arrival order.
    pub fn requests(&self) -> Vec<HostileRequest> {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Bytes of endless bodies written so far (what the client accepted to read, plus socket buffers).
    pub fn streamed(&self) -> u64 {
        self.shared.streamed.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

fn serve(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(mut request) = read_request(&mut reader) else { return };
        let answer = {
            let mut requests = shared.requests.lock().unwrap_or_else(|e| e.into_inner());
            request.index = requests.len();
            requests.push(request.clone());
            drop(requests);
            (shared.handler)(&request)
        };
        match answer {
            Answer::Raw(bytes) => {
                if writer.write_all(&bytes).and_then(|()| writer.flush()).is_err() {
                    return;
                }
            }
            Answer::RawThenClose(bytes) => {
                let _ = writer.write_all(&bytes);
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            Answer::Silence => return hold(&mut reader),
            Answer::ThenSilence(bytes) => {
                if writer.write_all(&bytes).and_then(|()| writer.flush()).is_err() {
                    return;
                }
                return hold(&mut reader);
            }
            Answer::Endless { head, chunk, limit } => {
                if writer.write_all(&head).is_err() {
                    return;
                }
                let mut written = 0u64;
                while written < limit && !shared.stop.load(Ordering::SeqCst) {
                    if writer.write_all(&chunk).is_err() {
                        return;
                    }
                    written += chunk.len() as u64;
                    shared.streamed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                }
                return;
            }
        }
    }
}

/// Waits until the client closes the connection (or sends anything more, which is ignored).
fn hold(reader: &mut BufReader<TcpStream>) {
    let mut sink = [0u8; 4096];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
}

/// Reads one request (request line, headers, a Content-Length body); None at the end of the
/// connection or on anything this parser does not understand.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HostileRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let authorization = headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.as_str()).unwrap_or("");
    Some(HostileRequest {
        index: 0,
        method,
        path,
        access_key_id: crate::server::signing_access_key_id(authorization),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
    })
}
