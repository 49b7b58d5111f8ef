//! `--athena TABLE`: the window and the filter as one Athena query over the trail's table
//! (`crate::query::sql`), run to its end, and its rows rebuilt into CloudTrail records that go through
//! the same decode → filter → writers as any other source.
//!
//! A row becomes a record with the table's columns as keys, spelt as CloudTrail spells them and in the
//! table's order (CloudTrail's usual one): text columns as JSON strings, `readOnly` as a boolean,
//! `requestParameters`, `responseElements`, `additionalEventData`, `serviceEventDetails` and
//! `edgeDeviceDetails` (JSON text in the table) parsed back into JSON, and the structs, arrays and maps
//! (selected as JSON text, see `sql::select_list`) with their fields' CloudTrail names. NULL columns and
//! struct fields are left out, and so are the fields the table does not have (`managementEvent`,
//! `eventCategory` of old records, anything newer than the documented table): a predicate on one of
//! them is tested locally on the record as rebuilt, which does not hold it.

use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::{Map, Value};

use super::{Consumer, Flow, Origin, Outcome, Raw};
use crate::aws::athena::{poll_pause, scanned_text, Athena, Place, State};
use crate::aws::Connection;
use crate::error::{say, Interrupted};
use crate::interrupt;
use crate::output::columns::Column;
use crate::progress::Progress;
use crate::query::ddl::{Field, Ty, COLUMNS};
use crate::query::sql::Compiled;

/// The `--athena` source's settings.
#[derive(Debug)]
pub struct AthenaConfig {
    /// The SDK's region resolution unless `fallback_region` is needed.
    pub connection: Connection,
    /// The region Athena is called in when the SDK resolves none: the first `--region`.
    pub fallback_region: Option<String>,
    pub retries: u32,
    pub place: Place,
    /// The query to run.
    pub sql: String,
    /// Say the final state and cost on stderr (-v).
    pub verbose: bool,
    /// `--sql`: print the query (and `ddl`) instead of running it.
    pub print_only: bool,
    /// The table the query assumes, for `--sql` (with a placeholder bucket).
    pub ddl: String,
    /// The compiled filter (the query before any LIMIT), with which predicates went where (for -v).
    pub compiled: Compiled,
    /// The SQL alone decides what matches (compiled whole, pushed down, no `--event-category`).
    pub exact: bool,
    /// With `--count-by` counted by Athena: the number of fields grouped by (0: the query reads events).
    pub group_keys: usize,
    /// With `--timeline` counted by Athena: the rows are time buckets.
    pub timeline: bool,
}

