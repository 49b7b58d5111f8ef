//! `gen-events`: write deterministic, realistic CloudTrail events for ctlookup's tests, examples and
//! benchmarks.
//!
//! ```text
//! gen-events --count N [--seed S] [--newest RFC3339|now] [--max-gap-secs N] [--insight]
//!            --format aws-cli|jsonl|api|trail-tree [--out PATH]
//! ```
//!
//! * `aws-cli`: the document `aws cloudtrail lookup-events --output json` prints (`{"Events":[…]}`).
//! * `jsonl`: one CloudTrail record per line, as in trail log files.
//! * `api`: one LookupEvents API event per line (`EventTime` in epoch seconds, `CloudTrailEvent` a string).
//! * `trail-tree`: a directory tree of gzip trail log files as synced from a trail's S3 bucket (needs `--out DIR`).
//!
//! Output goes to stdout unless `--out` is given. Every format is streamed (trail-tree holds one 5-minute
//! window at a time): memory stays flat whatever the count. Defaults: seed 1, newest 2024-07-22T09:00:00Z, max gap 120 s.
//! `--insight` generates CloudTrail Insights records instead of management events.
//! A bad argument prints one line on stderr and exits with status 2.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use fake_cloudtrail::generate::{self, AwsCliWriter, GenOptions, TrailTreeWriter};

const USAGE: &str = "usage: gen-events --count N [--seed S] [--newest RFC3339|now] [--max-gap-secs N] [--insight] --format aws-cli|jsonl|api|trail-tree [--out PATH]";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    AwsCli,
    Jsonl,
    Api,
    TrailTree,
}

struct Args {
    opts: GenOptions,
    format: Format,
    out: Option<PathBuf>,
    insight: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut opts = GenOptions::default();
    let mut count = None;
    let mut format = None;
    let mut out = None;
    let mut insight = false;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if name == "--insight" {
            insight = true;
            continue;
        }
        if name == "-h" || name == "--help" {
            return Err(USAGE.to_string());
        }
        let known = ["--count", "--seed", "--newest", "--max-gap-secs", "--format", "--out"];
        if !known.contains(&name.as_str()) {
            return Err(format!("gen-events: unknown argument '{arg}'; {USAGE}"));
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("gen-events: {name} needs a value; {USAGE}"))?,
        };
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("gen-events: {what} must be a non-negative integer, got '{value}'"))
        };
        match name.as_str() {
            "--count" => count = Some(number("--count")? as usize),
            "--seed" => opts.seed = number("--seed")?,
            "--max-gap-secs" => {
                opts.max_gap_secs = u32::try_from(number("--max-gap-secs")?)
                    .map_err(|_| format!("gen-events: --max-gap-secs is too large: '{value}'"))?
            }
            "--newest" => {
                opts.newest = if value == "now" {
                    Utc::now()
                } else {
                    DateTime::parse_from_rfc3339(&value)
                        .map_err(|e| {
                            format!("gen-events: --newest must be RFC 3339 like 2024-07-22T09:00:00Z or 'now', got '{value}': {e}")
                        })?
                        .with_timezone(&Utc)
                }
            }
            "--format" => {
                format = Some(match value.as_str() {
                    "aws-cli" => Format::AwsCli,
                    "jsonl" => Format::Jsonl,
                    "api" => Format::Api,
                    "trail-tree" => Format::TrailTree,
                    other => {
                        return Err(format!(
                            "gen-events: --format must be aws-cli, jsonl, api or trail-tree, got '{other}'"
                        ))
                    }
                })
            }
            "--out" => out = Some(PathBuf::from(value)),
            _ => unreachable!(),
        }
    }
    opts.count = count.ok_or_else(|| format!("gen-events: --count is required; {USAGE}"))?;
    let format = format.ok_or_else(|| format!("gen-events: --format is required; {USAGE}"))?;
    if format == Format::TrailTree && out.is_none() {
        return Err("gen-events: --format trail-tree needs --out DIR".to_string());
    }
    Ok(Args { opts, format, out, insight })
}

fn events(args: &Args) -> Box<dyn Iterator<Item = serde_json::Value>> {
    if args.insight {
        Box::new(generate::insight_records(&args.opts))
    } else {
        Box::new(generate::records(&args.opts))
    }
}

fn run(args: &Args) -> io::Result<()> {
    if args.format == Format::TrailTree {
        let dir = args.out.as_ref().expect("checked in parse_args");
        let mut tree = TrailTreeWriter::new(dir);
        for record in events(args) {
            tree.push(record)?;
        }
        return tree.finish();
    }
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 16, sink);
    match args.format {
        Format::AwsCli => {
            let mut doc = AwsCliWriter::new(w)?;
            for record in events(args) {
                doc.write_record(&record)?;
            }
            doc.finish()?;
        }
        Format::Jsonl => {
            for record in events(args) {
                serde_json::to_writer(&mut w, &record)?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
        Format::Api => {
            for record in events(args) {
                serde_json::to_writer(&mut w, &generate::api_event(&record))?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
        Format::TrailTree => unreachable!(),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let target = args.out.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "stdout".to_string());
            eprintln!("gen-events: cannot write to {target}: {e}");
            ExitCode::from(1)
        }
    }
}
