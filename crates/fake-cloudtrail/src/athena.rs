//! The Athena calls ctlookup makes, answered by the fake CloudTrail server on the same address (the SDK
//! sends every service to one `--endpoint-url`), told apart by `X-Amz-Target: AmazonAthena.…` (the
//! awsJson1.1 protocol): `StartQueryExecution`, `GetQueryExecution`, `GetQueryResults` and
//! `StopQueryExecution`.
//!
//! Each query runs on DuckDB: `PYTHON tests/athena/duckdb_run.py --ddl DDL RECORDS --rows`, with the SQL on
//! its standard input, in a thread of its own; until it is done (and at least [`AthenaBackend::running_for`]
//! has passed) the query is `RUNNING`. `CREATE EXTERNAL TABLE` statements only succeed (and are recorded).
//! Results are paged as Athena pages them: the first row of the first page is the header row (the column
//! names), values are `VarCharValue` text, NULL is a `Data` entry without one, and `NextToken` goes on.
//!
//! Behaviour worth knowing:
//! * `fail_with` makes every query that starts from then on fail with that `StateChangeReason`; a query
//!   DuckDB refuses fails with DuckDB's message as the reason.
//! * `StopQueryExecution` of a running query makes it `CANCELLED` at once (its DuckDB run is let finish
//!   and thrown away).
//! * `throttle_every` refuses every n-th call with 400 `TooManyRequestsException`.
//! * `DataScannedInBytes` is the size of the records file, once the query has run.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// How the fake runs queries.
#[derive(Debug, Clone)]
pub struct AthenaBackend {
    /// The python with DuckDB and sqlglot (target/venv/bin/python).
    pub python: PathBuf,
    /// tests/athena/duckdb_run.py.
    pub script: PathBuf,
    /// A file with the CREATE EXTERNAL TABLE text of the table.
    pub ddl: PathBuf,
    /// The table's records, JSON Lines.
    pub records: PathBuf,
    /// A query stays RUNNING at least this long.
    pub running_for: Duration,
    /// Rows per GetQueryResults page at most (Athena: 1000); the request's MaxResults may ask fewer.
    pub page_size: usize,
}

