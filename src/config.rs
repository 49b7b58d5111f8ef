//! Validated, resolved settings built once from the command line; everything after this trusts them.

use anyhow::Result;
use chrono::{DateTime, DurationRound, Utc};

use clap::CommandFactory;

use crate::answers::denied;
use crate::answers::{Answer, Bucket, DeniedSpec, PolicyFormat, PolicySpec, TimelineSpec};
use crate::aws::accounts::{Accounts, Roles};
use crate::aws::Connection;
use crate::cli::{
    ApiArgs, Cli, ColorArg, Command, DeniedArgs, EventCategoryArg, ListOutputArg, LookupArgs, OutputArg, PolicyArgs,
    ReferenceArgs, StoreAction, StoreArgs, StoreCapArgs, SyncArgs, WindowArgs,
};
use crate::error::usage;
use crate::event::EventCategory;
use crate::jq::JqProgram;
use crate::output::columns::{self, Column};
use crate::output::{OutputFormat, PrintConfig};
use crate::query::attribute::{self, parse_lookup_attribute};
use crate::query::expr::{CompareOp, Expr, Literal, Member, Path, Predicate, Target, Test};
use crate::query::{parse, AskedNames, Attribute, Filter, Plan, TimeWindow};
use crate::source::{ApiConfig, FilesConfig, FollowConfig, Input, S3Config, SourceConfig};
use crate::store::StoreConfig;
use crate::text::redact_userinfo;
use crate::time::{parse_time, Zone};

#[derive(Debug)]
pub struct Config {
    pub source: SourceConfig,
    pub filter: Filter,
    pub max_items: Option<u64>,
    pub print: PrintConfig,
    pub zone: Zone,
    pub verbose: u8,
    /// Draw progress and print the summary on stderr.
    pub progress: bool,
    /// The `--columns` and `--count-by` paths given: a typo there must not silently print empty cells.
    pub watch_columns: Vec<Path>,
    /// `--count-by` or `--timeline`: an answer printed instead of the events.
    pub answer: Option<Answer>,
    /// `denied --decode`: how to reach STS (the lookup's own connection; with `--input`, the
    /// environment's: AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL).
    pub decode: Option<Connection>,
}

/// Facts about the process's surroundings that change defaults; gathered once in `main`.
#[derive(Debug, Clone)]
pub struct Environment {
    pub now: DateTime<Utc>,
    pub stdout_is_terminal: bool,
    /// The terminal's columns, or `COLUMNS`.
    pub width: Option<usize>,
    /// NO_COLOR set to anything but the empty string (no-color.org).
    pub no_color: bool,
    pub stderr_is_terminal: bool,
}

impl Environment {
    pub fn detect() -> Environment {
        use std::io::IsTerminal;
        let stdout_is_terminal = std::io::stdout().is_terminal();
        let width = terminal_size::terminal_size_of(std::io::stdout())
            .map(|(w, _)| usize::from(w.0))
            .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok());
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stderr_is_terminal = std::io::stderr().is_terminal();
        // In whole milliseconds, the precision of Athena's timestamps: a window relative to now (`--since
        // 3d`) then has exact bounds in SQL, and a query may decide alone (counts, LIMIT).
        let now = Utc::now().duration_trunc(chrono::Duration::milliseconds(1)).unwrap_or_else(|_| Utc::now());
        Environment { now, stdout_is_terminal, width, no_color, stderr_is_terminal }
    }
}

/// What the command line asks for, lowered and validated.
#[derive(Debug)]
pub enum Task {
    Lookup(Box<Config>),
    Services(ListConfig),
    /// The actions of one service, or of every service.
    Actions {
        service: Option<String>,
        list: ListConfig,
    },
    /// A shell completion script, ready to print.
    Completions(Vec<u8>),
    /// Fill the store with full scans of a window.
    Sync(Box<SyncConfig>),
    /// List the store.
    StoreList(ListConfig),
    /// Clear (part of) the store.
    StoreClear(StoreSelection),
    /// `ctlookup athena table`: print the table's statement, or create it.
    AthenaTable(Box<AthenaTableConfig>),
}

/// `ctlookup athena table`.
#[derive(Debug)]
pub struct AthenaTableConfig {
    /// The CREATE EXTERNAL TABLE statement.
    pub ddl: String,
    /// `--run`: how to reach Athena, and where the statement runs.
    pub run: Option<(crate::source::AthenaConfig, String)>,
}

/// `ctlookup sync`.
#[derive(Debug)]
pub struct SyncConfig {
    pub api: ApiConfig,
    pub progress: bool,
    pub zone: Zone,
}

/// What `ctlookup store clear` removes.
#[derive(Debug)]
pub struct StoreSelection {
    pub account: Option<String>,
    pub region: Option<String>,
    /// Epoch seconds: only what is older.
    pub older_than: Option<i64>,
}

/// The `services` and `actions` listings.
#[derive(Debug)]
pub struct ListConfig {
    /// Fetch the Service Reference again even if the cache is fresh.
    pub refresh: bool,
    pub print: PrintConfig,
}

impl Task {
    pub fn from_cli(cli: Cli, env: &Environment) -> Result<Task> {
        Ok(match cli.command {
            None => Task::Lookup(Box::new(Config::from_cli(cli.lookup, env)?)),
            Some(Command::Services(args)) => Task::Services(ListConfig::new(&args, env)),
            Some(Command::Actions { service, reference }) => {
                Task::Actions { service, list: ListConfig::new(&reference, env) }
            }
            Some(Command::Sync(args)) => Task::Sync(Box::new(SyncConfig::from_cli(&args, env)?)),
            Some(Command::Store(args)) => store_task(args, env)?,
            Some(Command::Denied(args)) => Task::Lookup(Box::new(Config::denied(args, env)?)),
            Some(Command::Policy(args)) => Task::Lookup(Box::new(Config::policy(args, env)?)),
            Some(Command::Athena(args)) => match args.action {
                crate::cli::AthenaAction::Table(table) => Task::AthenaTable(Box::new(athena_table(&table)?)),
            },
            Some(Command::Completions { shell }) => {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "ctlookup", &mut script);
                Task::Completions(script)
            }
        })
    }
}

impl SyncConfig {
    fn from_cli(args: &SyncArgs, env: &Environment) -> Result<SyncConfig> {
        let zone: Zone = args.window.tz.parse().map_err(usage)?;
        let window = window(&args.window, env.now, zone)?;
        let insight = args.event_category == Some(EventCategoryArg::Insight);
        let mut api = lookup_api_config(&args.api, insight, window, Plan::new(&Expr::always(), None, true))?;
        let Some(mut store) = store_config(&args.cap, &api, env, zone, false, true)? else {
            return Err(anyhow::anyhow!(
                "sync: no directory for the store: set HOME, XDG_CACHE_HOME or CTLOOKUP_STORE_DIR"
            ));
        };
        store.sync = true;
        api.store = Some(Box::new(store));
        let progress = (args.progress || env.stderr_is_terminal) && !args.no_progress;
        Ok(SyncConfig { api, progress, zone })
    }
}