impl AthenaConfig {
    /// What `--sql` prints: the query, then the table it assumes as a comment.
    pub fn sql_text(&self) -> String {
        let mut text = format!("{};\n\n", self.sql);
        text.push_str("-- The table this query assumes (`ctlookup athena table --bucket s3://BUCKET` prints it for\n");
        text.push_str("-- your trail's bucket; docs/athena.md):\n");
        for line in self.ddl.lines() {
            text.push_str("-- ");
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Which predicates run where, for -v.
    pub fn describe(&self) -> String {
        let list = |items: &[String]| if items.is_empty() { "none".to_owned() } else { items.join("; ") };
        format!(
            "Athena: pushed into the SQL: {}; tested locally only: {}{}{}{}",
            list(&self.compiled.pushed),
            list(&self.compiled.local),
            if self.exact { " (the SQL decides alone)" } else { "" },
            if self.group_keys > 0 { "; --count-by counted by Athena (GROUP BY)" } else { "" },
            if self.timeline { "; --timeline counted by Athena (GROUP BY)" } else { "" }
        )
    }

    /// `--count-by` as Athena's GROUP BY, when the SQL decides alone, every field is a text column or
    /// struct field, and no `--max-items` stops the count early; otherwise the events are read and
    /// counted locally.
    pub fn count_by(&mut self, fields: &[Column], max_items: Option<u64>) {
        if max_items.is_some() || !self.exact {
            return;
        }
        let Some(paths) = fields.iter().map(Column::path).collect::<Option<Vec<_>>>() else { return };
        if let Some(sql) = crate::query::sql::count_by(&self.compiled, &paths) {
            self.sql = sql;
            self.group_keys = paths.len();
        }
    }
}

impl AthenaConfig {
    /// `--timeline` as Athena's GROUP BY of steps of `step` seconds on the clock of `zone` (an IANA
    /// name), under the same conditions as `count_by`; otherwise the events are read and put in their
    /// buckets locally. The answer is the same either way.
    pub fn timeline(&mut self, step: i64, zone: &str, max_items: Option<u64>) {
        if max_items.is_some() || !self.exact {
            return;
        }
        if let Some(sql) = crate::query::sql::timeline(&self.compiled, step, zone) {
            self.sql = sql;
            self.timeline = true;
        }
    }
}

pub fn read(config: &AthenaConfig, consumer: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    crate::runtime::block_on(run(config, consumer, progress))?
}

/// Runs `config.sql` as a statement (the table's CREATE EXTERNAL TABLE) to its end; returns the query's
/// ID, or Athena's reason for failing.
pub fn run_statement(config: &AthenaConfig) -> Result<String> {
    crate::runtime::block_on(async {
        let athena = client(config).await?;
        let id = athena.start(&config.sql, &config.place).await?;
        let progress = Progress::hidden();
        let status = wait(&athena, &id, &progress).await?;
        finished(&status)?;
        Ok(id)
    })?
}

/// Ok for a query that succeeded, else Athena's reason on one line.
fn finished(status: &crate::aws::athena::Status) -> Result<()> {
    let reason = || crate::text::printable(status.reason.as_deref().unwrap_or("no reason given"), 1000);
    match status.state {
        State::Succeeded => Ok(()),
        State::Failed => Err(anyhow!("the Athena query failed: {}", reason())),
        _ => Err(anyhow!("the Athena query was cancelled: {}", reason())),
    }
}

async fn client(config: &AthenaConfig) -> Result<Athena> {
    match Athena::new(&config.connection, config.retries).await {
        Err(_) if config.connection.region.is_none() && config.fallback_region.is_some() => {
            Athena::new(&config.connection.in_region(config.fallback_region.as_deref()), config.retries).await
        }
        other => other,
    }
}

async fn run(config: &AthenaConfig, consumer: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    let athena = client(config).await?;
    let id = athena.start(&config.sql, &config.place).await?;
    let status = wait(&athena, &id, progress).await?;
    let summary = format!("Athena query {id}: {} · {}", status.state.name(), scanned_text(status.scanned_bytes));
    if config.verbose {
        say(&summary);
    }
    finished(&status)?;
    let mut token = None;
    let mut first = true;
    loop {
        if interrupt::interrupted() {
            return Err(Interrupted(interrupt::what().to_owned()).into());
        }
        let page = tokio::select! {
            page = athena.page(&id, token.take()) => page?,
            () = interrupt::wait() => return Err(Interrupted(interrupt::what().to_owned()).into()),
        };
        progress.request();
        progress.page();
        let layout = Layout::of(&page.columns);
        let mut rows = page.rows.iter();
        // The header row: the first row of a SELECT's first page holds the column names.
        if first && page.rows.first().is_some_and(|row| is_header(row, &page.columns)) {
            rows.next();
        }
        first = false;
        for row in rows {
            if config.group_keys > 0 {
                group(consumer, row, config.group_keys)?;
                continue;
            }
            if config.timeline {
                bucket(consumer, row)?;
                continue;
            }
            let record = layout.record(row);
            let text = serde_json::to_vec(&record)?;
            progress.scanned(None);
            if consumer.item(Raw::Record(&text), Origin::Api)? == Flow::Stop {
                consumer.flush()?;
                return Ok(Outcome::default());
            }
        }
        consumer.flush()?;
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok(Outcome::default()),
        }
    }
}

/// Polls the query until it ends, with a growing pause; a signal stops the query (StopQueryExecution)
/// and ends the run.
async fn wait(athena: &Athena, id: &str, progress: &Progress) -> Result<crate::aws::athena::Status> {
    let mut n = 0;
    loop {
        let status = tokio::select! {
            status = athena.status(id) => status?,
            () = interrupt::wait() => return Err(stop(athena, id).await),
        };
        progress.request();
        progress.note(&format!("Athena {} · {}", status.state.name(), scanned_text(status.scanned_bytes)));
        if status.state.done() {
            return Ok(status);
        }
        tokio::select! {
            () = tokio::time::sleep(poll_pause(n)) => {}
            () = interrupt::wait() => return Err(stop(athena, id).await),
        }
        n += 1;
    }
}

/// Stops the query (a failure to is said, and the run ends all the same).
async fn stop(athena: &Athena, id: &str) -> anyhow::Error {
    let stopped = tokio::time::timeout(Duration::from_secs(10), athena.stop(id)).await;
    let what = interrupt::what();
    match stopped {
        Ok(Ok(())) => Interrupted(format!("{what}; the Athena query {id} was stopped")).into(),
        Ok(Err(err)) => Interrupted(format!("{what}; the Athena query {id} could not be stopped: {err:#}")).into(),
        Err(_) => Interrupted(format!("{what}; the Athena query {id} could not be stopped in time")).into(),
    }
}

/// One row of the GROUP BY of `--count-by`: the keys, the count, the first and last eventTime.
fn group(consumer: &mut dyn Consumer, row: &[Option<String>], keys: usize) -> Result<()> {
    let count = row.get(keys).and_then(|c| c.as_deref()).and_then(|c| c.parse::<u64>().ok());
    let Some(count) = count.filter(|_| row.len() == keys + 3) else {
        return Err(anyhow!("Athena answered a row of {} columns to the count (expected {})", row.len(), keys + 3));
    };
    consumer.group(&row[..keys], count, row[keys + 1].as_deref(), row[keys + 2].as_deref())
}

/// One row of the GROUP BY of `--timeline`: the step's start on the clock, the zone's offset, the count
/// and the failed count.
fn bucket(consumer: &mut dyn Consumer, row: &[Option<String>]) -> Result<()> {
    let number = |i: usize| row.get(i).and_then(|c| c.as_deref()).and_then(|c| c.parse::<i64>().ok());
    let (Some(offset), Some(count), Some(errors)) = (number(1), number(2), number(3)) else {
        return Err(anyhow!(
            "Athena answered a row the timeline cannot read: {}",
            crate::text::printable(&format!("{row:?}"), 200)
        ));
    };
    if row.len() != 4 || count < 0 || errors < 0 {
        return Err(anyhow!("Athena answered a row of {} columns to the timeline (expected 4)", row.len()));
    }
    consumer.tally(number(0), offset, count as u64, errors as u64)
}

fn is_header(row: &[Option<String>], columns: &[String]) -> bool {
    row.len() == columns.len() && row.iter().zip(columns).all(|(v, c)| v.as_deref() == Some(c.as_str()))
}

/// Which result column holds each table column.
struct Layout {
    columns: Vec<(usize, &'static Field)>,
}

impl Layout {
    fn of(names: &[String]) -> Layout {
        let columns = COLUMNS
            .iter()
            .filter_map(|field| {
                let name = field.key.to_ascii_lowercase();
                names.iter().position(|n| n.eq_ignore_ascii_case(&name)).map(|i| (i, field))
            })
            .collect();
        Layout { columns }
    }

