//! Deterministic generator of realistic CloudTrail records, and writers for every shape ctlookup reads.
//!
//! [`records`] yields management-event records exactly as they appear in trail log files (same field
//! names and order as the service writes them), newest first, reproducible for a seed. The mix follows
//! what an ordinary account sees: IAM users `alice` and `bob` with long-term `AKIA…` keys, assumed roles
//! with a full `sessionContext` (`AdminRole`, `ReadOnlyRole`, `deploy-role`, a Lambda execution role and
//! an Auto Scaling service-linked role), a federated user, the root user and AWS services, calling EC2,
//! S3, IAM, STS, sign-in, KMS, Lambda, CloudWatch and CloudTrail in a few regions. About 15% of the
//! events fail (`AccessDenied`, `Client.UnauthorizedOperation`, `AccessDeniedException`,
//! `ThrottlingException`, a failed `ConsoleLogin`…).
//!
//! Every block of 50 consecutive records contains, at shuffled positions, one of each of these cases, so
//! that even a short sample exercises them: a successful and a failed `ConsoleLogin`, a root
//! `ConsoleLogin`, a `SwitchRole`, an S3 `AccessDenied`, an EC2 `Client.UnauthorizedOperation`, a
//! `ThrottlingException`, an `AssumeRole` by an AWS service, a federated user, a `RunInstances` by an
//! assumed role (with `resources`), Japanese text (`本番環境の説明`), a userAgent that is a spreadsheet
//! formula, a userAgent with ANSI escapes, and values with commas, double quotes and newlines.
//!
//! [`insight_records`] yields CloudTrail Insights records (a separate stream, as in the service).
//!
//! [`api_event`] and [`aws_cli_event`] derive the `LookupEvents` envelope from a record the way the
//! service does; the `write_*` functions produce `aws cloudtrail lookup-events` documents, JSON Lines,
//! gzip trail log files and whole trail directory trees.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use base64::Engine as _;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use flate2::{write::GzEncoder, Compression};
use serde::Serialize;
use serde_json::{json, Map, Value};

// ctlookup's own derivation of Event history's Resources, so that the envelopes served here are the ones
// ctlookup derives from trail files.
#[path = "../../../src/resources.rs"]
mod resources;

/// The account most events belong to.
pub const MAIN_ACCOUNT: &str = "111122223333";
/// A second account (CI/CD deployments) so that trail trees have more than one account.
pub const DEV_ACCOUNT: &str = "444455556666";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Same seed (and other options), same records.
    pub seed: u64,
    /// Number of records.
    pub count: usize,
    /// Time of the first (newest) record; sub-second digits are dropped.
    pub newest: DateTime<Utc>,
    /// Each record is 0..=max_gap_secs seconds older than the previous one.
    pub max_gap_secs: u32,
}

impl Default for GenOptions {
    /// Seed 1, 100 events, newest at 2024-07-22T09:00:00Z, up to 120 s apart.
    fn default() -> Self {
        GenOptions {
            seed: 1,
            count: 100,
            newest: Utc.with_ymd_and_hms(2024, 7, 22, 9, 0, 0).unwrap(),
            max_gap_secs: 120,
        }
    }
}

/// Records as they appear in trail log files, newest first, deterministic for a seed, unique eventIDs
/// (UUID-shaped).
pub fn records(opts: &GenOptions) -> impl Iterator<Item = Value> {
    Generator::new(opts)
}

/// CloudTrail Insights records (`eventCategory` "Insight"), newest first, deterministic for a seed:
/// pairs of `End` and `Start` records sharing a `sharedEventID`. They carry no `eventName`,
/// `eventSource` or `userIdentity` at the top level; those live in `insightDetails`.
pub fn insight_records(opts: &GenOptions) -> impl Iterator<Item = Value> {
    InsightGenerator::new(opts)
}

// ---------------------------------------------------------------------------------------------------
// LookupEvents envelope

/// The LookupEvents API shape of a record: `{"EventId","EventName","ReadOnly","AccessKeyId"?,"EventTime"
/// (epoch seconds, a number),"EventSource","Username"?,"Resources":[…],"CloudTrailEvent"}`.
///
/// Rules: EventId=eventID, EventName=eventName, EventSource=eventSource (for Insights records, which have
/// no top-level eventName/eventSource, the ones in `insightDetails`), ReadOnly=readOnly as the string
/// "true"/"false" (omitted when absent), AccessKeyId=userIdentity.accessKeyId when non-empty, Username per
/// [`envelope_username`], Resources=`{"ResourceType","ResourceName"}` named from the request and response
/// by ctlookup's rules (src/resources.rs), always present, CloudTrailEvent=the record serialized compactly
/// in its own key order.
pub fn api_event(record: &Value) -> Value {
    envelope(record, |t| {
        if t.timestamp_subsec_nanos() == 0 {
            Value::from(t.timestamp())
        } else {
            Value::from(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
        }
    })
}

/// Same as `aws cloudtrail lookup-events --output json` prints one event: as [`api_event`] but with
/// `EventTime` as an RFC 3339 string with offset, `"2024-07-22T09:00:00+00:00"`.
pub fn aws_cli_event(record: &Value) -> Value {
    envelope(record, |t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)))
}

/// The `Username` of the LookupEvents envelope: userIdentity.userName if present; else the last
/// `/`-segment of userIdentity.arn for AssumedRole (the role session name) and FederatedUser; "root" for
/// Root; userIdentity.invokedBy for AWSService; otherwise none.
pub fn envelope_username(record: &Value) -> Option<String> {
    let ui = record.get("userIdentity")?;
    if let Some(name) = ui.get("userName").and_then(Value::as_str) {
        return Some(name.to_string());
    }
    let last_arn_segment =
        || ui.get("arn").and_then(Value::as_str).and_then(|arn| arn.rsplit('/').next()).map(str::to_string);
    match ui.get("type").and_then(Value::as_str)? {
        "AssumedRole" | "FederatedUser" => last_arn_segment(),
        "Root" => Some("root".to_string()),
        "AWSService" => ui.get("invokedBy").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn envelope(record: &Value, time: impl Fn(DateTime<Utc>) -> Value) -> Value {
    let str_field = |key: &str| record.get(key).and_then(Value::as_str);
    let insight = |key: &str| record.get("insightDetails").and_then(|d| d.get(key)).and_then(Value::as_str);
    let mut m = Map::new();
    if let Some(id) = str_field("eventID") {
        m.insert("EventId".into(), id.into());
    }
    if let Some(name) = str_field("eventName").or_else(|| insight("eventName")) {
        m.insert("EventName".into(), name.into());
    }
    match record.get("readOnly") {
        Some(Value::Bool(b)) => {
            m.insert("ReadOnly".into(), b.to_string().into());
        }
        Some(Value::String(s)) => {
            m.insert("ReadOnly".into(), s.clone().into());
        }
        _ => {}
    }
    let key =
        record.get("userIdentity").and_then(|u| u.get("accessKeyId")).and_then(Value::as_str).filter(|k| !k.is_empty());
    if let Some(key) = key {
        m.insert("AccessKeyId".into(), key.into());
    }
    if let Some(t) = str_field("eventTime").and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        m.insert("EventTime".into(), time(t.with_timezone(&Utc)));
    }
    if let Some(source) = str_field("eventSource").or_else(|| insight("eventSource")) {
        m.insert("EventSource".into(), source.into());
    }
    if let Some(user) = envelope_username(record) {
        m.insert("Username".into(), user.into());
    }
    let resources: Vec<Value> = resources::derive(record)
        .into_iter()
        .map(|(kind, name)| {
            let mut o = Map::new();
            if let Some(kind) = kind {
                o.insert("ResourceType".into(), kind.into());
            }
            if let Some(name) = name {
                o.insert("ResourceName".into(), name.into());
            }
            Value::Object(o)
        })
        .collect();
    m.insert("Resources".into(), Value::Array(resources));
    m.insert("CloudTrailEvent".into(), serde_json::to_string(record).expect("a JSON value always serializes").into());
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------------
// Writers

/// Streams a document shaped like `aws cloudtrail lookup-events --output json` prints it: 4-space
/// indentation, `": "` after keys, non-ASCII text unescaped, a final newline.
pub struct AwsCliWriter<W: Write> {
    w: W,
    first: bool,
}

impl<W: Write> AwsCliWriter<W> {
    /// Writes the opening `{"Events": [`.
    pub fn new(mut w: W) -> io::Result<Self> {
        w.write_all(b"{\n    \"Events\": [")?;
        Ok(AwsCliWriter { w, first: true })
    }

    /// Writes the envelope ([`aws_cli_event`]) of one record.
    pub fn write_record(&mut self, record: &Value) -> io::Result<()> {
        self.write_event(&aws_cli_event(record))
    }

    /// Writes one already-built event object.
    pub fn write_event(&mut self, event: &Value) -> io::Result<()> {
        let mut buf = Vec::with_capacity(4096);
        let mut ser =
            serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b"    "));
        event.serialize(&mut ser)?;
        self.w.write_all(if self.first { b"\n        " } else { b",\n        " })?;
        // Strings never contain a raw newline (JSON escapes it), so every newline is structural.
        for (i, line) in buf.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.w.write_all(b"\n        ")?;
            }
            self.w.write_all(line)?;
        }
        self.first = false;
        Ok(())
    }

    /// Closes the document and returns the writer (flushed).
    pub fn finish(mut self) -> io::Result<W> {
        if self.first {
            self.w.write_all(b"]\n}\n")?;
        } else {
            self.w.write_all(b"\n    ]\n}\n")?;
        }
        self.w.flush()?;
        Ok(self.w)
    }
}

/// The aws CLI document `{"Events":[…]}` of these records, pretty-printed with 4-space indent.
pub fn write_aws_cli_document(w: impl Write, records: &[Value]) -> io::Result<()> {
    let mut out = AwsCliWriter::new(BufWriter::new(w))?;
    for r in records {
        out.write_record(r)?;
    }
    out.finish()?;
    Ok(())
}