/// `ctlookup store` and `ctlookup store clear`.
fn store_task(args: StoreArgs, env: &Environment) -> Result<Task> {
    let zone: Zone = args.tz.parse().map_err(usage)?;
    Ok(match args.action {
        None => {
            let mut print = list_print(args.output, env);
            print.zone = zone;
            Task::StoreList(ListConfig { refresh: false, print })
        }
        Some(StoreAction::Clear { account, region, older_than }) => {
            let older_than = older_than
                .map(|t| parse_time(&t, env.now, zone).map_err(|e| usage(format!("--older-than: {e}"))))
                .transpose()?
                .map(|t| t.timestamp());
            Task::StoreClear(StoreSelection { account, region, older_than })
        }
    })
}

impl ListConfig {
    fn new(args: &ReferenceArgs, env: &Environment) -> ListConfig {
        ListConfig { refresh: args.refresh, print: list_print(args.output, env) }
    }
}

impl Config {
    /// Lowers the raw command line into a config, or a usage error naming the bad value.
    pub fn from_cli(cli: LookupArgs, env: &Environment) -> Result<Config> {
        let zone: Zone = cli.window.tz.parse().map_err(usage)?;
        let print = print_config(&cli, env, zone)?;
        let mut window = window(&cli.window, env.now, zone)?;
        if cli.follow && window.start.is_none() {
            window.start = Some(env.now - chrono::Duration::minutes(15));
        }
        // A trail read in place has no window of its own: the API's, the last 90 days.
        if !cli.s3.trail.is_empty() && window.start.is_none() {
            window.start = Some(env.now - chrono::Duration::days(90));
        }
        let (expr, explicit) = expression(&cli)?;
        if cli.max_items == Some(0) {
            return Err(usage("--max-items must be at least 1"));
        }
        let mut source = source(&cli, &expr, explicit, window)?;
        if let SourceConfig::Api(api) = &mut source {
            api.verbose = cli.verbose > 0;
            api.store = if cli.no_store {
                None
            } else if cli.starting_token.is_some() {
                if cli.offline {
                    return Err(usage("--offline answers from the store; --starting-token continues an API fetch"));
                }
                None
            } else {
                store_config(&cli.cap, api, env, zone, cli.offline, cli.verbose > 0)?.map(Box::new)
            };
        }
        // Set only when --event-category was given: trail logs hold every category.
        let category = cli.event_category.map(|c| match c {
            EventCategoryArg::Management => EventCategory::Management,
            EventCategoryArg::Insight => EventCategory::Insight,
        });
        let filter = Filter::new(expr, window, category);
        let progress = (cli.progress || env.stderr_is_terminal) && !cli.no_progress;
        let answer = answer(&cli, window, env.now)?;
        if let (SourceConfig::Athena(athena), Some(Answer::Count { fields, .. })) = (&mut source, &answer) {
            athena.count_by(fields, cli.max_items);
        }
        // Counted by Athena only in a named zone (the machine's has no name to give Trino), and in
        // buckets of a size known before any event.
        if let (SourceConfig::Athena(athena), Some(Answer::Timeline(spec)), Zone::Named(tz)) =
            (&mut source, &answer, zone)
        {
            if let Some(bucket) = spec.fixed_bucket(zone) {
                athena.timeline(bucket.seconds(), tz.name(), cli.max_items);
            }
        }
        let mut watch_columns: Vec<Path> = match &cli.columns {
            Some(_) => print.columns.iter().filter_map(|c| c.path().cloned()).collect(),
            None => Vec::new(),
        };
        if let Some(Answer::Count { fields, .. }) = &answer {
            watch_columns.extend(fields.iter().filter_map(|c| c.path().cloned()));
        }
        Ok(Config {
            source,
            filter,
            max_items: cli.max_items,
            print,
            zone,
            verbose: cli.verbose,
            progress,
            watch_columns,
            answer,
            decode: None,
        })
    }
}

impl Config {
    /// `ctlookup denied`: a lookup of the refusals, answered by the denied stage.
    fn denied(args: DeniedArgs, env: &Environment) -> Result<Config> {
        refuse_answer_options("denied", &args.lookup)?;
        let policy = args.policy.then(|| policy_format("denied --policy", &args.lookup)).transpose()?;
        let offline = args.lookup.offline;
        let decode = args.decode.then(|| Connection {
            profile: args.lookup.api.profile.first().cloned(),
            assumed: None,
            endpoint_url: args.lookup.api.endpoint_url.clone(),
            region: args.lookup.api.region.first().cloned(),
            connect_timeout: std::time::Duration::from_secs_f64(args.lookup.api.connect_timeout.clamp(0.1, 86_400.0)),
            read_timeout: std::time::Duration::from_secs_f64(args.lookup.api.read_timeout.clamp(0.1, 86_400.0)),
        });
        let mut config = Config::from_cli(args.lookup, env)?;
        config.narrow(denied::refusal());
        config.answer = Some(Answer::Denied(DeniedSpec { decode: decode.is_some(), policy, offline }));
        config.decode = decode;
        Ok(config)
    }

    /// `ctlookup policy`: a lookup answered by the policy stage, which keeps the successful calls (and
    /// the refused ones with --include-denied).
    fn policy(args: PolicyArgs, env: &Environment) -> Result<Config> {
        refuse_answer_options("policy", &args.lookup)?;
        let format = policy_format("policy", &args.lookup)?;
        let offline = args.lookup.offline;
        let mut config = Config::from_cli(args.lookup, env)?;
        config.answer = Some(Answer::Policy(PolicySpec { include_denied: args.include_denied, format, offline }));
        Ok(config)
    }

    /// Adds `extra` to the filter, AND-ed with the rest. It names no lookup attribute, so the plan stays.
    fn narrow(&mut self, extra: Expr) {
        let expr = std::mem::replace(&mut self.filter.expr, Expr::always());
        self.filter = Filter::new(Expr::and(vec![expr, extra]), self.filter.window, self.filter.category);
    }
}

/// The lookup options that print something else than the answer of `denied` and `policy`.
fn refuse_answer_options(command: &str, cli: &LookupArgs) -> Result<()> {
    for (given, option) in [
        (cli.count_by.is_some(), "--count-by"),
        (cli.top.is_some(), "--top"),
        (cli.timeline.is_some(), "--timeline"),
        (cli.jq.is_some(), "--jq"),
        (cli.columns.is_some(), "--columns"),
        (cli.follow, "--follow"),
    ] {
        if given {
            return Err(usage(format!(
                "ctlookup {command} prints its own answer; it cannot be combined with {option}"
            )));
        }
    }
    Ok(())
}

