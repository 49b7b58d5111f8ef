//! Where events come from: the LookupEvents API or files. Sources only read: they hand raw items (the
//! JSON text of a record or of a saved lookup event, or an API envelope with its record's text) to a
//! [`Consumer`] one at a time, with where each came from, so nothing is held beyond the page or record in
//! hand. Turning them into events is the decode stage's business (`crate::decode`). The settings of
//! each source are defined here; `config` only builds them.

mod api;
mod athena;
mod files;
pub mod s3;
mod split;
pub mod token;

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;

use crate::aws::Connection;
use crate::event::Envelope;
use crate::progress::Progress;
use crate::query::{Plan, Screen, TimeWindow};
use crate::store::StoreConfig;

pub use athena::{run_statement, AthenaConfig};

/// Where the events come from, as `config` builds it.
#[derive(Debug)]
pub enum SourceConfig {
    Api(Box<ApiConfig>),
    Files(FilesConfig),
    /// `--athena TABLE`: one query over the trail's Athena table.
    Athena(Box<AthenaConfig>),
}

#[derive(Debug)]
/// The LookupEvents source's settings.
pub struct ApiConfig {
    /// Regions to query together; empty: the SDK's usual resolution (AWS_REGION, profile, CloudShell).
    pub regions: Vec<String>,
    /// The accounts to read, each in every region (its own lookups, merged newest first).
    pub accounts: crate::aws::accounts::Accounts,
    /// Account-region lookups with a request in flight at most.
    pub parallel: usize,
    /// Profile, endpoint and timeouts (its region unset: `regions` says).
    pub connection: Connection,
    pub insight: bool,
    pub window: TimeWindow,
    pub plan: Plan,
    pub starting_token: Option<String>,
    pub tps: f64,
    /// Extra attempts of a request that failed for a passing reason (throttling, 5xx, a broken connection).
    pub retries: u32,
    /// The filter names a service that records its events in us-east-1 only.
    pub names_global_service: bool,
    /// The local event store, unless `--no-store`, `--starting-token` (a position in one fetch) or
    /// an unusable cache directory leaves it out.
    pub store: Option<Box<StoreConfig>>,
    /// `--follow`: poll for new events after the window.
    pub follow: Option<FollowConfig>,
    /// `-v`: say the accounts and regions read, and the requests each took.
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy)]
/// `--follow`: how often to poll and how far back each poll asks again.
pub struct FollowConfig {
    pub poll: std::time::Duration,
    /// Seconds behind the newest event seen that each poll asks for again.
    pub lag: i64,
}

#[derive(Debug, Clone)]
/// The files of `--input`.
pub struct FilesConfig {
    pub inputs: Vec<Input>,
    /// Threads that read the inputs (1: all on the thread that filters); `CTLOOKUP_THREADS`, else the CPUs.
    pub threads: usize,
    /// How to reach S3, when an input is in S3 (`s3://…`, `--trail`).
    pub s3: Option<Box<S3Config>>,
}

#[derive(Debug, Clone)]
/// Trails in S3: how to reach the buckets and which objects to read.
pub struct S3Config {
    /// Profile, endpoint and timeouts (region: the buckets' own, asked).
    pub connection: Connection,
    pub retries: u32,
    /// GetObject requests in flight at most.
    pub concurrency: usize,
    pub prune: s3::Prune,
    /// `-v`: the prefixes listed and what each pruning rule left out.
    pub verbose: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One `--input`.
pub enum Input {
    Stdin,
    Path(PathBuf),
    /// `s3://BUCKET[/PREFIX]`.
    S3 {
        bucket: String,
        prefix: String,
    },
    /// `--trail NAME|ARN`: its bucket and prefix, asked of CloudTrail.
    Trail(String),
}

/// What the consumer wants after an item.
pub use crate::pool::Flow;

/// One thing a source read, not yet decoded.
pub enum Raw<'a> {
    /// A CloudTrail record's JSON text, as in trail logs and JSON Lines: its envelope is derived from it.
    Record(&'a [u8]),
    /// A saved `aws cloudtrail lookup-events` event: envelope fields, and the record as a JSON string.
    SavedLookupEvent(&'a [u8]),
    /// An event as the API returned it: its envelope, and the record's JSON text (`CloudTrailEvent`),
    /// `checked` when it is known to be valid JSON on one line (the store checked it).
    Api { envelope: Envelope, record: String, checked: bool },
}

/// Where an item came from, for warnings.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Api,
    Line {
        file: &'a str,
        line: u64,
    },
    Element {
        file: &'a str,
        array: &'a str,
        index: u64,
    },
    /// A top-level value (a pretty-printed record, say), counted from 0.
    Value {
        file: &'a str,
        index: u64,
    },
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Api => Ok(()),
            Origin::Line { file, line } => write!(f, "{file}: line {line}: "),
            Origin::Element { file, array, index } => write!(f, "{file}: {array}[{index}]: "),
            Origin::Value { file, index } => write!(f, "{file}: value {}: ", index + 1),
        }
    }
}

