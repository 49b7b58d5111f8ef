//! Trails in S3 read in place (`--input s3://…`), against a real S3 emulator: moto's server from
//! target/venv (scripts/python-env.sh), started per test on a free port. The bucket is uploaded with
//! boto3 from the same venv. What ctlookup prints from the bucket must be, byte for byte, what it prints
//! from the same tree on disk; moto's request log (one line a request on its stderr) shows what was
//! listed and fetched, and a proxy in front of it breaks connections and answers 503 SlowDown.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use fake_cloudtrail::generate::{self, GenOptions};
use serde_json::Value;

use crate::common::{jsonl_ids, token_in, Running, Sandbox, SIGINT, SIGTERM};

const ORG: &str = "o-exampleorg1";
const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "777788889999"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const BUCKET: &str = "trail-bucket";

fn venv(program: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin").join(program);
    assert!(path.exists(), "{} is missing: run scripts/python-env.sh (as .ci/run does)", path.display());
    path
}

/// moto's server on a free port, stopped when dropped; its request log goes to a file.
struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Moto {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(venv("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
                let mut answer = Vec::new();
                if stream.read_to_end(&mut answer).is_ok() && answer.starts_with(b"HTTP/") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "moto_server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port, log, _dir: dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines logged so far (`GET /bucket?list-type=2&… HTTP/1.1`).
    fn requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| l.split('"').nth(1)).map(str::to_owned).collect()
    }

    /// Uploads every file below `dir` to the bucket, the key its path below `dir`.
    fn upload(&self, dir: &Path) {
        let script = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=sys.argv[2])
root = sys.argv[3]
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        s3.upload_file(path, sys.argv[2], os.path.relpath(path, root).replace(os.sep, "/"))
"#;
        let status = Command::new(venv("python"))
            .args(["-c", script, &self.url(), BUCKET, dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success(), "the upload to moto failed");
    }
}