/// A policy document is JSON: pretty by default and with `-o json`, on one line with `-o jsonl`.
fn policy_format(command: &str, cli: &LookupArgs) -> Result<PolicyFormat> {
    match cli.output {
        None | Some(OutputArg::Json) => Ok(PolicyFormat { compact: false }),
        Some(OutputArg::Jsonl) => Ok(PolicyFormat { compact: true }),
        Some(_) => Err(usage(format!("ctlookup {command} prints a JSON policy document: use -o json or -o jsonl"))),
    }
}

/// `--count-by FIELDS [--top N]` or `--timeline [BUCKET]`, checked against the other options.
fn answer(cli: &LookupArgs, window: TimeWindow, now: DateTime<Utc>) -> Result<Option<Answer>> {
    if cli.top.is_some() && cli.count_by.is_none() {
        return Err(usage("--top applies to --count-by"));
    }
    if cli.count_by.is_some() && cli.timeline.is_some() {
        return Err(usage("--count-by and --timeline are two different answers; give one of them"));
    }
    let option = match (&cli.count_by, &cli.timeline) {
        (Some(_), _) => "--count-by",
        (None, Some(_)) => "--timeline",
        (None, None) => return Ok(None),
    };
    if cli.jq.is_some() {
        return Err(usage(format!("{option} prints counts, not events; it cannot be combined with --jq")));
    }
    if cli.columns.is_some() {
        return Err(usage(format!("{option} prints its own columns; it cannot be combined with --columns")));
    }
    if let Some(spec) = &cli.count_by {
        let fields = Column::parse_option("--count-by", spec).map_err(usage)?;
        for (i, field) in fields.iter().enumerate() {
            let name = field.header();
            if ["count", "first", "last"].contains(&name) {
                return Err(usage(format!("--count-by '{spec}': '{name}' is a column of the answer itself")));
            }
            if fields[..i].iter().any(|f| f.header() == name) {
                return Err(usage(format!("--count-by '{spec}': '{name}' is given twice")));
            }
        }
        let top = match cli.top.as_deref() {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| usage(format!("--top '{text}': expected a whole number of 1 or more")))?,
            ),
        };
        return Ok(Some(Answer::Count { fields, top }));
    }
    let given = cli.timeline.as_deref().unwrap_or("auto");
    let bucket = match given {
        "auto" => None,
        _ => Some(Bucket::parse(given).ok_or_else(|| {
            let names: Vec<&str> = Bucket::ALL.iter().map(|b| b.name()).collect();
            usage(format!("--timeline '{given}': expected a bucket size, one of {}", names.join(", ")))
        })?),
    };
    // LookupEvents without an end time reads up to now, so a window with a start ends now; trail files
    // have no "now", and without a window the events themselves give the range.
    let api = cli.input.is_empty();
    let end = window.end.or_else(|| (api && window.start.is_some()).then_some(now));
    Ok(Some(Answer::Timeline(TimelineSpec { bucket, start: window.start, end })))
}

/// `--start-time` and `--end-time`, in `zone` where they carry no offset.
fn window(args: &WindowArgs, now: DateTime<Utc>, zone: Zone) -> Result<TimeWindow> {
    let time = |value: &Option<String>, option: &str| -> Result<Option<DateTime<Utc>>> {
        value.as_deref().map(|v| parse_time(v, now, zone).map_err(|e| usage(format!("--{option}: {e}")))).transpose()
    };
    let window = TimeWindow { start: time(&args.start_time, "start-time")?, end: time(&args.end_time, "end-time")? };
    if let (Some(start), Some(end)) = (window.start, window.end) {
        if start > end {
            return Err(usage(format!(
                "--start-time {} is after --end-time {}: the window is empty",
                zone.format_rfc3339(start),
                zone.format_rfc3339(end)
            )));
        }
    }
    Ok(window)
}

/// The whole filter: every `--where` and shorthand, joined with AND; and the `--lookup-attribute` given.
fn expression(cli: &LookupArgs) -> Result<(Expr, Option<(Attribute, String)>)> {
    let mut parts = Vec::new();
    for text in &cli.where_ {
        parts.push(parse::parse(text).map_err(|e| usage(format!("--where: {e}")))?);
    }
    let shorthands = [
        (Attribute::EventName, &cli.event_name),
        (Attribute::EventSource, &cli.event_source),
        (Attribute::EventId, &cli.event_id),
        (Attribute::Username, &cli.username),
        (Attribute::AccessKeyId, &cli.access_key_id),
        (Attribute::ResourceType, &cli.resource_type),
        (Attribute::ResourceName, &cli.resource_name),
        (Attribute::ReadOnly, &cli.read_only),
    ];
    for (attribute, values) in shorthands {
        for value in values {
            attribute::check_value(attribute, value).map_err(usage)?;
        }
        if !values.is_empty() {
            parts.push(Expr::or(values.iter().map(|v| equals(Target::Envelope(attribute), v.clone())).collect()));
        }
    }
    let error_code = Target::Record(Path::new(["errorCode"]));
    if !cli.error_code.is_empty() {
        parts.push(Expr::or(cli.error_code.iter().map(|v| equals(error_code.clone(), v.clone())).collect()));
    }
    if cli.errors {
        parts.push(Expr::Pred(Predicate { target: error_code.clone(), test: Test::Exists }));
    }
    if cli.failures {
        let failed =
            |element: &str| equals(Target::Record(Path::new(["responseElements", element])), "Failure".to_owned());
        let any_error = Expr::Pred(Predicate { target: error_code, test: Test::Exists });
        parts.push(Expr::or(vec![any_error, failed("ConsoleLogin"), failed("SwitchRole")]));
    }
    if !cli.source_ip.is_empty() {
        let members = cli.source_ip.iter().map(|ip| source_ip(ip)).collect::<Result<Vec<_>>>()?;
        let target = Target::Record(Path::new(["sourceIPAddress"]));
        parts.push(Expr::Pred(Predicate { target, test: Test::In(members) }));
    }
    let explicit = match cli.lookup_attribute.as_slice() {
        [] => None,
        [one] => Some(parse_lookup_attribute(one).map_err(usage)?),
        _ => return Err(usage("--lookup-attribute: the API takes one lookup attribute; give it once")),
    };
    if let Some((attribute, value)) = &explicit {
        parts.push(equals(Target::Envelope(*attribute), value.clone()));
    }
    let expr = if parts.is_empty() { Expr::always() } else { Expr::and(parts) };
    Ok((expr, explicit))
}

