//! Shared pieces of the integration tests: the binary with a cleaned environment, generated events,
//! the fake CloudTrail server holding them, and [`Running`]: a ctlookup started in the background,
//! waited for with a deadline, interrupted by a signal.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdout, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use chrono::{DateTime, Utc};
use fake_cloudtrail::generate::{self, GenOptions};
use fake_cloudtrail::server::FakeCloudTrail;
use serde_json::Value;
use tempfile::TempDir;

/// The `--tps` of tests that are not about the request rate: far beyond what the fake server answers.
pub const FAST_TPS: &str = "1000";

/// A scratch HOME, so that no real AWS configuration or credentials are ever read.
pub struct Sandbox {
    pub home: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { home: tempfile::tempdir().expect("temp dir") }
    }

    /// `ctlookup` with only the variables a test means to give it: dummy credentials, a region, UTC,
    /// and the instance metadata service off (the SDK must never look beyond loopback).
    pub fn ctlookup(&self) -> Command {
        Command::from_std(self.std_ctlookup())
    }

    /// The same as a plain `std::process::Command`, for tests that drive the pipes themselves.
    pub fn std_ctlookup(&self) -> std::process::Command {
        let mut cmd = self.std_bare();
        cmd.env("AWS_ACCESS_KEY_ID", "AKIDTESTEXAMPLE00000")
            .env("AWS_SECRET_ACCESS_KEY", "test/secret/key")
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    /// `ctlookup --endpoint-url URL --tps 1000`: for API tests that are not about the request rate, which
    /// at the default 2 requests/s would wait half a second for every page.
    pub fn api(&self, url: &str) -> Command {
        let mut cmd = self.ctlookup();
        cmd.args(["--endpoint-url", url, "--tps", FAST_TPS]);
        cmd
    }

    /// `ctlookup` with no credentials and no region at all.
    pub fn bare(&self) -> Command {
        Command::from_std(self.std_bare())
    }

    fn std_bare(&self) -> std::process::Command {
        let home = self.home.path();
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ctlookup"));
        cmd.env_clear()
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TZ", "UTC");
        cmd
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.home.path().join(name)
    }
}

/// `count` realistic records, newest first, the newest at `newest`.
pub fn records(count: usize, seed: u64, newest: DateTime<Utc>) -> Vec<Value> {
    generate::records(&GenOptions { seed, count, newest, max_gap_secs: 600 }).collect()
}

/// A fixed point in time for tests that do not depend on "now".
pub fn fixed_newest() -> DateTime<Utc> {
    "2024-07-22T09:00:00Z".parse().unwrap()
}

pub fn serve(records: &[Value]) -> FakeCloudTrail {
    FakeCloudTrail::start(records.iter().map(generate::api_event).collect())
}

pub fn event_id(record: &Value) -> String {
    record["eventID"].as_str().expect("eventID").to_owned()
}

/// The eventIDs of JSON Lines output, in order.
pub fn jsonl_ids(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
            event_id(&record)
        })
        .collect()
}

/// The lookup attributes of every LookupEvents request the server saw.
pub fn sent_attributes(server: &FakeCloudTrail) -> Vec<Option<(String, String)>> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.body["LookupAttributes"].as_array().and_then(|list| list.first()).map(|a| {
                (a["AttributeKey"].as_str().unwrap().to_owned(), a["AttributeValue"].as_str().unwrap().to_owned())
            })
        })
        .collect()
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
}

/// The records' envelopes as the API would list them.
pub fn envelope(record: &Value) -> Value {
    generate::api_event(record)
}

