//! The store's own commands: `ctlookup sync` fills it with full scans of a window, `ctlookup store`
//! lists what it holds, `ctlookup store clear` removes some or all of it.

use std::fmt;
use std::io::{self, BufWriter};

use anyhow::Result;
use serde_json::Value;

use crate::config::{ListConfig, StoreSelection, SyncConfig};
use crate::error::say;
use crate::output::Layout;
use crate::progress::Progress;
use crate::source::{self, Consumer, Flow, Origin, Raw, SourceConfig};
use crate::store::{self, Db, Span};
use crate::time::Zone;

/// Fetches every part of the window the store does not cover yet; each page is committed as it
/// comes, so that Ctrl-C or a kill loses nothing fetched.
pub fn sync(config: SyncConfig) -> Result<()> {
    let regions = config.api.regions.len().max(1);
    let progress = Progress::new(config.progress, config.api.window, chrono::Utc::now(), config.zone, regions);
    let result = source::run(&SourceConfig::Api(Box::new(config.api)), &mut Discard, &progress);
    progress.finish();
    result.map(|_| ())
}

/// Events fetched by `sync` go to the store only.
struct Discard;

impl Consumer for Discard {
    fn item(&mut self, _raw: Raw<'_>, _origin: Origin<'_>) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    fn problem(&mut self, _file: &str, _problem: &dyn fmt::Display) {}

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// One row per endpoint, account, region and category: the windows covered by full scans, how many
/// lookups have coverage of their own, events and compressed bytes.
pub fn list(config: &ListConfig) -> Result<()> {
    let db = open()?;
    let summaries = match &db {
        Some(db) => db.summaries().map_err(|e| store::explain(e, db.path()))?,
        None => Vec::new(),
    };
    let headers = ["account", "region", "category", "windows", "lookups", "events", "bytes", "endpoint"];
    let (text, number) = (Layout::TEXT, Layout::COUNT);
    let layout = [text, text, text, text, number, number, number, text];
    let mut out = BufWriter::new(io::stdout().lock());
    let mut writer = config.print.row_writer(&headers, &layout, &mut out);
    for summary in &summaries {
        let windows: Vec<String> = summary.windows.iter().map(|s| window(*s, config.print.zone)).collect();
        writer.row(&[
            Value::from(summary.key.account.as_str()),
            Value::from(summary.key.region.as_str()),
            Value::from(summary.key.category.as_str()),
            Value::from(windows.join(", ")),
            Value::from(summary.lookups),
            Value::from(summary.events),
            Value::from(summary.bytes),
            Value::from(summary.key.endpoint.as_str()),
        ])?;
    }
    writer.finish()?;
    drop(writer);
    io::Write::flush(&mut out)?;
    if summaries.is_empty() {
        say(format_args!("the store {} holds no events", path()?.display()));
    }
    Ok(())
}

/// Removes the selected events and the coverage they proved. An account also takes what its
/// access keys recorded before the account was known (`key:AKID…` scopes): those of keys known to
/// be its, and the current credentials' own, whose account is asked of STS at the endpoint the
/// events came from.
pub fn clear(selection: &StoreSelection) -> Result<()> {
    let Some(db) = open()? else {
        say(format_args!("the store {} holds no events", path()?.display()));
        return Ok(());
    };
    let accounts = match &selection.account {
        Some(account) => {
            resolve_provisional(&db);
            let mut accounts = vec![account.clone()];
            accounts.extend(db.keys_of(account)?.into_iter().map(|key| format!("key:{key}")));
            let unknown: Vec<String> = db.provisional()?.into_iter().map(|(_, key)| key).collect();
            if !unknown.is_empty() && !unknown.contains(account) {
                say(format_args!(
                    "note: the store also holds events of access keys whose account is not known yet ({}); \
                     `ctlookup store clear --account KEY` with one of those names clears them",
                    unknown.join(", ")
                ));
            }
            Some(accounts)
        }
        None => None,
    };
    let removed = db
        .clear(&store::db::Selection { accounts, region: selection.region.clone(), older_than: selection.older_than })
        .map_err(|e| store::explain(e, db.path()))?;
    say(format_args!("removed {removed} stored pages from {}", db.path().display()));
    Ok(())
}

/// Files the current credentials' provisional scopes under their account, asking STS at each
/// endpoint they were recorded from. Best effort: without credentials or an answer they stay.
fn resolve_provisional(db: &Db) {
    let Ok(provisional) = db.provisional() else { return };
    if provisional.is_empty() {
        return;
    }
    let _ = crate::runtime::block_on(async {
        for (endpoint, scope_account) in provisional {
            let url = (endpoint != "aws").then_some(endpoint.as_str());
            let _ = crate::aws::sts::resolve(db, url, &endpoint, &scope_account).await;
        }
    });
}

fn path() -> Result<std::path::PathBuf> {
    Ok(store::default_dir()?.join(store::FILE_NAME))
}

/// The store for listing or clearing; None when there is none yet (nothing to list or clear, and
/// nothing is created).
fn open() -> Result<Option<Db>> {
    let path = path()?;
    match Db::open(&path, false) {
        Ok(db) => Ok(Some(db)),
        Err(store::OpenError::Missing(_)) => Ok(None),
        Err(err) => Err(store::explain(err.into(), &path)),
    }
}

/// A covered span as `ctlookup store` shows it, both ends included.
fn window(span: Span, zone: Zone) -> String {
    store::span_text(span, zone, "start")
}
