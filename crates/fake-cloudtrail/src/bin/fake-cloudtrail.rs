//! `fake-cloudtrail`: serves a saved `aws cloudtrail lookup-events --output json` capture as a local
//! LookupEvents endpoint, for trying ctlookup (or the aws CLI) by hand without an AWS account.
//!
//! `--partition-by-region` gives each region (the SigV4 signing region) only the events whose record's
//! `awsRegion` is that region, with its own rate limit. `--partition-by-account` gives each account
//! (the account of the signing key; an assumed role's credentials belong to the role's account) only
//! the events whose record's `recipientAccountId` is that account, with its own rate limit.
//! `--log-requests FILE` writes one JSON line per request (`{"ms","region","target","status","error",
//! "events"}`), e.g. to count ThrottlingExceptions.
use std::io::Write as _;
use std::time::Duration;

use fake_cloudtrail::server::{load_aws_cli_events, FakeCloudTrail};

const USAGE: &str = "usage: fake-cloudtrail --events FILE [--port N] [--rate-limit RPS] [--fault-every N] \
                     [--drop-every N] [--latency-ms MS] [--partition-by-region] [--partition-by-account] [--log-requests FILE]";

#[derive(Default)]
struct Args {
    events: String,
    port: u16,
    rate_limit: Option<f64>,
    fault_every: Option<u32>,
    drop_every: Option<u32>,
    latency_ms: u64,
    partition_by_region: bool,
    partition_by_account: bool,
    log_requests: Option<String>,
}

/// Options that take a value.
const FLAGS: [&str; 7] =
    ["--events", "--port", "--rate-limit", "--fault-every", "--drop-every", "--latency-ms", "--log-requests"];

/// Hand-rolled parsing keeps this test tool free of a CLI dependency; accepts `--flag value` and `--flag=value`.
fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut rest = std::env::args().skip(1);
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if arg == "--partition-by-region" {
            args.partition_by_region = true;
            continue;
        }
        if arg == "--partition-by-account" {
            args.partition_by_account = true;
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown argument {arg:?}"));
        }
        let value = inline.or_else(|| rest.next()).ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--events" => args.events = value,
            "--port" => args.port = number(&flag, &value)?,
            "--rate-limit" => args.rate_limit = Some(number(&flag, &value)?),
            "--fault-every" => args.fault_every = Some(number(&flag, &value)?),
            "--drop-every" => args.drop_every = Some(number(&flag, &value)?),
            "--log-requests" => args.log_requests = Some(value),
            _ => args.latency_ms = number(&flag, &value)?,
        }
    }
    if args.events.is_empty() {
        return Err("--events FILE is required".into());
    }
    Ok(args)
}

/// A number that is not negative; 0 means "any port" for --port and "off" for the switches.
fn number<T: std::str::FromStr + PartialOrd + Default>(flag: &str, value: &str) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(n) if n >= T::default() => Ok(n),
        _ => Err(format!("{flag}: not a valid number: {value:?}")),
    }
}

fn fail(message: &str, code: i32) -> ! {
    eprintln!("fake-cloudtrail: {message}");
    std::process::exit(code)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| fail(&format!("{e} ({USAGE})"), 2));
    let text = std::fs::read_to_string(&args.events).unwrap_or_else(|e| fail(&format!("{}: {e}", args.events), 2));
    let events = load_aws_cli_events(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", args.events), 2));
    let server = FakeCloudTrail::start_on(events, args.port)
        .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{}: {e}", args.port), 1));
    server.set_rate_limit(args.rate_limit);
    server.set_fault_every(args.fault_every);
    server.set_drop_every(args.drop_every);
    server.set_latency(Duration::from_millis(args.latency_ms));
    server.set_partition_by_region(args.partition_by_region);
    server.set_partition_by_account(args.partition_by_account);
    if let Some(path) = &args.log_requests {
        // Unbuffered: every line is out as soon as it is decided, even if this process is killed.
        let file = std::fs::File::create(path).unwrap_or_else(|e| fail(&format!("{path}: {e}"), 2));
        server.set_request_log(Some(Box::new(file)));
    }

    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", server.url());
    let _ = stdout.flush();
    // Serve until killed; park may wake spuriously, hence the loop.
    loop {
        std::thread::park();
    }
}