/// The API (regions, credentials, plan, pacing) or the files to read.
fn source(
    cli: &LookupArgs,
    expr: &Expr,
    explicit: Option<(Attribute, String)>,
    window: TimeWindow,
) -> Result<SourceConfig> {
    if cli.athena.athena.is_some() {
        return athena_source(cli, expr, window);
    }
    let s3 = s3_config(cli, window)?;
    if !cli.input.is_empty() || s3.is_some() {
        for (given, option) in [
            (!cli.api.region.is_empty() && s3.is_none(), "--region"),
            (!cli.api.profile.is_empty() && s3.is_none(), "--profile"),
            (!cli.api.accounts.is_empty() && s3.is_none(), "--accounts"),
            (cli.api.endpoint_url.is_some() && s3.is_none(), "--endpoint-url"),
            (cli.starting_token.is_some() && s3.is_none(), "--starting-token"),
            (cli.offline, "--offline"),
            (cli.follow, "--follow"),
        ] {
            if given {
                return Err(usage(format!("{option} applies to API lookups and cannot be combined with --input")));
            }
        }
        let inputs = cli
            .input
            .iter()
            .map(|p| match p.to_str().and_then(crate::source::s3::parse_url) {
                Some(url) => url.map(|(bucket, prefix)| Input::S3 { bucket, prefix }).map_err(usage),
                None if p.as_os_str() == "-" => Ok(Input::Stdin),
                None => Ok(Input::Path(p.clone())),
            })
            .chain(cli.s3.trail.iter().map(|trail| Ok(Input::Trail(trail.clone()))))
            .collect::<Result<_>>()?;
        let threads = reading_threads(std::env::var_os(THREADS_VARIABLE).as_deref())?;
        return Ok(SourceConfig::Files(FilesConfig { inputs, threads, s3 }));
    }
    let insight = cli.event_category == Some(EventCategoryArg::Insight);
    let plan = Plan::new(expr, explicit, !cli.no_pushdown);
    let mut api = lookup_api_config(&cli.api, insight, window, plan)?;
    api.starting_token = cli.starting_token.clone();
    api.names_global_service = names_global_service(expr);
    api.follow = follow_config(cli)?;
    Ok(SourceConfig::Api(Box::new(api)))
}

/// `ctlookup athena table`: the statement, and with `--run` where to run it.
fn athena_table(args: &crate::cli::AthenaTableArgs) -> Result<AthenaTableConfig> {
    let from = args
        .from
        .as_deref()
        .map(|text| {
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y/%m/%d")
                .map_err(|_| usage(format!("--from '{text}': expected a day as YYYY/MM/DD")))
        })
        .transpose()?;
    let settings = crate::query::ddl::TableSettings {
        bucket: args.bucket.clone(),
        org: args.org.clone(),
        name: args.name.clone(),
        database: args.database.clone(),
        accounts: account_ids(&args.api.accounts, "--accounts")?
            .ok_or_else(|| usage("athena table --accounts: the partition needs the account IDs, not org"))?,
        regions: args.regions.iter().map(|r| r.trim().to_owned()).collect(),
        from,
    };
    let ddl = crate::query::ddl::create_table(&settings).map_err(usage)?;
    let run = if args.run {
        if let Some(output) = &args.athena_output {
            if !output.starts_with("s3://") || output.len() <= "s3://".len() {
                return Err(usage(format!("--athena-output '{output}': expected s3://BUCKET/PREFIX/")));
            }
        }
        let api = api_config(&args.api, false, TimeWindow::default(), Plan::new(&Expr::always(), None, false))?;
        let table = match &args.database {
            Some(database) => format!("{database}.{}", args.name),
            None => args.name.clone(),
        };
        let config = crate::source::AthenaConfig {
            fallback_region: api.regions.first().cloned(),
            connection: api.connection,
            retries: api.retries,
            place: crate::aws::athena::Place {
                database: None,
                workgroup: args.athena_workgroup.clone(),
                output: args.athena_output.clone(),
            },
            sql: ddl.clone(),
            verbose: false,
            print_only: false,
            ddl: ddl.clone(),
            compiled: crate::query::sql::Compiled {
                sql: ddl.clone(),
                pushed: Vec::new(),
                local: Vec::new(),
                complete: true,
            },
            exact: true,
            group_keys: 0,
            timeline: false,
        };
        Some((config, table))
    } else {
        None
    };
    Ok(AthenaTableConfig { ddl, run })
}

/// `--athena TABLE`: the window and the filter compiled into one query over the table.
fn athena_source(cli: &LookupArgs, expr: &Expr, window: TimeWindow) -> Result<SourceConfig> {
    let args = &cli.athena;
    for (given, option) in [
        (!cli.input.is_empty(), "--input"),
        (cli.starting_token.is_some(), "--starting-token"),
        (cli.offline, "--offline"),
        (cli.follow, "--follow"),
    ] {
        if given {
            return Err(usage(format!("--athena reads the trail's table; it cannot be combined with {option}")));
        }
    }
    let given = args.athena.as_deref().unwrap_or_default();
    let identifier = |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let table = match (given.split_once('.'), &args.athena_database) {
        (Some((database, name)), None) if identifier(database) && identifier(name) => given.to_owned(),
        (None, Some(database)) if identifier(given) && identifier(database) => format!("{database}.{given}"),
        (None, None) if identifier(given) => given.to_owned(),
        (Some(_), Some(_)) => {
            return Err(usage(format!("--athena '{given}' names its database; --athena-database is given too")))
        }
        _ => {
            return Err(usage(format!(
                "--athena '{given}': expected a table name or database.name (letters, digits and '_')"
            )))
        }
    };
    let accounts = partition_accounts(cli)?;
    if let Some(output) = &args.athena_output {
        if !output.starts_with("s3://") || output.len() <= "s3://".len() {
            return Err(usage(format!("--athena-output '{output}': expected s3://BUCKET/PREFIX/")));
        }
    }
    let api = api_config(&cli.api, false, window, Plan::new(&Expr::always(), None, false))?;
    let pushed_expr = if cli.no_pushdown { Expr::always() } else { expr.clone() };
    let compiled = crate::query::sql::compile(
        &pushed_expr,
        &window,
        &accounts,
        &api.regions,
        &table,
        crate::query::sql::DEFAULT_LAG,
    );
    let mut sql = compiled.sql.clone();
    // A LIMIT only when the SQL alone decides (the local filter then keeps every row): the newest events.
    let exact = compiled.complete && !cli.no_pushdown && cli.event_category.is_none();
    if let Some(max) = cli.max_items.filter(|_| exact) {
        sql.push_str(&format!("\nORDER BY eventtime DESC\nLIMIT {max}"));
    }
    let (database, name) = table.split_once('.').map_or((None, table.as_str()), |(d, n)| (Some(d), n));
    let assumed = crate::query::ddl::TableSettings {
        bucket: "s3://BUCKET".to_owned(),
        name: name.to_owned(),
        database: database.map(str::to_owned),
        accounts: accounts.clone(),
        regions: api.regions.clone(),
        ..crate::query::ddl::TableSettings::default()
    };
    let ddl = crate::query::ddl::create_table(&assumed).map_err(usage)?;
    Ok(SourceConfig::Athena(Box::new(crate::source::AthenaConfig {
        fallback_region: api.regions.first().cloned(),
        connection: api.connection,
        retries: api.retries,
        place: crate::aws::athena::Place {
            database: args.athena_database.clone(),
            workgroup: args.athena_workgroup.clone(),
            output: args.athena_output.clone(),
        },
        sql,
        verbose: cli.verbose > 0,
        print_only: args.sql,
        ddl,
        compiled,
        exact,
        group_keys: 0,
        timeline: false,
    })))
}

