//! The main command (and `denied`, `policy`): source → decode → filter → writer (or the stage of an
//! answer), the world outside handed to the answer stages, and what is said on stderr at the end.

use std::collections::BTreeSet;
use std::io::{self, BufWriter};

use anyhow::Result;

use crate::answers::Outside;
use crate::aws::Connection;
use crate::config::Config;
use crate::decode::Decoder;
use crate::error::{say, warn};
use crate::output::EventWriter;
use crate::progress::Progress;
use crate::query::{AskedNames, Filter};
use crate::reference::{Reference, ServiceActions};
use crate::source::{self, Consumer, Flow, Origin, Raw, SourceConfig};

pub fn run(config: Config) -> Result<()> {
    // Before any writer starts: a path that cannot be read prints nothing but its error (exit 1), not
    // an empty document or answer that a script could take for "no events".
    if let SourceConfig::Athena(athena) = &config.source {
        if config.verbose > 0 {
            say(athena.describe());
        }
        if athena.print_only {
            use std::io::Write;
            return Ok(io::stdout().lock().write_all(athena.sql_text().as_bytes())?);
        }
    }
    let source = source::open(&config.source)?;
    if config.verbose > 0 {
        if let SourceConfig::Api(api) = &config.source {
            say(api.plan.describe(&config.filter.expr));
        }
    }
    let regions = match &config.source {
        SourceConfig::Api(api) => api.regions.len().max(1),
        SourceConfig::Files(_) | SourceConfig::Athena(_) => 0,
    };
    let progress = Progress::new(config.progress, config.filter.window, chrono::Utc::now(), config.zone, regions);
    let stdout = io::stdout();
    // A page of 50 records fits, so that output reaches a terminal at page ends, clear of the progress bar.
    let out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let outside = World { decode: config.decode.as_ref() };
    let mut pipeline = Pipeline {
        filter: &config.filter,
        writer: match &config.answer {
            Some(answer) => answer.stage(&config.print, out, &outside),
            None => config.print.event_writer(out),
        },
        max_items: config.max_items,
        matched: 0,
        decoder: Decoder::new(&config.filter, &config.watch_columns),
        progress: &progress,
    };
    let reads_records = pipeline.writer.reads_records();
    pipeline.decoder.writer_reads_records(reads_records);
    let result = source.run(&mut pipeline, &progress);
    progress.finish();
    pipeline.decoder.finish();
    let resume_token = result.as_ref().ok().and_then(|o| o.resume_token.clone());
    // The document is completed even when the source failed, so that what was printed stays valid.
    let finished = pipeline.writer.finish(resume_token.as_deref());
    let outcome = result?;
    finished?;
    let failures = pipeline.writer.failures();
    for warning in pipeline.decoder.field_warnings() {
        warn(warning);
    }
    if pipeline.matched == 0 {
        // A misspelt event name or source matches nothing, silently: name the nearest real ones.
        if let Ok(dir) = crate::dirs::cache_dir() {
            let asked = AskedNames::of(&config.filter.expr);
            // The cache only, never the network.
            let reference = Reference::new(dir, false);
            let (sources, actions) = (reference.cached_event_sources(), reference.cached_actions());
            for hint in crate::suggest::did_you_mean(&asked.event_names, &asked.event_sources, &sources, actions) {
                say(hint);
            }
        }
    }
    if let (Some(token), Some(max)) = (&outcome.resume_token, config.max_items) {
        say(format_args!("stopped at --max-items {max}; to continue, run again with --starting-token {token}"));
    }
    if failures > 0 {
        return Err(anyhow::anyhow!("--jq failed on {failures} events (see warnings above)"));
    }
    // Everything readable was printed; a script must still learn that some events are missing.
    let unreadable = pipeline.decoder.unreadable();
    if unreadable > 0 {
        return Err(anyhow::anyhow!("{unreadable} unreadable events or records were skipped (see warnings above)"));
    }
    Ok(())
}

/// Decode → filter → writer, for every source alike.
struct Pipeline<'a> {
    filter: &'a Filter,
    writer: Box<dyn EventWriter + 'a>,
    max_items: Option<u64>,
    matched: u64,
    decoder: Decoder<'a>,
    progress: &'a Progress,
}

impl Consumer for Pipeline<'_> {
    fn item(&mut self, raw: Raw<'_>, origin: Origin<'_>) -> Result<Flow> {
        let Some(event) = self.decoder.decode(raw, origin) else { return Ok(Flow::Continue) };
        if !self.filter.matches(&event) {
            return Ok(Flow::Continue);
        }
        self.writer.write(&event)?;
        self.matched += 1;
        self.progress.matched();
        Ok(if self.max_items.is_some_and(|max| self.matched >= max) { Flow::Stop } else { Flow::Continue })
    }

    fn problem(&mut self, file: &str, problem: &dyn std::fmt::Display) {
        self.decoder.problem(file, problem);
    }

    fn group(&mut self, key: &[Option<String>], count: u64, first: Option<&str>, last: Option<&str>) -> Result<()> {
        let stamp = |text: Option<&str>| crate::time::Stamp::of_text(text?);
        self.matched += count;
        Ok(self.writer.group(key, count, stamp(first), stamp(last))?)
    }

    fn tally(&mut self, wall: Option<i64>, offset: i64, count: u64, errors: u64) -> Result<()> {
        self.matched += count;
        Ok(self.writer.tally(wall, offset, count, errors)?)
    }

    fn screen(&self) -> Option<crate::query::Screen> {
        self.decoder.screen()
    }

    fn screened(&mut self, count: u64) {
        self.decoder.screened(count);
    }

    fn flush(&mut self) -> Result<()> {
        let writer = &mut self.writer;
        Ok(self.progress.suspend(|| writer.flush())?)
    }
}

/// What the answer stages get from outside: STS for `denied --decode`, the AWS Service Reference for
/// the known actions.
struct World<'c> {
    decode: Option<&'c Connection>,
}

impl Outside for World<'_> {
    fn decode(&self, messages: &[String]) -> Result<Vec<Option<String>>> {
        let Some(connection) = self.decode else { return Ok(vec![None; messages.len()]) };
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        crate::runtime::block_on(crate::aws::sts::decode_all(connection, messages))?
    }

    fn actions_of(&self, prefixes: &BTreeSet<String>, offline: bool) -> ServiceActions {
        match crate::dirs::cache_dir() {
            Ok(dir) => Reference::new(dir, false).actions_of(prefixes, offline),
            Err(err) => ServiceActions { problem: Some(format!("{err:#}")), ..ServiceActions::default() },
        }
    }
}
