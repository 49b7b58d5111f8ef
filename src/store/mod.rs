//! The local event store: what LookupEvents returned, kept per endpoint, account, region and
//! category with the coverage that proves which seconds it holds every event of, so that a later
//! question over the same window is answered without the API. This module says where the store
//! lives, opens it (rebuilding only a file proven damaged, foreign or of another version; a busy
//! store is waited for, a read-only one is read) and keeps a run's dealings with it: what failed,
//! what came from where. `db` owns the SQLite file and the rule that covered spans are held,
//! `chunk` the chunk format, `coverage` the arithmetic of spans and `read` reading a covered span back
//! on the reading threads.

pub mod chunk;
pub mod coverage;
pub mod db;
pub mod read;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Result};

pub use coverage::{Part, Span};
pub use db::{Db, OpenError, Page, ScopeKey, Written};
pub use read::{Opened, StoredReader};

use crate::error::{say, warn};
use crate::query::Screen;

/// The store's file in its directory.
pub const FILE_NAME: &str = "events.sqlite";

/// The default size cap: CloudShell's whole home directory is 1 GB.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// Events reach Event history late, typically minutes and up to about 15: the newest 15 minutes
/// before a fetch are never counted as covered.
pub const LATE_SECS: i64 = 15 * 60;

/// The start of a window without `--start-time`: everything the service holds (Event history
/// keeps 90 days; coverage from here claims all of it, which is also true of a server that keeps more).
pub const BEGINNING: i64 = 0;

/// How a run uses the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// Answer from the store only; a part it does not cover is an error, and nothing is sent.
    pub offline: bool,
    /// `ctlookup sync`: fetch the missing parts and read nothing back.
    pub sync: bool,
    /// Say where events came from (`-v`).
    pub verbose: bool,
    /// The endpoint part of the scope: `aws`, or the URL events were asked of (without userinfo).
    pub endpoint: String,
    /// When the run began (the end of a window without `--end-time`) and the zone messages use.
    pub now: chrono::DateTime<chrono::Utc>,
    pub zone: crate::time::Zone,
    /// Insight events rather than management events (for messages; the scope says it too).
    pub insight: bool,
    /// Threads that read stored chunks back (1: the thread that filters reads them), as for files.
    pub threads: usize,
}

/// The store's directory: `CTLOOKUP_STORE_DIR`, else `ctlookup/store` in the user's cache directory.
pub fn default_dir() -> Result<PathBuf> {
    match std::env::var_os("CTLOOKUP_STORE_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(crate::dirs::cache_dir()?.join("store")),
    }
}

/// A covered span as messages and `ctlookup store` say it, both ends included; `beginning` stands
/// for the start of history.
pub fn span_text(span: Span, zone: crate::time::Zone, beginning: &str) -> String {
    let time = |t: i64| match chrono::DateTime::from_timestamp(t, 0) {
        Some(t) if t.timestamp() != BEGINNING => zone.format_rfc3339(t),
        _ => beginning.to_owned(),
    };
    format!("{} to {}", time(span.lo), time(span.hi))
}

/// A damaged store: its file is removed at the end of the run so that the next one rebuilds it.
#[derive(Debug)]
pub struct Damaged;

impl fmt::Display for Damaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the store is damaged")
    }
}

impl std::error::Error for Damaged {}

/// Whether a store error shows damage rather than a passing problem (a lock held too long, a full
/// disk, a read-only file).
pub fn is_damage(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Damaged>().is_some()
        || err.chain().any(|e| {
            e.downcast_ref::<rusqlite::Error>().is_some_and(|e| {
                matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                )
            })
        })
}

/// The store as one run uses it: its file, and whether it still may be used.
pub struct Store {
    pub db: Db,
    pub config: StoreConfig,
    /// A store error happened: it was said once, and the store is used no more this run.
    failed: Option<String>,
    damaged: bool,
    /// Events handed out from the store and from the API, and requests sent, for `-v`.
    pub from_store: u64,
    pub from_api: u64,
    pub requests: u64,
    /// The consumer's prefilter, run where stored chunks are read (`read`).
    pub screen: Option<Arc<Screen>>,
    /// Stored events the screen ruled out, not yet told to the consumer.
    pub screened: u64,
}