/// Trails in S3 (`s3://` inputs, `--trail`): how to reach the buckets and what to prune; None without them.
fn s3_config(cli: &LookupArgs, window: TimeWindow) -> Result<Option<Box<S3Config>>> {
    let in_s3 =
        !cli.s3.trail.is_empty() || cli.input.iter().any(|p| p.to_str().is_some_and(|p| p.starts_with("s3://")));
    if !in_s3 {
        if !cli.s3.account.is_empty() {
            return Err(usage(
                "--account applies to --athena (the account partition) and to trails in S3 (--input s3://…, --trail)",
            ));
        }
        return Ok(None);
    }
    if !(1..=256).contains(&cli.s3.s3_concurrency) {
        return Err(usage("--s3-concurrency must be from 1 to 256"));
    }
    let lag = crate::time::parse_duration(&cli.s3.s3_lag)
        .filter(|d| *d >= chrono::Duration::zero() && *d <= chrono::Duration::days(1))
        .ok_or_else(|| {
            usage(format!("--s3-lag '{}': expected a duration up to 1d, such as 15m or 1h", cli.s3.s3_lag))
        })?;
    let accounts = partition_accounts(cli)?;
    // --region, --profile, --endpoint-url and the timeouts mean for S3 what they mean for the API.
    let api = api_config(&cli.api, false, window, Plan::new(&Expr::always(), None, true))?;
    let mut prune = crate::source::s3::Prune {
        accounts,
        regions: api.regions.clone(),
        insight: cli.event_category == Some(EventCategoryArg::Insight),
        window,
        lag,
        resume: None,
    };
    // Only a read of S3 alone can be resumed: its objects have names that stay, stdin and files do not.
    let s3_only = cli.input.iter().all(|p| p.to_str().is_some_and(|p| p.starts_with("s3://")));
    if s3_only {
        let inputs: Vec<String> = cli
            .input
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .chain(cli.s3.trail.iter().map(|t| format!("--trail {t}")))
            .collect();
        // The window as given: a trail's default start moves with the clock.
        let start = window.start.filter(|_| cli.window.start_time.is_some());
        let bound = [start.map(|t| t.timestamp_millis()), window.end.map(|t| t.timestamp_millis())];
        let binding = crate::source::s3::binding(&inputs, &prune, bound);
        let from = match &cli.starting_token {
            Some(token) => Some(crate::source::token::decode_objects(token, &binding).map_err(usage)?),
            None => None,
        };
        prune.resume = Some(crate::source::s3::Resume { binding, from });
    } else if cli.starting_token.is_some() {
        return Err(usage(
            "--starting-token continues a read of trails in S3 only when every --input is in S3 (s3://…, --trail)",
        ));
    }
    Ok(Some(Box::new(S3Config {
        connection: api.connection,
        retries: api.retries,
        concurrency: cli.s3.s3_concurrency,
        prune,
        verbose: cli.verbose > 0,
    })))
}

/// The API source's settings from its options: regions, endpoint, pacing, timeouts; one account,
/// one profile at most (API lookups and sync take several: `lookup_api_config`).
fn api_config(args: &ApiArgs, insight: bool, window: TimeWindow, plan: Plan) -> Result<ApiConfig> {
    let profile = match args.profile.as_slice() {
        [] => None,
        [one] => Some(one.trim().to_owned()),
        _ => return Err(usage("--profile: several profiles read several accounts, which only API lookups do")),
    };
    connection_config(args, profile, insight, window, plan)
}

/// `api_config` with the profile chosen.
fn connection_config(
    args: &ApiArgs,
    profile: Option<String>,
    insight: bool,
    window: TimeWindow,
    plan: Plan,
) -> Result<ApiConfig> {
    if !(args.tps > 0.0 && args.tps <= MAX_TPS) {
        return Err(usage(format!(
            "--tps must be a number of requests per second above 0 and at most {MAX_TPS} (the service allows 2)"
        )));
    }
    let mut regions: Vec<String> = Vec::new();
    for region in args.region.iter().map(|r| r.trim()) {
        let plausible = !region.is_empty() && region.len() <= MAX_REGION_LEN;
        if !plausible || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            let region: String = region.chars().take(40).collect();
            return Err(usage(format!("--region '{region}': expected a region name such as us-east-1")));
        }
        if !regions.iter().any(|r| r == region) {
            regions.push(region.to_owned());
        }
    }
    let endpoint_url = args.endpoint_url.as_deref().map(check_endpoint_url).transpose()?;
    Ok(ApiConfig {
        regions,
        accounts: Accounts::Own,
        parallel: 16,
        connection: Connection {
            profile,
            assumed: None,
            endpoint_url,
            region: None,
            connect_timeout: timeout(args.connect_timeout, "--connect-timeout")?,
            read_timeout: timeout(args.read_timeout, "--read-timeout")?,
        },
        insight,
        window,
        plan,
        starting_token: None,
        tps: args.tps,
        retries: args.retries,
        names_global_service: false,
        store: None,
        follow: None,
        verbose: false,
    })
}

/// An API lookup's (or sync's) settings: `api_config`'s, with the accounts the options ask for.
fn lookup_api_config(args: &ApiArgs, insight: bool, window: TimeWindow, plan: Plan) -> Result<ApiConfig> {
    let (accounts, profile) = account_selection(args)?;
    let mut api = connection_config(args, profile, insight, window, plan)?;
    api.accounts = accounts;
    api.parallel = args.parallel;
    Ok(api)
}

