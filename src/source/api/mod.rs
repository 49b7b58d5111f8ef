//! The LookupEvents source: pages of 50 through the AWS SDK, at the client-side rate limit of each
//! region, with retries for passing failures. The plan's lookups in every region run together and are
//! merged newest first without duplicates. A page is handed to the sink before the next page of the
//! same lookup is requested; with the store, the planner (`plan`) cuts each lookup's window into
//! parts read back or fetched, and the recorder (`record`) copies the fetched pages into it. Requests,
//! retries and the SDK are `crate::aws`'s.
//!
//! Against an endpoint that misbehaves: every attempt has a connect timeout and a timeout for the whole
//! answer; an answer over `ANSWER_CAP` is refused without being read whole; a lookup whose pages come
//! back in a loop is stopped; an answer that is not CloudTrail's is shown for what it is; and a region
//! that fails stops alone, the others are finished and the resume token continues the failed one.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::token::{self, Binding, Position};
use super::{ApiConfig, Consumer, Flow, Origin, Outcome, Raw};
use crate::aws::accounts::{self, Account};
use crate::aws::request::{self, LookupKey, Region};
use crate::error::{say, usage, warn, Interrupted};
use crate::event::HistoryEvent;
use crate::interrupt;
use crate::merge::{self, Seen};
use crate::progress::Progress;
use crate::store::{Span, Store};

mod failure;
mod follow;
mod plan;
mod record;
mod stream;

use failure::{Problem, RegionFailure};
use stream::Stream;

pub fn lookup(config: &ApiConfig, sink: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    crate::runtime::block_on(async {
        let mut merge = Merge::new(config).await?;
        let result = merge.run(config, sink, progress).await;
        match merge.store.take().map(Store::finish) {
            Some(Err(err)) if result.is_ok() => Err(err),
            _ => result,
        }
    })?
}

/// The plan's lookups in every region of every account, merged newest first.
struct Merge {
    /// Each account's regions, account after account.
    regions: Vec<Region>,
    /// The accounts, and by region (the index of its `Region`) the index of its account.
    accounts: Vec<Account>,
    account_of: Vec<usize>,
    /// By region: the requests sent, for `-v`.
    requests: Vec<u64>,
    streams: Vec<Stream>,
    /// IDs handed out at the newest time seen, to drop the same event found by another lookup.
    seen: Seen<Option<DateTime<Utc>>>,
    /// By region (the index of its `Region`): why it stopped.
    failed: Vec<Option<RegionFailure>>,
    /// What the resume tokens of several lookups are bound to.
    binding: Binding,
    /// The local event store, when this run uses it, and the run's window as it counts it.
    store: Option<Store>,
    store_window: Option<Span>,
    /// `--follow`: the IDs handed out within the lag behind the newest second seen (each event is
    /// printed once however many polls see it again), that newest second, whether being behind was
    /// said, and when the current poll began.
    followed: std::collections::HashMap<String, i64>,
    newest_seen: Option<i64>,
    said_behind: bool,
    poll_started: Option<tokio::time::Instant>,
    poll_secs: i64,
    following: bool,
}

fn now_secs() -> i64 {
    Utc::now().timestamp()
}

