//! The planner of the store path: each lookup's window cut into the parts the store covers (read
//! back) and those it lacks (fetched and recorded), the `--offline` check that nothing is missing,
//! and the start of each part in turn, re-planned when another process removed what a part relied on.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};

use super::record;
use super::stream::{Place, Tail};
use super::{now_secs, Merge};
use crate::aws::accounts::Account;
use crate::aws::request::PAGE_SIZE;
use crate::aws::sts;
use crate::error::{say, warn};
use crate::query::Attribute;
use crate::source::ApiConfig;
use crate::store::{self, coverage, Opened, Part, ScopeKey, Span, Store, StoreConfig, StoredReader};

/// The first page of a part starts at its newest second.
fn part_window(span: Span, window: Span, config: &ApiConfig) -> [Option<DateTime<Utc>>; 2] {
    // The run's own open ends stay open, as a run without the store sends them.
    let start = (span.lo != store::BEGINNING || config.window.start.is_some())
        .then_some(span.lo)
        .and_then(|t| DateTime::from_timestamp(t, 0));
    let end = (span.hi != window.hi || config.window.end.is_some())
        .then_some(span.hi)
        .and_then(|t| DateTime::from_timestamp(t, 0));
    [start, end]
}

/// The run's window in whole seconds, as the store counts: from the first whole second at or after
/// the start (or the beginning of history) to the end (or now). None when it holds no whole second.
fn store_window(config: &ApiConfig, now: DateTime<Utc>) -> Option<Span> {
    let lo =
        config.window.start.map_or(store::BEGINNING, |t| t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0));
    let hi = config.window.end.unwrap_or(now).timestamp();
    Span::new(lo, hi)
}

/// A lookup as tokens and the store name it: `EventName=ConsoleLogin`.
pub(super) fn lookup_key(attribute: Attribute, value: &str) -> String {
    format!("{}={value}", attribute.api_name())
}

impl Merge {
    /// With the store: each lookup's window cut into the parts the store covers, read back, and the
    /// rest, fetched and recorded. A window the store holds nothing of is fetched as it is, so that
    /// its requests and resume tokens are those of a run without the store.
    /// `scopes`: by account (of `Merge::accounts`), the account its events are filed under.
    pub(super) fn plan_store(&mut self, config: &ApiConfig, scopes: &[String]) -> Result<()> {
        let Some(store) = self.store.as_mut() else { return Ok(()) };
        let settings = store.config.clone();
        let Some(window) = store_window(config, settings.now) else {
            self.store = None;
            return Ok(());
        };
        self.store_window = Some(window);
        let category = if config.insight { "insight" } else { "management" };
        let lookups = config.plan.lookups.len();
        let mut planned = Vec::new();
        for (i, stream) in self.streams.iter().enumerate() {
            let lookup = config.plan.lookups[i % lookups].clone();
            let key = lookup.as_ref().map(|(a, v)| lookup_key(*a, v)).unwrap_or_default();
            let scope_key = ScopeKey {
                endpoint: settings.endpoint.clone(),
                account: scopes[self.account_of[stream.region]].clone(),
                region: self.regions[stream.region].name.clone(),
                category: category.to_owned(),
            };
            let placed = store.db.scope(&scope_key).and_then(|scope| Ok((scope, store.db.covered(scope, &key)?)));
            match placed {
                Ok((scope, covered)) => planned.push((Place { scope, key, lookup }, coverage::split(window, &covered))),
                Err(err) if settings.offline => return Err(err.context("--offline: cannot read the store")),
                Err(err) => {
                    store.fail(&err);
                    return Ok(());
                }
            }
        }
        if settings.offline {
            let gaps: Vec<String> = planned
                .iter()
                .enumerate()
                .flat_map(|(i, (place, parts))| {
                    let region = &self.regions[self.streams[i].region].place;
                    let settings = &settings;
                    coverage::missing(parts).into_iter().map(move |span| describe_gap(span, region, place, settings))
                })
                .collect();
            if !gaps.is_empty() {
                let shown = gaps.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
                let more = if gaps.len() > 3 { format!(" and {} more", gaps.len() - 3) } else { String::new() };
                return Err(anyhow!(
                    "--offline: the store does not cover {shown}{more}; nothing was sent (the newest 15 minutes are \
                     never covered: --until 15m leaves them out; `ctlookup sync` fills a window)"
                ));
            }
        }
        for (stream, (place, parts)) in self.streams.iter_mut().zip(planned) {
            if parts == [Part::Missing(window)] {
                stream.recording = record::start(Some(store), window, now_secs());
            } else {
                stream.timed = true;
                // Nothing pending until `advance` starts the first part.
                stream.fetched = true;
                stream.next_token = None;
                stream.parts = parts.into_iter().filter(|p| !(settings.sync && matches!(p, Part::Stored(_)))).collect();
            }
            stream.place = Some(place);
        }
        Ok(())
    }

