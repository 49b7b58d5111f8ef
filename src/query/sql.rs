//! The same question on Athena: the time window and the filter expression compiled into one Trino SQL
//! query over the CloudTrail table of `ddl.rs`, pruned by its `account`, `region` and `timestamp`
//! partitions.
//!
//! What SQL cannot say with exactly the local evaluator's meaning stays out of the SQL, and the local
//! filter (which, as with the API planner, always tests the whole expression) decides: the SQL may only
//! ever be weaker (return a superset). Each subtree gets an upper bound (implied by it) and a lower bound
//! (implying it); a predicate that does not compile is TRUE above and FALSE below, AND and OR combine
//! bounds alike and NOT swaps them, so a predicate is dropped inside AND at positive polarity while under
//! NOT or OR the branch or the whole OR goes. The SQL is the root's upper bound.
//!
//! The mapping assumes the records have the types CloudTrail writes: the table's STRING columns and
//! struct fields hold JSON strings, `readOnly` a boolean and the parameter columns JSON objects. Inside
//! those objects nothing is assumed: strings, whole numbers and booleans compare exactly; an array directly
//! inside an array, or a number that is not a plain whole number, cannot be told apart in SQL the way the
//! local evaluator does, so such a value makes the SQL keep the event (above) or drop it (below).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use ipnet::IpNet;

use super::ddl::{Field, Ty, COLUMNS};
use super::expr::{CompareOp, Expr, Literal, Member, Predicate, Target, Test};
use super::{Attribute, TimeWindow};

/// The compiled query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub sql: String,
    /// The predicates (in the `--where` language) that the SQL tests.
    pub pushed: Vec<String>,
    /// The predicates the SQL does not decide exactly: only the local filter tests them.
    pub local: Vec<String>,
    /// The SQL alone gives exactly the local filter's result (every predicate compiled, window bounds
    /// whole milliseconds): counts and timelines may then be computed by Athena.
    pub complete: bool,
}

/// How far after an event its log file may be delivered (and so filed under a later day).
pub const DEFAULT_LAG: Duration = Duration::hours(1);

/// Stands for "cannot tell": TRUE in an upper bound, FALSE in a lower one. Never in a literal.
const MARK: &str = "\u{1}?\u{1}";

/// Compiles the window and the expression into one query over `table` (`name` or `database.name`),
/// reading only the partitions of `accounts` and `regions` (all when empty) and of the days that can hold
/// the window's events, given that files are filed by delivery day, up to `lag` after the event.
pub fn compile(
    expr: &Expr,
    window: &TimeWindow,
    accounts: &[String],
    regions: &[String],
    table: &str,
    lag: Duration,
) -> Compiled {
    build(expr, window, accounts, regions, table, lag, false)
}

/// [`compile`], or with `lower`, the query of the lower bound (what surely matches), for the tests.
fn build(
    expr: &Expr,
    window: &TimeWindow,
    accounts: &[String],
    regions: &[String],
    table: &str,
    lag: Duration,
    lower: bool,
) -> Compiled {
    let mut conditions = Vec::new();
    let day = |t: DateTime<Utc>| quote(&t.format("%Y/%m/%d").to_string()).expect("a date has no odd character");
    match (window.start, window.end) {
        (Some(start), Some(end)) => {
            conditions.push(format!("\"timestamp\" BETWEEN {} AND {}", day(start), day(end + lag)));
        }
        (Some(start), None) => conditions.push(format!("\"timestamp\" >= {}", day(start))),
        (None, Some(end)) => conditions.push(format!("\"timestamp\" <= {}", day(end + lag))),
        (None, None) => {}
    }
    for (column, values) in [("account", accounts), ("region", regions)] {
        let items: Vec<String> = values.iter().filter_map(|v| quote(v)).collect();
        if !items.is_empty() {
            conditions.push(format!("{column} IN ({})", items.join(", ")));
        }
    }
    let millis = Duration::milliseconds(1);
    let mut whole_millis = true;
    if let Some(start) = window.start {
        let floor = start.duration_trunc(millis).unwrap_or(start);
        whole_millis &= floor == start;
        conditions.push(format!("from_iso8601_timestamp(eventtime) >= {}", timestamp(floor)));
    }
    if let Some(end) = window.end {
        let floor = end.duration_trunc(millis).unwrap_or(end);
        let ceil = if floor == end { end } else { floor + millis };
        whole_millis &= ceil == end;
        conditions.push(format!("from_iso8601_timestamp(eventtime) <= {}", timestamp(ceil)));
    }

    let mut leaves = Vec::new();
    let (upper, lower_bound) = bounds(expr, &mut leaves);
    let upper = if lower { lower_bound } else { upper };
    let used = match &upper {
        Bound::True => BTreeSet::new(),
        Bound::False => {
            conditions.push("FALSE".to_owned());
            BTreeSet::new()
        }
        Bound::Sql(sql, used) => {
            conditions.push(sql.clone());
            used.clone()
        }
    };
    let mut pushed = Vec::new();
    let mut local = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        if used.contains(&i) {
            pushed.push(leaf.text.clone());
        }
        if !(used.contains(&i) && leaf.exact) {
            local.push(leaf.text.clone());
        }
    }
    let complete = whole_millis && leaves.iter().all(|l| l.exact);
    let mut sql = format!("SELECT {}\nFROM {}", select_list(), table_name(table));
    if !conditions.is_empty() {
        sql.push_str("\nWHERE ");
        sql.push_str(&conditions.join("\n  AND "));
    }
    Compiled { sql, pushed, local, complete }
}

