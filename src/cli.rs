//! The command line as clap sees it: raw values only. Meaning and validation live in `config.rs`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Query AWS CloudTrail Event history (LookupEvents) with filters on any field.
///
/// The API filters on one attribute; ctlookup pushes the most selective one to it, streams every page
/// and applies the rest locally. It reads saved `aws cloudtrail lookup-events` output and trail log
/// files the same way (--input).
#[derive(Debug, Parser)]
#[command(name = "ctlookup", version, about, long_about = None, max_term_width = 100)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub lookup: LookupArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List AWS service prefixes and their CloudTrail event sources (from the AWS Service Reference)
    Services(ReferenceArgs),
    /// List the API actions (eventName values) of one service, or of every service
    Actions {
        /// A service prefix (ec2) or event source (ec2.amazonaws.com); none: every service (fetched
        /// together, then cached, which also feeds "did you mean" for event names)
        service: Option<String>,
        #[command(flatten)]
        reference: ReferenceArgs,
    },
    /// Fill the local event store for a window (default: all 90 days) with full scans; Ctrl-C
    /// keeps what was fetched, and running it again fetches only what is missing
    Sync(SyncArgs),
    /// List what the local event store holds per account, region and category, or clear it
    Store(StoreArgs),
    /// Why calls were refused: the AccessDenied events grouped by principal, action, resource and the
    /// policy that refused them, with counts (same window, filters and sources as a lookup)
    Denied(DeniedArgs),
    /// The IAM policy that what was done needs: the actions of the matched successful calls as one
    /// policy document (same window, filters and sources as a lookup)
    Policy(PolicyArgs),
    /// Athena over the trail's S3 files: `athena table` prints (or, with --run, creates) the table
    /// that `--athena TABLE` queries
    Athena(AthenaArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Fetch the Service Reference again even if the cached copy is less than a day old
    #[arg(long)]
    pub refresh: bool,

    /// Output format (default: table on a terminal, else jsonl)
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<ListOutputArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListOutputArg {
    Table,
    #[value(alias = "ndjson")]
    Jsonl,
    Csv,
    Tsv,
}

/// The main command: look up events.
#[derive(Debug, Args)]
pub struct LookupArgs {
    #[command(flatten)]
    pub api: ApiArgs,

    /// Read events from files instead of the API: saved lookup-events output, trail logs (.json,
    /// .json.gz), JSON Lines, or directories of those; `-` is stdin; `s3://BUCKET[/PREFIX]` reads a
    /// trail's files in place in S3. Repeatable
    #[arg(long, value_name = "PATH", help_heading = "Where events come from")]
    pub input: Vec<PathBuf>,

    #[command(flatten)]
    pub athena: AthenaSourceArgs,

    #[command(flatten)]
    pub s3: S3Args,

    #[command(flatten)]
    pub window: WindowArgs,

    /// A filter expression on any field, such as 'errorCode =~ "AccessDenied|Unauthorized"'; see
    /// docs/expressions.md for the language. Repeatable: all must hold
    #[arg(short = 'w', long = "where", value_name = "EXPR", help_heading = "What to match")]
    pub where_: Vec<String>,

    /// Events with this errorCode (repeat for any of several)
    #[arg(long, value_name = "CODE", help_heading = "What to match")]
    pub error_code: Vec<String>,

    /// Events that failed: any errorCode
    #[arg(long, help_heading = "What to match")]
    pub errors: bool,

    /// Any failed call: an errorCode, or a failed console sign-in or role switch
    /// (responseElements.ConsoleLogin or .SwitchRole = Failure, which carry no errorCode)
    #[arg(long, help_heading = "What to match")]
    pub failures: bool,

    /// Events from this source IP address or network (CIDR, IPv4 or IPv6); repeatable
    #[arg(long, value_name = "IP_OR_CIDR", help_heading = "What to match")]
    pub source_ip: Vec<String>,

    /// Events with this eventName (repeat for any of several)
    #[arg(long, value_name = "NAME", help_heading = "What to match")]
    pub event_name: Vec<String>,

    /// Events from this eventSource, such as ec2.amazonaws.com
    #[arg(long, value_name = "SOURCE", help_heading = "What to match")]
    pub event_source: Vec<String>,

    /// The event with this eventID
    #[arg(long, value_name = "ID", help_heading = "What to match")]
    pub event_id: Vec<String>,

    /// Events whose Event history user name is this (IAM user, role session name, root)
    #[arg(long, value_name = "NAME", help_heading = "What to match")]
    pub username: Vec<String>,

    /// Events signed with this access key ID
    #[arg(long, value_name = "KEY", help_heading = "What to match")]
    pub access_key_id: Vec<String>,

    /// Events that name a resource of this type, such as AWS::EC2::Instance
    #[arg(long, value_name = "TYPE", help_heading = "What to match")]
    pub resource_type: Vec<String>,

    /// Events that name this resource (name, ID or ARN as Event history lists it)
    #[arg(long, value_name = "NAME", help_heading = "What to match")]
    pub resource_name: Vec<String>,

    /// Only read-only (true) or only mutating (false) events
    #[arg(long, value_name = "BOOL", value_parser = ["true", "false"], help_heading = "What to match")]
    pub read_only: Vec<String>,

    /// Send exactly this attribute to the API: KEY=VALUE or AttributeKey=KEY,AttributeValue=VALUE
    #[arg(long, value_name = "KEY=VALUE", action = ArgAction::Append, help_heading = "What to match")]
    pub lookup_attribute: Vec<String>,

    /// Look up Insights events instead of management events
    #[arg(long, value_name = "CATEGORY", help_heading = "What to match")]
    pub event_category: Option<EventCategoryArg>,

    /// Stop after this many matching events (and stop fetching pages)
    #[arg(long, value_name = "N", help_heading = "What to match")]
    pub max_items: Option<u64>,

    /// Resume where an earlier run stopped, with the token it printed (aws CLI tokens work too)
    #[arg(long, value_name = "TOKEN", help_heading = "What to match")]
    pub starting_token: Option<String>,

    /// Send no lookup attribute derived from the filters; test everything locally (same results, slower)
    #[arg(long, help_heading = "What to match")]
    pub no_pushdown: bool,

    /// Instead of the events, count them per distinct combination of these fields (comma separated:
    /// record paths, `user`, `resources`), with the oldest and newest time of each, largest first
    #[arg(long, value_name = "FIELDS", help_heading = "Counting")]
    pub count_by: Option<String>,

    /// With --count-by: print only the N largest groups
    // Text, so that a wrong value (`-1` included, which clap would take for an option) is told in config.
    #[arg(long, value_name = "N", allow_negative_numbers = true, help_heading = "Counting")]
    pub top: Option<String>,

    /// Instead of the events, count them (and the failed ones) per time bucket: 1m, 5m, 15m, 1h, 6h,
    /// 1d; without a value, chosen from the time range. A bar chart on a terminal
    #[arg(long, value_name = "BUCKET", num_args = 0..=1, default_missing_value = "auto", help_heading = "Counting")]
    pub timeline: Option<String>,

    /// Output format (default: table on a terminal, else jsonl)
    #[arg(short, long, value_name = "FORMAT", help_heading = "How to print")]
    pub output: Option<OutputArg>,

    /// Columns for csv, tsv and table: record paths as --where writes them (requestParameters."x-amz-acl"),
    /// plus `user` and `resources`
    #[arg(long, value_name = "LIST", help_heading = "How to print")]
    pub columns: Option<String>,

    /// Run this jq program on each matching record and print its outputs, one compact JSON per line
    #[arg(long, value_name = "FILTER", help_heading = "How to print")]
    pub jq: Option<String>,

    /// Start CSV/TSV with a UTF-8 byte-order mark, so that Excel reads UTF-8 (Japanese text) correctly
    #[arg(long, help_heading = "How to print")]
    pub bom: bool,

    /// Do not prefix cells starting with = + - @ with a quote in CSV/TSV (the formula guard)
    #[arg(long, help_heading = "How to print")]
    pub no_csv_guard: bool,

    /// Colour in the table: auto (a terminal and NO_COLOR unset), always, never
    #[arg(long, value_name = "WHEN", default_value = "auto", help_heading = "How to print")]
    pub color: ColorArg,

    /// Show progress on stderr (default: when stderr is a terminal)
    #[arg(long, overrides_with = "no_progress", help_heading = "How to print")]
    pub progress: bool,

    /// Show no progress on stderr
    #[arg(long, help_heading = "How to print")]
    pub no_progress: bool,

    /// Keep asking for new events every --poll seconds and print each as it is seen, until Ctrl-C
    /// (default window: the last 15 minutes)
    #[arg(short = 'f', long, help_heading = "Follow")]
    pub follow: bool,

    /// Seconds between polls with --follow
    #[arg(long, value_name = "SECS", default_value_t = 10.0, requires = "follow", help_heading = "Follow")]
    pub poll: f64,

    /// How far behind the newest event seen each poll looks again for events delivered late
    /// (Event history delivers them up to about 15 minutes late)
    #[arg(long, value_name = "DURATION", default_value = "15m", requires = "follow", help_heading = "Follow")]
    pub lag: String,

    /// Neither read nor write the local event store: every event comes from the API
    #[arg(long, help_heading = "Local event store")]
    pub no_store: bool,

    /// Answer from the local event store only; a part of the window it does not cover is an error
    /// (exit 1) and no request is sent
    #[arg(long, conflicts_with = "no_store", help_heading = "Local event store")]
    pub offline: bool,

    #[command(flatten)]
    pub cap: StoreCapArgs,

    /// Say more on stderr: the query plan (which attribute went to the API, what stays local)
    #[arg(short, long, action = ArgAction::Count, help_heading = "How to print")]
    pub verbose: u8,
}

/// `--athena TABLE`: the window and the filter as one Athena query (docs/athena.md).
#[derive(Debug, Args)]
pub struct AthenaSourceArgs {
    /// Read events from this Athena table of the trail's S3 files instead of the API (`name` or
    /// `database.name`; `ctlookup athena table` makes it): the window and the filter become one SQL query
    #[arg(long, value_name = "TABLE", help_heading = "Athena")]
    pub athena: Option<String>,

    /// The database (Glue catalog) of the --athena table, when TABLE does not name it
    #[arg(long, value_name = "NAME", requires = "athena", help_heading = "Athena")]
    pub athena_database: Option<String>,

    /// The Athena workgroup to run the query in (default: the account's primary)
    #[arg(long, value_name = "NAME", requires = "athena", help_heading = "Athena")]
    pub athena_workgroup: Option<String>,

    /// Where Athena writes the result files, s3://BUCKET/PREFIX/ (default: the workgroup's)
    #[arg(long, value_name = "S3_URL", requires = "athena", help_heading = "Athena")]
    pub athena_output: Option<String>,

    /// Print the SQL query (and the table it assumes) instead of running it
    #[arg(long, requires = "athena", help_heading = "Athena")]
    pub sql: bool,
}

/// `ctlookup athena`.
#[derive(Debug, Args)]
pub struct AthenaArgs {
    #[command(subcommand)]
    pub action: AthenaAction,
}

#[derive(Debug, Subcommand)]
pub enum AthenaAction {
    /// Print the CREATE EXTERNAL TABLE of a trail's bucket, with partition projection over account,
    /// region and day; --run creates it through Athena
    Table(AthenaTableArgs),
}

#[derive(Debug, Args)]
pub struct AthenaTableArgs {
    /// Where the trail delivers: s3://BUCKET or s3://BUCKET/PREFIX (the folder holding AWSLogs/)
    #[arg(long, value_name = "S3_URL")]
    pub bucket: String,

    /// The organization ID of an organization trail (o-…): its files lie under AWSLogs/o-ID/
    #[arg(long, value_name = "ID")]
    pub org: Option<String>,

    /// The table's name
    #[arg(long, value_name = "NAME", default_value = "cloudtrail_logs")]
    pub name: String,

    /// The database (Glue catalog) to create the table in (default: Athena's default database)
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,

    /// Regions of the `region` partition, comma separated (default: every public region)
    #[arg(long, value_name = "REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,

    /// First day of the `timestamp` partition, YYYY/MM/DD (default: 2013/11/01)
    #[arg(long, value_name = "YYYY/MM/DD")]
    pub from: Option<String>,

    /// Create the table through Athena (StartQueryExecution of the statement) instead of printing it
    #[arg(long)]
    pub run: bool,

    /// With --run: the Athena workgroup
    #[arg(long, value_name = "NAME", requires = "run")]
    pub athena_workgroup: Option<String>,

    /// With --run: where Athena writes its result files, s3://BUCKET/PREFIX/
    #[arg(long, value_name = "S3_URL", requires = "run")]
    pub athena_output: Option<String>,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// `ctlookup denied`: a lookup's options, and how to answer.
#[derive(Debug, Args)]
pub struct DeniedArgs {
    #[command(flatten)]
    pub lookup: LookupArgs,

    /// Decode EC2's encoded authorization failure messages with STS DecodeAuthorizationMessage (needs
    /// sts:DecodeAuthorizationMessage) and show the conditions of the request
    #[arg(long, help_heading = "Why it was denied")]
    pub decode: bool,

    /// Instead of the rows, print per principal the Allow statements that would grant what no policy
    /// allowed, as JSON; explicit denies are listed on stderr
    #[arg(long, help_heading = "Why it was denied")]
    pub policy: bool,
}

/// `ctlookup policy`: a lookup's options, and what to include.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub lookup: LookupArgs,

    /// Also grant the actions of the calls refused for lack of permission
    #[arg(long, help_heading = "Policy")]
    pub include_denied: bool,
}

/// Where API events come from and how they are asked for.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Region(s) to query, repeatable or comma separated; several are queried together and merged
    /// newest first (default: AWS_REGION, the profile's region, CloudShell's region)
    #[arg(long, value_name = "REGION", value_delimiter = ',', help_heading = "Where events come from")]
    pub region: Vec<String>,

    /// Named profile from ~/.aws/config (AWS_PROFILE works too); several (repeatable or comma
    /// separated) read one account each, merged newest first
    #[arg(long, value_name = "NAME", value_delimiter = ',', help_heading = "Where events come from")]
    pub profile: Vec<String>,

    /// Read these accounts (comma separated 12-digit IDs, or `org` for every active account of the
    /// organisation) through a role assumed in each (--role-name or --role-arn); with trails in S3 and
    /// --athena, the accounts to read (as --account, no role); with `athena table`, the accounts of the
    /// `account` partition (default: injected, so that every query names its accounts)
    #[arg(long, value_name = "IDS|org", value_delimiter = ',', help_heading = "Many accounts")]
    pub accounts: Vec<String>,

    /// Leave these accounts out of --accounts (repeatable or comma separated)
    #[arg(long, value_name = "ID", value_delimiter = ',', help_heading = "Many accounts")]
    pub exclude_account: Vec<String>,

    /// The role to assume in each account of --accounts: arn:aws:iam::ACCOUNT:role/ROLE
    #[arg(long, value_name = "ROLE", help_heading = "Many accounts")]
    pub role_name: Option<String>,

    /// The role's ARN with {account} where each account's ID goes, e.g.
    /// 'arn:aws:iam::{account}:role/audit/ctlookup'
    #[arg(long, value_name = "ARN", help_heading = "Many accounts")]
    pub role_arn: Option<String>,

    /// The external ID the roles' trust policy asks for
    #[arg(long, value_name = "ID", help_heading = "Many accounts")]
    pub external_id: Option<String>,

    /// The session name of the assumed roles (it appears in the accounts' own CloudTrail)
    #[arg(long, value_name = "NAME", default_value = "ctlookup", help_heading = "Many accounts")]
    pub role_session_name: String,

    /// Requests in flight at most across the account-region lookups (each at its own 2 requests/s)
    #[arg(long, value_name = "N", default_value_t = 16, help_heading = "Many accounts")]
    pub parallel: usize,

    /// Send API calls to this URL (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_CLOUDTRAIL work too)
    #[arg(long, value_name = "URL", help_heading = "Where events come from")]
    pub endpoint_url: Option<String>,

    /// Requests per second at most, per region (LookupEvents allows 2)
    #[arg(long, value_name = "N", default_value_t = 2.0, help_heading = "Where events come from")]
    pub tps: f64,

    /// Extra attempts of a request that failed for a passing reason (throttling, 5xx, broken connection)
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Where events come from")]
    pub retries: u32,

    /// Seconds to wait for a connection to the endpoint; a request that gets none fails
    #[arg(long, value_name = "SECS", default_value_t = 10.0, help_heading = "Where events come from")]
    pub connect_timeout: f64,

    /// Seconds to wait for a whole answer, connecting included; a request that gets none in time is
    /// retried like a throttled one
    #[arg(long, value_name = "SECS", default_value_t = 20.0, help_heading = "Where events come from")]
    pub read_timeout: f64,
}