/// Which accounts the API options ask for, and the one profile the base credentials come from.
fn account_selection(args: &ApiArgs) -> Result<(Accounts, Option<String>)> {
    if !(1..=256).contains(&args.parallel) {
        return Err(usage("--parallel must be from 1 to 256"));
    }
    let mut profiles: Vec<String> = Vec::new();
    for profile in args.profile.iter().map(|p| p.trim()) {
        if profile.is_empty() {
            return Err(usage("--profile: a profile name is empty"));
        }
        if !profiles.iter().any(|p| p == profile) {
            profiles.push(profile.to_owned());
        }
    }
    let role_given = [
        (args.role_name.is_some(), "--role-name"),
        (args.role_arn.is_some(), "--role-arn"),
        (args.external_id.is_some(), "--external-id"),
        (!args.exclude_account.is_empty(), "--exclude-account"),
    ];
    if args.accounts.is_empty() {
        if let Some((_, option)) = role_given.iter().find(|(given, _)| *given) {
            return Err(usage(format!("{option} applies to --accounts (the accounts to assume the role in)")));
        }
        return Ok(match profiles.len() {
            0 | 1 => (Accounts::Own, profiles.pop()),
            _ => (Accounts::Profiles(profiles), None),
        });
    }
    if profiles.len() > 1 {
        return Err(usage(
            "--accounts assumes its roles from one set of credentials: give at most one --profile with it",
        ));
    }
    // None: every account of the organisation.
    let ids = account_ids(&args.accounts, "--accounts")?;
    let exclude = account_ids(&args.exclude_account, "--exclude-account")?.unwrap_or_default();
    let role_arn = match (&args.role_name, &args.role_arn) {
        (Some(_), Some(_)) => return Err(usage("--role-name and --role-arn name the same role: give one")),
        (None, None) => {
            return Err(usage(
                "--accounts needs the role to assume in each account: --role-name ROLE or --role-arn                  'arn:aws:iam::{account}:role/ROLE'",
            ))
        }
        (Some(name), None) => {
            let name = name.trim().trim_start_matches("role/");
            let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
            if name.is_empty() || name.len() > 576 || !name.chars().all(valid) {
                let shown: String = name.chars().take(64).collect();
                return Err(usage(format!("--role-name '{shown}': not a role name (letters, digits and +=,.@_-/)")));
            }
            let partition = partition(args.region.first().map(|r| r.trim()));
            format!("arn:{partition}:iam::{}:role/{name}", crate::aws::accounts::ACCOUNT_PLACEHOLDER)
        }
        (None, Some(arn)) => {
            let arn = arn.trim();
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                let shown: String = arn.chars().take(80).collect();
                return Err(usage(format!("--role-arn '{shown}': expected arn:aws:iam::{{account}}:role/ROLE")));
            }
            if !arn.contains(crate::aws::accounts::ACCOUNT_PLACEHOLDER) {
                return Err(usage(
                    "--role-arn: put {account} where each account's ID goes, as in arn:aws:iam::{account}:role/ROLE",
                ));
            }
            arn.to_owned()
        }
    };
    let session_name = args.role_session_name.trim();
    let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if !(2..=64).contains(&session_name.len()) || !session_name.chars().all(valid) {
        return Err(usage("--role-session-name: 2 to 64 letters, digits and +=,.@_-"));
    }
    let roles = Roles {
        accounts: ids,
        exclude,
        role_arn,
        external_id: args.external_id.clone(),
        session_name: session_name.to_owned(),
    };
    Ok((Accounts::Roles(roles), profiles.pop()))
}

/// The accounts of a trail's files in S3 or of the Athena table's `account` partition: `--account` and
/// `--accounts` alike (the trail's files are read with the credentials given, no role assumed), less
/// `--exclude-account`; empty: every account.
fn partition_accounts(cli: &LookupArgs) -> Result<Vec<String>> {
    let api = &cli.api;
    for (given, option) in [
        (api.role_name.is_some(), "--role-name"),
        (api.role_arn.is_some(), "--role-arn"),
        (api.external_id.is_some(), "--external-id"),
    ] {
        if given {
            return Err(usage(format!(
                "{option} applies to API lookups: trails in S3 and Athena read the trail's files with the \
                 credentials given, in every account they hold"
            )));
        }
    }
    let mut ids = account_ids(&cli.s3.account, "--account")?.unwrap_or_default();
    // `--accounts org` is every account the trail holds: no selection.
    let listed = account_ids(&api.accounts, "--accounts")?;
    let org = listed.is_none();
    for id in listed.unwrap_or_default() {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let exclude = account_ids(&api.exclude_account, "--exclude-account")?.unwrap_or_default();
    if !exclude.is_empty() {
        if ids.is_empty() || org {
            return Err(usage(
                "--exclude-account with trails in S3 and Athena: list the accounts to read (--account or --accounts)",
            ));
        }
        ids.retain(|id| !exclude.contains(id));
        if ids.is_empty() {
            return Err(usage("--exclude-account leaves none of the accounts asked"));
        }
    }
    Ok(ids)
}

/// 12-digit account IDs, without repeats; None for `org` (every account of the organisation).
fn account_ids(given: &[String], option: &str) -> Result<Option<Vec<String>>> {
    let mut ids: Vec<String> = Vec::new();
    for id in given.iter().map(|a| a.trim()) {
        if id.eq_ignore_ascii_case("org") && option == "--accounts" {
            if given.len() > 1 {
                return Err(usage("--accounts org stands alone: it means every active account of the organisation"));
            }
            return Ok(None);
        }
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            let shown: String = id.chars().take(40).collect();
            let or_org = if option == "--accounts" { " or org" } else { "" };
            return Err(usage(format!("{option} '{shown}': expected a 12-digit account ID{or_org}")));
        }
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(Some(ids))
}

/// The ARN partition of the region asked for (the roles live there too).
fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

fn print_config(cli: &LookupArgs, env: &Environment, zone: Zone) -> Result<PrintConfig> {
    let jq = cli.jq.as_deref().map(|program| JqProgram::compile(program).map_err(|e| usage(format!("--jq: {e}"))));
    let jq = jq.transpose()?;
    let default = if env.stdout_is_terminal && jq.is_none() { OutputArg::Table } else { OutputArg::Jsonl };
    let format = match cli.output.unwrap_or(default) {
        OutputArg::Jsonl => OutputFormat::Jsonl,
        OutputArg::Json => OutputFormat::Json,
        OutputArg::Csv => OutputFormat::Csv,
        OutputArg::Tsv => OutputFormat::Tsv,
        OutputArg::Table => OutputFormat::Table,
    };
    if jq.is_some() && format != OutputFormat::Jsonl {
        return Err(usage("--jq prints one JSON value per line; it cannot be combined with -o other than jsonl"));
    }
    let tabular = matches!(format, OutputFormat::Csv | OutputFormat::Tsv | OutputFormat::Table);
    if cli.columns.is_some() && !tabular {
        return Err(usage("--columns applies to -o csv, tsv and table"));
    }
    if cli.bom && !matches!(format, OutputFormat::Csv | OutputFormat::Tsv) {
        return Err(usage("--bom applies to -o csv and tsv"));
    }
    // Rows from several regions or accounts say which one they come from.
    let several_accounts = cli.api.profile.len() > 1 || !cli.api.accounts.is_empty();
    let default_columns = match format {
        OutputFormat::Table => {
            let mut columns = columns::TABLE_DEFAULT.to_owned();
            if several_accounts {
                columns.push_str(",account");
            }
            if cli.api.region.len() > 1 {
                columns.push_str(",awsRegion");
            }
            columns
        }
        _ if several_accounts => columns::CSV_DEFAULT.replace(",awsRegion,", ",account,awsRegion,"),
        _ => columns::CSV_DEFAULT.to_owned(),
    };
    let columns = Column::parse_list(cli.columns.as_deref().unwrap_or(&default_columns)).map_err(usage)?;
    let color = match cli.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => env.stdout_is_terminal && !env.no_color,
    };
    let width = env.width.unwrap_or(usize::MAX);
    Ok(PrintConfig { format, columns, zone, bom: cli.bom, formula_guard: !cli.no_csv_guard, color, width, jq })
}