/// JSON Lines: one compact record per line.
pub fn write_records_jsonl(w: impl Write, records: &[Value]) -> io::Result<()> {
    let mut w = BufWriter::new(w);
    for r in records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// A gzip trail log file: `{"Records":[…]}` compact on one line, records in the given order.
pub fn write_trail_log_gz(path: &Path, records: &[Value]) -> io::Result<()> {
    write_trail_log_gz_refs(path, records.iter())
}

fn write_trail_log_gz_refs<'a>(path: &Path, records: impl Iterator<Item = &'a Value>) -> io::Result<()> {
    let file = File::create(path)?;
    // Serialize into a buffer first: the compressor is slow with the many small writes of a serializer.
    let mut w = BufWriter::with_capacity(1 << 16, GzEncoder::new(file, Compression::default()));
    w.write_all(b"{\"Records\":[")?;
    for (i, r) in records.enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(&mut w, r)?;
    }
    w.write_all(b"]}")?;
    w.into_inner().map_err(|e| e.into_error())?.finish()?;
    Ok(())
}

/// A directory tree as synced from a trail's S3 bucket:
/// `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz`,
/// records grouped into 5-minute files by eventTime (the file's timestamp is the start of its 5 minutes),
/// account (recipientAccountId) and region (awsRegion); each file lists its records oldest first.
/// Insights records go under `CloudTrail-Insight` as the service does. The `<random>` part is
/// derived from the file's key, so the same records always give the same tree.
pub fn write_trail_tree(dir: &Path, records: &[Value]) -> io::Result<()> {
    let mut groups: BTreeMap<TreeKey, Vec<(i64, &Value)>> = BTreeMap::new();
    for r in records {
        let (key, t) = tree_key(r);
        groups.entry(key).or_default().push((t, r));
    }
    for (key, mut items) in groups {
        items.sort_by_key(|(t, _)| *t);
        write_tree_file(dir, &key, 0, items.iter().map(|(_, r)| *r))?;
    }
    Ok(())
}

/// Writes the same tree as [`write_trail_tree`] from a stream of records in time order (newest first or
/// oldest first), holding only one 5-minute window in memory. Records out of order are still all
/// written: a window that comes back gets a second file instead of overwriting the first.
pub struct TrailTreeWriter {
    dir: std::path::PathBuf,
    window: Option<i64>,
    groups: BTreeMap<TreeKey, Vec<(i64, Value)>>,
    written: std::collections::HashMap<TreeKey, u32>,
}

impl TrailTreeWriter {
    /// A writer that puts the `AWSLogs/…` tree under `dir`.
    pub fn new(dir: &Path) -> Self {
        TrailTreeWriter {
            dir: dir.to_path_buf(),
            window: None,
            groups: BTreeMap::new(),
            written: std::collections::HashMap::new(),
        }
    }

    /// Adds one record; writes the previous window's files when this one starts a new window.
    pub fn push(&mut self, record: Value) -> io::Result<()> {
        let (key, t) = tree_key(&record);
        if self.window != Some(key.3) {
            self.flush()?;
            self.window = Some(key.3);
        }
        self.groups.entry(key).or_default().push((t, record));
        Ok(())
    }

    /// Writes the last window.
    pub fn finish(mut self) -> io::Result<()> {
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        for (key, mut items) in std::mem::take(&mut self.groups) {
            items.sort_by_key(|(t, _)| *t);
            let seen = self.written.entry(key.clone()).or_insert(0);
            write_tree_file(&self.dir, &key, *seen, items.iter().map(|(_, r)| r))?;
            *seen += 1;
        }
        Ok(())
    }
}

/// (account, "CloudTrail" or "CloudTrail-Insight", region, start of the 5-minute window)
type TreeKey = (String, &'static str, String, i64);

fn tree_key(r: &Value) -> (TreeKey, i64) {
    let account = r
        .get("recipientAccountId")
        .or_else(|| r.get("userIdentity").and_then(|u| u.get("accountId")))
        .and_then(Value::as_str)
        .unwrap_or(MAIN_ACCOUNT)
        .to_string();
    let region = r.get("awsRegion").and_then(Value::as_str).unwrap_or("us-east-1").to_string();
    let kind = if r.get("eventCategory").and_then(Value::as_str) == Some("Insight") {
        "CloudTrail-Insight"
    } else {
        "CloudTrail"
    };
    let t = r
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0);
    ((account, kind, region, t.div_euclid(300) * 300), t)
}

fn write_tree_file<'a>(
    dir: &Path,
    (account, kind, region, window): &TreeKey,
    repeat: u32,
    records: impl Iterator<Item = &'a Value>,
) -> io::Result<()> {
    let start = Utc.timestamp_opt(*window, 0).unwrap();
    let folder = dir
        .join("AWSLogs")
        .join(account)
        .join(kind)
        .join(region)
        .join(format!("{:04}", start.year()))
        .join(format!("{:02}", start.month()))
        .join(format!("{:02}", start.day()));
    fs::create_dir_all(&folder)?;
    let stamp = start.format("%Y%m%dT%H%MZ");
    let mut seed = format!("{account}/{kind}/{region}/{window}");
    if repeat > 0 {
        seed.push_str(&format!("#{repeat}"));
    }
    let suffix = stable_chars(&seed, 16, ALNUM_MIXED);
    let name = format!("{account}_{kind}_{region}_{stamp}_{suffix}.json.gz");
    write_trail_log_gz_refs(&folder.join(name), records)
}

// ---------------------------------------------------------------------------------------------------
// Small deterministic helpers

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM_MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const HEX_UPPER: &[u8] = b"0123456789ABCDEF";

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn chars_from(rng: &mut fastrand::Rng, n: usize, alphabet: &[u8]) -> String {
    (0..n).map(|_| alphabet[rng.usize(..alphabet.len())] as char).collect()
}

/// Characters that depend only on `key`: stable IDs for fixed principals, keys and resources.
fn stable_chars(key: &str, n: usize, alphabet: &[u8]) -> String {
    chars_from(&mut fastrand::Rng::with_seed(fnv(key)), n, alphabet)
}

fn stable_id(prefix: &str, key: &str, n: usize) -> String {
    format!("{prefix}{}", stable_chars(key, n, BASE32))
}

fn format_uuid(hi: u64, lo: u64) -> String {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

fn stable_uuid(key: &str) -> String {
    let mut rng = fastrand::Rng::with_seed(fnv(key));
    format_uuid(rng.u64(..), rng.u64(..))
}

/// A bijection on 48-bit integers, so that distinct indexes give distinct eventID tails.
fn mix48(mut x: u64) -> u64 {
    const MASK: u64 = (1 << 48) - 1;
    x &= MASK;
    x ^= x >> 23;
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & MASK;
    x ^= x >> 19;
    x = x.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) & MASK;
    x ^= x >> 25;
    x
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut r = rng.u32(..total);
    for &(item, weight) in items {
        if r < weight {
            return item;
        }
        r -= weight;
    }
    items[items.len() - 1].0
}

fn one<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Dates inside IAM/STS/KMS request and response elements look like "Jul 22, 2024, 1:02:03 AM".
fn java_date(t: DateTime<Utc>) -> String {
    t.format("%b %-d, %Y, %-I:%M:%S %p").to_string()
}

/// "DescribeInstances" → "describe-instances"; "GetFunction20150331v2" → "get-function".
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_digit() {
            break;
        }
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// The cast: who calls, from where, with what

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// IAM user alice, CLI and SDK with an AKIA key.
    Alice,
    /// IAM user bob, CLI with an AKIA key; less privileged.
    Bob,
    /// alice in the console after switching to AdminRole (session "alice").
    Admin,
    /// bob in the console after switching to ReadOnlyRole (session "bob").
    ReadOnly,
    /// CI/CD from GitHub Actions through OIDC, deploy-role in the second account.
    Deploy,
    /// A Lambda function's execution role.
    LambdaExec,
    /// The Auto Scaling service-linked role.
    AutoScaling,
    Root,
    /// A federated user (GetFederationToken through a broker IAM user).
    Carol,
    /// An AWS service acting on its own (`AWSService`), with its invokedBy.
    Service(&'static str),
}

struct RoleInfo {
    name: &'static str,
    path: &'static str,
    account: &'static str,
    session: &'static str,
    mfa: bool,
}

fn role_info(actor: Actor) -> Option<RoleInfo> {
    let r = |name, path, account, session, mfa| Some(RoleInfo { name, path, account, session, mfa });
    match actor {
        Actor::Admin => r("AdminRole", "/", MAIN_ACCOUNT, "alice", true),
        Actor::ReadOnly => r("ReadOnlyRole", "/", MAIN_ACCOUNT, "bob", false),
        Actor::Deploy => r("deploy-role", "/", DEV_ACCOUNT, "GitHubActions", false),
        Actor::LambdaExec => r("order-processor-role", "/service-role/", MAIN_ACCOUNT, "order-processor", false),
        Actor::AutoScaling => r(
            "AWSServiceRoleForAutoScaling",
            "/aws-service-role/autoscaling.amazonaws.com/",
            MAIN_ACCOUNT,
            "AutoScaling",
            false,
        ),
        _ => None,
    }
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{MAIN_ACCOUNT}:user/{name}")
}

fn role_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role{path}{name}")
}

fn user_key(name: &str, n: u32) -> String {
    stable_id("AKIA", &format!("key/{name}/{n}"), 16)
}