impl Merge {
    async fn new(config: &ApiConfig) -> Result<Merge> {
        if let Some(profile) = &config.connection.profile {
            crate::aws::check_profile(profile).await?;
        }
        let offline = config.store.as_ref().is_some_and(|s| s.offline);
        let accounts = accounts::resolve(&config.accounts, &config.connection, config.parallel, offline).await?;
        let names: Vec<Option<&str>> = if config.regions.is_empty() {
            vec![None]
        } else {
            config.regions.iter().map(|r| Some(r.as_str())).collect()
        };
        let keys = config
            .plan
            .lookups
            .iter()
            .map(|lookup| lookup.as_ref().map(|(key, value)| LookupKey::new(*key, value)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let several_accounts = accounts.len() > 1;
        let mut regions = Vec::new();
        let mut account_of = Vec::new();
        let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(config.parallel.max(1)));
        // Credentials are the same in every region of an account: its first region's configuration
        // finds the account for the store.
        let mut sdk_configs = Vec::new();
        for (a, account) in accounts.iter().enumerate() {
            for name in &names {
                let (client, name, sdk_config) = crate::aws::cloudtrail(&account.connection.in_region(*name))
                    .await
                    .map_err(|e| if several_accounts { e.context(account.label.clone()) } else { e })?;
                if sdk_configs.len() == a {
                    sdk_configs.push(sdk_config);
                }
                let mut region =
                    Region::new(name, client, config.tps, config.insight, config.retries, in_flight.clone());
                if several_accounts {
                    region.place = format!("{} of {}", region.name, account.label);
                }
                regions.push(region);
                account_of.push(a);
            }
        }
        // Read only now that the regions are resolved (a token is bound to them); still before any request.
        let binding = binding(config, &regions);
        let count = regions.len() * keys.len();
        let mut positions = match &config.starting_token {
            Some(text) => token::decode(text, count, &binding).map_err(usage)?,
            None => vec![Some(Position::default()); count],
        }
        .into_iter();
        let window = [config.window.start, config.window.end];
        let mut streams = Vec::new();
        for region in 0..regions.len() {
            for key in &keys {
                let position = positions.next().expect("one position per stream");
                streams.push(Stream::new(region, key.clone(), position, window));
            }
        }
        if config.names_global_service && !regions.iter().any(|r| r.name == "us-east-1") {
            warn(
                "IAM, STS, console sign-in, CloudFront, Route 53 and Organizations record their events in \
                  us-east-1: add --region us-east-1 to see them",
            );
        }
        let failed = regions.iter().map(|_| None).collect();
        let names: Vec<&str> = regions.iter().map(|r| r.place.as_str()).collect();
        let store = plan::open_store(config, &accounts, &sdk_configs, &names).await?;
        let mut merge = Merge {
            requests: vec![0; regions.len()],
            regions,
            account_of,
            streams,
            seen: Seen::default(),
            failed,
            binding,
            store: None,
            store_window: None,
            followed: std::collections::HashMap::new(),
            newest_seen: None,
            said_behind: false,
            poll_started: None,
            poll_secs: 0,
            following: config.follow.is_some(),
            accounts,
        };
        if config.verbose && (several_accounts || merge.regions.len() > 1) {
            let places: Vec<&str> = merge.regions.iter().map(|r| r.place.as_str()).collect();
            say(format_args!(
                "reading {} lookups ({} accounts), at most {} requests at a time: {}",
                places.len(),
                merge.accounts.len(),
                config.parallel,
                places.join(", ")
            ));
        }
        merge.fail_accounts();
        if let Some((store, scopes)) = store {
            merge.store = Some(store);
            merge.plan_store(config, &scopes)?;
        }
        Ok(merge)
    }

    async fn run(&mut self, config: &ApiConfig, sink: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
        let merged = self.streams.len() > 1;
        if let Some(store) = self.store.as_mut() {
            store.screen = sink.screen().map(std::sync::Arc::new);
        }
        loop {
            if interrupt::interrupted() {
                sink.flush()?;
                return Err(self.interrupted());
            }
            if let Some(store) = &self.store {
                // A sync whose store failed has nothing left to do.
                if store.config.sync && !store.usable() {
                    return self.finish(Outcome::default(), config);
                }
                for i in 0..self.streams.len() {
                    self.advance(i, config)?;
                }
            }
            // Stored events the store's screen ruled out: counted, as files count theirs.
            if let Some(screened) = self.store.as_mut().map(|s| std::mem::take(&mut s.screened)).filter(|&n| n > 0) {
                progress.scanned_many(screened);
                sink.screened(screened);
            }
            let wanted: Vec<usize> = (0..self.streams.len()).filter(|&i| self.streams[i].needs_page()).collect();
            if !wanted.is_empty() {
                sink.flush()?;
                self.fetch(&wanted, config, progress).await?;
                continue;
            }
            // The stream whose next event is newest (on a tie, in the API's order, else the first).
            let Some(index) =
                merge::newest((0..self.streams.len()).filter_map(|i| self.streams[i].head_time().map(|t| (i, t))))
                    .map(|index| self.in_api_order(index))
            else {
                sink.flush()?;
                if let Some(follow) = config.follow {
                    if self.streams.iter().any(|s| !s.stopped) {
                        self.next_poll(follow, config).await?;
                        continue;
                    }
                }
                return self.finish(Outcome::default(), config);
            };
            let stream = &mut self.streams[index];
            let event = stream.buffer.pop_front().expect("a head event");
            stream.hand_out(&event);
            stream.consumed += 1;
            progress.scanned(event.time().and_then(|t| DateTime::from_timestamp(t.timestamp(), 0)));
            if merged && !self.seen.first(event.time(), event.id()) {
                continue;
            }
            if config.follow.is_some() && !self.first_follow_sighting(&event) {
                continue;
            }
            let HistoryEvent { envelope, record, checked } = event;
            if sink.item(Raw::Api { envelope, record, checked }, Origin::Api)? == Flow::Stop {
                sink.flush()?;
                let outcome = Outcome { resume_token: self.resume_token() };
                return self.finish(outcome, config);
            }
        }
    }

    /// Among streams whose heads tie on time, one whose head no other tied stream holds further on in
    /// the same second: each lookup's page keeps the API's order, and one that holds both events of
    /// a second says which comes first. Bounded, should two pages disagree.
    fn in_api_order(&self, mut index: usize) -> usize {
        for _ in 0..self.streams.len() {
            let head = &self.streams[index].buffer[0];
            let (time, id) = (head.time(), head.id());
            let later_elsewhere = (0..self.streams.len()).find(|&j| {
                j != index
                    && self.streams[j].head_time() == Some(time)
                    && self.streams[j].buffer.iter().skip(1).take_while(|e| e.time() == time).any(|e| e.id() == id)
            });
            match later_elsewhere {
                Some(j) => index = j,
                None => break,
            }
        }
        index
    }

    /// The token that continues after the last event handed out; None when nothing is left, and
    /// when following (Ctrl-C is how a follow ends; the next one starts from its own window).
    fn resume_token(&mut self) -> Option<String> {
        if self.following {
            return None;
        }
        for stream in &mut self.streams {
            stream.consume_seen(self.seen.time.flatten(), &self.seen.ids);
        }
        let positions: Vec<Option<Position>> = self.streams.iter().map(Stream::position).collect();
        positions.iter().any(Option::is_some).then(|| token::encode(&positions, &self.binding))
    }

    /// The error for Ctrl-C (or SIGTERM, SIGHUP), with the token that continues after the last event printed.
    fn interrupted(&mut self) -> anyhow::Error {
        let what = interrupt::what();
        match self.resume_token() {
            Some(token) => {
                Interrupted(format!("{what}; to resume, run again with the same options and --starting-token {token}"))
                    .into()
            }
            None => Interrupted(what.to_owned()).into(),
        }
    }

    /// Fetches the next page of each wanted stream, concurrently, each request waiting its region's turn.
    /// A failure stops the stream's region (see `fail`); only Ctrl-C and a crashed task are errors here.
    async fn fetch(&mut self, wanted: &[usize], config: &ApiConfig, progress: &Progress) -> Result<()> {
        let mut requests = JoinSet::new();
        for &i in wanted {
            let stream = &self.streams[i];
            let token = if stream.fetched { stream.next_token.clone() } else { stream.page_token.clone() };
            let region = self.regions[stream.region].clone();
            let request = request::Request { key: stream.key.clone(), token, start: stream.start, end: stream.end };
            requests.spawn(async move { (i, region.page(request).await) });
        }
        let mut problems = Vec::new();
        loop {
            let joined = tokio::select! {
                joined = requests.join_next() => joined,
                () = interrupt::wait() => return Err(self.interrupted()),
            };
            let Some(joined) = joined else { break };
            let (i, (attempts, result)) = joined.context("a LookupEvents request task failed")?;
            (0..attempts).for_each(|_| progress.request());
            self.requests[self.streams[i].region] += u64::from(attempts);
            if let Some(store) = self.store.as_mut() {
                store.requests += u64::from(attempts);
            }
            match result {
                Ok(page) => {
                    let chunk = self.encode_page(i, &page);
                    match self.streams[i].take_page(page) {
                        Ok(()) => {
                            progress.page();
                            if let Some(chunk) = chunk {
                                self.record(i, chunk);
                            }
                        }
                        Err(why) => problems.push((i, Problem::Loop(why))),
                    }
                }
                Err(err) => problems.push((i, Problem::Request(err, attempts))),
            }
        }
        for (i, problem) in problems {
            self.fail(i, problem, config);
        }
        Ok(())
    }
}

/// What a token of several lookups is bound to: the resolved regions, the lookups, the category and
/// the time window.
fn binding(config: &ApiConfig, regions: &[Region]) -> Binding {
    let regions: Vec<String> = regions.iter().map(|r| r.place.clone()).collect();
    let lookups: Vec<Option<String>> = config
        .plan
        .lookups
        .iter()
        .map(|lookup| lookup.as_ref().map(|(key, value)| plan::lookup_key(*key, value)))
        .collect();
    let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
    Binding::new(&regions, &lookups, config.insight, [ms(config.window.start), ms(config.window.end)])
}