/// How `services` and `actions` print: a table on a terminal, else JSON Lines.
fn list_print(output: Option<ListOutputArg>, env: &Environment) -> PrintConfig {
    let default = if env.stdout_is_terminal { ListOutputArg::Table } else { ListOutputArg::Jsonl };
    let format = match output.unwrap_or(default) {
        ListOutputArg::Jsonl => OutputFormat::Jsonl,
        ListOutputArg::Csv => OutputFormat::Csv,
        ListOutputArg::Tsv => OutputFormat::Tsv,
        ListOutputArg::Table => OutputFormat::Table,
    };
    PrintConfig {
        format,
        columns: Vec::new(),
        zone: Zone::Local,
        bom: false,
        // Names of AWS services and actions hold no formulas; the listing prints them as they are.
        formula_guard: false,
        color: false,
        width: 0,
        jq: None,
    }
}

/// `--follow`, `--poll` and `--lag`.
fn follow_config(cli: &LookupArgs) -> Result<Option<FollowConfig>> {
    if !cli.follow {
        return Ok(None);
    }
    for (given, option) in [
        (cli.window.end_time.is_some(), "--end-time"),
        (cli.starting_token.is_some(), "--starting-token"),
        (cli.offline, "--offline"),
        (cli.count_by.is_some(), "--count-by"),
        (cli.timeline.is_some(), "--timeline"),
    ] {
        if given {
            return Err(usage(format!("--follow keeps asking for new events; it cannot be combined with {option}")));
        }
    }
    if !(cli.poll >= 1.0 && cli.poll <= 3600.0) {
        return Err(usage("--poll must be a number of seconds from 1 to 3600"));
    }
    let lag = crate::time::parse_duration(&cli.lag)
        .filter(|d| *d >= chrono::Duration::zero() && *d <= chrono::Duration::days(1))
        .ok_or_else(|| usage(format!("--lag '{}': expected a duration up to 1d, such as 15m or 1h", cli.lag)))?;
    Ok(Some(FollowConfig { poll: std::time::Duration::from_secs_f64(cli.poll), lag: lag.num_seconds() }))
}

/// How an API run uses the local event store; None when it does not.
fn store_config(
    cap: &StoreCapArgs,
    api: &ApiConfig,
    env: &Environment,
    zone: Zone,
    offline: bool,
    verbose: bool,
) -> Result<Option<StoreConfig>> {
    let max_bytes = match (&cap.store_max, std::env::var("CTLOOKUP_STORE_MAX")) {
        (Some(text), _) => parse_size(text).map_err(|e| usage(format!("--store-max: {e}")))?,
        (None, Ok(text)) if !text.trim().is_empty() => {
            parse_size(&text).map_err(|e| usage(format!("CTLOOKUP_STORE_MAX: {e}")))?
        }
        _ => crate::store::DEFAULT_MAX_BYTES,
    };
    let dir = match crate::store::default_dir() {
        Ok(dir) => dir,
        Err(err) if offline => return Err(err.context("--offline needs the store")),
        Err(_) => return Ok(None),
    };
    Ok(Some(StoreConfig {
        dir,
        max_bytes,
        offline,
        sync: false,
        verbose,
        endpoint: store_endpoint(api.connection.endpoint_url.as_deref()),
        now: env.now,
        zone,
        insight: api.insight,
        threads: reading_threads(std::env::var_os(THREADS_VARIABLE).as_deref())?,
    }))
}

/// The endpoint part of the store's key: events of another endpoint (LocalStack, a test server)
/// are never answered for the service's own.
fn store_endpoint(option: Option<&str>) -> String {
    let from_env = || {
        ["AWS_ENDPOINT_URL_CLOUDTRAIL", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    };
    match option.map(str::to_owned).or_else(from_env) {
        Some(url) => scope_endpoint(url.trim()),
        None => "aws".to_owned(),
    }
}

/// An endpoint URL as the store names it: one name however it was written (case of scheme and host,
/// default port, trailing slash), without userinfo.
fn scope_endpoint(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => redact_userinfo(text).trim_end_matches('/').to_owned(),
    }
}

/// A size: bytes, or a number with K, M, G (powers of 1024; `MiB`, `MB` and `GB` read the same).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("'{text}': expected a size such as 256M or 1G"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("'{text}': expected a size such as 256M or 1G")),
    };
    let bytes = number * scale as f64;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("'{text}': expected a size of at least 1 byte"));
    }
    Ok(bytes as u64)
}

/// The highest `--tps`: far above the service's 2, low enough to stay a rate.
const MAX_TPS: f64 = 1000.0;
/// The longest region name accepted (real ones are under 20 characters).
const MAX_REGION_LEN: usize = 64;

/// The variable that sets how many threads read `--input` files (1: one thread reads and filters).
const THREADS_VARIABLE: &str = "CTLOOKUP_THREADS";
/// The most reading threads by default: past a few, the one thread that filters is the limit.
const DEFAULT_MAX_THREADS: usize = 8;
/// The most reading threads asked for with the variable.
const MAX_THREADS: usize = 256;

/// `CTLOOKUP_THREADS` when set (a whole number from 1), else the CPUs available, at most 8.
fn reading_threads(value: Option<&std::ffi::OsStr>) -> Result<usize> {
    let Some(value) = value else {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        return Ok(cpus.min(DEFAULT_MAX_THREADS));
    };
    match value.to_str().map(str::trim).and_then(|text| text.parse::<usize>().ok()) {
        Some(threads @ 1..=MAX_THREADS) => Ok(threads),
        _ => {
            let shown: String = value.to_string_lossy().chars().take(40).collect();
            Err(usage(format!("{THREADS_VARIABLE}='{shown}': expected a number of threads from 1 to {MAX_THREADS}")))
        }
    }
}

