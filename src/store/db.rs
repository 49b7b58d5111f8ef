//! The store's SQLite file: its schema and every statement run on it. One file holds every account,
//! region and category (a scope); its pages (chunks) and the coverage they prove.
//!
//! **The rule**, under any interleaving of processes: *covered ⇒ held*. Each coverage row is
//! self-sufficient: the chunks linked to it (`chunks.cover`) hold every event of its span for its
//! lookup, and the row counts them (`coverage.pages`). Every change keeps that true in one
//! transaction, taken with the write lock from its start (`BEGIN IMMEDIATE`, so that writers wait
//! their turn instead of failing on a stale read):
//! * recording a page re-reads its row and counts its chunks before it extends the row; when another
//!   process has cut either (eviction, clear, a newer fetch settling), the recorder's view is stale and
//!   it starts a new row with only what its newest page proves by itself;
//! * joining pages, settling a fetch, eviction and clear move or remove chunks and the coverage that
//!   relies on them together, and keep each row's count;
//! * a reader works in one snapshot and believes a covered span only when each row's chunks add up to
//!   its count ([`Snapshot::verify`]); a row whose chunks went missing is not believed, whatever did it.
//!
//! Busy and read-only are not damage: a writer waits (`CTLOOKUP_STORE_WAIT` seconds, 30 by default)
//! and then goes on without the store; a file that cannot be written is opened read-only. Only a file
//! that is proven damaged, foreign or of another version is ever rebuilt.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use super::coverage::{union, Span};

/// Bumped whenever the schema or the chunk format changes: a store of another version is rebuilt.
const VERSION: i64 = 3;

/// A stamp in the file that tells ctlookup's store from another SQLite file.
const APPLICATION_ID: i64 = 0x6374_6c6b; // "ctlk"

/// How long a process waits for another one's write lock by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE scopes (
    id INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    category TEXT NOT NULL,
    UNIQUE (endpoint, account, region, category)
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL REFERENCES scopes(id),
    lookup TEXT NOT NULL,
    newest INTEGER NOT NULL,
    oldest INTEGER NOT NULL,
    events INTEGER NOT NULL,
    fetched INTEGER NOT NULL,
    cover INTEGER,
    data BLOB NOT NULL,
    chk INTEGER
);
CREATE INDEX chunks_by_time ON chunks (scope, lookup, newest);
CREATE INDEX chunks_by_cover ON chunks (cover);
CREATE TABLE coverage (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL REFERENCES scopes(id),
    lookup TEXT NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    chk INTEGER
);
CREATE INDEX coverage_by_scope ON coverage (scope, lookup);
CREATE TRIGGER chunks_chk AFTER INSERT ON chunks BEGIN
    UPDATE chunks SET chk = CHUNK_CHECK WHERE id = NEW.id;
END;
CREATE TRIGGER chunks_moved AFTER UPDATE OF scope ON chunks BEGIN
    UPDATE chunks SET chk = CHUNK_CHECK WHERE id = NEW.id;
END;
CREATE TRIGGER coverage_chk AFTER INSERT ON coverage BEGIN
    UPDATE coverage SET chk = COVERAGE_CHECK WHERE id = NEW.id;
END;
CREATE TRIGGER coverage_changed AFTER UPDATE OF scope, lo, hi, pages ON coverage BEGIN
    UPDATE coverage SET chk = COVERAGE_CHECK WHERE id = NEW.id;
END;
CREATE TABLE identities (
    access_key_id TEXT PRIMARY KEY,
    account TEXT NOT NULL
);
";

/// A check over each row's numbers, kept beside them by triggers and verified on every read: SQLite
/// has no checksums of its own, and a damaged number (a page's times, a coverage bound) would
/// otherwise be a wrong answer rather than an error. A guard against damage, not against forgery.
const CHUNK_CHECK: &str = "((scope * 1000003 + newest % 1000000007 * 31 + oldest % 1000000007 * 37 + events * 41 \
     + length(lookup) * 43 + length(data) * 47) % 1000000007)";
const COVERAGE_CHECK: &str = "((scope * 1000003 + lo % 1000000007 * 31 + hi % 1000000007 * 37 + length(lookup) * 43 \
     + pages * 53) % 1000000007)";

/// What a scope is: the endpoint (`aws` for the service's own), the account, the region and the
/// category (`management`, `insight`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeKey {
    pub endpoint: String,
    pub account: String,
    pub region: String,
    pub category: String,
}

/// A stored page: where it lies in time, and which lookup fetched it ("" for a full scan).
#[derive(Debug, Clone)]
pub struct ChunkRef {
    pub id: i64,
    pub lookup: String,
    pub newest: i64,
    pub oldest: i64,
    pub events: i64,
}

/// One scope as `ctlookup store` lists it.
#[derive(Debug)]
pub struct Summary {
    pub key: ScopeKey,
    /// Covered spans of full scans.
    pub windows: Vec<Span>,
    /// Lookups (attribute=value) with their own coverage, and how many spans.
    pub lookups: usize,
    /// Distinct events held.
    pub events: i64,
    pub bytes: i64,
}