impl Origin<'_> {
    /// The file the item came from; None for the API.
    pub fn file(&self) -> Option<&str> {
        match self {
            Origin::Api => None,
            Origin::Line { file, .. } | Origin::Element { file, .. } | Origin::Value { file, .. } => Some(file),
        }
    }
}

/// The consumer side of a source: decode, filter and write.
pub trait Consumer {
    fn item(&mut self, raw: Raw<'_>, origin: Origin<'_>) -> Result<Flow>;
    /// The input itself could not be read (a read error, a truncated document): warned about and counted.
    fn problem(&mut self, file: &str, problem: &dyn fmt::Display);
    /// A page (or file) is complete: make what was written so far visible.
    fn flush(&mut self) -> Result<()>;
    /// A group counted by the source itself (Athena's GROUP BY for `--count-by`): the fields' text
    /// values (None: missing), the count, and the oldest and newest eventTime as written.
    fn group(&mut self, _key: &[Option<String>], _count: u64, _first: Option<&str>, _last: Option<&str>) -> Result<()> {
        Err(anyhow::anyhow!("this consumer takes events, not counted groups"))
    }
    /// A time bucket counted by the source itself (Athena's GROUP BY for `--timeline`), as
    /// `EventWriter::tally` takes it.
    fn tally(&mut self, _wall: Option<i64>, _offset: i64, _count: u64, _errors: u64) -> Result<()> {
        Err(anyhow::anyhow!("this consumer takes events, not counted time buckets"))
    }

    /// The test a reading thread may run on each text first: a text it rules out is not handed to
    /// [`Consumer::item`], only counted with [`Consumer::screened`]. None: every text is handed on.
    fn screen(&self) -> Option<Screen> {
        None
    }
    /// `count` texts were ruled out by the [`Consumer::screen`], in their place in the order.
    fn screened(&mut self, _count: u64) {}
}

/// How a source ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Set when the consumer stopped early and more events may follow: the `--starting-token` to
    /// continue from the next unread event.
    pub resume_token: Option<String>,
}

/// A source ready to be read. For files, every path given on the command line was found and can be
/// opened: a typo or a missing permission ends the run before any writer starts, with nothing printed.
pub enum Opened<'c> {
    Api(&'c ApiConfig),
    Files(files::Inputs),
    Athena(&'c AthenaConfig),
}

/// Checks what the source needs before the first event is wanted.
pub fn open(config: &SourceConfig) -> Result<Opened<'_>> {
    Ok(match config {
        SourceConfig::Api(api) => Opened::Api(api),
        SourceConfig::Files(files) => Opened::Files(files::open(files)?),
        SourceConfig::Athena(athena) => Opened::Athena(athena),
    })
}

impl Opened<'_> {
    pub fn run(&self, consumer: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
        match self {
            Opened::Api(api) => api::lookup(api, consumer, progress),
            Opened::Files(inputs) => files::read(inputs, consumer, progress),
            Opened::Athena(athena) => athena::read(athena, consumer, progress),
        }
    }
}

pub fn run(config: &SourceConfig, consumer: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    open(config)?.run(consumer, progress)
}