/// An http(s) URL with a host, a valid port, and no secrets echoed back in the message; returned
/// in its normal form (scheme and host in lower case, no default port), as `aws` takes
/// `HTTP://Host:80` for `http://host`.
fn check_endpoint_url(text: &str) -> Result<String> {
    let bad = |why: &str| {
        let shown: String = redact_userinfo(text).chars().take(200).collect();
        usage(format!("--endpoint-url '{shown}': {why}"))
    };
    let scheme = text.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(bad("expected an http:// or https:// URL"));
    }
    match url::Url::parse(text) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
            let mut normal = parsed.to_string();
            // A bare host gets the path "/" from the parser: give it back as it was typed.
            if parsed.path() == "/" && parsed.query().is_none() && !text.ends_with('/') {
                normal.pop();
            }
            Ok(normal)
        }
        Ok(_) => Err(bad("the URL has no host")),
        Err(err) => Err(bad(&format!("not a valid URL ({err})"))),
    }
}

/// Services whose events Event history keeps in us-east-1 whatever region they were called from.
pub const GLOBAL_EVENT_SOURCES: [&str; 6] = [
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "signin.amazonaws.com",
    "cloudfront.amazonaws.com",
    "route53.amazonaws.com",
    "organizations.amazonaws.com",
];

/// Whether some predicate asks for one of the global services' event source.
fn names_global_service(expr: &Expr) -> bool {
    AskedNames::of(expr).event_sources.iter().any(|s| GLOBAL_EVENT_SOURCES.contains(&s.as_str()))
}

/// A timeout option: seconds above 0, at most a day (beyond that, no timeout is meant: say so).
fn timeout(seconds: f64, option: &str) -> Result<std::time::Duration> {
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(usage(format!("{option} must be a number of seconds above 0 and at most 86400")));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

fn equals(target: Target, value: String) -> Expr {
    Expr::Pred(Predicate { target, test: Test::Compare(CompareOp::Eq, Literal::String(value)) })
}

/// `--source-ip`: an address or a network, nothing else.
fn source_ip(text: &str) -> Result<Member> {
    let text = text.trim();
    if let Ok(net) = text.parse() {
        return Ok(Member::Network(net));
    }
    text.parse().map(Member::Address).map_err(|_| {
        usage(format!("--source-ip '{text}': expected an IP address or network, such as 203.0.113.7 or 10.0.0.0/8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn print(args: &[&str], terminal: bool, no_color: bool) -> Result<PrintConfig> {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("ctlookup").chain(args.iter().copied())).unwrap().lookup;
        let env = Environment {
            now: Utc::now(),
            stdout_is_terminal: terminal,
            width: Some(80),
            no_color,
            stderr_is_terminal: false,
        };
        print_config(&cli, &env, Zone::Named(chrono_tz::UTC))
    }

    #[test]
    fn defaults_follow_the_terminal() {
        assert_eq!(print(&[], true, false).unwrap().format, OutputFormat::Table);
        assert_eq!(print(&[], false, false).unwrap().format, OutputFormat::Jsonl);
        assert!(print(&[], true, false).unwrap().color);
        assert!(!print(&[], true, true).unwrap().color, "NO_COLOR");
        assert!(!print(&[], false, false).unwrap().color, "not a terminal");
        assert!(print(&["--color", "always"], false, true).unwrap().color);
        assert!(!print(&["--color", "never"], true, false).unwrap().color);
    }

    #[test]
    fn a_table_of_several_regions_shows_the_region() {
        let headers = |args: &[&str]| -> Vec<String> {
            print(args, true, false).unwrap().columns.iter().map(|c| c.header().to_owned()).collect()
        };
        assert!(!headers(&["--region", "us-east-1"]).contains(&"awsRegion".to_owned()));
        assert_eq!(headers(&["--region", "us-east-1,us-west-2"]).last().map(String::as_str), Some("awsRegion"));
        let several = headers(&["--profile", "a,b", "--region", "us-east-1,us-west-2"]);
        assert_eq!(several[several.len() - 2..], ["account".to_owned(), "awsRegion".to_owned()]);
    }

    fn selection(args: &[&str]) -> Result<(Accounts, Option<String>)> {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("ctlookup").chain(args.iter().copied())).unwrap().lookup;
        account_selection(&cli.api)
    }

    #[test]
    fn roles_are_named_in_the_partition_of_the_region_asked() {
        let role_arn = |args: &[&str]| match selection(args).unwrap().0 {
            Accounts::Roles(roles) => roles.role_arn("111111111111"),
            other => panic!("{other:?}"),
        };
        let accounts = ["--accounts", "111111111111"];
        assert_eq!(
            role_arn(&[&accounts[..], &["--role-name", "audit"]].concat()),
            "arn:aws:iam::111111111111:role/audit"
        );
        assert_eq!(
            role_arn(&[&accounts[..], &["--role-name", "role/ops/audit", "--region", "cn-north-1"]].concat()),
            "arn:aws-cn:iam::111111111111:role/ops/audit"
        );
        assert_eq!(
            role_arn(&[&accounts[..], &["--role-name", "audit", "--region", "us-gov-west-1"]].concat()),
            "arn:aws-us-gov:iam::111111111111:role/audit"
        );
        let template = "arn:aws:iam::{account}:role/x/y";
        assert_eq!(
            role_arn(&[&accounts[..], &["--role-arn", template]].concat()),
            "arn:aws:iam::111111111111:role/x/y"
        );
    }

    #[test]
    fn one_profile_is_one_account_and_several_are_several() {
        assert_eq!(selection(&[]).unwrap(), (Accounts::Own, None));
        assert_eq!(selection(&["--profile", "a"]).unwrap(), (Accounts::Own, Some("a".to_owned())));
        assert_eq!(
            selection(&["--profile", "a,b", "--profile", "a"]).unwrap(),
            (Accounts::Profiles(vec!["a".to_owned(), "b".to_owned()]), None)
        );
        let (accounts, profile) = selection(&[
            "--profile",
            "base",
            "--accounts",
            "org",
            "--exclude-account",
            "222222222222",
            "--role-name",
            "r",
        ])
        .unwrap();
        assert_eq!(profile.as_deref(), Some("base"), "the base credentials' profile");
        let Accounts::Roles(roles) = accounts else { panic!("{accounts:?}") };
        assert_eq!((roles.accounts, roles.exclude), (None, vec!["222222222222".to_owned()]));
        assert_eq!(roles.session_name, "ctlookup");
    }
}