    fn record(&self, row: &[Option<String>]) -> Value {
        let mut record = Map::new();
        for (i, field) in &self.columns {
            let Some(Some(text)) = row.get(*i) else { continue };
            if let Some(value) = column_value(field.ty, text) {
                record.insert(field.key.to_owned(), value);
            }
        }
        Value::Object(record)
    }
}

/// A column's text as the record's value; None: left out.
fn column_value(ty: Ty, text: &str) -> Option<Value> {
    Some(match ty {
        Ty::Text => Value::String(text.to_owned()),
        Ty::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        // JSON text of the record's value; text that is not JSON was a string.
        Ty::Json => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
        Ty::Struct(_) | Ty::Array(_) | Ty::Map => {
            let value = serde_json::from_str(text).ok()?;
            renamed(ty, value)?
        }
    })
}

/// A struct, array or map value (JSON from `json_format`) with CloudTrail's names; nulls left out.
fn renamed(ty: Ty, value: Value) -> Option<Value> {
    match (ty, value) {
        (_, Value::Null) => None,
        (Ty::Struct(fields), Value::Object(object)) => {
            let mut out = Map::new();
            for field in fields {
                let name = field.key.to_ascii_lowercase();
                let found = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v.clone());
                if let Some(value) = found.and_then(|v| renamed(field.ty, v)) {
                    out.insert(field.key.to_owned(), value);
                }
            }
            Some(Value::Object(out))
        }
        // Presto and Trino before 0.335 (or with `legacy_row_to_json_cast`) write a ROW as a JSON array of
        // its fields, in the table's order.
        (Ty::Struct(fields), Value::Array(items)) if items.len() == fields.len() => {
            let mut out = Map::new();
            for (field, item) in fields.iter().zip(items) {
                if let Some(value) = renamed(field.ty, item) {
                    out.insert(field.key.to_owned(), value);
                }
            }
            Some(Value::Object(out))
        }
        (Ty::Array(fields), Value::Array(items)) => {
            Some(Value::Array(items.into_iter().filter_map(|item| renamed(Ty::Struct(fields), item)).collect()))
        }
        (Ty::Map, Value::Object(object)) => {
            Some(Value::Object(object.into_iter().filter(|(_, v)| !v.is_null()).collect()))
        }
        (Ty::Bool, Value::String(s)) => column_value(Ty::Bool, &s),
        (Ty::Json, Value::String(s)) => column_value(Ty::Json, &s),
        (_, other) => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_records_with_cloudtrails_names_and_order() {
        let names: Vec<String> =
            ["eventtime", "useridentity", "readonly", "requestparameters", "resources", "eventversion", "errorcode"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let layout = Layout::of(&names);
        let row = vec![
            Some("2024-07-22T09:00:00Z".to_owned()),
            Some(r#"{"type":"IAMUser","principalid":"AIDA","arn":null,"sessioncontext":{"attributes":{"mfaauthenticated":"false","creationdate":null},"sessionissuer":null,"ec2roledelivery":null,"webidfederationdata":null}}"#.to_owned()),
            Some("true".to_owned()),
            Some(r#"{"bucketName":"b","x-amz-acl":["private"]}"#.to_owned()),
            Some(r#"[{"arn":"arn:aws:s3:::b","accountid":null,"type":"AWS::S3::Bucket"}]"#.to_owned()),
            Some("1.09".to_owned()),
            None,
        ];
        let record = layout.record(&row);
        assert_eq!(
            record,
            json!({
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDA",
                                 "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}},
                "eventTime": "2024-07-22T09:00:00Z",
                "requestParameters": {"bucketName": "b", "x-amz-acl": ["private"]},
                "readOnly": true,
                "resources": [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}],
            })
        );
        let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["eventVersion", "userIdentity", "eventTime", "requestParameters", "readOnly", "resources"]);
        // The same struct as a positional array, as Presto writes a ROW.
        let column = COLUMNS.iter().find(|c| c.key == "resources").unwrap();
        let resources = column_value(column.ty, r#"[["arn:x",null,"T"]]"#);
        assert_eq!(resources, Some(json!([{"ARN": "arn:x", "type": "T"}])));
        assert!(is_header(&names.iter().cloned().map(Some).collect::<Vec<_>>(), &names));
    }
}