/// The columns of the table, in its order (CloudTrail's usual order of a record's keys), the partition
/// columns left out. Structs, arrays and maps come back as JSON text (`json_format(CAST(… AS JSON))`):
/// Athena's results are text, and it writes a complex value of its own accord in a Hive-like form
/// (`{type=IAMUser, principalid=…}`) that cannot be read back without loss (a `,` or `=` inside a value, a
/// null against the text "null"), where JSON text is exact. Text columns stay as they are.
pub fn select_list() -> String {
    COLUMNS
        .iter()
        .map(|column| {
            let name = column.key.to_ascii_lowercase();
            match column.ty {
                Ty::Struct(_) | Ty::Array(_) | Ty::Map => format!("json_format(CAST({name} AS JSON)) AS {name}"),
                Ty::Text | Ty::Bool | Ty::Json => name,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The query of `--count-by` over these record paths, counted by Athena: the compiled query's FROM and
/// WHERE, grouped by the paths' text values, with each group's count and its oldest and newest eventTime
/// as written (`min_by`/`max_by` of the instant). None when a path is not a text column or text field of
/// a struct (only those come back as what the record's own string gives the local count), or when the
/// SQL does not decide the filter alone.
pub fn count_by(compiled: &Compiled, paths: &[&super::expr::Path]) -> Option<String> {
    if !compiled.complete || paths.is_empty() {
        return None;
    }
    let mut keys = Vec::new();
    for path in paths {
        match access(&Target::Record((*path).clone()))? {
            Access::Text(sql) => keys.push(sql),
            _ => return None,
        }
    }
    let (_, rest) = compiled.sql.split_once('\n')?;
    let columns: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("{k} AS k{i}")).collect();
    let ordinals: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
    Some(format!(
        "SELECT {}, count(*) AS events, min_by(eventtime, from_iso8601_timestamp(eventtime)) AS first, \
         max_by(eventtime, from_iso8601_timestamp(eventtime)) AS last\n{rest}\nGROUP BY {}",
        columns.join(", "),
        ordinals.join(", ")
    ))
}

/// The query of `--timeline`, counted by Athena: the compiled query's FROM and WHERE, grouped by the
/// step of `step` seconds on `zone`'s clock (an IANA name) that holds each event, and by the zone's
/// offset from UTC then, with each group's count and how many had an `errorcode`. The clock time is
/// the timestamp in the zone as a plain TIMESTAMP, counted in seconds from 1970-01-01 00:00, and the
/// step is floored arithmetically: every size (5m, 15m, 6h as well as an hour or a day) the same way,
/// with no time-zone arithmetic on Trino's side. The offset tells the repeated hour of a clock change
/// from the first one; the rows go into the same buckets as the events would
/// (`answers::timeline`). None when the SQL does not decide the filter alone.
pub fn timeline(compiled: &Compiled, step: i64, zone: &str) -> Option<String> {
    if !compiled.complete || step <= 0 {
        return None;
    }
    let (_, rest) = compiled.sql.split_once('\n')?;
    let seconds = |zone: &str| {
        Some(format!(
            "date_diff('second', TIMESTAMP '1970-01-01 00:00:00', CAST(from_iso8601_timestamp(eventtime) AT TIME ZONE {} AS \
             TIMESTAMP))",
            quote(zone)?
        ))
    };
    Some(format!(
        "SELECT clock - clock % {step} AS bucket, clock - utc AS utc_offset, count(*) AS events, count(errorcode) AS \
         errors\nFROM (SELECT {} AS clock, {} AS utc, errorcode\n{rest}) AS timed\nGROUP BY 1, 2",
        seconds(zone)?,
        seconds("UTC")?,
    ))
}

/// `name` or `database.name`, each part double-quoted.
fn table_name(table: &str) -> String {
    table.split('.').map(|part| format!("\"{}\"", part.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

fn timestamp(t: DateTime<Utc>) -> String {
    format!("from_iso8601_timestamp('{}')", t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// A string literal, single quotes doubled; None for text SQL should not carry (NUL, the marks).
fn quote(text: &str) -> Option<String> {
    if text.contains(['\0', '\u{1}', '\u{2}']) {
        return None;
    }
    Some(format!("'{}'", text.replace('\'', "''")))
}

// ---------------------------------------------------------------------------------------------------
// Bounds

struct Leaf {
    text: String,
    /// Compiled, with no "cannot tell" case.
    exact: bool,
}

#[derive(Debug, Clone)]
enum Bound {
    True,
    False,
    /// SQL, and the leaves it tests.
    Sql(String, BTreeSet<usize>),
}

/// (upper, lower) bounds of `expr`.
fn bounds(expr: &Expr, leaves: &mut Vec<Leaf>) -> (Bound, Bound) {
    match expr {
        Expr::Pred(predicate) => {
            let id = leaves.len();
            let compiled = predicate_sql(predicate);
            leaves.push(Leaf {
                text: predicate.to_string(),
                exact: compiled.as_ref().is_some_and(|sql| !sql.contains(MARK)),
            });
            match compiled {
                None => (Bound::True, Bound::False),
                Some(sql) => {
                    let one = BTreeSet::from([id]);
                    (Bound::Sql(sql.replace(MARK, "TRUE"), one.clone()), Bound::Sql(sql.replace(MARK, "FALSE"), one))
                }
            }
        }
        Expr::And(parts) | Expr::Or(parts) => {
            let and = matches!(expr, Expr::And(_));
            let (uppers, lowers): (Vec<Bound>, Vec<Bound>) = parts.iter().map(|p| bounds(p, leaves)).unzip();
            (join(uppers, and), join(lowers, and))
        }
        Expr::Not(inner) => {
            let (upper, lower) = bounds(inner, leaves);
            (negate(lower), negate(upper))
        }
    }
}

/// AND (`and`) or OR of bounds.
fn join(parts: Vec<Bound>, and: bool) -> Bound {
    let (absorbing, neutral) = if and { (Bound::False, Bound::True) } else { (Bound::True, Bound::False) };
    let mut sqls = Vec::new();
    let mut used = BTreeSet::new();
    for part in parts {
        match part {
            Bound::Sql(sql, ids) => {
                sqls.push(sql);
                used.extend(ids);
            }
            Bound::True if and => {}
            Bound::False if !and => {}
            _ => return absorbing,
        }
    }
    match sqls.len() {
        0 => neutral,
        1 => Bound::Sql(sqls.pop().expect("one"), used),
        _ => {
            let parts: Vec<String> = sqls.iter().map(|s| format!("({s})")).collect();
            // An OR is bracketed whole, so that it stays one operand of the AND around it.
            let sql = if and { parts.join(" AND ") } else { format!("({})", parts.join(" OR ")) };
            Bound::Sql(sql, used)
        }
    }
}

/// NOT of a bound; SQL's NULL (a missing field) counts as FALSE before it is negated.
fn negate(bound: Bound) -> Bound {
    match bound {
        Bound::True => Bound::False,
        Bound::False => Bound::True,
        Bound::Sql(sql, used) => Bound::Sql(format!("NOT COALESCE({sql}, FALSE)"), used),
    }
}

// ---------------------------------------------------------------------------------------------------
// Where a target's values are

/// Where a predicate's values are in the table.
enum Access {
    /// A VARCHAR expression with the text of a JSON string (NULL: missing).
    Text(String),
    /// `readonly`: the text of a JSON boolean.
    Bool(String),
    /// The Event history ReadOnly: `'true'`/`'false'`, equal to a value in any case.
    EnvelopeReadOnly(String),
    /// A text field of every element of `resources`.
    Resource(String),
    /// Inside a column of JSON text: the column and the keys below it.
    Json(String, Vec<String>),
}

/// The Event history user name, derived from the record as `Envelope::derive` does.
const USERNAME: &str = "CASE WHEN useridentity.username <> '' THEN useridentity.username \
     WHEN useridentity.type IN ('AssumedRole', 'FederatedUser') THEN element_at(split(useridentity.arn, '/'), -1) \
     WHEN useridentity.type = 'Root' THEN 'root' \
     WHEN useridentity.type = 'AWSService' THEN useridentity.invokedby END";

fn access(target: &Target) -> Option<Access> {
    match target {
        Target::Envelope(attribute) => Some(match attribute {
            Attribute::EventId => Access::Text("eventid".into()),
            Attribute::EventName => Access::Text("eventname".into()),
            Attribute::EventSource => Access::Text("eventsource".into()),
            Attribute::AccessKeyId => Access::Text("NULLIF(useridentity.accesskeyid, '')".into()),
            Attribute::Username => Access::Text(format!("({USERNAME})")),
            Attribute::ReadOnly => Access::EnvelopeReadOnly("readonly".into()),
            Attribute::ResourceName | Attribute::ResourceType => return None,
        }),
        Target::Record(path) => {
            let segments = &path.segments;
            let mut fields: &[Field] = COLUMNS;
            let mut sql = String::new();
            for (i, segment) in segments.iter().enumerate() {
                let field = fields.iter().find(|f| f.key == segment)?;
                if !sql.is_empty() {
                    sql.push('.');
                }
                sql.push_str(&field.key.to_ascii_lowercase());
                let last = i + 1 == segments.len();
                match field.ty {
                    Ty::Text if last => return Some(Access::Text(sql)),
                    Ty::Bool if last => return Some(Access::Bool(sql)),
                    Ty::Json => return Some(Access::Json(sql, segments[i + 1..].to_vec())),
                    Ty::Struct(inner) if !last => fields = inner,
                    Ty::Array(inner) if i + 2 == segments.len() => {
                        let element = inner.iter().find(|f| f.key == segments[i + 1])?;
                        return (element.ty == Ty::Text).then(|| Access::Resource(element.key.to_ascii_lowercase()));
                    }
                    // A whole struct, array or map, a map's keys, or a path through a string: local.
                    _ => return None,
                }
            }
            None
        }
    }
}

fn predicate_sql(predicate: &Predicate) -> Option<String> {
    let test = &predicate.test;
    match access(&predicate.target)? {
        Access::Text(v) => text_test(test, &v),
        Access::EnvelopeReadOnly(v) => match test {
            Test::Compare(CompareOp::Eq, literal) => {
                let text = literal_text(literal);
                Some(match ["true", "false"].iter().find(|b| b.eq_ignore_ascii_case(&text)) {
                    Some(b) => format!("{v} = '{b}'"),
                    None => "FALSE".to_owned(),
                })
            }
            _ => text_test(test, &v),
        },
        Access::Bool(v) => bool_test(test, &v),
        Access::Resource(field) => {
            let inner = text_test(test, &format!("r.{field}"))?;
            Some(format!("any_match(resources, r -> {inner})"))
        }
        Access::Json(column, keys) => json_test(test, &column, &keys),
    }
}

// ---------------------------------------------------------------------------------------------------
// Tests on one value

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::String(s) => s.clone(),
        Literal::Number { text, .. } => text.clone(),
        Literal::Bool(b) => b.to_string(),
    }
}

fn op_sql(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

fn or_all(parts: Vec<String>) -> String {
    match parts.len() {
        0 => "FALSE".to_owned(),
        1 => parts.into_iter().next().expect("one"),
        _ => format!("({})", parts.join(" OR ")),
    }
}

/// A test on a VARCHAR `v` holding a JSON string's text (NULL when missing; the result is then NULL or
/// FALSE).
fn text_test(test: &Test, v: &str) -> Option<String> {
    Some(match test {
        Test::Exists => format!("{v} IS NOT NULL"),
        Test::Compare(op, literal) => format!("{v} {} {}", op_sql(*op), quote(&literal_text(literal))?),
        Test::Regex { regex, negate } => {
            let pattern = quote(&trino_regex(regex.as_str())?)?;
            let like = format!("regexp_like({v}, {pattern})");
            if *negate {
                format!("NOT {like}")
            } else {
                like
            }
        }
        Test::Contains(needle) if needle.is_empty() => format!("{v} IS NOT NULL"),
        Test::Contains(needle) => format!("strpos({v}, {}) > 0", quote(needle)?),
        Test::In(members) => {
            let mut parts = Vec::new();
            for member in members {
                parts.push(match member {
                    Member::Value(literal) => format!("{v} = {}", quote(&literal_text(literal))?),
                    Member::Network(net) => network_test(*net, v)?,
                    Member::Address(ip) => network_test(IpNet::from(ip.to_canonical()), v)?,
                });
            }
            or_all(parts)
        }
    })
}

/// The characters Rust's `str::trim` removes (Unicode White_Space), as the address test trims.
const WHITE_SPACE: &str =
    "\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\
     \u{2007}\u{2008}\u{2009}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";

/// `v` is an address inside `net`, with the evaluator's rules: an IPv4 network also holds the
/// IPv4-mapped IPv6 form of its addresses (as Trino's IPADDRESS stores every IPv4 address), an IPv6
/// network holds only IPv6-written addresses; a text that is no address (`ec2.amazonaws.com`) is in
/// none.
fn network_test(net: IpNet, v: &str) -> Option<String> {
    let net = net.trunc();
    // Written with a dotted IPv4 tail (`::ffff:10.0.0.0/104`): how each engine reads that is not sure.
    if let IpNet::V6(v6) = net {
        if v6.addr().to_ipv4_mapped().is_some() {
            return None;
        }
    }
    let ip = format!("TRY_CAST(trim(BOTH {} FROM {v}) AS IPADDRESS)", quote(WHITE_SPACE)?);
    let contains = format!("contains('{net}', {ip})");
    Some(match net {
        IpNet::V4(_) => contains,
        IpNet::V6(_) => format!("(strpos({v}, ':') > 0 AND {contains})"),
    })
}

/// `readonly`: the JSON boolean's text.
fn bool_test(test: &Test, v: &str) -> Option<String> {
    let equals = |literal: &Literal| -> String {
        let text = match literal {
            Literal::Bool(b) => Some(b.to_string()),
            Literal::String(s) => ["true", "false"].iter().find(|b| b.eq_ignore_ascii_case(s)).map(|b| b.to_string()),
            Literal::Number { .. } => None,
        };
        text.map_or_else(|| "FALSE".to_owned(), |b| format!("{v} = '{b}'"))
    };
    Some(match test {
        Test::Compare(CompareOp::Eq, literal) => equals(literal),
        Test::Compare(CompareOp::Ne, literal) => format!("({v} IS NOT NULL AND NOT ({}))", equals(literal)),
        Test::In(members) => or_all(
            members
                .iter()
                .filter_map(|m| match m {
                    Member::Value(literal) => Some(equals(literal)),
                    _ => None,
                })
                .collect(),
        ),
        // Order, regex and substring see the text "true" or "false".
        other => text_test(other, v)?,
    })
}

// ---------------------------------------------------------------------------------------------------
// Inside JSON text

/// A JSON path to one key: `$.key`, or `$["x-amz-acl"]` for other names.
fn json_path(key: &str) -> Option<String> {
    let simple = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if simple {
        Some(format!("$.{key}"))
    } else if key.is_empty() || key.contains(['"', '\\', '[', ']']) || key.chars().any(char::is_control) {
        None
    } else {
        Some(format!("$[\"{key}\"]"))
    }
}

/// The elements of JSON value `x` if it is an array, else `x` alone.
fn elements(x: &str) -> String {
    format!("COALESCE(TRY_CAST({x} AS ARRAY(JSON)), ARRAY[{x}])")
}

/// The walk of `path::walk` in SQL: from the parsed column, each key of each value reached, arrays
/// walked element by element.
fn json_test(test: &Test, column: &str, keys: &[String]) -> Option<String> {
    let paths: Vec<String> = keys.iter().map(|k| json_path(k)).collect::<Option<_>>()?;
    let leaf = match test {
        Test::Exists => None,
        other => Some(Arms::of(other)?),
    };
    Some(walk(&format!("json_parse({column})"), &paths, 0, leaf.as_ref()))
}

fn walk(x: &str, paths: &[String], depth: usize, leaf: Option<&Arms>) -> String {
    let e = format!("e{depth}");
    match (paths.split_first(), leaf) {
        (None, None) => format!("({x} IS NOT NULL AND json_format({x}) <> 'null')"),
        (None, Some(arms)) => format!("any_match({}, {e} -> {})", elements(x), arms.sql(&e)),
        (Some((path, rest)), _) => {
            let next = walk(&format!("json_extract({e}, '{path}')"), rest, depth + 1, leaf);
            format!(
                "any_match({}, {e} -> CASE WHEN json_format({e}) LIKE '[%' THEN {MARK} ELSE {next} END)",
                elements(x)
            )
        }
    }
}

/// A test on one JSON value, as SQL for each kind of value: a string (`s`: its text), a whole number, a
/// boolean (`t`: its JSON text, as the local evaluator writes it too) and an object. Other numbers and
/// arrays inside arrays cannot be told apart: the mark.
struct Arms {
    string: Arm,
    whole: Arm,
    boolean: Arm,
    object: &'static str,
}

/// SQL of a test on one kind of value, given the SQL of the value.
type Arm = Box<dyn Fn(&str) -> String>;

/// Whole numbers that serde_json reads as integers and Trino and DuckDB write back as they are.
const WHOLE: &str = "'^(0|-?[1-9][0-9]{0,17})$'";

impl Arms {
    fn sql(&self, e: &str) -> String {
        let t = format!("json_format({e})");
        let s = format!("json_extract_scalar({e}, '$')");
        format!(
            "CASE WHEN {e} IS NULL OR {t} = 'null' THEN FALSE WHEN {t} LIKE '[%' THEN {MARK} \
             WHEN {t} LIKE '\"%' THEN {} WHEN {t} IN ('true', 'false') THEN {} WHEN {t} LIKE '{{%' THEN {} \
             WHEN regexp_like({t}, {WHOLE}) THEN {} ELSE {MARK} END",
            (self.string)(&s),
            (self.boolean)(&t),
            self.object,
            (self.whole)(&t),
        )
    }

    fn of(test: &Test) -> Option<Arms> {
        Some(match test {
            Test::Exists => unreachable!("exists is no test on a value"),
            Test::Compare(CompareOp::Eq, literal) => {
                let text = quote(&literal_text(literal))?;
                let (whole, boolean) = (whole_equals(literal), bool_equals(literal));
                Arms {
                    string: Box::new(move |s| format!("{s} = {text}")),
                    whole: Box::new(move |t| whole(t)),
                    boolean: Box::new(move |t| boolean(t)),
                    object: "FALSE",
                }
            }
            Test::Compare(CompareOp::Ne, literal) => {
                let text = quote(&literal_text(literal))?;
                let (whole, boolean) = (whole_equals(literal), bool_equals(literal));
                Arms {
                    string: Box::new(move |s| format!("{s} <> {text}")),
                    whole: Box::new(move |t| format!("NOT ({})", whole(t))),
                    boolean: Box::new(move |t| format!("NOT ({})", boolean(t))),
                    object: "TRUE",
                }
            }
            Test::Compare(op, literal) => {
                let sql = op_sql(*op);
                let text = quote(&literal_text(literal))?;
                let whole = whole_order(*op, literal)?;
                let (a, b) = (text.clone(), text);
                Arms {
                    string: Box::new(move |s| format!("{s} {sql} {a}")),
                    whole: Box::new(whole),
                    boolean: Box::new(move |t| format!("{t} {sql} {b}")),
                    object: "FALSE",
                }
            }
            Test::Regex { .. } | Test::Contains(_) => {
                let scalar = text_test(test, "\u{2}")?;
                let scalar2 = scalar.clone();
                let scalar3 = scalar.clone();
                Arms {
                    string: Box::new(move |s| scalar.replace('\u{2}', s)),
                    whole: Box::new(move |t| scalar2.replace('\u{2}', t)),
                    boolean: Box::new(move |t| scalar3.replace('\u{2}', t)),
                    object: "FALSE",
                }
            }
            Test::In(members) => {
                let mut strings = Vec::new();
                let mut wholes: Vec<Arm> = Vec::new();
                let mut booleans: Vec<Arm> = Vec::new();
                for member in members {
                    match member {
                        Member::Value(literal) => {
                            strings.push(format!("\u{2} = {}", quote(&literal_text(literal))?));
                            wholes.push(Box::new(whole_equals(literal)));
                            booleans.push(Box::new(bool_equals(literal)));
                        }
                        Member::Network(net) => strings.push(network_test(*net, "\u{2}")?),
                        Member::Address(ip) => strings.push(network_test(IpNet::from(ip.to_canonical()), "\u{2}")?),
                    }
                }
                let string = or_all(strings);
                Arms {
                    string: Box::new(move |s| string.replace('\u{2}', s)),
                    whole: Box::new(move |t| or_all(wholes.iter().map(|w| w(t)).collect())),
                    boolean: Box::new(move |t| or_all(booleans.iter().map(|b| b(t)).collect())),
                    object: "FALSE",
                }
            }
        })
    }
}

/// Below 10^18 in size: what [`WHOLE`] admits.
const WHOLE_LIMIT: i128 = 1_000_000_000_000_000_000;

fn double(v: f64) -> String {
    format!("{v:e}")
}

/// `equals` of a whole JSON number (its text `t`) and a literal: exactly as integers, else as f64.
fn whole_equals(literal: &Literal) -> impl Fn(&str) -> String {
    let text = match literal {
        Literal::Number { text, .. } => Some(text.clone()),
        Literal::String(s) => Some(s.trim().to_owned()),
        Literal::Bool(_) => None,
    };
    let sql = move |t: &str| -> String {
        let Some(text) = &text else { return "FALSE".to_owned() };
        if let Ok(b) = text.parse::<i128>() {
            return if b.abs() < WHOLE_LIMIT { format!("CAST({t} AS BIGINT) = {b}") } else { "FALSE".to_owned() };
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => format!("CAST({t} AS DOUBLE) = {}", double(v)),
            _ => "FALSE".to_owned(),
        }
    };
    sql
}

/// `equals` of a JSON boolean (its text `t`) and a literal.
fn bool_equals(literal: &Literal) -> impl Fn(&str) -> String {
    let value = match literal {
        Literal::Bool(b) => Some(b.to_string()),
        Literal::String(s) => ["true", "false"].iter().find(|b| b.eq_ignore_ascii_case(s)).map(|b| b.to_string()),
        Literal::Number { .. } => None,
    };
    move |t: &str| value.as_ref().map_or_else(|| "FALSE".to_owned(), |b| format!("{t} = '{b}'"))
}

/// `order` of a whole JSON number (its text `t`) and a literal: as numbers when the literal is one
/// (exactly when it is whole), else as strings.
fn whole_order(op: CompareOp, literal: &Literal) -> Option<impl Fn(&str) -> String> {
    let number = match literal {
        Literal::Number { value, .. } => Some(*value),
        Literal::String(s) => s.trim().parse::<f64>().ok(),
        Literal::Bool(_) => None,
    };
    let exact = match literal {
        Literal::Number { text, .. } | Literal::String(text) => text.trim().parse::<i128>().ok(),
        Literal::Bool(_) => None,
    };
    let sql = op_sql(op);
    let less = matches!(op, CompareOp::Lt | CompareOp::Le);
    let constant = move |below: bool| if below == less { "TRUE" } else { "FALSE" };
    let text = quote(&literal_text(literal))?;
    Some(move |t: &str| -> String {
        match (number, exact) {
            (Some(_), Some(b)) if b >= WHOLE_LIMIT => constant(true).to_owned(),
            (Some(_), Some(b)) if b <= -WHOLE_LIMIT => constant(false).to_owned(),
            (Some(_), Some(b)) => format!("CAST({t} AS BIGINT) {sql} {b}"),
            (Some(v), None) if v.is_nan() => "FALSE".to_owned(),
            (Some(v), None) if v.is_infinite() => constant(v > 0.0).to_owned(),
            (Some(v), None) => format!("CAST({t} AS DOUBLE) {sql} {}", double(v)),
            (None, _) => format!("{t} {sql} {text}"),
        }
    })
}

// ---------------------------------------------------------------------------------------------------
// Regular expressions

/// The pattern in a syntax that Rust's regex crate, Trino's (Joni, Java syntax) and RE2 read with the
/// same meaning, or None. Only literals, `.`, anchors, classes of literals and ranges, groups,
/// alternation and repetition are taken, and written unambiguously: `.` as `[^\n]`, `^` and `$` as `\A`
/// and `\z`. Flags (`(?i)`: the case folding differs), Unicode classes (`\d`, `\w`, `\s`, `\p{…}`: Rust's
/// are Unicode-wide), word boundaries and code-point escapes stay local.
pub fn trino_regex(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    // Whether the last item may take a repetition, has one, and may be made lazy with `?`.
    let (mut repeatable, mut repeated, mut lazy) = (false, false, false);
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let lazy_allowed = std::mem::replace(&mut lazy, false);
        match c {
            '\\' => {
                let next = *chars.get(i)?;
                i += 1;
                if matches!(next, 'A' | 'z') {
                    out.push('\\');
                    out.push(next);
                    (repeatable, repeated) = (false, false);
                } else {
                    push_literal(&mut out, regex_escape(next)?);
                    (repeatable, repeated) = (true, false);
                }
            }
            '.' => {
                out.push_str("[^\\n]");
                (repeatable, repeated) = (true, false);
            }
            '^' | '$' => {
                out.push_str(if c == '^' { "\\A" } else { "\\z" });
                (repeatable, repeated) = (false, false);
            }
            '(' => {
                if chars.get(i) == Some(&'?') {
                    if chars.get(i + 1) != Some(&':') {
                        return None;
                    }
                    i += 2;
                    out.push_str("(?:");
                } else {
                    out.push('(');
                }
                (repeatable, repeated) = (false, false);
            }
            ')' => {
                out.push(')');
                (repeatable, repeated) = (true, false);
            }
            '|' => {
                out.push('|');
                (repeatable, repeated) = (false, false);
            }
            '?' if lazy_allowed => out.push('?'),
            '*' | '+' | '?' | '{' => {
                if !repeatable || repeated {
                    return None;
                }
                if c == '{' {
                    let close = chars[i..].iter().position(|&c| c == '}')? + i;
                    let body: String = chars[i..close].iter().collect();
                    let bound = |s: &str| {
                        (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
                            .then(|| s.parse::<u32>().ok())
                            .flatten()
                            .filter(|n| *n <= 100)
                    };
                    match body.split_once(',') {
                        None => bound(&body).map(drop)?,
                        Some((low, "")) => bound(low).map(drop)?,
                        Some((low, high)) => {
                            if bound(high)? < bound(low)? {
                                return None;
                            }
                        }
                    }
                    out.push('{');
                    out.push_str(&body);
                    out.push('}');
                    i = close + 1;
                } else {
                    out.push(c);
                }
                (repeated, lazy) = (true, true);
            }
            '[' => {
                out.push('[');
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                let mut items = 0;
                loop {
                    let c = *chars.get(i)?;
                    i += 1;
                    if c == ']' && items > 0 {
                        break;
                    }
                    let first = class_char(&chars, c, &mut i)?;
                    push_literal(&mut out, first);
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
                        let c = chars[i + 1];
                        i += 2;
                        let last = class_char(&chars, c, &mut i)?;
                        if last < first {
                            return None;
                        }
                        out.push('-');
                        push_literal(&mut out, last);
                    }
                    items += 1;
                }
                out.push(']');
                (repeatable, repeated) = (true, false);
            }
            c => {
                push_literal(&mut out, c);
                (repeatable, repeated) = (true, false);
            }
        }
    }
    Some(out)
}

/// A literal character, escaped where any of the three engines could read it otherwise.
fn push_literal(out: &mut String, c: char) {
    if "\\.+*?()|[]{}^$-&~".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// What `\c` means in Rust's syntax, where it is a plain character.
fn regex_escape(c: char) -> Option<char> {
    match c {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        '<' | '>' => None,
        c if c.is_ascii_punctuation() => Some(c),
        _ => None,
    }
}

/// One character of a class, the first of it being `c`; nested classes, set operations (`&&`, `--`,
/// `~~`) and a bare `-` or `^` are left alone.
fn class_char(chars: &[char], c: char, i: &mut usize) -> Option<char> {
    match c {
        '\\' => {
            let next = *chars.get(*i)?;
            *i += 1;
            regex_escape(next)
        }
        '[' | ']' | '&' | '~' | '-' | '^' => None,
        c => Some(c),
    }
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