/// One Athena call as the server saw it.
#[derive(Debug, Clone)]
pub struct AthenaRequest {
    /// `StartQueryExecution`…
    pub operation: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct Athena {
    pub backend: Option<AthenaBackend>,
    pub fail_with: Option<String>,
    pub queries: HashMap<String, Arc<Mutex<Query>>>,
    pub requests: Vec<AthenaRequest>,
    pub next_id: u64,
    /// Every n-th call is refused: 400 `TooManyRequestsException`, as Athena throttles.
    pub throttle_every: Option<u32>,
    pub throttle_seen: u32,
    /// ClientRequestToken → the query it started: a repeated start is the same query, as on Athena.
    pub tokens: HashMap<String, String>,
}

pub(crate) struct Query {
    sql: String,
    started: Instant,
    running_for: Duration,
    /// None while DuckDB runs.
    outcome: Option<Result<Value, String>>,
    cancelled: bool,
    scanned: u64,
}

impl Query {
    fn state(&self) -> (&'static str, Option<String>) {
        if self.cancelled {
            return ("CANCELLED", Some("Query cancelled by user".into()));
        }
        match &self.outcome {
            _ if self.started.elapsed() < self.running_for => ("RUNNING", None),
            None => ("RUNNING", None),
            Some(Ok(_)) => ("SUCCEEDED", None),
            Some(Err(reason)) => ("FAILED", Some(reason.clone())),
        }
    }
}

fn error(code: &str, message: &str) -> (u16, Value) {
    (400, json!({"__type": code, "message": message}))
}

/// The answer (status, JSON body) to one Athena call.
pub(crate) fn answer(athena: &mut Athena, operation: &str, body: &Value) -> (u16, Value) {
    let throttled = athena.throttle_every.is_some_and(|n| {
        athena.throttle_seen += 1;
        athena.throttle_seen.is_multiple_of(n)
    });
    let (status, value) =
        if throttled { error("TooManyRequestsException", "Rate exceeded") } else { dispatch(athena, operation, body) };
    athena.requests.push(AthenaRequest { operation: operation.to_owned(), body: body.clone(), status });
    (status, value)
}

fn query_of(athena: &Athena, body: &Value) -> Result<Arc<Mutex<Query>>, (u16, Value)> {
    let id = body.get("QueryExecutionId").and_then(Value::as_str).unwrap_or_default();
    athena
        .queries
        .get(id)
        .cloned()
        .ok_or_else(|| error("InvalidRequestException", &format!("QueryExecution {id} was not found")))
}

fn dispatch(athena: &mut Athena, operation: &str, body: &Value) -> (u16, Value) {
    match operation {
        "StartQueryExecution" => {
            let Some(sql) = body.get("QueryString").and_then(Value::as_str) else {
                return error("InvalidRequestException", "QueryString is required");
            };
            let Some(backend) = athena.backend.clone() else {
                return error("InvalidRequestException", "the fake has no Athena backend");
            };
            let token = body.get("ClientRequestToken").and_then(Value::as_str).map(str::to_owned);
            if let Some(id) = token.as_ref().and_then(|t| athena.tokens.get(t)) {
                return (200, json!({"QueryExecutionId": id}));
            }
            athena.next_id += 1;
            let id = format!("00000000-0000-4000-8000-{:012}", athena.next_id);
            let ddl = sql.trim_start().to_ascii_uppercase().starts_with("CREATE EXTERNAL TABLE");
            let query = Arc::new(Mutex::new(Query {
                sql: sql.to_owned(),
                started: Instant::now(),
                running_for: backend.running_for,
                outcome: None,
                cancelled: false,
                scanned: 0,
            }));
            athena.queries.insert(id.clone(), query.clone());
            if let Some(token) = token {
                athena.tokens.insert(token, id.clone());
            }
            if let Some(reason) = athena.fail_with.clone() {
                query.lock().unwrap().outcome = Some(Err(reason));
            } else if ddl {
                query.lock().unwrap().outcome = Some(Ok(json!({"columns": [], "rows": []})));
            } else {
                let sql = sql.to_owned();
                std::thread::spawn(move || {
                    let outcome = run(&backend, &sql);
                    let scanned = std::fs::metadata(&backend.records).map_or(0, |m| m.len());
                    let mut query = query.lock().unwrap_or_else(|e| e.into_inner());
                    query.outcome = Some(outcome);
                    query.scanned = scanned;
                });
            }
            (200, json!({"QueryExecutionId": id}))
        }
        "GetQueryExecution" => {
            let query = match query_of(athena, body) {
                Ok(q) => q,
                Err(e) => return e,
            };
            let query = query.lock().unwrap_or_else(|e| e.into_inner());
            let (state, reason) = query.state();
            let mut status = Map::new();
            status.insert("State".into(), json!(state));
            if let Some(reason) = reason {
                status.insert("StateChangeReason".into(), json!(reason));
            }
            status.insert("SubmissionDateTime".into(), json!(1_721_638_800));
            let id = body.get("QueryExecutionId").cloned().unwrap_or(Value::Null);
            (
                200,
                json!({"QueryExecution": {
                    "QueryExecutionId": id,
                    "Query": query.sql,
                    "StatementType": "DML",
                    "Status": status,
                    "Statistics": {
                        "DataScannedInBytes": query.scanned,
                        "EngineExecutionTimeInMillis": query.started.elapsed().as_millis() as u64,
                        "TotalExecutionTimeInMillis": query.started.elapsed().as_millis() as u64,
                    },
                    "WorkGroup": "primary",
                }}),
            )
        }
        "GetQueryResults" => {
            let query = match query_of(athena, body) {
                Ok(q) => q,
                Err(e) => return e,
            };
            let query = query.lock().unwrap_or_else(|e| e.into_inner());
            let (state, _) = query.state();
            if state != "SUCCEEDED" {
                return error(
                    "InvalidRequestException",
                    &format!("Query has not yet finished. Current state: {state}"),
                );
            }
            let Some(Ok(result)) = &query.outcome else { unreachable!("succeeded") };
            let page_size = athena.backend.as_ref().map_or(1000, |b| b.page_size).max(1);
            let asked = body.get("MaxResults").and_then(Value::as_u64).map_or(1000, |n| n as usize).clamp(1, 1000);
            let size = page_size.min(asked);
            let start = match body.get("NextToken").and_then(Value::as_str) {
                None => 0,
                Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) => n,
                    None => return error("InvalidRequestException", "Invalid NextToken"),
                },
            };
            let columns = result["columns"].as_array().cloned().unwrap_or_default();
            // The header row first, as Athena does for a SELECT: row 0 of the whole result.
            let mut all: Vec<Value> = Vec::new();
            if !columns.is_empty() {
                all.push(
                    json!({"Data": columns.iter().map(|c| json!({"VarCharValue": c["name"]})).collect::<Vec<_>>()}),
                );
            }
            for row in result["rows"].as_array().into_iter().flatten() {
                let data: Vec<Value> = row
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| match v {
                        Value::Null => json!({}),
                        v => json!({"VarCharValue": v}),
                    })
                    .collect();
                all.push(json!({"Data": data}));
            }
            let end = (start + size).min(all.len());
            let rows: Vec<Value> = all.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
            let info: Vec<Value> = columns
                .iter()
                .map(|c| {
                    json!({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c["name"],
                           "Label": c["name"], "Type": c["type"], "Precision": 2147483647, "Scale": 0,
                           "Nullable": "UNKNOWN", "CaseSensitive": true})
                })
                .collect();
            let mut answer =
                json!({"UpdateCount": 0, "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": info}}});
            if end < all.len() {
                answer["NextToken"] = json!(format!("page-{end}"));
            }
            (200, answer)
        }
        "StopQueryExecution" => {
            let query = match query_of(athena, body) {
                Ok(q) => q,
                Err(e) => return e,
            };
            let mut query = query.lock().unwrap_or_else(|e| e.into_inner());
            if query.state().0 == "RUNNING" {
                query.cancelled = true;
            }
            (200, json!({}))
        }
        other => error("UnknownOperationException", &format!("Unknown operation AmazonAthena.{other}")),
    }
}

/// Runs one query on DuckDB: the result, or the reason it failed.
fn run(backend: &AthenaBackend, sql: &str) -> Result<Value, String> {
    let child = Command::new(&backend.python)
        .arg(&backend.script)
        .arg("--ddl")
        .arg(&backend.ddl)
        .arg(&backend.records)
        .arg("--rows")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.map_err(|e| format!("cannot run {}: {e}", backend.python.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(sql.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("duckdb_run.py: {e}"))?;
    if !out.status.success() {
        return Err(format!("duckdb_run.py failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let value: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("duckdb_run.py answered no JSON: {e}"))?;
    match value.get("error").and_then(Value::as_str) {
        Some(reason) => Err(reason.to_owned()),
        None => Ok(value),
    }
}