    /// Makes stream `i` ready to hand out events: refills its buffer from the store, or moves on to
    /// the next part when the current one is done. Leaves it wanting a page, holding events, or finished.
    /// With `--offline`, a part the store can no longer answer is an error: nothing is sent.
    pub(super) fn advance(&mut self, i: usize, config: &ApiConfig) -> Result<()> {
        loop {
            let stream = &mut self.streams[i];
            if stream.stopped || !stream.buffer.is_empty() {
                return Ok(());
            }
            if let Some(reader) = &mut stream.reader {
                let store = self.store.as_mut().expect("a reader reads the store");
                if !reader.done() {
                    match reader.next_batch(PAGE_SIZE as usize) {
                        Ok(batch) => {
                            let screened = reader.take_screened();
                            store.screened += screened;
                            store.from_store += batch.len() as u64 + screened;
                            stream.buffer = batch.into();
                        }
                        Err(err) if store.config.offline => {
                            store.fail(&err);
                            return Err(anyhow!("--offline: the store failed while reading it back ({err:#})"));
                        }
                        Err(err) => {
                            // The API takes over the rest of the part, after the events handed out.
                            store.fail(&err);
                            let span = reader.span();
                            let (hi, tail) = match reader.last() {
                                Some((time, ids)) => {
                                    let time = DateTime::from_timestamp(time, 0);
                                    (time, Some(Tail { time, ids: ids.clone(), page: ids.clone() }))
                                }
                                None => (None, None),
                            };
                            let window = self.store_window.expect("parts come from a planned window");
                            let mut range = part_window(span, window, config);
                            if hi.is_some() {
                                range[1] = hi;
                            }
                            stream.reader = None;
                            stream.begin_api(range, tail, None);
                            return Ok(());
                        }
                    }
                    continue;
                }
                stream.reader = None;
            } else if stream.needs_page() {
                return Ok(());
            } else if let Some(recording) = stream.recording.take() {
                self.settle(i, recording);
            }
            let Some(part) = self.streams[i].parts.pop_front() else { return Ok(()) };
            self.begin(i, part, config)?;
        }
    }