/// Trails in S3, read in place (`--input s3://BUCKET[/PREFIX]`, `--trail`); see docs/s3.md.
#[derive(Debug, Args)]
pub struct S3Args {
    /// Read this trail's log files in place in its S3 bucket (bucket and prefix from CloudTrail
    /// GetTrail; default window: the last 90 days); name or ARN, repeatable
    #[arg(long, value_name = "NAME|ARN", help_heading = "Trails in S3")]
    pub trail: Vec<String>,

    /// Only this account's events: its trail files in S3, the `account` partition with --athena
    /// (repeatable or comma separated; default: every account)
    #[arg(long, value_name = "ID", value_delimiter = ',', help_heading = "Trails in S3")]
    pub account: Vec<String>,

    /// Objects fetched from S3 at a time at most
    #[arg(long, value_name = "N", default_value_t = 16, help_heading = "Trails in S3")]
    pub s3_concurrency: usize,

    /// How long after the window's end trail files are still read, for events delivered late (a
    /// file delivered later holds none of the window's events; CloudTrail delivers within about 15 minutes)
    #[arg(long, value_name = "DURATION", default_value = "1h", help_heading = "Trails in S3")]
    pub s3_lag: String,
}

/// The time window.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Oldest event time, inclusive: 2024-07-22T00:00:00Z, 2024-07-22 09:00, 2024-07-22, epoch
    /// seconds, a duration ago (90s, 15m, 2h, 3d, 1w) or `now`
    #[arg(long, visible_alias = "since", value_name = "TIME", help_heading = "Time window")]
    pub start_time: Option<String>,

    /// Newest event time, inclusive (same forms as --start-time)
    #[arg(long, visible_alias = "until", value_name = "TIME", help_heading = "Time window")]
    pub end_time: Option<String>,

    /// Zone for times without an offset and for printed times: `local`, `UTC` or an IANA name such
    /// as Asia/Tokyo
    #[arg(long, value_name = "ZONE", default_value = "local", help_heading = "Time window")]
    pub tz: String,
}

