//! Athena: one query started (`StartQueryExecution`), polled to its end (`GetQueryExecution`, with a
//! growing pause), its result read page by page (`GetQueryResults`), and stopped
//! (`StopQueryExecution`) when the run is interrupted. Each request is retried like a LookupEvents page
//! (throttling, 5xx and passing network failures, with backoff and full jitter), with the same timeouts
//! and the same answer cap. Callers see the project's own types.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_sdk_athena::config::http::HttpResponse;
use aws_sdk_athena::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use aws_sdk_athena::Client;

use super::cap::{too_large, ANSWER_CAP_TEXT};
use super::describe::causes;
use super::request::{backoff, Failure};
use super::Connection;
use crate::text::{printable, redact_userinfo};

/// Rows per GetQueryResults page: Athena's most.
const PAGE_ROWS: i32 = 1000;

/// Where a query runs.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub database: Option<String>,
    pub workgroup: Option<String>,
    /// `s3://…` for the result files; None: the workgroup's.
    pub output: Option<String>,
}

/// An Athena client with the project's retries.
pub struct Athena {
    client: Client,
    retries: u32,
    endpoint: Option<String>,
    answered: AtomicBool,
}

/// How a query stands.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    /// Athena's StateChangeReason (why it failed or was cancelled).
    pub reason: Option<String>,
    pub scanned_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "QUEUED",
            State::Running => "RUNNING",
            State::Succeeded => "SUCCEEDED",
            State::Failed => "FAILED",
            State::Cancelled => "CANCELLED",
        }
    }

    pub fn done(self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Cancelled)
    }
}

/// One page of a result: the column names (every page), the rows (each value None for NULL), and the
/// token of the next page.
pub struct ResultPage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub next_token: Option<String>,
}

impl Athena {
    /// A client for `connection` (the SDK's own retries off: `send` retries).
    pub async fn new(connection: &Connection, retries: u32) -> Result<Athena> {
        let (sdk_config, _region) = super::load_sdk_config(connection).await?;
        let mut builder = aws_sdk_athena::config::Builder::from(&sdk_config).interceptor(super::cap::AnswerCap);
        if connection.profile.is_some() {
            builder.set_credentials_provider(super::credentials_provider(connection, &sdk_config));
        }
        Ok(Athena {
            client: Client::from_conf(builder.build()),
            retries,
            endpoint: connection.endpoint_url.clone(),
            answered: AtomicBool::new(false),
        })
    }

