//! What a failed AWS request is said as: one line that says what failed and, where it helps, what to
//! do; never the endpoint's userinfo, and text from outside only escaped.

use std::time::Duration;

use aws_sdk_cloudtrail::config::http::HttpResponse;
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError;

use super::cap::{too_large, ANSWER_CAP_TEXT};
use super::request::Failed;
use super::Connection;
use crate::text::{printable, redact_userinfo, userinfo};

/// What a failed LookupEvents request is said as, and whether running again from where it stopped
/// can help (not for a token the service refused). `region`: named when several regions run;
/// `resuming`: the run was given a --starting-token.
pub fn lookup_failure(
    failed: &Failed,
    connection: &Connection,
    resuming: bool,
    region: Option<&str>,
    attempts: u32,
) -> (String, bool) {
    let (message, resumable) = explain(&failed.0, connection, resuming, region, attempts);
    let message = match connection.endpoint_url.as_deref().and_then(userinfo) {
        Some(secret) => message.replace(secret, "***"),
        None => message,
    };
    (message, resumable)
}

/// What a failed call of any AWS service says: the service's code and message when it answered, else
/// the causes (STS, Organizations and the like, whose failures need no advice of their own).
pub fn service_failure<E: std::error::Error + ProvideErrorMetadata + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    match err.as_service_error() {
        Some(service) => format!("{}: {}", service.code().unwrap_or("error"), service.message().unwrap_or_default()),
        None => causes(err),
    }
}

/// The causes under an SDK error, on one line: "tcp connect error: Connection refused (os error 111)".
/// The SDK's own top level ("dispatch failure") and its debug dump say nothing to a user.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        let first_line = text.lines().next().unwrap_or_default().trim().to_owned();
        if !first_line.is_empty()
            && !matches!(first_line.as_str(), "io error" | "other")
            && !parts.contains(&first_line)
        {
            parts.push(first_line);
        }
        next = cause.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// "LookupEvents in REGION: " when several regions run, else nothing.
pub fn prefix(region: Option<&str>) -> String {
    region.map(|r| format!("LookupEvents in {r}: ")).unwrap_or_default()
}

/// The endpoint as a message names it: the URL without its userinfo, or the region's endpoint.
pub fn target(connection: &Connection, region: Option<&str>) -> String {
    match (connection.endpoint_url.as_deref(), region) {
        (Some(url), _) => redact_userinfo(url),
        (None, Some(region)) => format!("the CloudTrail endpoint of {region}"),
        (None, None) => "the CloudTrail endpoint".to_owned(),
    }
}

/// What came back instead of a CloudTrail answer: status, content type, where a redirect points, and
/// the first bytes of the body.
fn describe_answer(raw: &HttpResponse) -> String {
    let status = raw.status().as_u16();
    let mut parts = vec![format!("HTTP {status}")];
    match raw.headers().get("content-type") {
        Some(kind) => parts.push(printable(kind, 100)),
        None => parts.push("no content type".to_owned()),
    }
    if (300..400).contains(&status) {
        match raw.headers().get("location") {
            Some(to) => parts.push(format!(
                "a redirect to {} (ctlookup does not follow redirects: check --endpoint-url)",
                printable(to, 200)
            )),
            None => parts.push("a redirect".to_owned()),
        }
    }
    match raw.body().bytes() {
        Some([]) => parts.push("empty body".to_owned()),
        Some(bytes) => {
            parts.push(format!("{} bytes: \"{}\"", bytes.len(), printable(&String::from_utf8_lossy(bytes), 160)))
        }
        None => {}
    }
    parts.join(", ")
}

fn explain(
    err: &SdkError<LookupEventsError, HttpResponse>,
    connection: &Connection,
    resuming: bool,
    region: Option<&str>,
    attempts: u32,
) -> (String, bool) {
    let prefix = prefix(region);
    let target = target(connection, region);
    let seconds = |d: Duration| d.as_secs_f64();
    if let Some(big) = too_large(err) {
        let size = match big.declared {
            Some(length) => format!("is {length} bytes,"),
            None => "runs".to_owned(),
        };
        return (
            format!(
                "{prefix}the answer of {target} {size} over the {ANSWER_CAP_TEXT} that ctlookup accepts (a page of \
                 50 events needs far less): refused"
            ),
            true,
        );
    }
    if let SdkError::ServiceError(service) = err {
        let e = service.err();
        if let Some(code) = e.code() {
            let code = printable(code, 100);
            let message = printable(e.message().unwrap_or_default(), 300);
            let hint = match code.as_str() {
                "InvalidNextTokenException" if resuming => {
                    " (the --starting-token belongs to another query: repeat the options of the run that printed it)"
                }
                "UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException" => {
                    " (check your credentials: aws sts get-caller-identity)"
                }
                "AccessDeniedException" => " (your identity needs cloudtrail:LookupEvents)",
                _ => "",
            };
            let operation = match region {
                Some(region) => format!("LookupEvents in {region}"),
                None => "LookupEvents".to_owned(),
            };
            // A token the service refused is no way to resume.
            let resumable = code != "InvalidNextTokenException";
            return (format!("{operation} failed: {code}: {message}{hint}"), resumable);
        }
    }
    if let SdkError::ServiceError(_) | SdkError::ResponseError(_) = err {
        if let Some(raw) = err.raw_response() {
            return (
                format!("{prefix}{target} sent something that is not a CloudTrail answer: {}", describe_answer(raw)),
                true,
            );
        }
    }
    if let SdkError::TimeoutError(_) = err {
        let tries = if attempts == 1 { "1 attempt".to_owned() } else { format!("{attempts} attempts") };
        return (
            format!(
                "{prefix}timed out waiting for the answer of {target}: none within {} s ({tries}; --read-timeout)",
                seconds(connection.read_timeout)
            ),
            true,
        );
    }
    let detail = causes(err);
    if detail.contains("credential") {
        if let Some(assumed) = &connection.assumed {
            // Renewed by AssumeRole: STS refused or did not answer; running again may work.
            return (
                format!(
                    "{prefix}the credentials of {} could not be renewed ({})",
                    assumed.role_arn,
                    printable(&detail, 300)
                ),
                true,
            );
        }
        if let Some(profile) = &connection.profile {
            return (
                format!(
                    "no AWS credentials for profile '{profile}': check that ~/.aws/config or ~/.aws/credentials defines \
                     it with credentials (aws configure --profile {profile}), or `aws sso login --profile {profile}` \
                     ({})",
                    printable(&detail, 200)
                ),
                false,
            );
        }
        return (
            "no AWS credentials: run `aws configure` or `aws sso login`, pass --profile, set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or run in CloudShell"
                .to_owned(),
            false,
        );
    }
    if let SdkError::DispatchFailure(dispatch) = err {
        // hyper's words for an answer it could not parse as HTTP at all.
        if ["invalid HTTP", "message head is too large", "invalid URI"].iter().any(|w| detail.contains(w)) {
            return (
                format!(
                    "{prefix}{target} sent something that is not a CloudTrail answer: not HTTP ({})",
                    printable(&detail, 200)
                ),
                true,
            );
        }
        if dispatch.is_timeout() {
            return (
                format!(
                    "{prefix}cannot reach {target}: no connection within {} s (--connect-timeout)",
                    seconds(connection.connect_timeout)
                ),
                true,
            );
        }
    }
    (format!("{prefix}cannot reach {target}: {}", printable(&detail, 300)), true)
}