struct Caller {
    actor: Actor,
    identity: Value,
    arn: String,
    account: &'static str,
    ip: String,
    ua: String,
    console: bool,
    vpce: Option<String>,
    /// Called by an AWS service on its own: no tlsDetails.
    internal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Svc {
    Ec2,
    S3,
    Iam,
    Sts,
    Signin,
    Kms,
    Lambda,
    CloudWatch,
    CloudTrail,
}

impl Svc {
    fn source(self) -> &'static str {
        match self {
            Svc::Ec2 => "ec2.amazonaws.com",
            Svc::S3 => "s3.amazonaws.com",
            Svc::Iam => "iam.amazonaws.com",
            Svc::Sts => "sts.amazonaws.com",
            Svc::Signin => "signin.amazonaws.com",
            Svc::Kms => "kms.amazonaws.com",
            Svc::Lambda => "lambda.amazonaws.com",
            Svc::CloudWatch => "monitoring.amazonaws.com",
            Svc::CloudTrail => "cloudtrail.amazonaws.com",
        }
    }
    /// The IAM action prefix and SDK service id.
    fn prefix(self) -> &'static str {
        match self {
            Svc::Ec2 => "ec2",
            Svc::S3 => "s3",
            Svc::Iam => "iam",
            Svc::Sts => "sts",
            Svc::Signin => "signin",
            Svc::Kms => "kms",
            Svc::Lambda => "lambda",
            Svc::CloudWatch => "cloudwatch",
            Svc::CloudTrail => "cloudtrail",
        }
    }
    fn global(self) -> bool {
        matches!(self, Svc::Iam | Svc::Sts | Svc::Signin)
    }
    fn version(self) -> &'static str {
        match self {
            Svc::Ec2 | Svc::S3 => "1.09",
            _ => "1.08",
        }
    }
    fn host(self, region: &str) -> String {
        match self {
            Svc::Iam => "iam.amazonaws.com".into(),
            Svc::Sts => "sts.amazonaws.com".into(),
            Svc::Signin => "signin.aws.amazon.com".into(),
            Svc::S3 => format!("s3.{region}.amazonaws.com"),
            Svc::CloudWatch => format!("monitoring.{region}.amazonaws.com"),
            other => format!("{}.{region}.amazonaws.com", other.prefix()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    DescribeInstances,
    RunInstances,
    TerminateInstances,
    CreateSecurityGroup,
    ListBuckets,
    GetBucketAcl,
    CreateBucket,
    PutBucketPolicy,
    PutBucketTagging,
    ListRoles,
    GetRole,
    CreateUser,
    AttachRolePolicy,
    CreateRole,
    AssumeRole,
    GetCallerIdentity,
    ConsoleLogin,
    SwitchRole,
    Decrypt,
    GenerateDataKey,
    CreateKey,
    ListFunctions,
    GetFunction,
    UpdateFunctionCode,
    CreateFunction,
    DescribeAlarms,
    GetMetricData,
    PutMetricAlarm,
    LookupEvents,
}

const KINDS: &[(Kind, u32)] = &[
    (Kind::DescribeInstances, 12),
    (Kind::RunInstances, 3),
    (Kind::TerminateInstances, 2),
    (Kind::CreateSecurityGroup, 1),
    (Kind::ListBuckets, 5),
    (Kind::GetBucketAcl, 3),
    (Kind::CreateBucket, 2),
    (Kind::PutBucketPolicy, 2),
    (Kind::PutBucketTagging, 1),
    (Kind::ListRoles, 3),
    (Kind::GetRole, 2),
    (Kind::CreateUser, 1),
    (Kind::AttachRolePolicy, 2),
    (Kind::CreateRole, 1),
    (Kind::AssumeRole, 7),
    (Kind::GetCallerIdentity, 6),
    (Kind::ConsoleLogin, 3),
    (Kind::SwitchRole, 2),
    (Kind::Decrypt, 6),
    (Kind::GenerateDataKey, 3),
    (Kind::CreateKey, 1),
    (Kind::ListFunctions, 3),
    (Kind::GetFunction, 2),
    (Kind::UpdateFunctionCode, 1),
    (Kind::CreateFunction, 1),
    (Kind::DescribeAlarms, 4),
    (Kind::GetMetricData, 3),
    (Kind::PutMetricAlarm, 1),
    (Kind::LookupEvents, 3),
];

impl Kind {
    fn svc(self) -> Svc {
        use Kind::*;
        match self {
            DescribeInstances | RunInstances | TerminateInstances | CreateSecurityGroup => Svc::Ec2,
            ListBuckets | GetBucketAcl | CreateBucket | PutBucketPolicy | PutBucketTagging => Svc::S3,
            ListRoles | GetRole | CreateUser | AttachRolePolicy | CreateRole => Svc::Iam,
            AssumeRole | GetCallerIdentity => Svc::Sts,
            ConsoleLogin | SwitchRole => Svc::Signin,
            Decrypt | GenerateDataKey | CreateKey => Svc::Kms,
            ListFunctions | GetFunction | UpdateFunctionCode | CreateFunction => Svc::Lambda,
            DescribeAlarms | GetMetricData | PutMetricAlarm => Svc::CloudWatch,
            LookupEvents => Svc::CloudTrail,
        }
    }

    fn name(self) -> &'static str {
        use Kind::*;
        match self {
            DescribeInstances => "DescribeInstances",
            RunInstances => "RunInstances",
            TerminateInstances => "TerminateInstances",
            CreateSecurityGroup => "CreateSecurityGroup",
            ListBuckets => "ListBuckets",
            GetBucketAcl => "GetBucketAcl",
            CreateBucket => "CreateBucket",
            PutBucketPolicy => "PutBucketPolicy",
            PutBucketTagging => "PutBucketTagging",
            ListRoles => "ListRoles",
            GetRole => "GetRole",
            CreateUser => "CreateUser",
            AttachRolePolicy => "AttachRolePolicy",
            CreateRole => "CreateRole",
            AssumeRole => "AssumeRole",
            GetCallerIdentity => "GetCallerIdentity",
            ConsoleLogin => "ConsoleLogin",
            SwitchRole => "SwitchRole",
            Decrypt => "Decrypt",
            GenerateDataKey => "GenerateDataKey",
            CreateKey => "CreateKey",
            ListFunctions => "ListFunctions20150331",
            GetFunction => "GetFunction20150331v2",
            UpdateFunctionCode => "UpdateFunctionCode20150331v2",
            CreateFunction => "CreateFunction20150331",
            DescribeAlarms => "DescribeAlarms",
            GetMetricData => "GetMetricData",
            PutMetricAlarm => "PutMetricAlarm",
            LookupEvents => "LookupEvents",
        }
    }

    fn read_only(self) -> bool {
        use Kind::*;
        matches!(
            self,
            DescribeInstances
                | ListBuckets
                | GetBucketAcl
                | ListRoles
                | GetRole
                | AssumeRole
                | GetCallerIdentity
                | Decrypt
                | GenerateDataKey
                | ListFunctions
                | GetFunction
                | DescribeAlarms
                | GetMetricData
                | LookupEvents
        )
    }

    fn actors(self) -> &'static [(Actor, u32)] {
        use Actor::*;
        const GENERAL: &[(Actor, u32)] =
            &[(Alice, 20), (Bob, 12), (Admin, 16), (ReadOnly, 10), (Deploy, 14), (Carol, 2), (Root, 1)];
        match self {
            Kind::DescribeInstances | Kind::RunInstances | Kind::TerminateInstances => &[
                (Alice, 20),
                (Bob, 12),
                (Admin, 16),
                (ReadOnly, 10),
                (Deploy, 14),
                (Carol, 2),
                (Root, 1),
                (AutoScaling, 8),
            ],
            Kind::Decrypt | Kind::GenerateDataKey => {
                &[(LambdaExec, 10), (Deploy, 5), (Admin, 3), (Alice, 2), (Service("cloudtrail.amazonaws.com"), 3)]
            }
            Kind::GetMetricData => &[(Alice, 4), (Admin, 4), (ReadOnly, 4), (LambdaExec, 3)],
            Kind::ConsoleLogin => &[(Alice, 5), (Bob, 3), (Root, 1)],
            Kind::SwitchRole => &[(Admin, 3), (ReadOnly, 2)],
            Kind::AssumeRole => &[
                (Alice, 3),
                (Bob, 2),
                (Deploy, 2),
                (Service("lambda.amazonaws.com"), 3),
                (Service("ec2.amazonaws.com"), 2),
            ],
            _ => GENERAL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Denied,
    Throttled,
}

/// A userAgent that is a spreadsheet formula (CSV injection through a caller-chosen field).
pub const FORMULA_USER_AGENT: &str = r#"=HYPERLINK("http://evil.example","click")"#;
/// A userAgent with ANSI colour escapes (terminal injection).
pub const ANSI_USER_AGENT: &str =
    "\u{1b}[31maws-cli/2.13.0\u{1b}[0m Python/3.11.4 Linux/5.15.0 \u{1b}[1mexe/x86_64\u{1b}[0m";
/// Japanese text used in descriptions and tags.
pub const JAPANESE_TEXT: &str = "本番環境の説明";

/// One of the cases planted in every block of [`BLOCK`] records.
#[derive(Debug, Clone, Copy)]
enum Planted {
    ConsoleLoginSuccess,
    ConsoleLoginFailure,
    S3AccessDenied,
    FormulaUserAgent,
    AnsiUserAgent,
    Japanese,
    CommasQuotesNewlines,
    AssumedRoleRunInstances,
    RootConsoleLogin,
    ServiceAssumeRole,
    FederatedUser,
    Throttling,
    Ec2Unauthorized,
    SwitchRole,
}

const PLANTED: &[Planted] = &[
    Planted::ConsoleLoginSuccess,
    Planted::ConsoleLoginFailure,
    Planted::S3AccessDenied,
    Planted::FormulaUserAgent,
    Planted::AnsiUserAgent,
    Planted::Japanese,
    Planted::CommasQuotesNewlines,
    Planted::AssumedRoleRunInstances,
    Planted::RootConsoleLogin,
    Planted::ServiceAssumeRole,
    Planted::FederatedUser,
    Planted::Throttling,
    Planted::Ec2Unauthorized,
    Planted::SwitchRole,
];

/// Every block of this many consecutive records holds one of each planted case.
pub const BLOCK: usize = 50;

#[derive(Default)]
struct Spec {
    actor: Option<Actor>,
    fail: Option<Option<Fail>>,
    ua: Option<String>,
    ip: Option<String>,
}

impl Planted {
    fn spec(self) -> (Kind, Spec) {
        let s = |actor: Actor, fail: Option<Fail>| Spec { actor: Some(actor), fail: Some(fail), ..Spec::default() };
        match self {
            Planted::ConsoleLoginSuccess => (Kind::ConsoleLogin, s(Actor::Alice, None)),
            Planted::ConsoleLoginFailure => (Kind::ConsoleLogin, s(Actor::Bob, Some(Fail::Denied))),
            Planted::S3AccessDenied => (Kind::PutBucketPolicy, s(Actor::Bob, Some(Fail::Denied))),
            Planted::FormulaUserAgent => (
                Kind::ListBuckets,
                Spec { ua: Some(FORMULA_USER_AGENT.into()), ip: Some("198.51.100.77".into()), ..s(Actor::Alice, None) },
            ),
            Planted::AnsiUserAgent => {
                (Kind::GetCallerIdentity, Spec { ua: Some(ANSI_USER_AGENT.into()), ..s(Actor::Bob, None) })
            }
            Planted::Japanese => (Kind::CreateSecurityGroup, s(Actor::Admin, None)),
            Planted::CommasQuotesNewlines => (Kind::CreateRole, s(Actor::Admin, None)),
            Planted::AssumedRoleRunInstances => (Kind::RunInstances, s(Actor::Deploy, None)),
            Planted::RootConsoleLogin => (Kind::ConsoleLogin, s(Actor::Root, None)),
            Planted::ServiceAssumeRole => (Kind::AssumeRole, s(Actor::Service("lambda.amazonaws.com"), None)),
            Planted::FederatedUser => (Kind::DescribeInstances, s(Actor::Carol, None)),
            Planted::Throttling => (Kind::LookupEvents, s(Actor::ReadOnly, Some(Fail::Throttled))),
            Planted::Ec2Unauthorized => (Kind::RunInstances, s(Actor::Bob, Some(Fail::Denied))),
            Planted::SwitchRole => (Kind::SwitchRole, s(Actor::Admin, None)),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// A record under construction, assembled in the service's key order.

struct Draft {
    version: &'static str,
    identity: Value,
    source: &'static str,
    name: &'static str,
    region: &'static str,
    ip: String,
    ua: String,
    error_code: Option<String>,
    error_message: Option<String>,
    request: Value,
    response: Value,
    additional: Option<Value>,
    request_id: Option<String>,
    read_only: bool,
    resources: Vec<Value>,
    event_type: &'static str,
    api_version: Option<&'static str>,
    account: &'static str,
    shared_event_id: Option<String>,
    vpce: Option<String>,
    tls: Option<Value>,
    console: bool,
    /// The resource named in an AccessDenied message.
    denied_resource: Option<String>,
}

impl Draft {
    fn into_record(self, time: DateTime<Utc>, event_id: String) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("eventVersion", self.version.into());
        put("userIdentity", self.identity);
        put("eventTime", iso(time).into());
        put("eventSource", self.source.into());
        put("eventName", self.name.into());
        put("awsRegion", self.region.into());
        put("sourceIPAddress", self.ip.into());
        put("userAgent", self.ua.into());
        if let Some(code) = self.error_code {
            put("errorCode", code.into());
        }
        if let Some(msg) = self.error_message {
            put("errorMessage", msg.into());
        }
        put("requestParameters", self.request);
        put("responseElements", self.response);
        if let Some(extra) = self.additional {
            put("additionalEventData", extra);
        }
        if let Some(id) = self.request_id {
            put("requestID", id.into());
        }
        put("eventID", event_id.into());
        put("readOnly", self.read_only.into());
        if !self.resources.is_empty() {
            put("resources", Value::Array(self.resources));
        }
        put("eventType", self.event_type.into());
        if let Some(v) = self.api_version {
            put("apiVersion", v.into());
        }
        put("managementEvent", true.into());
        put("recipientAccountId", self.account.into());
        if let Some(id) = self.shared_event_id {
            put("sharedEventID", id.into());
        }
        if let Some(vpce) = self.vpce {
            put("vpcEndpointId", vpce.into());
        }
        put("eventCategory", "Management".into());
        if let Some(tls) = self.tls {
            put("tlsDetails", tls);
        }
        if self.console {
            put("sessionCredentialFromConsole", "true".into());
        }
        Value::Object(m)
    }
}

// ---------------------------------------------------------------------------------------------------
// The generator

struct Generator {
    rng: fastrand::Rng,
    remaining: usize,
    index: u64,
    time: DateTime<Utc>,
    max_gap: u32,
    id_key: u64,
    planted: Vec<Option<Planted>>,
}

fn start_time(newest: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(newest.timestamp(), 0).unwrap()
}

fn event_id(rng: &mut fastrand::Rng, index: u64, key: u64) -> String {
    let hi = rng.u64(..);
    let lo = (rng.u64(..) & 0xFFFF_0000_0000_0000) | mix48(index ^ key);
    format_uuid(hi, lo)
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if self.index > 0 {
            let gap = self.rng.u32(..=self.max_gap);
            self.time -= Duration::seconds(i64::from(gap));
        }
        let slot = (self.index % BLOCK as u64) as usize;
        if slot == 0 {
            self.plan_block();
        }
        let (kind, spec) = match self.planted[slot].take() {
            Some(p) => p.spec(),
            None => (pick(&mut self.rng, KINDS), Spec::default()),
        };
        let draft = self.build(kind, spec);
        let id = event_id(&mut self.rng, self.index, self.id_key);
        self.index += 1;
        Some(draft.into_record(self.time, id))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Generator {}

impl Generator {
    fn new(opts: &GenOptions) -> Self {
        let mut rng = fastrand::Rng::with_seed(opts.seed ^ 0x5EED_C10D_7A11_0001);
        let id_key = rng.u64(..);
        Generator {
            rng,
            remaining: opts.count,
            index: 0,
            time: start_time(opts.newest),
            max_gap: opts.max_gap_secs,
            id_key,
            planted: vec![None; BLOCK],
        }
    }

    fn plan_block(&mut self) {
        let mut slots: Vec<usize> = (0..BLOCK).collect();
        self.rng.shuffle(&mut slots);
        self.planted = vec![None; BLOCK];
        for (p, &slot) in PLANTED.iter().zip(&slots) {
            self.planted[slot] = Some(*p);
        }
    }

    // --- randomness helpers ---

    fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.u32(..1000) < per_mille
    }

    fn uuid(&mut self) -> String {
        format_uuid(self.rng.u64(..), self.rng.u64(..))
    }

    fn hex(&mut self, n: usize) -> String {
        chars_from(&mut self.rng, n, HEX)
    }

    fn region(&mut self) -> &'static str {
        pick(&mut self.rng, &[("ap-northeast-1", 5), ("us-east-1", 3), ("us-west-2", 2)])
    }

    fn ip_alice(&mut self) -> String {
        if self.chance(650) {
            format!("203.0.113.{}", self.rng.u8(10..=60))
        } else {
            format!("2001:db8:1f70:{:x}::{:x}", self.rng.u16(0x100..0x110), self.rng.u16(1..0xffff))
        }
    }

    fn ip_bob(&mut self) -> String {
        if self.chance(700) {
            format!("198.51.100.{}", self.rng.u8(2..=254))
        } else {
            format!("2001:db8:4c2a::{:x}:{:x}", self.rng.u16(1..0xffff), self.rng.u16(1..0xffff))
        }
    }

    fn ip_vpc(&mut self) -> String {
        format!("10.0.{}.{}", self.rng.u8(0..16), self.rng.u8(4..=250))
    }

    fn tls(&mut self, host: String) -> Value {
        if self.chance(800) {
            json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host})
        } else {
            json!({"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256", "clientProvidedHostHeader": host})
        }
    }

    // --- user agents ---

    fn ua_cli(&mut self, svc: Svc, name: &str) -> String {
        let cmd = format!("{}.{}", svc.prefix(), kebab(name));
        if self.rng.bool() {
            format!("aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.96-102.177.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython exec-env/CloudShell cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#{cmd}")
        } else {
            format!("aws-cli/2.15.30 Python/3.11.8 Darwin/23.5.0 exe/x86_64 prompt/off command/{cmd}")
        }
    }

    fn ua_boto(&mut self) -> String {
        "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144".into()
    }

    fn ua_terraform(&mut self, svc: Svc) -> String {
        format!("APN/1.0 HashiCorp/1.0 Terraform/1.9.2 (+https://www.terraform.io) terraform-provider-aws/5.59.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.3 ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/{}#1.30.3", svc.prefix())
    }

    fn ua_browser(&mut self) -> String {
        one(
            &mut self.rng,
            &[
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ],
        )
        .into()
    }

    // --- identities ---

    /// The start of the current session of `who` (sessions last an hour) and its ASIA key.
    fn session(&self, who: &str) -> (DateTime<Utc>, String) {
        let t = self.time.timestamp();
        let offset = (fnv(who) % 3600) as i64;
        let start = (t - offset).div_euclid(3600) * 3600 + offset;
        let key = stable_id("ASIA", &format!("session/{who}/{start}"), 16);
        (Utc.timestamp_opt(start, 0).unwrap(), key)
    }

    fn assumed_role_identity(&self, actor: Actor, with_key: bool) -> (Value, String) {
        let r = role_info(actor).expect("a role actor");
        let role_id = stable_id("AROA", &format!("role/{}/{}", r.account, r.name), 17);
        let arn = format!("arn:aws:sts::{}:assumed-role/{}/{}", r.account, r.name, r.session);
        let (created, key) = self.session(&arn);
        let web_id = if actor == Actor::Deploy {
            json!({"federatedProvider": format!("arn:aws:iam::{DEV_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"), "attributes": {}})
        } else {
            json!({})
        };
        let mut m = Map::new();
        m.insert("type".into(), "AssumedRole".into());
        m.insert("principalId".into(), format!("{role_id}:{}", r.session).into());
        m.insert("arn".into(), arn.clone().into());
        m.insert("accountId".into(), r.account.into());
        if with_key {
            m.insert("accessKeyId".into(), key.into());
        }
        m.insert(
            "sessionContext".into(),
            json!({
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": role_arn(r.account, r.path, r.name),
                    "accountId": r.account,
                    "userName": r.name
                },
                "webIdFederationData": web_id,
                "attributes": {"creationDate": iso(created), "mfaAuthenticated": r.mfa.to_string()}
            }),
        );
        if actor == Actor::AutoScaling {
            m.insert("invokedBy".into(), "autoscaling.amazonaws.com".into());
        }
        (Value::Object(m), arn)
    }

    fn caller(&mut self, actor: Actor, svc: Svc, name: &str) -> Caller {
        let mut c = Caller {
            actor,
            identity: Value::Null,
            arn: String::new(),
            account: MAIN_ACCOUNT,
            ip: String::new(),
            ua: String::new(),
            console: false,
            vpce: None,
            internal: false,
        };
        match actor {
            Actor::Alice | Actor::Bob => {
                let user = if actor == Actor::Alice { "alice" } else { "bob" };
                let key_no = if actor == Actor::Alice && self.chance(200) { 2 } else { 1 };
                c.arn = user_arn(user);
                c.identity = json!({
                    "type": "IAMUser",
                    "principalId": stable_id("AIDA", &format!("user/{user}"), 17),
                    "arn": c.arn,
                    "accountId": MAIN_ACCOUNT,
                    "accessKeyId": user_key(user, key_no),
                    "userName": user
                });
                if actor == Actor::Alice {
                    c.ip = self.ip_alice();
                    c.ua = if self.chance(750) { self.ua_cli(svc, name) } else { self.ua_boto() };
                } else {
                    c.ip = self.ip_bob();
                    c.ua = if self.chance(700) { self.ua_cli(svc, name) } else { self.ua_terraform(svc) };
                }
            }
            Actor::Admin | Actor::ReadOnly => {
                let (identity, arn) = self.assumed_role_identity(actor, true);
                c.identity = identity;
                c.arn = arn;
                c.ip = if actor == Actor::Admin { self.ip_alice() } else { self.ip_bob() };
                let r = self.rng.u32(..10);
                if r < 4 {
                    c.ua = "AWS Internal".into();
                    c.console = true;
                } else if r < 8 {
                    c.ua = self.ua_browser();
                    c.console = true;
                } else {
                    c.ua = self.ua_cli(svc, name);
                }
            }
            Actor::Deploy | Actor::LambdaExec => {
                let (identity, arn) = self.assumed_role_identity(actor, true);
                c.identity = identity;
                c.arn = arn;
                c.account = role_info(actor).unwrap().account;
                if svc == Svc::Iam {
                    c.ip = format!("198.51.100.{}", self.rng.u8(200..=220));
                } else {
                    c.ip = self.ip_vpc();
                    c.vpce = Some(format!(
                        "vpce-0{}",
                        stable_chars(&format!("vpce/{}/{}", c.account, svc.prefix()), 16, HEX)
                    ));
                }
                c.ua = if actor == Actor::Deploy {
                    self.ua_terraform(svc)
                } else {
                    "Boto3/1.34.131 md/Botocore#1.34.131 ua/2.0 os/linux#5.10.219-229.866.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.131".into()
                };
            }
            Actor::AutoScaling => {
                let (identity, arn) = self.assumed_role_identity(actor, true);
                c.identity = identity;
                c.arn = arn;
                c.ip = "autoscaling.amazonaws.com".into();
                c.ua = "autoscaling.amazonaws.com".into();
                c.internal = true;
            }
            Actor::Root => {
                c.arn = format!("arn:aws:iam::{MAIN_ACCOUNT}:root");
                let (created, key) = self.session(&c.arn);
                c.identity = json!({
                    "type": "Root",
                    "principalId": MAIN_ACCOUNT,
                    "arn": c.arn,
                    "accountId": MAIN_ACCOUNT,
                    "accessKeyId": key,
                    "sessionContext": {
                        "sessionIssuer": {},
                        "webIdFederationData": {},
                        "attributes": {"creationDate": iso(created), "mfaAuthenticated": "true"}
                    }
                });
                c.ip = format!("203.0.113.{}", self.rng.u8(200..=210));
                c.ua = self.ua_browser();
                c.console = true;
            }
            Actor::Carol => {
                c.arn = format!("arn:aws:sts::{MAIN_ACCOUNT}:federated-user/carol");
                let (created, key) = self.session(&c.arn);
                c.identity = json!({
                    "type": "FederatedUser",
                    "principalId": format!("{MAIN_ACCOUNT}:carol"),
                    "arn": c.arn,
                    "accountId": MAIN_ACCOUNT,
                    "accessKeyId": key,
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "IAMUser",
                            "principalId": stable_id("AIDA", "user/federation-broker", 17),
                            "arn": user_arn("federation-broker"),
                            "accountId": MAIN_ACCOUNT,
                            "userName": "federation-broker"
                        },
                        "webIdFederationData": {},
                        "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"}
                    }
                });
                c.ip = if self.rng.bool() {
                    format!("2001:db8:cafe::{:x}", self.rng.u16(1..0xffff))
                } else {
                    format!("198.51.100.{}", self.rng.u8(100..=120))
                };
                c.ua = self.ua_boto();
            }
            Actor::Service(service) => {
                c.identity = json!({"type": "AWSService", "invokedBy": service});
                c.arn = service.into();
                c.ip = service.into();
                c.ua = service.into();
                c.internal = true;
            }
        }
        c
    }

    fn roll_fail(&mut self, kind: Kind, actor: Actor) -> Option<Fail> {
        if matches!(actor, Actor::Service(_) | Actor::AutoScaling | Actor::LambdaExec) {
            return None;
        }
        let r = self.rng.u32(..1000);
        match kind {
            Kind::ConsoleLogin => return (r < 150).then_some(Fail::Denied),
            Kind::SwitchRole => return (r < 80).then_some(Fail::Denied),
            _ => {}
        }
        if kind.read_only() {
            let denied = if actor == Actor::Bob { 60 } else { 25 };
            if r < 30 {
                Some(Fail::Throttled)
            } else if r < 30 + denied {
                Some(Fail::Denied)
            } else {
                None
            }
        } else {
            let denied = match actor {
                Actor::ReadOnly => 1000,
                Actor::Bob => 250,
                _ => 70,
            };
            (r < denied).then_some(Fail::Denied)
        }
    }

    // --- the event bodies ---

    fn build(&mut self, kind: Kind, spec: Spec) -> Draft {
        let svc = kind.svc();
        let actor = spec.actor.unwrap_or_else(|| pick(&mut self.rng, kind.actors()));
        let mut c = self.caller(actor, svc, kind.name());
        let region = if svc.global() {
            "us-east-1"
        } else if c.account == DEV_ACCOUNT {
            "ap-northeast-1"
        } else {
            self.region()
        };
        if let Some(ua) = spec.ua {
            c.ua = ua;
            c.console = false;
        }
        if let Some(ip) = spec.ip {
            c.ip = ip;
        }
        let fail = match spec.fail {
            Some(f) => f,
            None => self.roll_fail(kind, actor),
        };
        let tls = (!c.internal).then(|| self.tls(svc.host(region)));
        let mut d = Draft {
            version: svc.version(),
            identity: c.identity.clone(),
            source: svc.source(),
            name: kind.name(),
            region,
            ip: c.ip.clone(),
            ua: c.ua.clone(),
            error_code: None,
            error_message: None,
            request: Value::Null,
            response: Value::Null,
            additional: None,
            request_id: Some(self.uuid()),
            read_only: kind.read_only(),
            resources: Vec::new(),
            event_type: "AwsApiCall",
            api_version: None,
            account: c.account,
            shared_event_id: None,
            vpce: c.vpce.clone(),
            tls,
            console: c.console,
            denied_resource: None,
        };
        match svc {
            Svc::Ec2 => self.ec2(kind, &c, &mut d, fail),
            Svc::S3 => self.s3(kind, &c, &mut d, fail),
            Svc::Iam => self.iam(kind, &c, &mut d, fail),
            Svc::Sts => self.sts(kind, &c, &mut d, fail),
            Svc::Signin => {
                self.signin(kind, &c, &mut d, fail);
                return d;
            }
            Svc::Kms => self.kms(kind, &c, &mut d, fail),
            Svc::Lambda => self.lambda(kind, &c, &mut d, fail),
            Svc::CloudWatch => self.cloudwatch(kind, &c, &mut d, fail),
            Svc::CloudTrail => self.cloudtrail(&mut d),
        }
        if let Some(f) = fail {
            self.apply_failure(svc, &c, &mut d, f);
        }
        d
    }

    fn apply_failure(&mut self, svc: Svc, c: &Caller, d: &mut Draft, fail: Fail) {
        let action = format!("{}:{}", svc.prefix(), kebab_to_action(d.name));
        let on = d.denied_resource.as_ref().map(|r| format!(" on resource: {r}")).unwrap_or_default();
        let not_authorized = format!(
            "User: {} is not authorized to perform: {action}{on} because no identity-based policy allows the {action} action",
            c.arn
        );
        let (code, message) = match (fail, svc) {
            (Fail::Denied, Svc::Ec2) => {
                let blob = chars_from(&mut self.rng, 180, ALNUM_MIXED);
                (
                    "Client.UnauthorizedOperation".to_string(),
                    if d.name == "RunInstances" {
                        format!("You are not authorized to perform this operation. Encoded authorization failure message: {blob}")
                    } else {
                        format!("You are not authorized to perform this operation. {not_authorized}")
                    },
                )
            }
            (Fail::Denied, Svc::S3) => {
                let message = if self.rng.bool() {
                    "Access Denied".to_string()
                } else {
                    // Newer S3 messages quote the resource ARN.
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: \"{}\" because no identity-based policy allows the {action} action",
                        c.arn,
                        d.denied_resource.clone().unwrap_or_else(|| "arn:aws:s3:::*".into())
                    )
                };
                ("AccessDenied".to_string(), message)
            }
            (Fail::Denied, Svc::Iam | Svc::Sts | Svc::CloudWatch) => ("AccessDenied".to_string(), not_authorized),
            (Fail::Denied, _) => ("AccessDeniedException".to_string(), not_authorized),
            (Fail::Throttled, Svc::Ec2) => {
                ("Client.RequestLimitExceeded".to_string(), "Request limit exceeded.".to_string())
            }
            (Fail::Throttled, Svc::Kms) => (
                "ThrottlingException".to_string(),
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.".to_string(),
            ),
            (Fail::Throttled, Svc::S3) => ("SlowDown".to_string(), "Please reduce your request rate.".to_string()),
            (Fail::Throttled, Svc::Iam | Svc::Sts | Svc::CloudWatch) => {
                ("Throttling".to_string(), "Rate exceeded".to_string())
            }
            (Fail::Throttled, _) => ("ThrottlingException".to_string(), "Rate exceeded".to_string()),
        };
        d.error_code = Some(code);
        d.error_message = Some(message);
        d.response = Value::Null;
    }

    fn instance_id(&mut self) -> String {
        format!("i-0{}", self.hex(16))
    }

    fn ec2(&mut self, kind: Kind, c: &Caller, d: &mut Draft, fail: Option<Fail>) {
        let region = d.region;
        let account = c.account;
        let rid = d.request_id.clone().unwrap_or_default();
        let vpc = format!("vpc-0{}", stable_chars(&format!("vpc/{account}/{region}"), 16, HEX));
        let subnet = format!("subnet-0{}", stable_chars(&format!("subnet/{account}/{region}"), 16, HEX));
        match kind {
            Kind::DescribeInstances => {
                d.request = if self.rng.bool() {
                    json!({"instancesSet": {}, "filterSet": {}})
                } else {
                    let value = one(&mut self.rng, &["web-*", "batch-worker", "bastion"]);
                    json!({"instancesSet": {}, "filterSet": {"items": [{"name": "tag:Name", "valueSet": {"items": [{"value": value}]}}]}})
                };
            }
            Kind::RunInstances => {
                let iid = self.instance_id();
                let ami = format!("ami-0{}", self.hex(16));
                let itype = one(&mut self.rng, &["t3.micro", "t3.large", "m7i.large", "c6i.xlarge"]);
                let name = one(&mut self.rng, &["web-1", "web-2", "batch-worker", "bastion"]);
                let env = one(&mut self.rng, &["production", "staging", "本番"]);
                let ip = format!("10.0.{}.{}", self.rng.u8(0..16), self.rng.u8(4..=250));
                let sg = format!("sg-0{}", stable_chars(&format!("sg/{account}/{region}"), 16, HEX));
                let tags = json!([{"key": "Name", "value": name}, {"key": "Environment", "value": env}]);
                d.request = json!({
                    "instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]},
                    "instanceType": itype,
                    "blockDeviceMapping": {},
                    "monitoring": {"enabled": false},
                    "disableApiTermination": false,
                    "disableApiStop": false,
                    "clientToken": self.uuid(),
                    "subnetId": subnet,
                    "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": tags}]}
                });
                let mut instance = json!({
                        "instanceId": iid,
                    "imageId": ami,
                    "currentInstanceBootMode": "legacy-bios",
                    "instanceState": {"code": 0, "name": "pending"},
                    "privateDnsName": format!("ip-{}.{region}.compute.internal", ip.replace('.', "-")),
                    "amiLaunchIndex": 0,
                    "productCodes": {},
                    "instanceType": itype,
                    "launchTime": self.time.timestamp_millis(),
                    "placement": {"availabilityZone": format!("{region}a"), "tenancy": "default"},
                    "monitoring": {"state": "disabled"},
                    "subnetId": subnet,
                    "vpcId": vpc,
                    "privateIpAddress": ip,
                    "stateReason": {"code": "pending", "message": "pending"},
                    "architecture": "x86_64",
                    "rootDeviceType": "ebs",
                    "rootDeviceName": "/dev/xvda",
                    "blockDeviceMapping": {},
                    "virtualizationType": "hvm",
                    "hypervisor": "xen",
                    "tagSet": {"items": tags},
                    "groupSet": {"items": [{"groupId": sg, "groupName": "default"}]},
                    "sourceDestCheck": true,
                    "ebsOptimized": false,
                    "enaSupport": true,
                    "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                    "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                    "enclaveOptions": {"enabled": false},
                    "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled", "httpProtocolIpv4": "enabled", "httpProtocolIpv6": "disabled", "instanceMetadataTags": "disabled"},
                    "maintenanceOptions": {"autoRecovery": "default"}
                });
                instance["metadataOptions"] = json!({"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled", "httpProtocolIpv4": "enabled", "httpProtocolIpv6": "disabled", "instanceMetadataTags": "disabled"});
                instance["maintenanceOptions"] = json!({"autoRecovery": "default"});
                d.response = json!({
                    "requestId": rid,
                    "reservationId": format!("r-0{}", self.hex(16)),
                    "ownerId": account,
                    "groupSet": {},
                    "instancesSet": {"items": [instance]}
                });
                if fail.is_none() {
                    d.resources.push(json!({
                        "ARN": format!("arn:aws:ec2:{region}:{account}:instance/{iid}"),
                        "accountId": account,
                        "type": "AWS::EC2::Instance"
                    }));
                }
                d.denied_resource = Some(format!("arn:aws:ec2:{region}:{account}:instance/*"));
            }
            Kind::TerminateInstances => {
                let iid = self.instance_id();
                d.request = json!({"instancesSet": {"items": [{"instanceId": iid}]}});
                d.response = json!({
                    "requestId": rid,
                    "instancesSet": {"items": [{
                        "instanceId": iid,
                        "currentState": {"code": 32, "name": "shutting-down"},
                        "previousState": {"code": 16, "name": "running"}
                    }]}
                });
                let arn = format!("arn:aws:ec2:{region}:{account}:instance/{iid}");
                d.resources.push(json!({"ARN": arn, "accountId": account, "type": "AWS::EC2::Instance"}));
                d.denied_resource = Some(arn);
            }
            Kind::CreateSecurityGroup => {
                let sg = format!("sg-0{}", self.hex(16));
                d.request = json!({
                    "groupName": "prod-web-sg",
                    "groupDescription": JAPANESE_TEXT,
                    "vpcId": vpc,
                    "tagSpecificationSet": {"items": [{"resourceType": "security-group", "tags": [{"key": "Name", "value": "本番 Web サーバー"}]}]}
                });
                d.response = json!({
                    "requestId": rid,
                    "_return": true,
                    "groupId": sg,
                    "securityGroupArn": format!("arn:aws:ec2:{region}:{account}:security-group/{sg}")
                });
                d.denied_resource = Some(format!("arn:aws:ec2:{region}:{account}:security-group/*"));
            }
            _ => unreachable!("not an EC2 event"),
        }
    }

    fn bucket(&mut self, account: &str) -> String {
        if account == DEV_ACCOUNT {
            one(&mut self.rng, &["tf-state-444455556666", "example-dev-artifacts"]).into()
        } else {
            one(&mut self.rng, &["example-prod-logs-111122223333", "example-app-assets", "example-backup-tokyo"]).into()
        }
    }

    fn s3(&mut self, kind: Kind, c: &Caller, d: &mut Draft, fail: Option<Fail>) {
        let region = d.region;
        let account = c.account;
        d.request_id = Some(chars_from(&mut self.rng, 16, HEX_UPPER));
        let mut id2 = [0u8; 56];
        self.rng.fill(&mut id2);
        let bucket = self.bucket(account);
        let host = if kind == Kind::ListBuckets {
            format!("s3.{region}.amazonaws.com")
        } else {
            format!("{bucket}.s3.{region}.amazonaws.com")
        };
        if let Some(tls) = d.tls.as_mut() {
            tls["clientProvidedHostHeader"] = host.clone().into();
        }
        let out = if fail.is_some() { 243 } else { self.rng.u32(0..4000) };
        d.additional = Some(json!({
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": base64::engine::general_purpose::STANDARD.encode(id2),
            "bytesTransferredOut": out
        }));
        let bucket_arn = format!("arn:aws:s3:::{bucket}");
        let mut with_bucket = true;
        match kind {
            Kind::ListBuckets => {
                d.request = json!({"Host": host});
                with_bucket = false;
            }
            Kind::GetBucketAcl => {
                d.request = json!({"bucketName": bucket, "Host": host, "acl": ""});
            }
            Kind::CreateBucket => {
                d.request = json!({
                    "CreateBucketConfiguration": {"LocationConstraint": region, "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"},
                    "bucketName": bucket,
                    "Host": host
                });
            }
            Kind::PutBucketPolicy => {
                d.request = json!({
                    "bucketPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, format!("{bucket_arn}/*")],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                        }]
                    },
                    "bucketName": bucket,
                    "Host": host,
                    "policy": ""
                });
            }
            Kind::PutBucketTagging => {
                d.request = json!({
                    "bucketName": bucket,
                    "Host": host,
                    "tagging": "",
                    "Tagging": {
                        "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                        "TagSet": {"Tag": [
                            {"Key": "Environment", "Value": "本番"},
                            {"Key": "Description", "Value": JAPANESE_TEXT},
                            {"Key": "CostCenter", "Value": "1234, \"shared\""}
                        ]}
                    }
                });
            }
            _ => unreachable!("not an S3 event"),
        }
        if with_bucket {
            d.resources.push(json!({"accountId": account, "type": "AWS::S3::Bucket", "ARN": bucket_arn}));
            d.denied_resource = Some(bucket_arn);
        }
    }

    fn iam(&mut self, kind: Kind, c: &Caller, d: &mut Draft, _fail: Option<Fail>) {
        let account = c.account;
        let role = one(&mut self.rng, &["AdminRole", "ReadOnlyRole", "order-processor-role", "ci-deploy-staging"]);
        match kind {
            Kind::ListRoles => {
                d.request = Value::Null;
                d.denied_resource = Some(format!("arn:aws:iam::{account}:role/"));
            }
            Kind::GetRole => {
                d.request = json!({"roleName": role});
                d.denied_resource = Some(role_arn(account, "/", role));
            }
            Kind::CreateUser => {
                let user = one(&mut self.rng, &["dave", "erin", "ci-bot", "svc-backup"]);
                let tags = json!([{"key": "部署", "value": "情報システム部"}, {"key": "Owner", "value": "alice"}]);
                let arn = format!("arn:aws:iam::{account}:user/{user}");
                d.request = json!({"userName": user, "tags": tags});
                d.response = json!({"user": {
                    "path": "/",
                    "userName": user,
                    "userId": stable_id("AIDA", &format!("user/{user}"), 17),
                    "arn": arn,
                    "createDate": java_date(self.time),
                    "tags": tags
                }});
                d.denied_resource = Some(arn);
            }
            Kind::AttachRolePolicy => {
                let policy = one(
                    &mut self.rng,
                    &[
                        "arn:aws:iam::aws:policy/AdministratorAccess",
                        "arn:aws:iam::aws:policy/ReadOnlyAccess",
                        "arn:aws:iam::aws:policy/AmazonS3FullAccess",
                        "arn:aws:iam::111122223333:policy/deploy-boundary",
                    ],
                );
                d.request = json!({"roleName": role, "policyArn": policy});
                d.denied_resource = Some(role_arn(account, "/", role));
            }
            Kind::CreateRole => {
                let name = "ci-deploy-staging";
                let doc = format!(
                    "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {{\n      \"Effect\": \"Allow\",\n      \"Principal\": {{\"Federated\": \"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com\"}},\n      \"Action\": \"sts:AssumeRoleWithWebIdentity\",\n      \"Condition\": {{\"StringLike\": {{\"token.actions.githubusercontent.com:sub\": \"repo:example/app:*\"}}}}\n    }}\n  ]\n}}"
                );
                let description = "Deploy role for \"main\", staging and prod\nManaged by Terraform, do not edit";
                let arn = role_arn(account, "/", name);
                d.request = json!({
                    "roleName": name,
                    "description": description,
                    "assumeRolePolicyDocument": doc,
                    "maxSessionDuration": 3600,
                    "tags": [{"key": "Team", "value": "platform, \"core\""}]
                });
                d.response = json!({"role": {
                    "path": "/",
                    "roleName": name,
                    "roleId": stable_id("AROA", &format!("role/{account}/{name}"), 17),
                    "arn": arn,
                    "createDate": java_date(self.time),
                    "assumeRolePolicyDocument": percent_encode(&doc),
                    "description": description,
                    "maxSessionDuration": 3600,
                    "tags": [{"key": "Team", "value": "platform, \"core\""}]
                }});
                d.denied_resource = Some(arn);
            }
            _ => unreachable!("not an IAM event"),
        }
    }

    fn sts(&mut self, kind: Kind, c: &Caller, d: &mut Draft, _fail: Option<Fail>) {
        match kind {
            Kind::GetCallerIdentity => {}
            Kind::AssumeRole => {
                let (target_account, path, role, session) = match c.actor {
                    Actor::Alice => (MAIN_ACCOUNT, "/", "AdminRole", "alice".to_string()),
                    Actor::Bob => {
                        if self.chance(700) {
                            (MAIN_ACCOUNT, "/", "ReadOnlyRole", "bob".to_string())
                        } else {
                            (MAIN_ACCOUNT, "/", "AdminRole", "bob".to_string())
                        }
                    }
                    Actor::Deploy => (
                        MAIN_ACCOUNT,
                        "/",
                        "cross-account-deploy",
                        format!("GitHubActions-{}", self.rng.u32(1_000_000..9_999_999)),
                    ),
                    Actor::Service("ec2.amazonaws.com") => (MAIN_ACCOUNT, "/", "web-instance-role", self.instance_id()),
                    _ => (MAIN_ACCOUNT, "/service-role/", "order-processor-role", "order-processor".to_string()),
                };
                let arn = role_arn(target_account, path, role);
                let role_id = stable_id("AROA", &format!("role/{target_account}/{role}"), 17);
                let key = stable_id("ASIA", &format!("assume/{}/{}", arn, self.rng.u64(..)), 16);
                let mut token_bytes = [0u8; 180];
                self.rng.fill(&mut token_bytes);
                let token =
                    format!("IQoJb3JpZ2luX2VjE{}", base64::engine::general_purpose::STANDARD.encode(token_bytes));
                d.request = json!({"roleArn": arn, "roleSessionName": session, "durationSeconds": 3600});
                d.response = json!({
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token,
                        "expiration": java_date(self.time + Duration::hours(1))
                    },
                    "assumedRoleUser": {
                        "assumedRoleId": format!("{role_id}:{session}"),
                        "arn": format!("arn:aws:sts::{target_account}:assumed-role/{role}/{session}")
                    }
                });
                if let Some(k) = c.identity.get("accessKeyId").and_then(Value::as_str) {
                    d.resources.push(json!({
                        "ARN": format!("arn:aws:iam::{}:access-key/{k}", c.account),
                        "accountId": c.account,
                        "type": "AWS::IAM::AccessKey"
                    }));
                }
                d.resources.push(json!({"ARN": arn, "accountId": target_account, "type": "AWS::IAM::Role"}));
                d.account = target_account;
                if target_account != c.account {
                    d.shared_event_id = Some(self.uuid());
                }
                d.denied_resource = Some(arn);
            }
            _ => unreachable!("not an STS event"),
        }
    }

    fn signin(&mut self, kind: Kind, c: &Caller, d: &mut Draft, fail: Option<Fail>) {
        d.event_type = "AwsConsoleSignIn";
        d.request_id = None;
        d.request = Value::Null;
        d.read_only = false;
        d.console = false;
        d.ua = self.ua_browser();
        let failed = fail.is_some();
        let outcome = if failed { "Failure" } else { "Success" };
        match kind {
            Kind::ConsoleLogin => {
                let (user, mfa) = match c.actor {
                    Actor::Bob => ("bob", false),
                    Actor::Root => ("root", true),
                    _ => ("alice", true),
                };
                d.ip = match c.actor {
                    Actor::Bob => self.ip_bob(),
                    Actor::Root => format!("203.0.113.{}", self.rng.u8(200..=210)),
                    _ => self.ip_alice(),
                };
                d.identity = if user == "root" {
                    json!({
                        "type": "Root",
                        "principalId": MAIN_ACCOUNT,
                        "arn": format!("arn:aws:iam::{MAIN_ACCOUNT}:root"),
                        "accountId": MAIN_ACCOUNT,
                        "accessKeyId": ""
                    })
                } else if failed {
                    json!({
                        "type": "IAMUser",
                        "principalId": stable_id("AIDA", &format!("user/{user}"), 17),
                        "arn": user_arn(user),
                        "accountId": MAIN_ACCOUNT,
                        "accessKeyId": "",
                        "userName": user
                    })
                } else {
                    json!({
                        "type": "IAMUser",
                        "principalId": stable_id("AIDA", &format!("user/{user}"), 17),
                        "arn": user_arn(user),
                        "accountId": MAIN_ACCOUNT,
                        "userName": user
                    })
                };
                d.response = json!({"ConsoleLogin": outcome});
                let mut extra = Map::new();
                extra.insert(
                    "LoginTo".into(),
                    "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_c3a2bd9d1e5f0a77".into(),
                );
                extra.insert("MobileVersion".into(), "No".into());
                if mfa && user != "root" {
                    extra.insert("MFAIdentifier".into(), format!("arn:aws:iam::{MAIN_ACCOUNT}:mfa/{user}").into());
                }
                extra.insert("MFAUsed".into(), if mfa { "Yes" } else { "No" }.into());
                d.additional = Some(Value::Object(extra));
                if failed {
                    // The service writes no errorCode for a failed console sign-in, only this message.
                    d.error_message = Some("Failed authentication".into());
                }
            }
            Kind::SwitchRole => {
                let (mut identity, _) = self.assumed_role_identity(c.actor, false);
                // Switching roles is what starts the role session.
                identity["sessionContext"]["attributes"]["creationDate"] = iso(self.time).into();
                d.identity = identity;
                let from = if c.actor == Actor::ReadOnly { "bob" } else { "alice" };
                d.response = json!({"SwitchRole": outcome});
                d.additional = Some(json!({
                    "SwitchFrom": user_arn(from),
                    "RedirectTo": "https://ap-northeast-1.console.aws.amazon.com/ec2/home?region=ap-northeast-1#Instances:"
                }));
            }
            _ => unreachable!("not a sign-in event"),
        }
    }

    fn kms(&mut self, kind: Kind, c: &Caller, d: &mut Draft, fail: Option<Fail>) {
        let region = d.region;
        let account = c.account;
        let key_id = stable_uuid(&format!("kms/{account}/{region}"));
        let key_arn = format!("arn:aws:kms:{region}:{account}:key/{key_id}");
        match kind {
            Kind::Decrypt => {
                d.request = match c.actor {
                    Actor::LambdaExec => json!({
                        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                        "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{account}:function:order-processor")}
                    }),
                    Actor::Service(_) => json!({
                        "encryptionContext": {
                            "aws:cloudtrail:arn": format!("arn:aws:cloudtrail:us-east-1:{MAIN_ACCOUNT}:trail/management-events"),
                            "aws:s3:arn": format!("arn:aws:s3:::example-prod-logs-111122223333/AWSLogs/{MAIN_ACCOUNT}/CloudTrail/{region}/{}", self.time.format("%Y/%m/%d"))
                        },
                        "encryptionAlgorithm": "SYMMETRIC_DEFAULT"
                    }),
                    _ => json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": key_arn}),
                };
                d.resources.push(json!({"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}));
            }
            Kind::GenerateDataKey => {
                d.request = json!({
                    "keyId": "alias/app-data",
                    "keySpec": "AES_256",
                    "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::example-app-assets/uploads/{}/report.csv", self.time.format("%Y/%m/%d"))}
                });
                d.resources.push(json!({"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}));
            }
            Kind::CreateKey => {
                let new_id = self.uuid();
                let new_arn = format!("arn:aws:kms:{region}:{account}:key/{new_id}");
                let description =
                    if self.rng.bool() { JAPANESE_TEXT } else { "Key for \"orders\", invoices and backups" };
                d.request = json!({
                    "description": description,
                    "keyUsage": "ENCRYPT_DECRYPT",
                    "keySpec": "SYMMETRIC_DEFAULT",
                    "origin": "AWS_KMS",
                    "bypassPolicyLockoutSafetyCheck": false,
                    "tags": [{"tagKey": "Environment", "tagValue": "本番"}],
                    "multiRegion": false
                });
                d.response = json!({"keyMetadata": {
                    "aWSAccountId": account,
                    "keyId": new_id,
                    "arn": new_arn,
                    "creationDate": java_date(self.time),
                    "enabled": true,
                    "description": description,
                    "keyUsage": "ENCRYPT_DECRYPT",
                    "keyState": "Enabled",
                    "origin": "AWS_KMS",
                    "keyManager": "CUSTOMER",
                    "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
                    "keySpec": "SYMMETRIC_DEFAULT",
                    "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
                    "multiRegion": false
                }});
                if fail.is_none() {
                    d.resources.push(json!({"accountId": account, "type": "AWS::KMS::Key", "ARN": new_arn}));
                }
                d.denied_resource = Some("*".into());
                return;
            }
            _ => unreachable!("not a KMS event"),
        }
        d.denied_resource = Some(key_arn);
    }

    fn lambda(&mut self, kind: Kind, c: &Caller, d: &mut Draft, _fail: Option<Fail>) {
        let region = d.region;
        let account = c.account;
        d.api_version = Some("2015-03-31");
        let function = one(&mut self.rng, &["order-processor", "thumbnail-generator", "invoice-export"]);
        let function_arn = format!("arn:aws:lambda:{region}:{account}:function:{function}");
        d.denied_resource = Some(function_arn.clone());
        let config = |this: &mut Self, description: &str| {
            let mut sha = [0u8; 32];
            this.rng.fill(&mut sha);
            json!({
                "functionName": function,
                "functionArn": function_arn,
                "runtime": "python3.12",
                "role": role_arn(account, "/service-role/", &format!("{function}-role")),
                "handler": "app.handler",
                "codeSize": this.rng.u32(2_000..5_000_000),
                "description": description,
                "timeout": 60,
                "memorySize": 512,
                "lastModified": this.time.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
                "codeSha256": base64::engine::general_purpose::STANDARD.encode(sha),
                "version": "$LATEST",
                "tracingConfig": {"mode": "PassThrough"},
                "revisionId": this.uuid(),
                "state": "Pending",
                "stateReason": "The function is being created.",
                "stateReasonCode": "Creating",
                "packageType": "Zip",
                "architectures": ["arm64"],
                "ephemeralStorage": {"size": 512},
                "snapStart": {"applyOn": "None", "optimizationStatus": "Off"},
                "loggingConfig": {"logFormat": "Text", "logGroup": format!("/aws/lambda/{function}")}
            })
        };
        match kind {
            Kind::ListFunctions => {
                d.denied_resource = Some("*".into());
            }
            Kind::GetFunction => {
                d.request = json!({"functionName": function});
            }
            Kind::UpdateFunctionCode => {
                d.request = json!({"functionName": function, "publish": false, "dryRun": false});
                d.response = config(self, "");
            }
            Kind::CreateFunction => {
                let description = "Exports invoices to CSV, \"daily\" run\nOwner: billing team";
                d.request = json!({
                    "functionName": function,
                    "runtime": "python3.12",
                    "role": role_arn(account, "/service-role/", &format!("{function}-role")),
                    "handler": "app.handler",
                    "code": {},
                    "description": description,
                    "timeout": 60,
                    "memorySize": 512,
                    "publish": false,
                    "packageType": "Zip",
                    "architectures": ["arm64"]
                });
                d.response = config(self, description);
            }
            _ => unreachable!("not a Lambda event"),
        }
    }

    fn cloudwatch(&mut self, kind: Kind, c: &Caller, d: &mut Draft, _fail: Option<Fail>) {
        let region = d.region;
        let account = c.account;
        match kind {
            Kind::DescribeAlarms => {
                d.request = if self.rng.bool() {
                    json!({"stateValue": "ALARM", "maxRecords": 100})
                } else {
                    json!({"alarmNames": ["高CPU使用率-prod-web", "prod-api-5xx"]})
                };
                d.denied_resource = Some(format!("arn:aws:cloudwatch:{region}:{account}:alarm:*"));
            }
            Kind::GetMetricData => {
                let iid = self.instance_id();
                d.request = json!({
                    "metricDataQueries": [{
                        "id": "m1",
                        "metricStat": {
                            "metric": {"namespace": "AWS/EC2", "metricName": "CPUUtilization", "dimensions": [{"name": "InstanceId", "value": iid}]},
                            "period": 300,
                            "stat": "Average"
                        },
                        "returnData": true
                    }],
                    "startTime": java_date(self.time - Duration::hours(3)),
                    "endTime": java_date(self.time)
                });
            }
            Kind::PutMetricAlarm => {
                let name = "高CPU使用率-prod-web";
                d.request = json!({
                    "alarmName": name,
                    "alarmDescription": "CPU > 80% for 15 min on \"prod-web\", page the on-call\nRunbook: https://wiki.example/runbooks/cpu",
                    "actionsEnabled": true,
                    "alarmActions": [format!("arn:aws:sns:{region}:{account}:ops-alerts")],
                    "metricName": "CPUUtilization",
                    "namespace": "AWS/EC2",
                    "statistic": "Average",
                    "dimensions": [{"name": "AutoScalingGroupName", "value": "prod-web-asg"}],
                    "period": 300,
                    "evaluationPeriods": 3,
                    "threshold": 80.0,
                    "comparisonOperator": "GreaterThanThreshold"
                });
                d.denied_resource = Some(format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}"));
            }
            _ => unreachable!("not a CloudWatch event"),
        }
    }

    fn cloudtrail(&mut self, d: &mut Draft) {
        let (key, value) = one(
            &mut self.rng,
            &[
                ("EventName", "ConsoleLogin"),
                ("Username", "alice"),
                ("EventSource", "iam.amazonaws.com"),
                ("ReadOnly", "false"),
            ],
        );
        d.request = json!({
            "lookupAttributes": [{"attributeKey": key, "attributeValue": value}],
            "startTime": java_date(self.time - Duration::days(1)),
            "endTime": java_date(self.time),
            "maxResults": 50
        });
    }
}

/// "GetFunction20150331v2" → "GetFunction": the IAM action of an event name.
fn kebab_to_action(name: &str) -> &str {
    match name.find(|c: char| c.is_ascii_digit()) {
        Some(i) => &name[..i],
        None => name,
    }
}

// ---------------------------------------------------------------------------------------------------
// Insights

struct InsightGenerator {
    rng: fastrand::Rng,
    remaining: usize,
    index: u64,
    time: DateTime<Utc>,
    max_gap: u32,
    id_key: u64,
    /// The Start record of the pair whose End was just emitted.
    pending_start: Option<(i64, Value)>,
}

impl InsightGenerator {
    fn new(opts: &GenOptions) -> Self {
        let mut rng = fastrand::Rng::with_seed(opts.seed ^ 0x1A51_6E7E_0000_0002);
        let id_key = rng.u64(..);
        InsightGenerator {
            rng,
            remaining: opts.count,
            index: 0,
            time: start_time(opts.newest),
            max_gap: opts.max_gap_secs,
            id_key,
            pending_start: None,
        }
    }

    fn pair(&mut self) -> (Value, Value, i64) {
        let region = pick(&mut self.rng, &[("ap-northeast-1", 3), ("us-east-1", 2), ("us-west-2", 1)]);
        let (source, name, error) = one(
            &mut self.rng,
            &[
                ("ec2.amazonaws.com", "RunInstances", None),
                ("iam.amazonaws.com", "AttachRolePolicy", None),
                ("kms.amazonaws.com", "Decrypt", Some("AccessDeniedException")),
                ("ec2.amazonaws.com", "DescribeInstances", Some("Client.UnauthorizedOperation")),
            ],
        );
        let arn = one(
            &mut self.rng,
            &[
                "arn:aws:iam::111122223333:user/bob",
                "arn:aws:sts::111122223333:assumed-role/AdminRole/alice",
                "arn:aws:sts::444455556666:assumed-role/deploy-role/GitHubActions",
            ],
        );
        let shared = format_uuid(self.rng.u64(..), self.rng.u64(..));
        let baseline = f64::from(self.rng.u32(1..500)) / 10_000.0;
        let insight = f64::from(self.rng.u32(20..300)) / 10.0;
        let minutes = i64::from(self.rng.u32(1..=15));
        let error_value = error.unwrap_or("null");
        let details = |state: &str, end: bool| {
            let mut stats = json!({"baseline": {"average": baseline}, "insight": {"average": insight}});
            if end {
                stats["insightDuration"] = minutes.into();
                stats["baselineDuration"] = 10079.into();
            }
            let mut m = Map::new();
            m.insert("state".into(), state.into());
            m.insert("eventSource".into(), source.into());
            m.insert("eventName".into(), name.into());
            m.insert(
                "insightType".into(),
                if error.is_some() { "ApiErrorRateInsight" } else { "ApiCallRateInsight" }.into(),
            );
            if let Some(code) = error {
                m.insert("errorCode".into(), code.into());
            }
            m.insert(
                "insightContext".into(),
                json!({
                    "statistics": stats,
                    "attributions": [
                        {"attribute": "userIdentityArn", "insight": [{"value": arn, "average": insight}], "baseline": [{"value": arn, "average": baseline}]},
                        {"attribute": "userAgent", "insight": [{"value": "aws-cli/2.17.13", "average": insight}], "baseline": [{"value": "console.amazonaws.com", "average": baseline}]},
                        {"attribute": "errorCode", "insight": [{"value": error_value, "average": insight}], "baseline": [{"value": "null", "average": baseline}]}
                    ]
                }),
            );
            Value::Object(m)
        };
        let record = |this: &mut Self, time: DateTime<Utc>, state: &str, end: bool| {
            let id = event_id(&mut this.rng, this.index, this.id_key);
            this.index += 1;
            json!({
                "eventVersion": "1.08",
                "eventTime": iso(time),
                "awsRegion": region,
                "eventID": id,
                "eventType": "AwsCloudTrailInsight",
                "recipientAccountId": MAIN_ACCOUNT,
                "sharedEventID": shared,
                "insightDetails": details(state, end),
                "eventCategory": "Insight"
            })
        };
        let end_time = self.time;
        let start_time = end_time - Duration::minutes(minutes);
        let end = record(self, end_time, "End", true);
        let start = record(self, start_time, "Start", false);
        (end, start, start_time.timestamp())
    }
}

impl Iterator for InsightGenerator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if let Some((t, start)) = self.pending_start.take() {
            self.time = Utc.timestamp_opt(t, 0).unwrap();
            return Some(start);
        }
        if self.index > 0 {
            let gap = self.rng.u32(..=self.max_gap.saturating_mul(20));
            self.time -= Duration::seconds(i64::from(gap));
        }
        let (end, start, t) = self.pair();
        self.pending_start = Some((t, start));
        Some(end)
    }
}