/// Which scopes `ctlookup store clear` empties, and how far back.
#[derive(Debug, Default)]
pub struct Selection {
    /// An account, or the provisional `key:AKID…` stand-ins of the access keys it is known to own.
    pub accounts: Option<Vec<String>>,
    pub region: Option<String>,
    /// Only what is older than this (epoch seconds).
    pub older_than: Option<i64>,
}

/// How the file was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadWrite,
    ReadOnly,
    /// Read-only where SQLite cannot even make its shared-memory file (a read-only directory): the
    /// file is read as it is, assumed unchanging.
    Immutable,
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
    mode: Mode,
    wait: Duration,
}

/// Why the file could not be used as it is.
#[derive(Debug)]
pub enum OpenError {
    /// Proven damaged, not a ctlookup store, or of another version: it may be rebuilt.
    Unusable(anyhow::Error),
    /// Another process held it longer than the wait: not damage, it stays as it is.
    Busy(anyhow::Error),
    /// No store file, and none was to be made.
    Missing(PathBuf),
    /// The directory or file cannot be created or opened at all.
    Io(anyhow::Error),
}

impl From<OpenError> for anyhow::Error {
    /// For a caller that does not rebuild: either way the store cannot be used.
    fn from(err: OpenError) -> anyhow::Error {
        match err {
            OpenError::Unusable(e) | OpenError::Busy(e) | OpenError::Io(e) => e,
            OpenError::Missing(path) => anyhow!("there is no store at {} yet", path.display()),
        }
    }
}

/// A file that opened but is not a ctlookup store of this version: proven, so it may be rebuilt.
#[derive(Debug)]
struct Foreign(String);

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Foreign {}

/// The SQLite error code somewhere in the chain, if any.
fn sqlite_code(err: &anyhow::Error) -> Option<ErrorCode> {
    err.chain().find_map(|e| e.downcast_ref::<rusqlite::Error>().and_then(|e| e.sqlite_error_code()))
}

