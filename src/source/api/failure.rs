//! What the run says at its end (with `-v`, the requests of each region), and when regions or accounts failed: why each stopped, said once; which are
//! complete (with several accounts, how many of them failed); and the token that continues the
//! failed ones.

use anyhow::{anyhow, Result};

use super::Merge;
use crate::aws::describe::{self, prefix, target};
use crate::aws::request::Failed;
use crate::error::say;
use crate::source::{ApiConfig, Outcome};
use crate::text::join_and;

/// Why a region stopped, said once at the end.
pub(super) struct RegionFailure {
    message: String,
    /// The same without naming the region, to say it once when every region failed alike.
    bare: String,
    /// Whether running again from where it stopped can help (not for a token the service refused,
    /// nor for pages in a loop).
    resumable: bool,
}

/// What went wrong with one request of a fetch.
pub(super) enum Problem {
    /// The request, and the attempts it took.
    Request(Failed, u32),
    Loop(&'static str),
}

impl Merge {
    /// The run's end: the outcome, or, when a region failed, an error that says so, names the regions
    /// that are complete, and carries the token that continues the failed ones.
    pub(super) fn finish(&mut self, mut outcome: Outcome, config: &ApiConfig) -> Result<Outcome> {
        if config.verbose && self.regions.len() > 1 {
            let counts: Vec<String> =
                self.regions.iter().zip(&self.requests).map(|(r, n)| format!("{} {n}", r.place)).collect();
            say(format_args!("requests: {}", counts.join(", ")));
        }
        if self.failed.iter().all(Option::is_none) {
            return Ok(outcome);
        }
        let stopped_early = outcome.resume_token.is_some();
        let token = outcome.resume_token.take().or_else(|| self.resume_token());
        let several = self.regions.len() > 1;
        let failures: Vec<&RegionFailure> = self.failed.iter().flatten().collect();
        let mut message = String::new();
        // With several accounts each failure names its own account: said once each, not grouped.
        let grouped = several && self.accounts.len() == 1;
        if grouped && failures.len() > 1 && failures.iter().all(|f| f.bare == failures[0].bare) {
            let regions: Vec<&str> = (0..self.regions.len())
                .filter(|&q| self.failed[q].is_some())
                .map(|q| self.regions[q].place.as_str())
                .collect();
            message = format!("{} (in {})", failures[0].bare, join_and(&regions));
        } else {
            for failure in &failures {
                if !message.contains(&failure.message) {
                    if !message.is_empty() {
                        message.push_str("; ");
                    }
                    message.push_str(&failure.message);
                }
            }
        }
        let healthy: Vec<&str> = (0..self.regions.len())
            .filter(|&q| self.failed[q].is_none())
            .map(|q| self.regions[q].place.as_str())
            .collect();
        if self.accounts.len() > 1 {
            let failed = self.failed_accounts();
            message = format!("{} of {} accounts failed: {message}", failed.len(), self.accounts.len());
            let others = self.accounts.len() - failed.len();
            if !stopped_early && others > 0 {
                let complete = if others == 1 {
                    "the other account is complete".to_owned()
                } else {
                    format!("the other {others} accounts are complete")
                };
                message.push_str(&format!("; {complete}"));
            }
        } else if several && !stopped_early && !healthy.is_empty() {
            let verb = if healthy.len() == 1 { "is" } else { "are" };
            message.push_str(&format!("; {} {verb} complete", join_and(&healthy)));
        }
        // When nothing was fetched and no token given, running again is the same as resuming.
        let progressed = config.starting_token.is_some() || self.streams.iter().any(|s| s.fetched);
        let resumable = progressed && self.failed.iter().flatten().any(|f| f.resumable);
        if let (true, Some(token)) = (resumable, token) {
            let failed: Vec<&str> = if self.accounts.len() > 1 {
                self.failed_accounts().into_iter().map(|a| self.accounts[a].label.as_str()).collect()
            } else {
                (0..self.regions.len())
                    .filter(|&q| self.failed[q].is_some())
                    .map(|q| self.regions[q].place.as_str())
                    .collect()
            };
            let what = match (stopped_early, several) {
                (true, _) => "to continue".to_owned(),
                (false, true) => format!("to resume {}", join_and(&failed)),
                (false, false) => "to resume".to_owned(),
            };
            message.push_str(&format!("; {what}, run again with the same options and --starting-token {token}"));
        }
        Err(anyhow!(message))
    }

    /// Stops the region of stream `i` where it stands, and says why once.
    pub(super) fn fail(&mut self, i: usize, problem: Problem, config: &ApiConfig) {
        let q = self.streams[i].region;
        if self.failed[q].is_some() {
            return;
        }
        let region = (self.regions.len() > 1).then_some(self.regions[q].place.as_str());
        let failure = match problem {
            Problem::Request(err, attempts) => {
                let resuming = config.starting_token.is_some();
                // The account's own credentials say what went wrong with them.
                let connection = &self.accounts[self.account_of[q]].connection;
                let (bare, _) = describe::lookup_failure(&err, connection, resuming, None, attempts);
                let (message, resumable) = describe::lookup_failure(&err, connection, resuming, region, attempts);
                RegionFailure { message, bare, resumable }
            }
            Problem::Loop(why) => {
                let message = |region| {
                    format!("{}{} pages in a loop ({why}); stopped", prefix(region), target(&config.connection, region))
                };
                RegionFailure { message: message(region), bare: message(None), resumable: false }
            }
        };
        self.failed[q] = Some(failure);
        for stream in self.streams.iter_mut().filter(|s| s.region == q) {
            stream.stopped = true;
            stream.consume_seen(self.seen.time.flatten(), &self.seen.ids);
        }
    }

    /// Stops, before anything is sent, every region of the accounts that cannot be read (a role that
    /// cannot be assumed), said at the end; their lookups stay where they were for the resume token.
    pub(super) fn fail_accounts(&mut self) {
        for a in 0..self.accounts.len() {
            let Some(reason) = self.accounts[a].failure.clone() else { continue };
            let message = format!("{}: {reason}", self.accounts[a].label);
            for q in (0..self.regions.len()).filter(|&q| self.account_of[q] == a) {
                let failure = RegionFailure { message: message.clone(), bare: message.clone(), resumable: true };
                self.failed[q] = Some(failure);
                for stream in self.streams.iter_mut().filter(|s| s.region == q) {
                    stream.stopped = true;
                }
            }
        }
    }

    /// The accounts (indexes of `accounts`) with a region that failed.
    fn failed_accounts(&self) -> Vec<usize> {
        let mut failed: Vec<usize> =
            (0..self.regions.len()).filter(|&q| self.failed[q].is_some()).map(|q| self.account_of[q]).collect();
        failed.dedup();
        failed
    }
}