/// The store's size cap.
#[derive(Debug, Args)]
pub struct StoreCapArgs {
    /// Size cap of the store (256M, 1G, bytes); the oldest events go first (default 256M, or
    /// CTLOOKUP_STORE_MAX)
    #[arg(long, value_name = "SIZE", help_heading = "Local event store")]
    pub store_max: Option<String>,
}

/// `ctlookup sync`: the window and the source; every event of it is fetched, none printed.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub window: WindowArgs,

    /// Fill the store with Insights events instead of management events
    #[arg(long, value_name = "CATEGORY", help_heading = "What to match")]
    pub event_category: Option<EventCategoryArg>,

    #[command(flatten)]
    pub cap: StoreCapArgs,

    /// Show progress on stderr (default: when stderr is a terminal)
    #[arg(long, overrides_with = "no_progress", help_heading = "How to print")]
    pub progress: bool,

    /// Show no progress on stderr
    #[arg(long, help_heading = "How to print")]
    pub no_progress: bool,
}

/// `ctlookup store`: list what the store holds, or clear it.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub action: Option<StoreAction>,

    /// Output format (default: table on a terminal, else jsonl)
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<ListOutputArg>,

    /// Zone for printed times: `local`, `UTC` or an IANA name
    #[arg(long, value_name = "ZONE", default_value = "local")]
    pub tz: String,
}