/// Whether an error is another process's lock rather than anything wrong with the file.
pub fn is_busy(err: &anyhow::Error) -> bool {
    matches!(sqlite_code(err), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

fn classify(err: anyhow::Error) -> OpenError {
    if err.downcast_ref::<Foreign>().is_some() {
        return OpenError::Unusable(err);
    }
    match sqlite_code(&err) {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => OpenError::Unusable(err),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenError::Busy(err),
        _ => OpenError::Io(err),
    }
}

/// Whether an open failed only because the file or its directory cannot be written.
fn is_read_only(err: &anyhow::Error) -> bool {
    matches!(sqlite_code(err), Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied))
        || err.chain().any(|e| {
            e.downcast_ref::<std::io::Error>().is_some_and(|e| {
                matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
            })
        })
}

/// `CTLOOKUP_STORE_WAIT`: seconds to wait for another process's lock.
pub fn wait() -> Duration {
    std::env::var("CTLOOKUP_STORE_WAIT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
        .map_or(DEFAULT_WAIT, Duration::from_secs_f64)
}

impl Db {
    /// Opens the store file, creating it (readable by its owner only) when `create` is set and it
    /// is missing. A file that cannot be written is opened read-only (see [`Db::read_only`]).
    pub fn open(path: &Path, create: bool) -> Result<Db, OpenError> {
        let wait = wait();
        if !create && !path.exists() {
            return Err(OpenError::Missing(path.to_owned()));
        }
        match create_private(path) {
            Ok(()) => {}
            Err(err) if path.exists() && is_read_only(&err) => return Db::open_read_only(path, wait),
            Err(err) => return Err(OpenError::Io(err)),
        }
        let opened =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .with_context(|| format!("cannot open {}", path.display()))
                .map(|conn| Db { conn, path: path.to_owned(), mode: Mode::ReadWrite, wait });
        let db = match opened {
            Ok(db) => db,
            Err(err) if is_read_only(&err) => return Db::open_read_only(path, wait),
            Err(err) => return Err(OpenError::Io(err)),
        };
        match db.prepare() {
            Ok(()) => Ok(db),
            Err(err) if is_read_only(&err) && err.downcast_ref::<Foreign>().is_none() => {
                drop(db);
                Db::open_read_only(path, wait)
            }
            Err(err) => Err(classify(err)),
        }
    }

    fn open_read_only(path: &Path, wait: Duration) -> Result<Db, OpenError> {
        let mut last = None;
        for mode in [Mode::ReadOnly, Mode::Immutable] {
            match connect(path, mode).and_then(|conn| {
                let db = Db { conn, path: path.to_owned(), mode, wait };
                db.conn.busy_timeout(wait)?;
                if !db.check_format()? {
                    return Err(Foreign("it is empty".into()).into());
                }
                Ok(db)
            }) {
                Ok(db) => return Ok(db),
                Err(err) if err.downcast_ref::<Foreign>().is_some() => {
                    // Proven foreign, but it cannot be rebuilt here either.
                    return Err(OpenError::Io(err.context(format!("{} cannot be written", path.display()))));
                }
                Err(err) => last = Some(err),
            }
        }
        Err(classify(last.expect("a mode was tried")))
    }

    /// Whether this run may only read the store (another user's, a read-only disk).
    pub fn read_only(&self) -> bool {
        self.mode != Mode::ReadWrite
    }

    /// True: a ctlookup store of this version; false: an empty file; a `Foreign` error otherwise. Read in one snapshot, so that a store being created by another process is seen
    /// either before or after, never half made.
    fn check_format(&self) -> Result<bool> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let application: i64 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        tx.finish()?;
        if version == 0 && application == 0 && tables == 0 {
            return Ok(false);
        }
        if application != APPLICATION_ID {
            return Err(Foreign("it is not a ctlookup store".into()).into());
        }
        if version != VERSION {
            return Err(Foreign(format!(
                "it was written by another version of ctlookup (store format {version}, this one reads {VERSION})"
            ))
            .into());
        }
        // Reads a table the schema must have: a damaged header or schema shows here, at open.
        self.conn.query_row("SELECT count(*) FROM scopes", [], |r| r.get::<_, i64>(0))?;
        Ok(true)
    }

    fn prepare(&self) -> Result<()> {
        self.conn.busy_timeout(self.wait)?;
        let fresh = std::fs::metadata(&self.path).map(|m| m.len() == 0).unwrap_or(false);
        if fresh {
            // Only on a file with nothing in it yet: auto_vacuum must be chosen before the first
            // table, and INCREMENTAL lets clear and eviction give the space back.
            self.conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
        }
        let ours = self.check_format()?;
        // WAL: readers never wait for a writer, and a writer waits its turn.
        self.retry_busy(|| {
            let mode: String = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(anyhow!("cannot use write-ahead logging (journal mode {mode})"));
            }
            Ok(())
        })?;
        if !ours {
            let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            // Several processes may create the store at once: the ones after the first find it made.
            let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables == 0 {
                let schema = SCHEMA.replace("CHUNK_CHECK", CHUNK_CHECK).replace("COVERAGE_CHECK", COVERAGE_CHECK);
                tx.execute_batch(&schema)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                tx.pragma_update(None, "user_version", VERSION)?;
            }
            tx.commit()?;
            self.check_format()?;
        }
        // WAL with NORMAL sync: a commit survives a crash of the process; only a power cut can lose the
        // last commits, never corrupt the file.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // More damage is found as it is read, as errors rather than wrong rows.
        self.conn.pragma_update(None, "cell_size_check", true)?;
        Ok(())
    }

    /// Runs `step` until it is not refused for another process's lock, for at most the wait: some
    /// locks (changing the journal mode) are refused without SQLite's own waiting.
    fn retry_busy(&self, mut step: impl FnMut() -> Result<()>) -> Result<()> {
        let deadline = Instant::now() + self.wait;
        loop {
            match step() {
                Err(err) if is_busy(&err) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20 + fastrand::u64(0..30)))
                }
                other => return other,
            }
        }
    }

    /// A write transaction that holds the write lock from its start (waiting for it as long as
    /// the wait allows), so that nothing it read can change before it commits.
    fn write(&self) -> Result<Transaction<'_>> {
        if self.read_only() {
            return Err(anyhow!("the store is read-only"));
        }
        Ok(Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A consistent view of the file for reading a span back while other processes change it.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let conn = connect(&self.path, if self.read_only() { self.mode } else { Mode::ReadWrite })?;
        conn.busy_timeout(self.wait)?;
        conn.execute_batch("BEGIN DEFERRED")?;
        Ok(Snapshot { conn })
    }

    pub fn account_of(&self, access_key_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT account FROM identities WHERE access_key_id = ?1", [access_key_id], |r| r.get(0))
            .optional()?)
    }

    /// The access keys known to belong to `account`.
    pub fn keys_of(&self, account: &str) -> Result<Vec<String>> {
        let mut statement = self.conn.prepare("SELECT access_key_id FROM identities WHERE account = ?1")?;
        let keys = statement.query_map([account], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Provisional scopes (`key:AKID…`) with their endpoints.
    pub fn provisional(&self) -> Result<Vec<(String, String)>> {
        let mut statement = self
            .conn
            .prepare("SELECT DISTINCT endpoint, account FROM scopes WHERE account LIKE 'key:%' ORDER BY 1, 2")?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn remember_account(&self, access_key_id: &str, account: &str) -> Result<()> {
        if self.read_only() {
            return Ok(());
        }
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO identities (access_key_id, account) VALUES (?1, ?2)
             ON CONFLICT (access_key_id) DO UPDATE SET account = excluded.account",
            [access_key_id, account],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Whether the store holds scopes of `endpoint` under another account than `except`: only then is
    /// the account worth asking STS for.
    pub fn holds_other(&self, endpoint: &str, except: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM scopes WHERE endpoint = ?1 AND account != ?2)",
            [endpoint, except],
            |r| r.get(0),
        )?)
    }

    /// Files what was kept under `provisional` (an access key's stand-in for its account) under the
    /// real account, joining scopes the account already has.
    pub fn adopt(&self, endpoint: &str, provisional: &str, account: &str) -> Result<()> {
        if self.read_only() {
            return Ok(());
        }
        let tx = self.write()?;
        let scopes: Vec<(i64, String, String)> = tx
            .prepare("SELECT id, region, category FROM scopes WHERE endpoint = ?1 AND account = ?2")?
            .query_map([endpoint, provisional], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (old, region, category) in scopes {
            tx.execute(
                "INSERT INTO scopes (endpoint, account, region, category) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                [endpoint, account, &region, &category],
            )?;
            let new: i64 = tx.query_row(
                "SELECT id FROM scopes WHERE endpoint = ?1 AND account = ?2 AND region = ?3 AND category = ?4",
                [endpoint, account, &region, &category],
                |r| r.get(0),
            )?;
            tx.execute("UPDATE chunks SET scope = ?1 WHERE scope = ?2", [new, old])?;
            tx.execute("UPDATE coverage SET scope = ?1 WHERE scope = ?2", [new, old])?;
            tx.execute("DELETE FROM scopes WHERE id = ?1", [old])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The scope's id, created when new. A read-only store that has no such scope answers 0, which
    /// names no row: nothing is covered.
    pub fn scope(&self, key: &ScopeKey) -> Result<i64> {
        let ScopeKey { endpoint, account, region, category } = key;
        let find = |conn: &Connection| -> Result<Option<i64>> {
            Ok(conn
                .query_row(
                    "SELECT id FROM scopes WHERE endpoint = ?1 AND account = ?2 AND region = ?3 AND category = ?4",
                    [endpoint, account, region, category],
                    |r| r.get(0),
                )
                .optional()?)
        };
        if let Some(id) = find(&self.conn)? {
            return Ok(id);
        }
        if self.read_only() {
            return Ok(0);
        }
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO scopes (endpoint, account, region, category) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            [endpoint, account, region, category],
        )?;
        let id = find(&tx)?.context("the scope just made")?;
        tx.commit()?;
        Ok(id)
    }

    /// The spans covered for a lookup: by full scans, and by that same lookup.
    pub fn covered(&self, scope: i64, lookup: &str) -> Result<Vec<Span>> {
        Ok(union(coverage_rows(&self.conn, scope, lookup)?.into_iter().map(|row| row.span).collect()))
    }

    /// Records one page and the coverage it extends, in one transaction. `written` is what this
    /// fetch has written before, as the recorder believes the file holds it; when the file no
    /// longer does (another process cut the row or removed one of its chunks), the page starts a
    /// new row with `page.alone` only. Returns whether that happened.
    pub fn record(&self, page: &Page<'_>, written: &mut Written) -> Result<bool> {
        let tx = self.write()?;
        let stale = !still_holds(&tx, written)?;
        let mut next = if stale { Written::default() } else { written.clone() };
        let covered = if stale { page.alone } else { page.covered };
        let mut chunk = None;
        if let Some((data, newest, oldest, events)) = page.chunk {
            tx.prepare_cached(
                "INSERT INTO chunks (scope, lookup, newest, oldest, events, fetched, cover, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                page.scope,
                page.lookup,
                newest,
                oldest,
                events,
                page.fetched,
                next.row.map(|(row, _)| row),
                data
            ])?;
            chunk = Some(tx.last_insert_rowid());
        }
        match (covered, next.row) {
            (Some(span), Some((row, _))) => {
                next.linked += i64::from(chunk.is_some());
                tx.prepare_cached("UPDATE coverage SET lo = ?1, hi = ?2, pages = ?3 WHERE id = ?4")?
                    .execute(params![span.lo, span.hi, next.linked, row])?;
                next.row = Some((row, span));
                next.pending.extend(chunk);
            }
            (Some(span), None) => {
                let mut linked = std::mem::take(&mut next.unlinked);
                linked.extend(chunk);
                tx.prepare_cached("INSERT INTO coverage (scope, lookup, lo, hi, pages) VALUES (?1, ?2, ?3, ?4, ?5)")?
                    .execute(params![page.scope, page.lookup, span.lo, span.hi, linked.len() as i64])?;
                let row = tx.last_insert_rowid();
                for id in &linked {
                    tx.prepare_cached("UPDATE chunks SET cover = ?1 WHERE id = ?2")?.execute([row, *id])?;
                }
                next.row = Some((row, span));
                next.linked = linked.len() as i64;
                next.pending = linked;
            }
            (None, Some((row, _))) => {
                if chunk.is_some() {
                    next.linked += 1;
                    tx.prepare_cached("UPDATE coverage SET pages = ?1 WHERE id = ?2")?.execute([next.linked, row])?;
                    next.pending.extend(chunk);
                }
            }
            (None, None) => next.unlinked.extend(chunk),
        }
        tx.commit()?;
        *written = next;
        Ok(stale)
    }

    /// Joins the fetch's pages not yet joined into one chunk: records of a page share most of their
    /// text with those of the next ones, and a chunk of 10 pages compresses to about half the bytes
    /// per event of 10 chunks of one. When another process changed them meanwhile, things stay as
    /// they are (the next record sees it).
    pub fn compact(&self, written: &mut Written) -> Result<()> {
        let (Some((row, _)), true, true) = (written.row, written.unlinked.is_empty(), written.pending.len() > 1) else {
            return Ok(());
        };
        let tx = self.write()?;
        if !still_holds(&tx, written)? {
            return Ok(());
        }
        let mut events = Vec::new();
        let mut first: Option<(i64, String, i64)> = None;
        for &id in &written.pending {
            let found: Option<StoredChunk> = tx
                .prepare_cached("SELECT scope, lookup, fetched, cover, data FROM chunks WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?;
            let Some((scope, lookup, fetched, cover, data)) = found else { return Ok(()) };
            if cover != Some(row) {
                return Ok(());
            }
            first.get_or_insert((scope, lookup, fetched));
            events.extend(super::chunk::decode(&data).context(super::Damaged)?);
        }
        let (Some((scope, lookup, fetched)), Some(_)) = (first, events.first()) else { return Ok(()) };
        // Newest first, as the reader merges them; a stable sort keeps the API's order within a second.
        events.sort_by_key(|e| std::cmp::Reverse(e.secs()));
        let newest = events[0].secs();
        let oldest = events[events.len() - 1].secs();
        let data = super::chunk::encode(&events)?;
        tx.execute(
            "INSERT INTO chunks (scope, lookup, newest, oldest, events, fetched, cover, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![scope, lookup, newest, oldest, events.len() as i64, fetched, row, data],
        )?;
        for &id in &written.pending {
            tx.execute("DELETE FROM chunks WHERE id = ?1", [id])?;
        }
        let linked = written.linked - written.pending.len() as i64 + 1;
        tx.execute("UPDATE coverage SET pages = ?1 WHERE id = ?2", [linked, row])?;
        tx.commit()?;
        written.linked = linked;
        // A joined chunk is not joined again: chunks stay about ten pages, the unit eviction removes.
        written.pending.clear();
        Ok(())
    }

    /// After a fetch: drops the chunks fetched before `fetched` that lie wholly inside what this
    /// fetch covered (it saw all of them again), and joins the lookup's coverage rows into as few as
    /// possible. A full scan also makes the lookups' own coverage inside it redundant. Nothing is
    /// dropped when the fetch's own row is no longer what it wrote.
    pub fn settle(&self, scope: i64, lookup: &str, written: &Written, fetched: i64) -> Result<()> {
        let Some((_, covered)) = written.row else { return Ok(()) };
        let tx = self.write()?;
        if !still_holds(&tx, written)? {
            return Ok(());
        }
        // A full scan saw every event again, a lookup only its own.
        let doomed = ids(
            &tx,
            "SELECT id FROM chunks WHERE scope = ?1 AND fetched < ?2 AND oldest >= ?3 AND newest <= ?4
             AND (?5 = '' OR lookup = ?5)",
            params![scope, fetched, covered.lo, covered.hi, lookup],
        )?;
        remove_chunks(&tx, &doomed)?;
        if lookup.is_empty() {
            let redundant: Vec<i64> = tx
                .prepare("SELECT id FROM coverage WHERE scope = ?1 AND lookup != '' AND lo >= ?2 AND hi <= ?3")?
                .query_map(params![scope, covered.lo, covered.hi], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            remove_coverage(&tx, &redundant)?;
        }
        // Rows of this lookup that overlap or touch become one, with all their chunks.
        let rows = coverage_rows(&tx, scope, lookup)?.into_iter().filter(|r| r.lookup == lookup);
        let mut rows: Vec<CoverageRow> = rows.collect();
        rows.sort_by_key(|r| (r.span.lo, r.id));
        let mut keep: Option<CoverageRow> = None;
        for row in rows {
            match &mut keep {
                Some(kept) if row.span.lo <= kept.span.hi.saturating_add(1) => {
                    kept.span.hi = kept.span.hi.max(row.span.hi);
                    kept.pages += row.pages;
                    tx.execute("UPDATE chunks SET cover = ?1 WHERE cover = ?2", [kept.id, row.id])?;
                    tx.execute("DELETE FROM coverage WHERE id = ?1", [row.id])?;
                    tx.execute(
                        "UPDATE coverage SET lo = ?1, hi = ?2, pages = ?3 WHERE id = ?4",
                        params![kept.span.lo, kept.span.hi, kept.pages, kept.id],
                    )?;
                }
                _ => keep = Some(row),
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Drops the coverage of the scope's rows (full scans and `lookup`) whose chunks do not add up
    /// to their count: what they claim is no longer believed, and the next fetch covers it anew.
    pub fn forget_short(&self, scope: i64, lookup: &str) -> Result<()> {
        let tx = self.write()?;
        let mut short = Vec::new();
        for row in coverage_rows(&tx, scope, lookup)? {
            let held: i64 =
                tx.prepare_cached("SELECT count(*) FROM chunks WHERE cover = ?1")?.query_row([row.id], |r| r.get(0))?;
            if held != row.pages {
                short.push(row.id);
            }
        }
        remove_coverage(&tx, &short)?;
        tx.commit()?;
        Ok(())
    }

    /// Bytes of stored pages.
    pub fn size(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT coalesce(sum(length(data)), 0) FROM chunks", [], |r| r.get(0))?)
    }

    /// Drops the oldest pages (by event time, across every scope) until the pages take at most
    /// `max` bytes, and cuts the coverage that relied on them. Returns the bytes freed.
    pub fn evict(&self, max: i64) -> Result<i64> {
        if self.read_only() || self.size()? <= max {
            return Ok(0);
        }
        let tx = self.write()?;
        let size: i64 = tx.query_row("SELECT coalesce(sum(length(data)), 0) FROM chunks", [], |r| r.get(0))?;
        // The newest time that must go: the running total of the oldest pages passes the excess there.
        let cut: Option<i64> = tx
            .query_row(
                "SELECT newest FROM (SELECT newest, sum(length(data)) OVER (ORDER BY newest, id) AS total FROM chunks)
                 WHERE total >= ?1 ORDER BY newest LIMIT 1",
                [size - max],
                |r| r.get(0),
            )
            .optional()?;
        let Some(cut) = cut.filter(|_| size > max) else { return Ok(0) };
        remove_chunks(&tx, &ids(&tx, "SELECT id FROM chunks WHERE newest <= ?1", [cut])?)?;
        remove_coverage(&tx, &ids(&tx, "SELECT id FROM coverage WHERE hi <= ?1", [cut])?)?;
        tx.execute("UPDATE coverage SET lo = ?1 + 1 WHERE lo <= ?1", [cut])?;
        tx.commit()?;
        self.give_back();
        Ok(size - self.size()?)
    }

    /// Returns the pages freed by a removal to the file system: an incremental vacuum run to its
    /// end (each step of it frees one page), then a checkpoint that moves the log into the file and
    /// empties the log. Neither is needed for correctness: a busy store keeps its space for now.
    fn give_back(&self) {
        let vacuum = || -> Result<()> {
            let mut statement = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = statement.query([])?;
            while rows.next()?.is_some() {}
            Ok(())
        };
        if vacuum().is_ok() {
            let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }

    /// Every scope with what it holds: events are counted once however many pages hold them.
    pub fn summaries(&self) -> Result<Vec<Summary>> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let rows = tx
            .prepare(
                "SELECT s.id, s.endpoint, s.account, s.region, s.category,
                        (SELECT coalesce(sum(length(data)), 0) FROM chunks c WHERE c.scope = s.id),
                        (SELECT count(DISTINCT lookup) FROM coverage v WHERE v.scope = s.id AND v.lookup != '')
                 FROM scopes s ORDER BY s.account, s.region, s.category, s.endpoint",
            )?
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ScopeKey { endpoint: r.get(1)?, account: r.get(2)?, region: r.get(3)?, category: r.get(4)? },
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut summaries = Vec::new();
        for (id, key, bytes, lookups) in rows {
            let mut ids = std::collections::HashSet::new();
            let mut plain = Vec::new();
            let mut statement = tx.prepare("SELECT data FROM chunks WHERE scope = ?1")?;
            let mut chunks = statement.query([id])?;
            while let Some(row) = chunks.next()? {
                let data: Vec<u8> = row.get(0)?;
                super::chunk::decompress(&data, &mut plain).context(super::Damaged)?;
                for stored in super::chunk::events(&plain) {
                    ids.insert(stored.and_then(|s| Ok(s.id()?.to_owned())).context(super::Damaged)?);
                }
            }
            // The lookup "" is the full scan's own: these are the windows of full scans.
            let windows = union(
                coverage_rows(&tx, id, "")?.into_iter().filter(|r| r.lookup.is_empty()).map(|r| r.span).collect(),
            );
            if ids.is_empty() && bytes == 0 && lookups == 0 && windows.is_empty() {
                continue;
            }
            summaries.push(Summary { key, windows, lookups: lookups as usize, events: ids.len() as i64, bytes });
        }
        tx.finish()?;
        Ok(summaries)
    }

    /// Empties the selected scopes (or their part older than the cut); returns the pages removed.
    pub fn clear(&self, selection: &Selection) -> Result<i64> {
        let tx = self.write()?;
        let mut scopes: Vec<i64> = Vec::new();
        {
            let mut statement = tx.prepare("SELECT id, account FROM scopes WHERE (?1 IS NULL OR region = ?1)")?;
            let rows = statement
                .query_map(params![selection.region], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, account) = row?;
                if selection.accounts.as_ref().is_none_or(|accounts| accounts.contains(&account)) {
                    scopes.push(id);
                }
            }
        }
        let mut removed = 0;
        for scope in scopes {
            let (doomed, gone): (Vec<i64>, Vec<i64>) = match selection.older_than {
                None => (
                    ids(&tx, "SELECT id FROM chunks WHERE scope = ?1", params![scope])?,
                    ids(&tx, "SELECT id FROM coverage WHERE scope = ?1", params![scope])?,
                ),
                Some(cut) => (
                    ids(&tx, "SELECT id FROM chunks WHERE scope = ?1 AND newest < ?2", params![scope, cut])?,
                    ids(&tx, "SELECT id FROM coverage WHERE scope = ?1 AND hi < ?2", params![scope, cut])?,
                ),
            };
            removed += doomed.len() as i64;
            remove_chunks(&tx, &doomed)?;
            remove_coverage(&tx, &gone)?;
            if let Some(cut) = selection.older_than {
                tx.execute("UPDATE coverage SET lo = ?2 WHERE scope = ?1 AND lo < ?2", params![scope, cut])?;
            }
        }
        tx.commit()?;
        self.give_back();
        Ok(removed)
    }
}

/// A read transaction on a connection of its own: what a reader sees of the file does not change
/// while it reads, whatever other processes (or this one's recorder) write meanwhile.
pub struct Snapshot {
    conn: Connection,
}

/// What a snapshot holds of a span the plan took for covered.
pub enum Verdict {
    /// Covered, and every row's chunks are there: these chunks (newest first) answer it.
    Held(Vec<ChunkRef>),
    /// No longer covered whole: another process cut it since the plan was made.
    Cut,
    /// Covered, but rows lack chunks they counted (`missing` of them): not to be believed.
    Short { missing: i64 },
}

impl Snapshot {
    /// Whether the span is still covered for the lookup, with the chunks to read it from.
    pub fn verify(&self, scope: i64, lookup: &str, span: Span) -> Result<Verdict> {
        let rows = coverage_rows(&self.conn, scope, lookup)?;
        let relevant: Vec<&CoverageRow> =
            rows.iter().filter(|r| r.span.lo <= span.hi && r.span.hi >= span.lo).collect();
        let covered = union(relevant.iter().map(|r| r.span).collect());
        if !covered.iter().any(|c| c.lo <= span.lo && span.hi <= c.hi) {
            return Ok(Verdict::Cut);
        }
        let mut missing = 0;
        for row in relevant {
            let held: i64 = self
                .conn
                .prepare_cached("SELECT count(*) FROM chunks WHERE cover = ?1")?
                .query_row([row.id], |r| r.get(0))?;
            missing += (row.pages - held).max(0);
            if held > row.pages {
                missing += held - row.pages;
            }
        }
        if missing > 0 {
            return Ok(Verdict::Short { missing });
        }
        Ok(Verdict::Held(chunks_in(&self.conn, scope, lookup, span)?))
    }

    pub fn chunk_data(&self, id: i64) -> Result<Vec<u8>> {
        let mut statement = self.conn.prepare_cached("SELECT data FROM chunks WHERE id = ?1")?;
        statement.query_row([id], |r| r.get(0)).optional()?.ok_or_else(|| {
            anyhow::Error::new(super::Damaged).context("a stored page listed a moment ago is gone in the same snapshot")
        })
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("COMMIT");
    }
}

/// What one fetch has written, as its recorder believes the file holds it.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Its coverage row and the span last written to it.
    pub row: Option<(i64, Span)>,
    /// How many chunks are linked to the row.
    pub linked: i64,
    /// Chunks written before anything was covered: linked to the row when it is made.
    pub unlinked: Vec<i64>,
    /// Linked chunks of single pages, not yet joined into one.
    pub pending: Vec<i64>,
}

/// What one page of a fetch adds.
pub struct Page<'a> {
    pub scope: i64,
    pub lookup: &'a str,
    /// When the fetch began (epoch seconds).
    pub fetched: i64,
    /// The compressed page, its newest and oldest event times, and its number of events.
    pub chunk: Option<(&'a [u8], i64, i64, i64)>,
    /// What the fetch has covered so far, this page included, if anything.
    pub covered: Option<Span>,
    /// What this page proves by itself (the seconds between its oldest event and the oldest of the
    /// page before, both left out): a new row's span when the fetch's earlier pages are gone.
    pub alone: Option<Span>,
}

/// A chunk row as joining reads it: scope, lookup, when fetched, its row, its data.
type StoredChunk = (i64, String, i64, Option<i64>, Vec<u8>);

/// A coverage row as read.
#[derive(Debug, Clone)]
struct CoverageRow {
    id: i64,
    lookup: String,
    span: Span,
    pages: i64,
}

/// The rows of full scans and of `lookup` in the scope, each checked.
fn coverage_rows(conn: &Connection, scope: i64, lookup: &str) -> Result<Vec<CoverageRow>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT id, lookup, lo, hi, pages, chk IS {COVERAGE_CHECK} FROM coverage WHERE scope = ?1 AND lookup IN ('', ?2)"
    ))?;
    let rows = statement
        .query_map(params![scope, lookup], |r| {
            let row = CoverageRow {
                id: r.get(0)?,
                lookup: r.get(1)?,
                span: Span { lo: r.get(2)?, hi: r.get(3)? },
                pages: r.get(4)?,
            };
            Ok((row, r.get::<_, bool>(5)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.iter().any(|(row, ok)| !ok || row.span.lo > row.span.hi || row.pages < 0) {
        return Err(anyhow::Error::new(super::Damaged).context("a coverage row fails its check"));
    }
    Ok(rows.into_iter().map(|(row, _)| row).collect())
}

/// The chunks of a full scan or of this lookup that may hold events of `span`, newest first.
fn chunks_in(conn: &Connection, scope: i64, lookup: &str, span: Span) -> Result<Vec<ChunkRef>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT id, lookup, newest, oldest, events, chk IS {CHUNK_CHECK} FROM chunks
         WHERE scope = ?1 AND lookup IN ('', ?2) AND newest >= ?3 AND oldest <= ?4
         ORDER BY newest DESC, id"
    ))?;
    let rows = statement
        .query_map(params![scope, lookup, span.lo, span.hi], |r| {
            let chunk =
                ChunkRef { id: r.get(0)?, lookup: r.get(1)?, newest: r.get(2)?, oldest: r.get(3)?, events: r.get(4)? };
            Ok((chunk, r.get::<_, bool>(5)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.iter().any(|(_, ok)| !ok) {
        return Err(anyhow::Error::new(super::Damaged).context("a stored page fails its check"));
    }
    Ok(rows.into_iter().map(|(chunk, _)| chunk).collect())
}

/// Whether the file still holds what `written` says this fetch wrote: its row as last written,
/// counting as many chunks as were linked to it, and its chunks not yet linked.
fn still_holds(tx: &Transaction<'_>, written: &Written) -> Result<bool> {
    if let Some((row, span)) = written.row {
        let found: Option<(i64, i64, i64)> = tx
            .prepare_cached("SELECT lo, hi, pages FROM coverage WHERE id = ?1")?
            .query_row([row], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        if found != Some((span.lo, span.hi, written.linked)) {
            return Ok(false);
        }
        let held: i64 =
            tx.prepare_cached("SELECT count(*) FROM chunks WHERE cover = ?1")?.query_row([row], |r| r.get(0))?;
        if held != written.linked {
            return Ok(false);
        }
    }
    for id in &written.unlinked {
        let there: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM chunks WHERE id = ?1 AND cover IS NULL)")?
            .query_row([id], |r| r.get(0))?;
        if !there {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ids(tx: &Transaction<'_>, sql: &str, params: impl rusqlite::Params) -> Result<Vec<i64>> {
    Ok(tx.prepare(sql)?.query_map(params, |r| r.get(0))?.collect::<Result<_, _>>()?)
}

/// Removes chunks, and counts them out of the rows they were linked to.
fn remove_chunks(tx: &Transaction<'_>, chunks: &[i64]) -> Result<()> {
    for &id in chunks {
        let cover: Option<Option<i64>> =
            tx.prepare_cached("SELECT cover FROM chunks WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()?;
        if let Some(Some(row)) = cover {
            tx.prepare_cached("UPDATE coverage SET pages = pages - 1 WHERE id = ?1")?.execute([row])?;
        }
        tx.prepare_cached("DELETE FROM chunks WHERE id = ?1")?.execute([id])?;
    }
    Ok(())
}

/// Removes coverage rows; chunks linked to them stay, linked to nothing (later removals take them).
fn remove_coverage(tx: &Transaction<'_>, rows: &[i64]) -> Result<()> {
    for &row in rows {
        tx.prepare_cached("UPDATE chunks SET cover = NULL WHERE cover = ?1")?.execute([row])?;
        tx.prepare_cached("DELETE FROM coverage WHERE id = ?1")?.execute([row])?;
    }
    Ok(())
}

/// A connection to the file in `mode`.
fn connect(path: &Path, mode: Mode) -> Result<Connection> {
    let conn = match mode {
        Mode::ReadWrite => {
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        }
        Mode::ReadOnly => {
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        }
        Mode::Immutable => {
            let absolute = std::path::absolute(path).with_context(|| format!("cannot open {}", path.display()))?;
            let mut uri = url::Url::from_file_path(&absolute)
                .map_err(|()| anyhow!("cannot open {}: not a path SQLite can name", path.display()))?;
            uri.set_query(Some("immutable=1"));
            Connection::open_with_flags(
                uri.as_str(),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        }
    };
    conn.with_context(|| format!("cannot open {}", path.display()))
}

/// The store's file, created empty and private (0600) if missing, in a private (0700) directory.
fn create_private(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(path, private).with_context(|| format!("cannot make {} private", path.display()))?;
    }
    Ok(())
}
