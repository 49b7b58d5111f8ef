//! Validated, resolved settings built once from the command line; everything after this trusts them.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::cli::{Cli, EventCategoryArg, OutputArg};
use crate::error::usage;
use crate::query::attribute::{self, parse_lookup_attribute};
use crate::query::{Attribute, Clause, Filter, Plan, TimeWindow};
use crate::time::{parse_time, Zone};

#[derive(Debug, Clone)]
pub struct Config {
    pub source: SourceConfig,
    pub filter: Filter,
    pub max_items: Option<u64>,
    pub output: OutputFormat,
    pub zone: Zone,
    pub verbose: u8,
}

#[derive(Debug, Clone)]
pub enum SourceConfig {
    Api(ApiConfig),
    Files(FilesConfig),
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub insight: bool,
    pub window: TimeWindow,
    pub plan: Plan,
    pub starting_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FilesConfig {
    pub inputs: Vec<Input>,
    /// Set only when --event-category was given: trail logs hold every category.
    pub category: Option<EventCategoryArg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jsonl,
    Json,
}

impl Config {
    /// Lowers the raw command line into a config, or a usage error naming the bad value.
    pub fn from_cli(cli: Cli, now: DateTime<Utc>) -> Result<Config> {
        let zone: Zone = cli.tz.parse().map_err(usage)?;
        let time = |value: &Option<String>, option: &str| -> Result<Option<DateTime<Utc>>> {
            value
                .as_deref()
                .map(|v| parse_time(v, now, zone).map_err(|e| usage(format!("--{option}: {e}"))))
                .transpose()
        };
        let window = TimeWindow { start: time(&cli.start_time, "start-time")?, end: time(&cli.end_time, "end-time")? };
        if let (Some(start), Some(end)) = (window.start, window.end) {
            if start > end {
                return Err(usage(format!(
                    "--start-time {} is after --end-time {}: the window is empty",
                    zone.format_rfc3339(start),
                    zone.format_rfc3339(end)
                )));
            }
        }

        let mut clauses = Vec::new();
        let shorthands = [
            (Attribute::EventName, cli.event_name),
            (Attribute::EventSource, cli.event_source),
            (Attribute::EventId, cli.event_id),
            (Attribute::Username, cli.username),
            (Attribute::AccessKeyId, cli.access_key_id),
            (Attribute::ResourceType, cli.resource_type),
            (Attribute::ResourceName, cli.resource_name),
            (Attribute::ReadOnly, cli.read_only),
        ];
        for (attribute, values) in shorthands {
            for value in &values {
                attribute::check_value(attribute, value).map_err(usage)?;
            }
            if !values.is_empty() {
                clauses.push(Clause { attribute, values });
            }
        }
        let explicit = match cli.lookup_attribute.as_slice() {
            [] => None,
            [one] => Some(parse_lookup_attribute(one).map_err(usage)?),
            _ => return Err(usage("--lookup-attribute: the API takes one lookup attribute; give it once")),
        };
        if let Some((attribute, value)) = &explicit {
            clauses.push(Clause { attribute: *attribute, values: vec![value.clone()] });
        }
        let filter = Filter { clauses, window };

        if cli.max_items == Some(0) {
            return Err(usage("--max-items must be at least 1"));
        }
        let output = match cli.output.unwrap_or(OutputArg::Jsonl) {
            OutputArg::Jsonl => OutputFormat::Jsonl,
            OutputArg::Json => OutputFormat::Json,
        };

        let source = if cli.input.is_empty() {
            if cli.region.len() > 1 {
                return Err(usage("querying several regions at once is not supported yet: run once per --region"));
            }
            if let Some(url) = &cli.endpoint_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(usage(format!("--endpoint-url '{url}': expected an http:// or https:// URL")));
                }
            }
            let plan = Plan::new(&filter, explicit, !cli.no_pushdown);
            SourceConfig::Api(ApiConfig {
                region: cli.region.into_iter().next(),
                profile: cli.profile,
                endpoint_url: cli.endpoint_url,
                insight: cli.event_category == Some(EventCategoryArg::Insight),
                window,
                plan,
                starting_token: cli.starting_token,
            })
        } else {
            for (given, option) in [
                (!cli.region.is_empty(), "--region"),
                (cli.profile.is_some(), "--profile"),
                (cli.endpoint_url.is_some(), "--endpoint-url"),
                (cli.starting_token.is_some(), "--starting-token"),
            ] {
                if given {
                    return Err(usage(format!("{option} applies to API lookups and cannot be combined with --input")));
                }
            }
            let inputs = cli
                .input
                .into_iter()
                .map(|p| if p.as_os_str() == "-" { Input::Stdin } else { Input::Path(p) })
                .collect();
            SourceConfig::Files(FilesConfig { inputs, category: cli.event_category })
        };

        Ok(Config { source, filter, max_items: cli.max_items, output, zone, verbose: cli.verbose })
    }
}