#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Remove stored events: all of them, or those of one account or region, or older than a time
    Clear {
        /// Only this account's events
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,

        /// Only this region's events
        #[arg(long, value_name = "REGION")]
        region: Option<String>,

        /// Only events older than this (a time, or a duration ago such as 30d)
        #[arg(long, value_name = "TIME")]
        older_than: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventCategoryArg {
    /// Management events (the default)
    Management,
    /// CloudTrail Insights events
    Insight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// One CloudTrail record per line, exactly as the service sent it (for jq)
    #[value(alias = "ndjson")]
    Jsonl,
    /// One document shaped like `aws cloudtrail lookup-events --output json`
    Json,
    /// Comma separated values (RFC 4180) for spreadsheets
    Csv,
    /// Tab separated values, tabs and newlines escaped
    Tsv,
    /// Aligned columns fitted to the terminal
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Parses the command line. Options go before or after a subcommand's name, as with the aws CLI
/// (`ctlookup --endpoint-url URL sync`): when the line as given does not parse and names a
/// subcommand after some options, it is read again with the subcommand first.
pub fn parse_from(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let as_given = Cli::try_parse_from(&args);
    if as_given.is_err() {
        if let Some(moved) = subcommand_first(&args) {
            if let Ok(cli) = Cli::try_parse_from(moved) {
                return Ok(cli);
            }
        }
    }
    as_given
}

/// The arguments with the first subcommand name that stands where an option could end moved to
/// the front; None when there is none.
fn subcommand_first(args: &[std::ffi::OsString]) -> Option<Vec<std::ffi::OsString>> {
    use clap::CommandFactory;
    let command = Cli::command();
    let takes_value = |arg: &clap::Arg| arg.get_action().takes_values();
    let mut i = 1;
    while i < args.len() {
        let text = args[i].to_str()?;
        if let Some(subcommand) = command.find_subcommand(text) {
            let mut moved = vec![args[0].clone(), args[i].clone()];
            let mut rest: Vec<std::ffi::OsString> = args[1..i].iter().chain(&args[i + 1..]).cloned().collect();
            // A subcommand of its own (`athena table`) follows it, before the options.
            let nested = |a: &std::ffi::OsString| a.to_str().is_some_and(|t| subcommand.find_subcommand(t).is_some());
            if let Some(j) = rest.iter().position(nested) {
                moved.push(rest.remove(j));
            }
            moved.extend(rest);
            return Some(moved);
        }
        let option = if let Some(long) = text.strip_prefix("--") {
            if long.is_empty() || long.contains('=') {
                i += 1;
                continue;
            }
            command.get_arguments().find(|a| {
                a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|aliases| aliases.contains(&long))
            })
        } else if let Some(short) = text.strip_prefix('-').filter(|s| s.chars().count() == 1) {
            let short = short.chars().next()?;
            command.get_arguments().find(|a| a.get_short() == Some(short))
        } else if text.starts_with('-') {
            // Joined short options and values (-vv, -ojson).
            i += 1;
            continue;
        } else {
            return None;
        };
        i += if option.is_some_and(takes_value) { 2 } else { 1 };
    }
    None
}