    /// Sends a request (made anew by `make` for each attempt), retried while failures pass.
    async fn send<T, E, F, Fut>(&self, operation: &str, make: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let err = match make().await {
                Ok(answer) => {
                    self.answered.store(true, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(err) => err,
            };
            let failure = super::request::classify_any(&err, self.answered.load(Ordering::Relaxed));
            if matches!(err, SdkError::ServiceError(_)) {
                self.answered.store(true, Ordering::Relaxed);
            }
            if failure == Failure::Final || attempts > self.retries {
                return Err(anyhow!("Athena {operation}: {}", self.explain(&err)));
            }
            tokio::time::sleep(backoff(attempts)).await;
        }
    }

    /// One line for a failed request: the service's code and message, or what failed on the way.
    fn explain<E>(&self, err: &SdkError<E, HttpResponse>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if too_large(err).is_some() {
            return format!("the answer was over {ANSWER_CAP_TEXT}");
        }
        let text = match err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("an error");
                let message = service.err().message().unwrap_or_default();
                format!("{code}: {message}")
            }
            SdkError::TimeoutError(_) => "no answer in time (--read-timeout)".to_owned(),
            other => {
                let endpoint = self.endpoint.as_deref().map(redact_userinfo).unwrap_or_else(|| "Athena".to_owned());
                format!("cannot reach {endpoint}: {}", causes(other))
            }
        };
        printable(&text, 600)
    }

    /// Starts `sql`; returns the query's ID. Every attempt carries the same ClientRequestToken, so that a
    /// retry after an answer lost on the way starts no second query.
    pub async fn start(&self, sql: &str, place: &Place) -> Result<String> {
        let token = format!("ctlookup-{:032x}", fastrand::u128(..));
        let context = place.database.as_ref().map(|d| QueryExecutionContext::builder().database(d).build());
        let output = place.output.as_ref().map(|o| ResultConfiguration::builder().output_location(o).build());
        let answer = self
            .send("StartQueryExecution", || {
                self.client
                    .start_query_execution()
                    .query_string(sql)
                    .client_request_token(&token)
                    .set_query_execution_context(context.clone())
                    .set_result_configuration(output.clone())
                    .set_work_group(place.workgroup.clone())
                    .send()
            })
            .await?;
        answer.query_execution_id.filter(|id| !id.is_empty()).ok_or_else(|| anyhow!("Athena gave the query no ID"))
    }

    pub async fn status(&self, id: &str) -> Result<Status> {
        let answer =
            self.send("GetQueryExecution", || self.client.get_query_execution().query_execution_id(id).send()).await?;
        let execution = answer.query_execution.ok_or_else(|| anyhow!("Athena described no query {id}"))?;
        let status = execution.status;
        let state = match status.as_ref().and_then(|s| s.state.as_ref()) {
            Some(QueryExecutionState::Queued) => State::Queued,
            Some(QueryExecutionState::Running) => State::Running,
            Some(QueryExecutionState::Succeeded) => State::Succeeded,
            Some(QueryExecutionState::Failed) => State::Failed,
            Some(QueryExecutionState::Cancelled) => State::Cancelled,
            other => return Err(anyhow!("Athena query {id} is in an unknown state {other:?}")),
        };
        let reason = status.and_then(|s| s.state_change_reason).filter(|r| !r.is_empty());
        let scanned_bytes = execution.statistics.and_then(|s| s.data_scanned_in_bytes).unwrap_or(0).max(0) as u64;
        Ok(Status { state, reason, scanned_bytes })
    }

    pub async fn page(&self, id: &str, token: Option<String>) -> Result<ResultPage> {
        let answer = self
            .send("GetQueryResults", || {
                self.client
                    .get_query_results()
                    .query_execution_id(id)
                    .max_results(PAGE_ROWS)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        let set = answer.result_set.unwrap_or_else(|| aws_sdk_athena::types::ResultSet::builder().build());
        let columns = set
            .result_set_metadata
            .and_then(|m| m.column_info)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect();
        let rows = set
            .rows
            .unwrap_or_default()
            .into_iter()
            .map(|row| row.data.unwrap_or_default().into_iter().map(|d| d.var_char_value).collect())
            .collect();
        Ok(ResultPage { columns, rows, next_token: answer.next_token.filter(|t| !t.is_empty()) })
    }

    pub async fn stop(&self, id: &str) -> Result<()> {
        self.send("StopQueryExecution", || self.client.stop_query_execution().query_execution_id(id).send()).await?;
        Ok(())
    }
}

/// The pause before the `n`-th status request (from 0): 200 ms, growing by half up to 5 s.
pub fn poll_pause(n: u32) -> Duration {
    Duration::from_millis((200.0 * 1.5f64.powi(n.min(20) as i32)).min(5000.0) as u64)
}

/// What Athena charges for a query: $5 per TB scanned, at least 10 MB per query.
pub fn cost_dollars(scanned_bytes: u64) -> f64 {
    let billed = scanned_bytes.max(10_000_000) as f64;
    billed / 1e12 * 5.0
}

/// "1.2 MB scanned · $0.0001", the figures of the progress line.
pub fn scanned_text(scanned_bytes: u64) -> String {
    let bytes = scanned_bytes as f64;
    let size = if bytes >= 1e12 {
        format!("{:.2} TB", bytes / 1e12)
    } else if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.1} kB", bytes / 1e3)
    } else {
        format!("{scanned_bytes} B")
    };
    format!("{size} scanned · ${:.4}", cost_dollars(scanned_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_is_five_dollars_a_terabyte_with_the_minimum() {
        assert_eq!(scanned_text(2_000_000_000_000), "2.00 TB scanned · $10.0000");
        assert_eq!(scanned_text(0), "0 B scanned · $0.0001");
        assert_eq!(scanned_text(1_500_000), "1.5 MB scanned · $0.0001");
        assert_eq!(poll_pause(0), Duration::from_millis(200));
        assert_eq!(poll_pause(50), Duration::from_secs(5));
    }
}