/// Runs to completion and insists on success, showing stderr when it fails.
pub fn run_ok(cmd: &mut assert_cmd::Command) -> std::process::Output {
    let out = cmd.output().expect("run ctlookup");
    assert!(out.status.success(), "exit {:?}, stderr: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    out
}

/// The eventIDs of the records that `keep` accepts, in order.
pub fn ids_where(records: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    records.iter().filter(|r| keep(r)).map(event_id).collect()
}

/// The resume token a run printed on stderr (`… --starting-token TOKEN`).
pub fn token_in(stderr: &str) -> String {
    stderr
        .split("--starting-token ")
        .nth(1)
        .unwrap_or_else(|| panic!("a resume token in: {stderr}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Runs to completion and insists on the exit status `code`, showing stderr when it differs.
pub fn run_code(cmd: &mut assert_cmd::Command, code: i32) -> std::process::Output {
    let out = cmd.output().expect("run ctlookup");
    assert_eq!(out.status.code(), Some(code), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

// ---------------------------------------------------------------------------------------------
// A ctlookup in the background

/// How long a test waits for a process or a condition before it fails: far beyond what any needs, so
/// that a hang fails the test instead of holding the suite.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A signal [`Running::interrupt`] sends: the numbers POSIX (XSI) gives them, the same on every Unix.
#[derive(Debug, Clone, Copy)]
pub struct Signal(pub i32);

pub const SIGHUP: Signal = Signal(1);
pub const SIGINT: Signal = Signal(2);
pub const SIGTERM: Signal = Signal(15);
#[cfg(unix)]
const _: () = assert!(SIGHUP.0 == libc::SIGHUP && SIGINT.0 == libc::SIGINT && SIGTERM.0 == libc::SIGTERM);

/// Polls `done` every 10 ms until it holds (true) or `limit` has passed (false).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pipe read to its end on a thread of its own, into a buffer the test may look at meanwhile.
struct Drain {
    buffer: Arc<Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl Drain {
    fn start(mut pipe: impl Read + Send + 'static, already: Vec<u8>) -> Drain {
        let buffer = Arc::new(Mutex::new(already));
        let filled = buffer.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => filled.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        });
        Drain { buffer, reader }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.buffer.lock().unwrap().clone()
    }

    fn finish(self) -> Vec<u8> {
        self.reader.join().expect("pipe reader");
        Arc::try_unwrap(self.buffer).expect("reader ended").into_inner().unwrap()
    }
}

/// What becomes of the child's stdout.
enum Stdout {
    /// Read as it comes.
    Drained(Drain),
    /// Left in the pipe (the child waits once the pipe is full), with what the test has read of it.
    Unread(ChildStdout, Vec<u8>),
    /// Handed to the test ([`Running::read_stdout`]), which dropped it.
    Gone,
}

/// A spawned ctlookup, its stdin empty and its stderr read as it comes (a chatty child never waits on
/// a full pipe). Dropping it kills the child.
pub struct Running {
    child: Child,
    stdout: Stdout,
    stderr: Option<Drain>,
}

impl Running {
    /// Starts `cmd`; stdout is read as it comes, like stderr.
    pub fn start(cmd: &mut std::process::Command) -> Running {
        let mut running = Running::start_unread(cmd);
        running.drain_stdout();
        running
    }

    /// Starts `cmd` and leaves its stdout in the pipe: a child that prints more than a pipe holds waits
    /// there until [`Running::read_stdout`], [`Running::finish`] or the like read it.
    pub fn start_unread(cmd: &mut std::process::Command) -> Running {
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start ctlookup");
        let stdout = Stdout::Unread(child.stdout.take().unwrap(), Vec::new());
        let stderr = Some(Drain::start(child.stderr.take().unwrap(), Vec::new()));
        Running { child, stdout, stderr }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn drain_stdout(&mut self) {
        if let Stdout::Unread(..) = self.stdout {
            let Stdout::Unread(pipe, read) = std::mem::replace(&mut self.stdout, Stdout::Gone) else { unreachable!() };
            self.stdout = Stdout::Drained(Drain::start(pipe, read));
        }
    }

    /// All of stdout so far.
    pub fn stdout(&self) -> Vec<u8> {
        match &self.stdout {
            Stdout::Drained(drain) => drain.snapshot(),
            Stdout::Unread(_, read) => read.clone(),
            Stdout::Gone => Vec::new(),
        }
    }

    /// All of stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.as_ref().unwrap().snapshot()).into_owned()
    }

    /// Hands the unread stdout pipe to `read` on a thread of its own and returns what it returns; a
    /// child that prints too little fails the test after [`PATIENCE`]. The pipe is closed when `read`
    /// returns, like `| head` ending.
    pub fn read_stdout<T: Send + 'static>(&mut self, read: impl FnOnce(ChildStdout) -> T + Send + 'static) -> T {
        let Stdout::Unread(pipe, _) = std::mem::replace(&mut self.stdout, Stdout::Gone) else {
            panic!("stdout is not left in the pipe")
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read(pipe));
        });
        match rx.recv_timeout(PATIENCE) {
            Ok(value) => value,
            Err(_) => self.fail(&format!("printed too little within {PATIENCE:?}")),
        }
    }

    /// Waits for the first byte of the unread stdout, so that the run is surely under way; the rest
    /// stays in the pipe.
    pub fn first_output(&mut self) {
        let (pipe, byte) = self.read_stdout(|mut pipe| {
            let mut byte = [0u8; 1];
            let read = pipe.read_exact(&mut byte);
            (pipe, read.map(|()| byte[0]))
        });
        match byte {
            Ok(byte) => self.stdout = Stdout::Unread(pipe, vec![byte]),
            Err(e) => self.fail(&format!("no output ({e})")),
        }
    }

    /// Sends `signal` ([`SIGINT`], …) and returns when it was sent.
    #[cfg(unix)]
    pub fn interrupt(&mut self, signal: Signal) -> Instant {
        let sent = Instant::now();
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with the pid of a child not yet waited for, so not reused.
        assert_eq!(unsafe { libc::kill(pid, signal.0) }, 0, "kill: {}", std::io::Error::last_os_error());
        sent
    }

    #[cfg(not(unix))]
    pub fn interrupt(&mut self, signal: Signal) -> Instant {
        panic!("signal {} to ctlookup: signals are sent on Unix only", signal.0)
    }

    /// SIGKILL, and waits for the end.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the child still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits (at most [`PATIENCE`]) for the end; the exit status and all of stdout and stderr.
    pub fn finish(self) -> Output {
        self.finish_within(PATIENCE)
    }

    /// Waits for the end, or kills the child at `limit` and fails the test.
    pub fn finish_within(mut self, limit: Duration) -> Output {
        self.drain_stdout();
        let mut status: Option<ExitStatus> = None;
        if !wait_until(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        }) {
            self.fail(&format!("still running after {limit:?}"));
        }
        let stdout = match std::mem::replace(&mut self.stdout, Stdout::Gone) {
            Stdout::Drained(drain) => drain.finish(),
            _ => Vec::new(),
        };
        let stderr = self.stderr.take().unwrap().finish();
        Output { status: status.unwrap(), stdout, stderr }
    }

    /// Kills the child and fails the test, with what it said on stderr.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self.stderr.take().map(|drain| drain.finish()).unwrap_or_default();
        panic!("ctlookup {why}; killed. stderr: {}", String::from_utf8_lossy(&stderr));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