impl Store {
    /// Opens the store; one proven unusable (another version, not a store, damaged) is said once and
    /// rebuilt empty. A busy store is an error (the caller goes on without it); with `--offline` a
    /// missing one is too, and nothing is created.
    pub fn open(config: &StoreConfig) -> Result<Store> {
        let path = config.dir.join(FILE_NAME);
        let create = !config.offline;
        let db = match Db::open(&path, create) {
            Ok(db) => db,
            Err(OpenError::Unusable(why)) => {
                warn(format_args!("the store {} cannot be used ({why:#}): rebuilding it", path.display()));
                remove(&path)?;
                Db::open(&path, create)?
            }
            Err(OpenError::Busy(_)) => return Err(anyhow!("{}", busy(&path))),
            Err(OpenError::Missing(path)) => return Err(NoStore(path).into()),
            Err(OpenError::Io(err)) => return Err(err),
        };
        if db.read_only() {
            if config.sync {
                return Err(anyhow!("sync: the store {} cannot be written (it is read-only)", path.display()));
            }
            if !config.offline {
                say(format_args!("the store {} is read-only: answering from it, recording nothing", path.display()));
            }
        }
        Ok(Store {
            db,
            config: config.clone(),
            failed: None,
            damaged: false,
            from_store: 0,
            from_api: 0,
            requests: 0,
            screen: None,
            screened: 0,
        })
    }

    pub fn usable(&self) -> bool {
        self.failed.is_none()
    }

    /// Whether pages fetched now are recorded.
    pub fn records(&self) -> bool {
        self.usable() && !self.db.read_only()
    }

    /// A store error mid-run: said once; the run goes on with the API alone and records no more.
    pub fn fail(&mut self, err: &anyhow::Error) {
        self.damaged |= is_damage(err);
        if self.failed.is_none() {
            let then = if self.damaged { "; it will be rebuilt" } else { "" };
            let why = if db::is_busy(err) { busy(self.db.path()) } else { format!("{err:#}") };
            warn(format_args!("the store: {why}: going on without it{then}"));
            self.failed = Some(why);
        }
    }

    /// The run's end: the size cap applied, a damaged file removed, and with `-v` what came from where.
    /// For `sync`, an error when some of what was fetched could not be recorded.
    pub fn finish(mut self) -> Result<()> {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        if self.config.sync && self.failed.is_some() {
            // Said below, as the run's error.
        } else if self.config.sync {
            say(format_args!(
                "sync: {} events fetched and stored ({} request{}); what was stored already was not fetched again",
                self.from_api,
                self.requests,
                plural(self.requests)
            ));
        } else if self.config.verbose {
            say(format_args!(
                "store: {} events from the store, {} from the API ({} request{})",
                self.from_store,
                self.from_api,
                self.requests,
                plural(self.requests)
            ));
        }
        if self.records() {
            let max = i64::try_from(self.config.max_bytes).unwrap_or(i64::MAX);
            match self.db.evict(max) {
                Ok(0) => {}
                Ok(freed) if self.config.verbose => {
                    say(format_args!("store: {freed} bytes of the oldest events evicted (--store-max)"))
                }
                Ok(_) => {}
                Err(err) => self.fail(&err),
            }
        }
        let failed = self.failed.clone();
        if self.damaged {
            let path = self.db.path().to_owned();
            drop(self.db);
            if let Err(err) = remove(&path) {
                warn(format_args!("{err:#}"));
            }
        }
        match failed {
            Some(why) if self.config.sync => Err(anyhow!(
                "sync: the store failed ({why}) after {} events; what was stored before is kept: run `ctlookup sync` \
                 again to fetch the rest",
                self.from_api
            )),
            _ => Ok(()),
        }
    }
}

/// `--offline` and no store file at all (none is made).
#[derive(Debug)]
pub struct NoStore(pub PathBuf);

impl fmt::Display for NoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "there is no store at {} yet", self.0.display())
    }
}

impl std::error::Error for NoStore {}

/// What to say of a store another process holds: busy is not damage, and waiting is the remedy.
pub fn busy(path: &Path) -> String {
    format!(
        "the store {} is busy: another ctlookup process held it for longer than {} s (CTLOOKUP_STORE_WAIT); \
         try again when it is done",
        path.display(),
        db::wait().as_secs_f64()
    )
}

/// A store error of a command as the user reads it.
pub fn explain(err: anyhow::Error, path: &Path) -> anyhow::Error {
    if db::is_busy(&err) {
        anyhow!("{}", busy(path))
    } else {
        err.context(format!("the store {}", path.display()))
    }
}

/// Removes the store's file with its write-ahead log and shared-memory index.
fn remove(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(anyhow!("cannot remove {}: {err}", Path::new(&name).display())),
        }
    }
    Ok(())
}
