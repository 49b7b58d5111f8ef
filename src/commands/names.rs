//! The `services` and `actions` commands: the valid names, from the AWS Service Reference.

use std::io::{self, BufWriter, Write};

use anyhow::Result;
use serde_json::Value;

use crate::config::ListConfig;
use crate::output::{Layout, PrintConfig};
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
    Ok(Reference::new(crate::dirs::cache_dir()?, list.refresh))
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