    /// Starts the next part of stream `i`: read back from the store, or fetched and recorded. A
    /// part planned as stored that the store no longer holds whole (another process removed some of
    /// it since) is fetched instead.
    fn begin(&mut self, i: usize, part: Part, config: &ApiConfig) -> Result<()> {
        let store = self.store.as_mut().expect("parts come from the store");
        let stream = &mut self.streams[i];
        let place = stream.place.as_ref().expect("a planned stream has its place");
        if let (Part::Stored(span), true) = (part, store.usable()) {
            let opened = StoredReader::open(store, place.scope, place.lookup.clone(), &place.key, span);
            let offline = store.config.offline;
            let region = &self.regions[stream.region].place;
            let gap = || describe_gap(span, region, place, &store.config);
            match opened {
                Ok(Opened::Reader(reader)) => {
                    stream.reader = Some(reader);
                    return Ok(());
                }
                Ok(Opened::Cut) if offline => {
                    return Err(anyhow!(
                        "--offline: the store no longer covers {} (another ctlookup process removed it meanwhile); \
                         nothing was sent",
                        gap()
                    ))
                }
                Ok(Opened::Cut) => {
                    if store.config.verbose {
                        say(format_args!("store: {} was removed by another process meanwhile: asking the API", gap()));
                    }
                }
                Ok(Opened::Short { missing }) => {
                    let what = format!(
                        "the store covers {} but lacks {missing} of the stored pages its coverage counts",
                        gap()
                    );
                    if offline {
                        return Err(anyhow!("--offline: {what}; nothing was sent"));
                    }
                    warn(format_args!("{what}: asking the API for it"));
                    if store.records() {
                        if let Err(err) = store.db.forget_short(place.scope, &place.key) {
                            store.fail(&err);
                        }
                    }
                }
                Err(err) if offline => return Err(err.context("--offline: cannot read the store")),
                Err(err) => store.fail(&err),
            }
        }
        let span = part.span();
        let recording = record::start(Some(store), span, now_secs());
        let window = self.store_window.expect("parts come from a planned window");
        stream.begin_api(part_window(span, window, config), None, recording);
        Ok(())
    }
}

/// Opens the store and finds, for each account, the account its events are filed under, when the
/// run uses the store: an assumed role's account is known; other credentials are asked of STS (see
/// `sts::account`). Without `--offline`, a store that cannot be opened or an account that cannot be
/// found leaves the run to the API alone.
pub(super) async fn open_store(
    config: &ApiConfig,
    accounts: &[Account],
    sdk_configs: &[aws_config::SdkConfig],
    regions: &[&str],
) -> Result<Option<(Store, Vec<String>)>> {
    let Some(settings) = &config.store else { return Ok(None) };
    let store = match Store::open(settings) {
        Ok(store) => store,
        Err(err) if err.downcast_ref::<store::NoStore>().is_some() => {
            let window = store_window(config, settings.now).map_or_else(String::new, |span| {
                let place = Place { scope: 0, key: String::new(), lookup: None };
                format!(" {}", describe_gap(span, &regions.join(", "), &place, settings))
            });
            return Err(anyhow!(
                "--offline: the store does not cover{window}: {err}; nothing was sent (run the question once \
                 without --offline, or `ctlookup sync`, to fill it)"
            ));
        }
        Err(err) if settings.offline => return Err(err.context("--offline needs the store")),
        Err(err) if settings.sync => return Err(err),
        Err(err) => {
            warn(format_args!("the store cannot be used now ({err:#}): going on without it"));
            return Ok(None);
        }
    };
    let mut scopes = Vec::new();
    for (account, sdk_config) in accounts.iter().zip(sdk_configs) {
        if let Some(id) = &account.id {
            scopes.push(id.clone());
            continue;
        }
        let provider = crate::aws::credentials_provider(&account.connection, sdk_config);
        match sts::account(provider, sdk_config, &store.db, &settings.endpoint, settings.offline).await {
            Ok(scope) => scopes.push(scope),
            Err(err) if settings.offline => return Err(err.context("--offline")),
            Err(err) => {
                if settings.verbose {
                    let of = if account.label.is_empty() { String::new() } else { format!(" ({})", account.label) };
                    say(format_args!("store: not used{of}: {err:#}"));
                }
                return Ok(None);
            }
        }
    }
    Ok(Some((store, scopes)))
}

/// One part the store lacks, for `--offline`'s message.
fn describe_gap(span: Span, region: &str, place: &Place, settings: &StoreConfig) -> String {
    let lookup = if place.key.is_empty() { String::new() } else { format!(" for {}", place.key) };
    let category = if settings.insight { " (insight events)" } else { "" };
    format!("{} in {region}{lookup}{category}", store::span_text(span, settings.zone, "the start of Event history"))
}
