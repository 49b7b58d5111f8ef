//! Knowing the valid names: the `services` and `actions` commands, and the "did you mean"
//! for a lookup that matched nothing because of a misspelt event name or source.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use serde_json::Value;

use crate::config::ListConfig;
use crate::output::{Layout, PrintConfig};
use crate::query::expr::Expr;
use crate::query::AskedNames;
use crate::reference::Reference;

/// `ctlookup services`.
pub fn services(list: &ListConfig) -> Result<()> {
    let services = reference(list)?.services()?;
    let rows = services.into_iter().map(|s| vec![s.prefix, s.event_source]).collect();
    print(&["service", "eventSource"], rows, &list.print)
}

/// `ctlookup actions [SERVICE]`.
pub fn actions(service: Option<&str>, list: &ListConfig) -> Result<()> {
    match service {
        Some(service) => {
            let actions = reference(list)?.actions(service)?;
            print(&["eventName"], actions.into_iter().map(|a| vec![a]).collect(), &list.print)
        }
        None => {
            let pairs = reference(list)?.all_actions()?;
            print(&["eventSource", "eventName"], pairs.into_iter().map(|(s, a)| vec![s, a]).collect(), &list.print)
        }
    }
}

fn reference(list: &ListConfig) -> Result<Reference> {
    Ok(Reference::new(cache_dir()?, list.refresh))
}

/// `ctlookup` under the user's cache directory: `$XDG_CACHE_HOME` (when absolute), else `~/.cache` on Linux;
/// `~/Library/Caches` on macOS; the local application data folder on Windows.
pub fn cache_dir() -> Result<PathBuf> {
    // dirs: on Linux, a relative or empty XDG_CACHE_HOME is ignored (as the XDG spec says) and a missing
    // HOME falls back on the user database.
    let base = dirs::cache_dir().ok_or_else(|| anyhow!("no cache directory: set HOME or XDG_CACHE_HOME"))?;
    Ok(base.join("ctlookup"))
}

/// A plain list in the chosen format, through the same row printers as every other listing.
fn print(headers: &[&str], rows: Vec<Vec<String>>, print: &PrintConfig) -> Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    let mut writer = print.row_writer(headers, &vec![Layout::default(); headers.len()], &mut out);
    for row in rows {
        writer.row(&row.into_iter().map(Value::String).collect::<Vec<_>>())?;
    }
    writer.finish()?;
    drop(writer);
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
    match crate::suggest::nearest(wanted, known.iter().map(String::as_str), 3).as_slice() {
        [] => format!("nothing matched: '{wanted}' is not an {what} in the AWS Service Reference"),
        names => format!(
            "nothing matched: '{wanted}' is not an {what} in the AWS Service Reference (did you mean {}?)",
            names.join(", ")
        ),
    }
}