impl Moto {
    /// A trail (in moto's CloudTrail) that delivers to the bucket under `prefix`.
    fn trail(&self, name: &str, prefix: &str) {
        let script = r#"
import sys, boto3
ct = boto3.client("cloudtrail", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
ct.create_trail(Name=sys.argv[2], S3BucketName=sys.argv[3], S3KeyPrefix=sys.argv[4])
"#;
        let status =
            Command::new(venv("python")).args(["-c", script, &self.url(), name, BUCKET, prefix]).status().unwrap();
        assert!(status.success(), "the trail was not created in moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn day(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// The generated bucket, on disk: an organisation trail (`org/`) of 3 accounts and 2 regions over 5
/// days with digests, Insights files, a foreign object, an empty day and a corrupt object, and a plain
/// trail (`plain/`) of one account. Files hold 5 minutes of events and are named, as CloudTrail names
/// them, by their delivery time, 3 minutes after their last event can be.
fn tree(root: &Path) {
    let newest = Utc.with_ymd_and_hms(2026, 11, 5, 23, 50, 0).unwrap();
    let records: Vec<Value> =
        generate::records(&GenOptions { seed: 26, count: 1200, newest, max_gap_secs: 720 }).collect();
    assert!(records.last().unwrap()["eventTime"].as_str().unwrap() < "2026-11-01T12:00:00Z", "5 days");
    let mut files: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    for (i, mut record) in records.into_iter().enumerate() {
        let account = ACCOUNTS[i % 3];
        let region = REGIONS[(i / 3) % 2];
        let time = day(record["eventTime"].as_str().unwrap());
        // An empty day: nothing of the third account in eu-west-1 on 3 November.
        if account == ACCOUNTS[2] && region == REGIONS[1] && time.format("%d").to_string() == "03" {
            continue;
        }
        record["recipientAccountId"] = account.into();
        record["awsRegion"] = region.into();
        let five = time.timestamp() - time.timestamp() % 300;
        let delivered = Utc.timestamp_opt(five + 300 + 180, 0).unwrap();
        let folder = format!("org/AWSLogs/{ORG}/{account}/CloudTrail/{region}/{}", delivered.format("%Y/%m/%d"));
        let name =
            format!("{account}_CloudTrail_{region}_{}_{:04x}.json.gz", delivered.format("%Y%m%dT%H%MZ"), five % 65521);
        files.entry(root.join(folder).join(name)).or_default().push(record.clone());
        if account == ACCOUNTS[0] && region == REGIONS[0] {
            let folder = format!("plain/AWSLogs/{account}/CloudTrail/{region}/{}", delivered.format("%Y/%m/%d"));
            let name = format!("{account}_CloudTrail_{region}_{}_p.json.gz", delivered.format("%Y%m%dT%H%MZ"));
            files.entry(root.join(folder).join(name)).or_default().push(record);
        }
    }
    for (path, mut records) in files {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        records.reverse();
        generate::write_trail_log_gz(&path, &records).unwrap();
    }
    let extra = |key: &str, bytes: &[u8]| {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let a = ACCOUNTS[0];
    extra(
        &format!("org/AWSLogs/{ORG}/{a}/CloudTrail-Digest/us-east-1/2026/11/03/{a}_CloudTrail-Digest_us-east-1_t_us-east-1_20261103T120000Z.json.gz"),
        &gzip(b"{\"awsAccountId\":\"111122223333\",\"digestStartTime\":\"2026-11-03T11:00:00Z\"}"),
    );
    let insights: Vec<Value> =
        generate::insight_records(&GenOptions { seed: 3, count: 4, newest, max_gap_secs: 600 }).collect();
    let insight = format!("org/AWSLogs/{ORG}/{a}/CloudTrail-Insight/us-east-1/2026/11/05/{a}_CloudTrail-Insight_us-east-1_20261105T2330Z_i.json.gz");
    std::fs::create_dir_all(root.join(&insight).parent().unwrap()).unwrap();
    generate::write_trail_log_gz(&root.join(&insight), &insights).unwrap();
    extra(&format!("org/AWSLogs/{ORG}/{a}/CloudTrail/us-east-1/2026/11/03/README.txt"), b"not a trail file\n");
    extra(
        &format!(
            "org/AWSLogs/{ORG}/{a}/CloudTrail/eu-west-1/2026/11/04/{a}_CloudTrail_eu-west-1_20261104T0631Z_bad.json.gz"
        ),
        b"\x1f\x8b\x08\x00corrupt",
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A bucket in moto, and the same tree on disk without what a read in place leaves out (Insights).
struct Fixture {
    sb: Sandbox,
    moto: Moto,
    disk: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let fx = Fixture::of(tree);
        std::fs::remove_dir_all(fx.disk.join(format!("org/AWSLogs/{ORG}/{}/CloudTrail-Insight", ACCOUNTS[0]))).unwrap();
        fx
    }

    /// The tree `make` writes, on disk and in the bucket.
    fn of(make: fn(&Path)) -> Fixture {
        let sb = Sandbox::new();
        let up = sb.path("upload");
        make(&up);
        let moto = Moto::start();
        moto.upload(&up);
        Fixture { sb, moto, disk: up }
    }

    fn run(&self, input: &str, endpoint: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = self.sb.std_ctlookup();
        cmd.args(["--input", input, "--no-progress"]).args(args);
        if input.starts_with("s3://") {
            cmd.args(["--endpoint-url", endpoint]);
        }
        cmd.output().unwrap()
    }

    /// The same run from S3 and from disk: the same stdout and exit status.
    fn same(&self, prefix: &str, args: &[&str]) -> std::process::Output {
        let disk = self.run(self.disk.join(prefix).to_str().unwrap(), "", args);
        let s3 = self.run(&format!("s3://{BUCKET}/{prefix}"), &self.moto.url(), args);
        assert_eq!(
            String::from_utf8_lossy(&s3.stdout),
            String::from_utf8_lossy(&disk.stdout),
            "{prefix} {args:?}: stderr from S3: {}",
            String::from_utf8_lossy(&s3.stderr)
        );
        // A window leaves the corrupt object out in S3 (its name says it cannot hold the window's events),
        // not on disk: the status is compared on whole reads.
        if !args.iter().any(|a| a.ends_with("-time")) {
            assert_eq!(
                s3.status.code(),
                disk.status.code(),
                "{prefix} {args:?}: {}",
                String::from_utf8_lossy(&s3.stderr)
            );
        }
        s3
    }
}

#[test]
fn a_bucket_prints_what_its_download_prints() {
    let fx = Fixture::new();
    let cases: &[(&str, &[&str])] = &[
        ("org", &["-o", "jsonl"]),
        ("plain", &["-o", "jsonl"]),
        ("plain/AWSLogs", &["-o", "json"]),
        ("org", &["--start-time", "2026-11-02T23:30:00Z", "--end-time", "2026-11-03T00:30:00Z", "-o", "jsonl"]),
        ("org", &["--start-time", "2026-11-04T23:45:00Z", "--end-time", "2026-11-05T00:45:00Z", "-o", "jsonl"]),
        ("org", &["--start-time", "2026-11-03T10:02:30Z", "--end-time", "2026-11-03T10:04:00Z", "-o", "jsonl"]),
        ("org", &["--start-time", "2026-11-02T00:00:00Z", "--end-time", "2026-11-04T00:00:00Z", "--errors"]),
        ("org", &["--event-name", "AssumeRole", "-o", "csv"]),
        ("org", &["--username", "alice", "--start-time", "2026-11-03T00:00:00Z"]),
        ("org", &["--where", "readOnly = false", "--end-time", "2026-11-02T00:00:00Z", "-o", "jsonl"]),
        ("org", &["--count-by", "eventSource,recipientAccountId"]),
        ("org", &["--timeline", "1h", "--start-time", "2026-11-03T00:00:00Z", "--end-time", "2026-11-03T12:00:00Z"]),
        ("org", &["--max-items", "7", "-o", "jsonl"]),
        ("plain", &["--start-time", "2026-11-03T23:00:00Z", "--end-time", "2026-11-04T01:00:00Z", "-o", "jsonl"]),
    ];
    for (prefix, args) in cases {
        let out = fx.same(prefix, args);
        let whole = !args.iter().any(|a| a.ends_with("-time") || *a == "--max-items");
        if *prefix == "org" && whole {
            // The corrupt object is warned about and the run fails; the rest is printed.
            assert!(String::from_utf8_lossy(&out.stderr).contains("_bad.json.gz"), "{args:?}");
            assert_eq!(out.status.code(), Some(1));
        }
    }
    // Mixed with local paths and stdin (empty here), in the order given.
    let plain = fx.disk.join("plain");
    let mut cmd = fx.sb.std_ctlookup();
    cmd.args(["--no-progress", "-o", "jsonl", "--input", plain.to_str().unwrap(), "--input", "-", "--input"]);
    let mixed = cmd
        .args([&format!("s3://{BUCKET}/plain"), "--endpoint-url", &fx.moto.url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let once = fx.run(plain.to_str().unwrap(), "", &["-o", "jsonl"]);
    assert_eq!(mixed.stdout, [once.stdout.clone(), once.stdout].concat());
    // Accounts and regions asked for: the same as their folders read from disk.
    let account = format!("org/AWSLogs/{ORG}/{}/CloudTrail/us-east-1", ACCOUNTS[1]);
    let disk = fx.run(fx.disk.join(&account).to_str().unwrap(), "", &["-o", "jsonl"]);
    let s3 = fx.run(
        &format!("s3://{BUCKET}/org"),
        &fx.moto.url(),
        &["--account", ACCOUNTS[1], "--region", "us-east-1", "-o", "jsonl"],
    );
    assert_eq!(s3.stdout, disk.stdout);
    assert!(s3.status.success(), "{}", String::from_utf8_lossy(&s3.stderr));
    // --accounts selects an organisation trail's accounts as --account does, less --exclude-account.
    let listed = format!("{},{}", ACCOUNTS[0], ACCOUNTS[1]);
    let selected = fx.run(
        &format!("s3://{BUCKET}/org"),
        &fx.moto.url(),
        &["--accounts", &listed, "--exclude-account", ACCOUNTS[0], "--region", "us-east-1", "-o", "jsonl"],
    );
    assert_eq!(selected.stdout, disk.stdout);
    let role = fx.run(&format!("s3://{BUCKET}/org"), &fx.moto.url(), &["--accounts", &listed, "--role-name", "r"]);
    assert_eq!(role.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&role.stderr).contains("--role-name applies to API lookups"));
    // Insights are read with --event-category insight.
    let insight =
        fx.run(&format!("s3://{BUCKET}/org"), &fx.moto.url(), &["--event-category", "insight", "-o", "jsonl"]);
    assert_eq!(String::from_utf8_lossy(&insight.stdout).lines().count(), 4);
}

#[test]
fn a_window_of_one_day_lists_and_fetches_only_that_day() {
    let fx = Fixture::new();
    let before = fx.moto.requests().len();
    let out = fx.run(
        &format!("s3://{BUCKET}/org"),
        &fx.moto.url(),
        &[
            "--start-time",
            "2026-11-03T00:00:00Z",
            "--end-time",
            "2026-11-03T23:59:59Z",
            "--account",
            ACCOUNTS[0],
            "--region",
            "eu-west-1",
            "-v",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests: Vec<String> = fx.moto.requests().split_off(before);
    let gets: Vec<&String> = requests.iter().filter(|r| r.starts_with("GET") && r.contains("_CloudTrail_")).collect();
    let lists: Vec<&String> = requests.iter().filter(|r| r.contains("list-type=2")).collect();
    assert!(!gets.is_empty());
    for get in &gets {
        assert!(get.contains(ACCOUNTS[0]) && get.contains("eu-west-1"), "{get}");
        let that_day = get.contains("/2026/11/03/");
        let next_hour = get.contains("/2026/11/04/") && get.contains("_20261104T00");
        assert!(that_day || next_hour, "{get}");
    }
    for list in &lists {
        // (moto logs the query decoded.)
        for other in [ACCOUNTS[1], ACCOUNTS[2], "us-east-1", "/10/", "/01/", "/02/", "/05/"] {
            assert!(!list.contains(other), "{list}");
        }
    }
    for day in ["/2026/11/03/ ", "/2026/11/04/ "] {
        assert_eq!(lists.iter().filter(|l| l.contains(day)).count(), 1, "{day}: {lists:?}");
    }
    // The prefix, AWSLogs/, the organisation, the account, CloudTrail/, the region, the year, the month
    // and the two days: never more.
    assert_eq!(lists.len(), 10, "{lists:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped 2 of accounts not asked for"), "{stderr}");
    assert!(stderr.contains("delivered later than the lag"), "{stderr}");
    // Exactly that day's files were fetched, and the next day's first hour.
    let on_disk = |day: &str| {
        let dir = fx.disk.join(format!("org/AWSLogs/{ORG}/{}/CloudTrail/eu-west-1/2026/11/{day}", ACCOUNTS[0]));
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    };
    let next_hour =
        std::fs::read_dir(fx.disk.join(format!("org/AWSLogs/{ORG}/{}/CloudTrail/eu-west-1/2026/11/04", ACCOUNTS[0])))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("_20261104T00"))
            .count();
    assert_eq!(gets.len(), on_disk("03") + next_hour);
}

/// A proxy in front of moto: every `every`-th request is answered 503 SlowDown, every one after that
/// has its connection dropped unanswered, and the next, when it fetches an object, has its body broken
/// off halfway; the others are passed on, one connection a request.
struct Faulty {
    port: u16,
    seen: Arc<AtomicUsize>,
    /// Requests answered 301 for being signed for another region than the bucket's.
    redirected: Arc<AtomicUsize>,
}

/// What the proxy does besides passing requests on.
#[derive(Default)]
struct Rules {
    /// 0: no faults.
    every: usize,
    /// A request whose line holds one of these is refused (403 AccessDenied).
    deny: Vec<String>,
    /// The bucket's region, as S3 holds it: a request signed for another is answered as S3 answers it,
    /// 301 PermanentRedirect with the bucket's region in `x-amz-bucket-region`.
    region: Option<String>,
}

impl Faulty {
    /// `every` 0: no faults. A request whose line holds one of `deny` is refused (403 AccessDenied).
    fn start(upstream: u16, every: usize, deny: &[&str]) -> Faulty {
        Faulty::with(upstream, Rules { every, deny: deny.iter().map(|d| d.to_string()).collect(), region: None })
    }

    fn with(upstream: u16, rules: Rules) -> Faulty {
        let rules = Arc::new(rules);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, redirected) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let counters = (seen.clone(), redirected.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (rules, counters) = (rules.clone(), counters.clone());
                std::thread::spawn(move || proxy(client, upstream, &rules, &counters));
            }
        });
        Faulty { port, seen, redirected }
    }
}

/// Downloads the proxy broke off halfway.
static CUT: AtomicUsize = AtomicUsize::new(0);

fn proxy(
    mut client: TcpStream,
    upstream: u16,
    rules: &Rules,
    (counter, redirected): &(Arc<AtomicUsize>, Arc<AtomicUsize>),
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let length = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    if client.read_exact(&mut body).is_err() {
        return;
    }
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    let line = text.lines().next().unwrap_or_default().replace("%2F", "/");
    if let Some(region) = &rules.region {
        // SigV4's scope: `Credential=KEY/DATE/REGION/s3/aws4_request`.
        let signed_for = text.split("Credential=").nth(1).and_then(|c| c.split('/').nth(2)).unwrap_or_default();
        if signed_for != region {
            redirected.fetch_add(1, Ordering::SeqCst);
            let xml = format!(
                "<?xml version=\"1.0\"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting \
                 to access must be addressed using the specified endpoint.</Message><Endpoint>s3.{region}.amazonaws.com\
                 </Endpoint></Error>"
            );
            let body = if line.starts_with("HEAD") { "" } else { xml.as_str() };
            let answer = format!(
                "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Type: application/xml\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes());
            return;
        }
    }
    let deny = &rules.deny;
    if deny.iter().any(|d| line.contains(d.as_str())) {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let answer = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        let _ = client.write_all(answer.as_bytes());
        return;
    }
    let every = if rules.every == 0 { usize::MAX } else { rules.every };
    if n % every == 0 {
        let xml = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let answer = format!(
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        let _ = client.write_all(answer.as_bytes());
        return;
    }
    if n % every == 1 && n > 1 {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    let mut lines: Vec<&str> =
        text.trim_end().split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    lines.push("Connection: close");
    let request = format!("{}\r\n\r\n", lines.join("\r\n"));
    if server.write_all(request.as_bytes()).and_then(|_| server.write_all(&body)).is_err() {
        return;
    }
    let mut answer = Vec::new();
    let _ = server.read_to_end(&mut answer);
    // Passed on as one connection a request: the client is told so.
    if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&answer[..end]).into_owned();
        let mut lines: Vec<&str> =
            head.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
        lines.push("Connection: close");
        let _ = client.write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes());
        let body = &answer[end + 4..];
        // Every `every`-th request plus 2 that fetches a whole object breaks off halfway through its body.
        let whole_object =
            text.starts_with("GET") && text.contains(".json.gz") && !text.to_ascii_lowercase().contains("range:");
        if n % every == 2 && whole_object && body.len() > 64 {
            let _ = client.write_all(&body[..body.len() / 2]);
            CUT.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let _ = client.write_all(body);
    }
}

#[test]
fn slow_downs_and_dropped_connections_are_retried_and_change_nothing() {
    let fx = Fixture::new();
    let faulty = Faulty::start(fx.moto.port, 20, &[]);
    let url = format!("http://127.0.0.1:{}", faulty.port);
    for args in [
        &["-o", "jsonl"][..],
        &["--start-time", "2026-11-03T00:00:00Z", "--end-time", "2026-11-04T00:00:00Z", "-o", "jsonl"],
    ] {
        let disk = fx.run(fx.disk.join("org").to_str().unwrap(), "", args);
        let s3 = fx.run(&format!("s3://{BUCKET}/org"), &url, &[args, &["--s3-concurrency", "4"]].concat());
        assert_eq!(
            String::from_utf8_lossy(&s3.stdout),
            String::from_utf8_lossy(&disk.stdout),
            "{}",
            String::from_utf8_lossy(&s3.stderr)
        );
        if args.len() == 2 {
            assert_eq!(s3.status.code(), disk.status.code());
        }
    }
    assert!(faulty.seen.load(Ordering::SeqCst) > 50);
    assert!(CUT.load(Ordering::SeqCst) > 5, "downloads were broken off and resumed");
}

#[test]
fn a_trail_is_read_where_it_delivers() {
    let fx = Fixture::new();
    fx.moto.trail("org-trail", "org");
    let trail = |name: &str, args: &[&str]| {
        let mut cmd = fx.sb.std_ctlookup();
        cmd.args(["--trail", name, "--endpoint-url", &fx.moto.url(), "--no-progress", "-v", "-o", "jsonl"]);
        cmd.args(args).output().unwrap()
    };
    let window = ["--start-time", "2026-11-03T05:00:00Z", "--end-time", "2026-11-03T09:00:00Z"];
    let by_url = fx.run(&format!("s3://{BUCKET}/org"), &fx.moto.url(), &[&window[..], &["-o", "jsonl"]].concat());
    assert!(!by_url.stdout.is_empty());
    for name in ["org-trail", "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail"] {
        let out = trail(name, &window);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&by_url.stdout), "{stderr}");
        assert!(stderr.contains(&format!("delivering to s3://{BUCKET}/org")), "{stderr}");
    }
    // Without a window, the last 90 days, as for the API.
    let days = fx.run(
        &format!("s3://{BUCKET}/org"),
        &fx.moto.url(),
        &["--since", "90d", "--event-name", "AssumeRole", "-o", "jsonl"],
    );
    let out = trail("org-trail", &["--event-name", "AssumeRole"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&days.stdout));
}

#[test]
fn a_refusal_names_the_permission_and_the_prefix() {
    let fx = Fixture::new();
    let (a, b) = (ACCOUNTS[0], ACCOUNTS[1]);
    let refused = "_CloudTrail_us-east-1_20261103T10";
    let faulty = Faulty::start(fx.moto.port, 0, &[&format!("prefix=org/AWSLogs/{ORG}/{b}/"), refused]);
    let url = format!("http://127.0.0.1:{}", faulty.port);
    // A listing refused: nothing printed, the permission and the prefix named.
    let out = fx.run(&format!("s3://{BUCKET}/org"), &url, &["-o", "json", "--retries", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("s3:ListBucket") && stderr.contains(&format!("'org/AWSLogs/{ORG}/{b}/'")), "{stderr}");
    // Objects refused: each named with s3:GetObject and kms:Decrypt, the rest printed, exit 1.
    let args = [
        "--account",
        a,
        "--region",
        "us-east-1",
        "--start-time",
        "2026-11-03T09:00:00Z",
        "--end-time",
        "2026-11-03T12:00:00Z",
    ];
    let out = fx.run(&format!("s3://{BUCKET}/org"), &url, &[&args[..], &["-o", "jsonl"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("s3:GetObject") && stderr.contains("kms:Decrypt") && stderr.contains(refused), "{stderr}");
    let all = fx.run(&format!("s3://{BUCKET}/org"), &fx.moto.url(), &[&args[..], &["-o", "jsonl"]].concat());
    let (some, every) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&all.stdout));
    assert!(!some.is_empty() && some.lines().count() < every.lines().count());
    assert!(some.lines().all(|l| every.contains(l)));
}

#[test]
fn a_missing_bucket_prints_nothing_and_fails() {
    let fx = Fixture::new();
    let out = fx.run("s3://no-such-bucket/x", &fx.moto.url(), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-bucket"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The trail files below `dir`.
fn trail_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| match path.is_dir() {
            true => trail_files(&path),
            false => usize::from(path.to_string_lossy().contains("_CloudTrail_")),
        })
        .sum()
}

#[test]
fn max_items_stops_the_fetching() {
    let fx = Fixture::new();
    let objects = trail_files(&fx.disk.join("org"));
    let before = fx.moto.requests().len();
    let out = fx.run(&format!("s3://{BUCKET}/org"), &fx.moto.url(), &["--max-items", "5", "-o", "jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    let fetched =
        fx.moto.requests()[before..].iter().filter(|r| r.starts_with("GET") && r.contains("_CloudTrail_")).count();
    // At most the objects printed from (5 at most, one record each at worst), those handed to the
    // reading threads ahead of the printing one (the pool looks 64 objects ahead) and the downloads
    // ahead of those (--s3-concurrency, 16): never the tree.
    assert!(fetched > 0 && fetched <= 5 + 64 + 16 && fetched * 10 < objects, "{fetched} of {objects} objects fetched");
}

/// One account and region over a day, 40 records a file: a run stopped anywhere is mostly inside a file.
fn dense(root: &Path) {
    let newest = Utc.with_ymd_and_hms(2026, 11, 5, 23, 0, 0).unwrap();
    let mut records: Vec<Value> =
        generate::records(&GenOptions { seed: 27, count: 600, newest, max_gap_secs: 120 }).collect();
    records.reverse();
    let (account, region) = (ACCOUNTS[0], REGIONS[0]);
    for (n, file) in records.chunks(40).enumerate() {
        let mut file = file.to_vec();
        for record in &mut file {
            record["recipientAccountId"] = account.into();
            record["awsRegion"] = region.into();
        }
        let delivered = day(file.last().unwrap()["eventTime"].as_str().unwrap()) + chrono::Duration::minutes(5);
        let folder = root.join(format!("dense/AWSLogs/{account}/CloudTrail/{region}/{}", delivered.format("%Y/%m/%d")));
        std::fs::create_dir_all(&folder).unwrap();
        let name = format!("{account}_CloudTrail_{region}_{}_{n:02}.json.gz", delivered.format("%Y%m%dT%H%MZ"));
        generate::write_trail_log_gz(&folder.join(name), &file).unwrap();
    }
}

/// The eventIDs of an aws-shaped JSON document, which must be complete.
fn document_ids(stdout: &[u8]) -> Vec<String> {
    let doc: Value = serde_json::from_slice(stdout).unwrap_or_else(|e| panic!("not a complete document: {e}"));
    doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_signal_prints_a_token_that_reads_exactly_the_rest() {
    let fx = Fixture::of(dense);
    let input = format!("s3://{BUCKET}/dense");
    let url = fx.moto.url();
    let window = ["--start-time", "2026-11-01T00:00:00Z"];
    let run = |args: &[&str]| fx.run(&input, &url, &[&window[..], args].concat());
    let all = run(&["-o", "jsonl"]);
    assert!(all.status.success(), "{}", String::from_utf8_lossy(&all.stderr));
    let all = jsonl_ids(&all.stdout);
    assert_eq!(all.len(), 600);
    for (signal, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        let mut cmd = fx.sb.std_ctlookup();
        cmd.args(["--input", &input, "--endpoint-url", &url, "--no-progress", "-o", "json"]).args(window);
        let mut running = Running::start_unread(&mut cmd);
        // The document is far larger than the pipe: unread, it holds the run until the signal is sent.
        running.first_output();
        running.interrupt(signal);
        let out = running.finish();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        let printed = document_ids(&out.stdout);
        assert!(!printed.is_empty() && printed.len() < all.len(), "{} printed", printed.len());
        let rest = run(&["-o", "jsonl", "--starting-token", &token_in(&stderr)]);
        assert!(rest.status.success(), "{}", String::from_utf8_lossy(&rest.stderr));
        let mut union = printed;
        union.extend(jsonl_ids(&rest.stdout));
        assert_eq!(union, all, "printed + resumed = every event once, in order");
    }
    // --max-items stops with a token too: read in steps that end inside files.
    let (mut union, mut token) = (Vec::new(), None::<String>);
    loop {
        let mut args = vec!["-o", "jsonl", "--max-items", "110"];
        if let Some(token) = &token {
            args.extend(["--starting-token", token]);
        }
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        union.extend(jsonl_ids(&out.stdout));
        if !stderr.contains("--starting-token") {
            break;
        }
        token = Some(token_in(&stderr));
        assert!(union.len() < all.len() + 110, "the steps end");
    }
    assert_eq!(union, all);
    // A token of another read is refused before anything is read: one line, exit 2.
    let token = token.unwrap();
    let other_prefix =
        fx.run(&format!("s3://{BUCKET}/org"), &url, &[&window[..], &["--starting-token", &token]].concat());
    let other_window = fx.run(&input, &url, &["--start-time", "2026-11-02T00:00:00Z", "--starting-token", &token]);
    let api_token = run(&["--starting-token", "eyJOZXh0VG9rZW4iOiAiYSJ9"]);
    let local = fx.disk.join("dense");
    let mut cmd = fx.sb.std_ctlookup();
    let mixed = cmd
        .args(["--input", &input, "--input", local.to_str().unwrap(), "--endpoint-url", &url])
        .args(["--starting-token", &token])
        .output()
        .unwrap();
    for (what, out, says) in [
        ("another prefix", other_prefix, "other buckets, prefixes"),
        ("another window", other_window, "another time window"),
        ("an API token", api_token, "not a token ctlookup printed for a read of trails in S3"),
        ("a local input", mixed, "every --input is in S3"),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains(says) && out.stdout.is_empty(), "{what}: {stderr}");
    }
}

#[test]
fn a_bucket_in_another_region_is_followed() {
    // moto answers every region alike, so the proxy stands for S3 here: it redirects (301, the bucket's
    // region in x-amz-bucket-region) any request signed for a region other than the bucket's.
    let fx = Fixture::new();
    let faulty = Faulty::with(fx.moto.port, Rules { region: Some("eu-west-1".into()), ..Rules::default() });
    let url = format!("http://127.0.0.1:{}", faulty.port);
    let args = ["--start-time", "2026-11-03T00:00:00Z", "--end-time", "2026-11-03T06:00:00Z", "-o", "jsonl"];
    let disk = fx.run(fx.disk.join("org").to_str().unwrap(), "", &args);
    // The client's region is us-east-1 (AWS_REGION): the bucket's is learnt, not named.
    let s3 = fx.run(&format!("s3://{BUCKET}/org"), &url, &args);
    let stderr = String::from_utf8_lossy(&s3.stderr);
    assert!(s3.status.success(), "{stderr}");
    assert!(!disk.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&s3.stdout), String::from_utf8_lossy(&disk.stdout), "{stderr}");
    // Only the first request (HeadBucket, which asks for the region) went to the wrong region.
    assert_eq!(faulty.redirected.load(Ordering::SeqCst), 1);
    assert!(faulty.seen.load(Ordering::SeqCst) > 10);
}
