//! The store's SQLite file: its schema and every statement run on it. One file holds every account,
//! region and category (a scope); its pages (chunks) and the coverage they prove. SQLite gives the
//! atomic commits (a page and the coverage it proves land together or not at all), crash safety and
//! several processes at once (WAL; writers wait their turn).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::coverage::{union, Span};

/// Bumped whenever the schema or the chunk format changes: a store of another version is rebuilt.
const VERSION: i64 = 1;

/// A stamp in the file that tells ctlookup's store from another SQLite file.
const APPLICATION_ID: i64 = 0x6374_6c6b; // "ctlk"

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
    data BLOB NOT NULL,
    chk INTEGER
);
CREATE INDEX chunks_by_time ON chunks (scope, lookup, newest);
CREATE TABLE coverage (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL REFERENCES scopes(id),
    lookup TEXT NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
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
CREATE TRIGGER coverage_changed AFTER UPDATE OF scope, lo, hi ON coverage BEGIN
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
const COVERAGE_CHECK: &str =
    "((scope * 1000003 + lo % 1000000007 * 31 + hi % 1000000007 * 37 + length(lookup) * 43) % 1000000007)";

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
    pub events: i64,
    pub bytes: i64,
}

/// Which scopes `ctlookup store clear` empties, and how far back.
#[derive(Debug, Default)]
pub struct Selection {
    pub account: Option<String>,
    pub region: Option<String>,
    /// Only what is older than this (epoch seconds).
    pub older_than: Option<i64>,
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

/// Why the file could not be used as it is.
pub enum OpenError {
    /// Not a ctlookup store of this version, or damaged: rebuild it.
    Unusable(anyhow::Error),
    /// The directory or file cannot be created or opened at all.
    Io(anyhow::Error),
}

impl From<OpenError> for anyhow::Error {
    /// For a caller that does not rebuild: either way the store cannot be used.
    fn from(err: OpenError) -> anyhow::Error {
        match err {
            OpenError::Unusable(e) | OpenError::Io(e) => e,
        }
    }
}

impl Db {
    /// Opens (or creates) the store file, readable by its owner only.
    pub fn open(path: &Path) -> Result<Db, OpenError> {
        create_private(path).map_err(OpenError::Io)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("cannot open {}", path.display()))
            .map_err(OpenError::Io)?;
        let db = Db { conn, path: path.to_owned() };
        db.prepare().map_err(OpenError::Unusable)?;
        Ok(db)
    }

    fn prepare(&self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(30))?;
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let application: i64 = self.conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        if version == 0 && application == 0 {
            let tables: i64 = self.conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables != 0 {
                anyhow::bail!("it is not a ctlookup store");
            }
            // auto_vacuum must be chosen before the first table; INCREMENTAL lets eviction give space back.
            self.conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
            self.conn.pragma_update(None, "journal_mode", "WAL")?;
            let tx = self.conn.unchecked_transaction()?;
            // Two processes may create the store at once: the second finds the tables there.
            let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables == 0 {
                let schema = SCHEMA.replace("CHUNK_CHECK", CHUNK_CHECK).replace("COVERAGE_CHECK", COVERAGE_CHECK);
                tx.execute_batch(&schema)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                tx.pragma_update(None, "user_version", VERSION)?;
            }
            tx.commit()?;
        } else if application != APPLICATION_ID {
            anyhow::bail!("it is not a ctlookup store");
        } else if version != VERSION {
            anyhow::bail!(
                "it was written by another version of ctlookup (store format {version}, this one reads {VERSION})"
            );
        } else {
            self.conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        // WAL with NORMAL sync: a commit survives a crash of the process; only a power cut can lose the
        // last commits, never corrupt the file.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // More damage is found as it is read, as errors rather than wrong rows.
        self.conn.pragma_update(None, "cell_size_check", true)?;
        // Reads a table the schema must have: a damaged header or schema shows here, at open.
        self.conn.query_row("SELECT count(*) FROM scopes", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn account_of(&self, access_key_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT account FROM identities WHERE access_key_id = ?1", [access_key_id], |r| r.get(0))
            .optional()?)
    }

    pub fn remember_account(&self, access_key_id: &str, account: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO identities (access_key_id, account) VALUES (?1, ?2)
             ON CONFLICT (access_key_id) DO UPDATE SET account = excluded.account",
            [access_key_id, account],
        )?;
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
        let tx = self.conn.unchecked_transaction()?;
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

    /// The scope's id, created when new.
    pub fn scope(&self, key: &ScopeKey) -> Result<i64> {
        let ScopeKey { endpoint, account, region, category } = key;
        self.conn.execute(
            "INSERT INTO scopes (endpoint, account, region, category) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            [endpoint, account, region, category],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM scopes WHERE endpoint = ?1 AND account = ?2 AND region = ?3 AND category = ?4",
            [endpoint, account, region, category],
            |r| r.get(0),
        )?)
    }

