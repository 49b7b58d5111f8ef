//! Knowing the valid names: the `services`, `actions` and `completions` commands, and the "did you mean"
//! for a lookup that matched nothing because of a misspelt event name or source.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::CommandFactory;
use unicode_width::UnicodeWidthStr;

use crate::cli::{Cli, Command, ListOutputArg, ReferenceArgs};
use crate::config::Environment;
use crate::query::expr::Expr;
use crate::query::AskedNames;
use crate::reference::Reference;

pub fn run(command: Command, env: &Environment) -> Result<()> {
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ctlookup", &mut io::stdout());
            Ok(())
        }
        Command::Services(args) => {
            let services = reference(&args)?.services()?;
            let rows = services.into_iter().map(|s| vec![s.prefix, s.event_source]).collect();
            print(&["service", "eventSource"], rows, &args, env)
        }
        Command::Actions { service: Some(service), reference: args } => {
            let actions = reference(&args)?.actions(&service)?;
            print(&["eventName"], actions.into_iter().map(|a| vec![a]).collect(), &args, env)
        }
        Command::Actions { service: None, reference: args } => {
            let pairs = reference(&args)?.all_actions()?;
            print(&["eventSource", "eventName"], pairs.into_iter().map(|(s, a)| vec![s, a]).collect(), &args, env)
        }
    }
}

fn reference(args: &ReferenceArgs) -> Result<Reference> {
    Ok(Reference::new(cache_dir()?, args.refresh))
}

/// `ctlookup` under the user's cache directory: `$XDG_CACHE_HOME` (when absolute), else `~/.cache` on Linux;
/// `~/Library/Caches` on macOS; the local application data folder on Windows.
pub fn cache_dir() -> Result<PathBuf> {
    // dirs: on Linux, a relative or empty XDG_CACHE_HOME is ignored (as the XDG spec says) and a missing
    // HOME falls back on the user database.
    let base = dirs::cache_dir().ok_or_else(|| anyhow!("no cache directory: set HOME or XDG_CACHE_HOME"))?;
    Ok(base.join("ctlookup"))
}

/// A plain list in the chosen format: table on a terminal, else JSON Lines.
fn print(headers: &[&str], rows: Vec<Vec<String>>, args: &ReferenceArgs, env: &Environment) -> Result<()> {
    let default = if env.stdout_is_terminal { ListOutputArg::Table } else { ListOutputArg::Jsonl };
    let mut out = BufWriter::new(io::stdout().lock());
    match args.output.unwrap_or(default) {
        ListOutputArg::Jsonl => {
            for row in &rows {
                let object: serde_json::Map<String, serde_json::Value> =
                    headers.iter().zip(row).map(|(h, v)| (h.to_string(), v.clone().into())).collect();
                writeln!(out, "{}", serde_json::Value::Object(object))?;
            }
        }
        ListOutputArg::Csv => {
            let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(&mut out);
            writer.write_record(headers)?;
            for row in &rows {
                writer.write_record(row)?;
            }
            writer.flush()?;
        }
        ListOutputArg::Tsv => {
            writeln!(out, "{}", headers.join("\t"))?;
            for row in &rows {
                writeln!(out, "{}", row.join("\t"))?;
            }
        }
        ListOutputArg::Table => {
            let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.width());
                }
            }
            let line = |cells: Vec<&str>| {
                let padded: Vec<String> =
                    cells.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.width()))).collect();
                padded.join("  ").trim_end().to_owned()
            };
            writeln!(out, "{}", line(headers.to_vec()))?;
            for row in &rows {
                writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
            }
        }
    }
    Ok(out.flush()?)
}

/// For a lookup that matched nothing: the event names and sources it asked for that the cached Service
/// Reference does not know, each with the nearest known names. Reads the cache only, never the network.
pub fn did_you_mean(expr: &Expr, reference: &Reference) -> Vec<String> {
    let AskedNames { event_names: names, event_sources: sources } = AskedNames::of(expr);
    let mut hints = Vec::new();
    let known_sources = reference.cached_event_sources();
    if !known_sources.is_empty() {
        for source in sources.iter().filter(|s| !known_sources.contains(s)) {
            hints.push(hint("event source", source, &known_sources));
        }
    }
    let actions = reference.cached_actions();
    if !actions.is_empty() {
        // Within the asked event sources when they are known, else across every cached service.
        let in_sources: Vec<String> =
            actions.iter().filter(|(s, _)| sources.contains(s)).map(|(_, a)| a.clone()).collect();
        let candidates = if in_sources.is_empty() { actions.into_iter().map(|(_, a)| a).collect() } else { in_sources };
        for name in names.iter().filter(|n| !candidates.contains(n)) {
            hints.push(hint("event name", name, &candidates));
        }
    }
    hints
}

fn hint(what: &str, wanted: &str, known: &[String]) -> String {
    let lower = wanted.to_lowercase();
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .map(|k| {
            let k_lower = k.to_lowercase();
            let score = if k_lower == lower { 2.0 } else { strsim::jaro_winkler(&lower, &k_lower) };
            (score, k)
        })
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    let nearest: Vec<&str> = scored.iter().take(3).map(|(_, k)| k.as_str()).collect();
    match nearest.as_slice() {
        [] => format!("nothing matched: '{wanted}' is not an {what} in the AWS Service Reference"),
        names => format!(
            "nothing matched: '{wanted}' is not an {what} in the AWS Service Reference (did you mean {}?)",
            names.join(", ")
        ),
    }
}