    /// The spans covered for a lookup: by full scans, and by that same lookup.
    pub fn covered(&self, scope: i64, lookup: &str) -> Result<Vec<Span>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT lo, hi, chk IS {COVERAGE_CHECK} FROM coverage WHERE scope = ?1 AND lookup IN ('', ?2)"
        ))?;
        let rows = statement
            .query_map(params![scope, lookup], |r| Ok((Span { lo: r.get(0)?, hi: r.get(1)? }, r.get::<_, bool>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        if rows.iter().any(|(_, ok)| !ok) {
            return Err(anyhow::Error::new(super::Damaged).context("a coverage row fails its check"));
        }
        Ok(union(rows.into_iter().map(|(span, _)| span).collect()))
    }

    /// The chunks of a full scan or of this lookup that may hold events of `span`, newest first.
    pub fn chunks(&self, scope: i64, lookup: &str, span: Span) -> Result<Vec<ChunkRef>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT id, lookup, newest, oldest, events, chk IS {CHUNK_CHECK} FROM chunks
             WHERE scope = ?1 AND lookup IN ('', ?2) AND newest >= ?3 AND oldest <= ?4
             ORDER BY newest DESC, id"
        ))?;
        let rows = statement
            .query_map(params![scope, lookup, span.lo, span.hi], |r| {
                let chunk = ChunkRef {
                    id: r.get(0)?,
                    lookup: r.get(1)?,
                    newest: r.get(2)?,
                    oldest: r.get(3)?,
                    events: r.get(4)?,
                };
                Ok((chunk, r.get::<_, bool>(5)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if rows.iter().any(|(_, ok)| !ok) {
            return Err(anyhow::Error::new(super::Damaged).context("a stored page fails its check"));
        }
        Ok(rows.into_iter().map(|(chunk, _)| chunk).collect())
    }

    pub fn chunk_data(&self, id: i64) -> Result<Vec<u8>> {
        let mut statement = self.conn.prepare_cached("SELECT data FROM chunks WHERE id = ?1")?;
        Ok(statement.query_row([id], |r| r.get(0))?)
    }

    /// Records one page and the coverage it extends, in one commit. `coverage` is the row this fetch
    /// has written before (None: the first), returned for the next page.
    /// Also returns the new chunk's id.
    pub fn record(&self, page: &Page<'_>, coverage: Option<i64>) -> Result<(Option<i64>, Option<i64>)> {
        let tx = self.conn.unchecked_transaction()?;
        let mut chunk = None;
        if let Some((data, newest, oldest, events)) = page.chunk {
            tx.prepare_cached(
                "INSERT INTO chunks (scope, lookup, newest, oldest, events, fetched, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![page.scope, page.lookup, newest, oldest, events, page.fetched, data])?;
            chunk = Some(tx.last_insert_rowid());
        }
        let row = match (page.covered, coverage) {
            (Some(span), Some(row)) => {
                tx.prepare_cached("UPDATE coverage SET lo = ?1, hi = ?2 WHERE id = ?3")?
                    .execute(params![span.lo, span.hi, row])?;
                Some(row)
            }
            (Some(span), None) => {
                tx.prepare_cached("INSERT INTO coverage (scope, lookup, lo, hi) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![page.scope, page.lookup, span.lo, span.hi])?;
                Some(tx.last_insert_rowid())
            }
            (None, row) => row,
        };
        tx.commit()?;
        Ok((row, chunk))
    }

    /// Joins consecutive pages of one fetch into one chunk: records of a page share most of their
    /// text with those of the next ones, and a chunk of 10 pages compresses to about half the bytes
    /// per event of 10 chunks of one. Pages gone meanwhile (another process settled them) leave
    /// things as they are.
    pub fn compact(&self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let mut events = Vec::new();
        let mut first: Option<(i64, String, i64)> = None;
        for &id in ids {
            let row: Option<(i64, String, i64, Vec<u8>)> = tx
                .prepare_cached("SELECT scope, lookup, fetched, data FROM chunks WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((scope, lookup, fetched, data)) = row else { return Ok(()) };
            first.get_or_insert((scope, lookup, fetched));
            events.extend(super::chunk::decode(&data).context(super::Damaged)?);
        }
        let (Some((scope, lookup, fetched)), Some(_)) = (first, events.first()) else { return Ok(()) };
        // Newest first, as the reader merges them; a stable sort keeps the API's order within a second.
        events.sort_by_key(|e| std::cmp::Reverse(super::read::secs(e)));
        let newest = super::read::secs(&events[0]);
        let oldest = super::read::secs(&events[events.len() - 1]);
        let data = super::chunk::encode(&events)?;
        tx.execute(
            "INSERT INTO chunks (scope, lookup, newest, oldest, events, fetched, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![scope, lookup, newest, oldest, events.len() as i64, fetched, data],
        )?;
        for &id in ids {
            tx.execute("DELETE FROM chunks WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// After a fetch: joins the lookup's coverage rows into as few as possible, and drops the chunks
    /// fetched before `fetched` that lie wholly inside what this fetch covered (it saw all of them
    /// again). A full scan also makes the lookups' own coverage and chunks inside it redundant.
    pub fn settle(&self, scope: i64, lookup: &str, covered: Span, fetched: i64) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let spans = {
            let mut statement = tx.prepare_cached("SELECT lo, hi FROM coverage WHERE scope = ?1 AND lookup = ?2")?;
            let spans = statement
                .query_map(params![scope, lookup], |r| Ok(Span { lo: r.get(0)?, hi: r.get(1)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            union(spans)
        };
        tx.execute("DELETE FROM coverage WHERE scope = ?1 AND lookup = ?2", params![scope, lookup])?;
        for span in spans {
            tx.execute(
                "INSERT INTO coverage (scope, lookup, lo, hi) VALUES (?1, ?2, ?3, ?4)",
                params![scope, lookup, span.lo, span.hi],
            )?;
        }
        if lookup.is_empty() {
            tx.execute(
                "DELETE FROM chunks WHERE scope = ?1 AND fetched < ?2 AND oldest >= ?3 AND newest <= ?4",
                params![scope, fetched, covered.lo, covered.hi],
            )?;
        } else {
            tx.execute(
                "DELETE FROM chunks WHERE scope = ?1 AND fetched < ?2 AND oldest >= ?3 AND newest <= ?4 AND lookup = ?5",
                params![scope, fetched, covered.lo, covered.hi, lookup],
            )?;
        }
        if lookup.is_empty() {
            tx.execute(
                "DELETE FROM coverage WHERE scope = ?1 AND lookup != '' AND lo >= ?2 AND hi <= ?3",
                params![scope, covered.lo, covered.hi],
            )?;
        }
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
        let size = self.size()?;
        if size <= max {
            return Ok(0);
        }
        // The newest time that must go: the running total of the oldest pages passes the excess there.
        let excess = size - max;
        let cut: Option<i64> = self.conn.query_row(
            "SELECT newest FROM (SELECT newest, sum(length(data)) OVER (ORDER BY newest, id) AS total FROM chunks)
             WHERE total >= ?1 ORDER BY newest LIMIT 1",
            [excess],
            |r| r.get(0),
        )?;
        let Some(cut) = cut else { return Ok(0) };
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM chunks WHERE newest <= ?1", [cut])?;
        tx.execute("DELETE FROM coverage WHERE hi <= ?1", [cut])?;
        tx.execute("UPDATE coverage SET lo = ?1 + 1 WHERE lo <= ?1", [cut])?;
        tx.commit()?;
        self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        Ok(size - self.size()?)
    }

    /// Every scope with what it holds.
    pub fn summaries(&self) -> Result<Vec<Summary>> {
        let mut statement = self.conn.prepare(
            "SELECT s.id, s.endpoint, s.account, s.region, s.category,
                    (SELECT coalesce(sum(events), 0) FROM chunks c WHERE c.scope = s.id),
                    (SELECT coalesce(sum(length(data)), 0) FROM chunks c WHERE c.scope = s.id),
                    (SELECT count(DISTINCT lookup) FROM coverage v WHERE v.scope = s.id AND v.lookup != '')
             FROM scopes s ORDER BY s.account, s.region, s.category, s.endpoint",
        )?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ScopeKey { endpoint: r.get(1)?, account: r.get(2)?, region: r.get(3)?, category: r.get(4)? },
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut summaries = Vec::new();
        for (id, key, events, bytes, lookups) in rows {
            // The lookup "" is the full scan's own: these are the windows of full scans.
            let windows = self.covered(id, "")?;
            if events == 0 && bytes == 0 && lookups == 0 && windows.is_empty() {
                continue;
            }
            summaries.push(Summary { key, windows, lookups: lookups as usize, events, bytes });
        }
        Ok(summaries)
    }

    /// Empties the selected scopes (or their part older than the cut); returns the pages removed.
    pub fn clear(&self, selection: &Selection) -> Result<i64> {
        let tx = self.conn.unchecked_transaction()?;
        let scopes = "SELECT id FROM scopes WHERE (?1 IS NULL OR account = ?1) AND (?2 IS NULL OR region = ?2)";
        let removed = match selection.older_than {
            None => {
                let removed = tx.execute(
                    &format!("DELETE FROM chunks WHERE scope IN ({scopes})"),
                    params![selection.account, selection.region],
                )?;
                tx.execute(
                    &format!("DELETE FROM coverage WHERE scope IN ({scopes})"),
                    params![selection.account, selection.region],
                )?;
                removed
            }
            Some(cut) => {
                let removed = tx.execute(
                    &format!("DELETE FROM chunks WHERE newest < ?3 AND scope IN ({scopes})"),
                    params![selection.account, selection.region, cut],
                )?;
                tx.execute(
                    &format!("DELETE FROM coverage WHERE hi < ?3 AND scope IN ({scopes})"),
                    params![selection.account, selection.region, cut],
                )?;
                tx.execute(
                    &format!("UPDATE coverage SET lo = ?3 WHERE lo < ?3 AND scope IN ({scopes})"),
                    params![selection.account, selection.region, cut],
                )?;
                removed
            }
        };
        tx.commit()?;
        self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        Ok(removed as i64)
    }
}

/// What one page of a fetch adds.
pub struct Page<'a> {
    pub scope: i64,
    pub lookup: &'a str,
    /// When the fetch began (epoch seconds).
    pub fetched: i64,
    /// The compressed page, its newest and oldest event times, and its number of events.
    pub chunk: Option<(&'a [u8], i64, i64, i64)>,
    /// What the fetch has covered so far, if anything.
    pub covered: Option<Span>,
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
