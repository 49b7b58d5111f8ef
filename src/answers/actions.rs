//! The IAM action a CloudTrail event stands for: the service prefix of its event source and its event
//! name, with API version suffixes dropped and the names that differ from the action's mapped, as
//! `ctlookup policy` and the `denied` rows without an action in their message need it. Events that are
//! no IAM action (console sign-in, role switch, service events) have none.

use serde_json::Value;

/// Event sources whose IAM service prefix is not the first label of the source. The Service
/// Reference's own exceptions (`monitoring` → `cloudwatch`, …) come from `crate::reference`.
/// DynamoDB Streams records its calls as streams.dynamodb.amazonaws.com; its actions are dynamodb:
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/logging-using-cloudtrail.html,
/// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
const SOURCE_PREFIXES: &[(&str, &str)] = &[("streams.dynamodb.amazonaws.com", "dynamodb")];

/// Event sources whose events are no IAM action of the caller: AWS sign-in (ConsoleLogin, SwitchRole,
/// ExitRole, CheckMfa, …; https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html).
const NOT_ACTIONS: &[&str] = &["signin.amazonaws.com"];

/// Event names that are not the name of the action they need (prefix, event name, actions).
///
/// * S3: "Required permissions for Amazon S3 API operations",
///   https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html (each
///   operation's "Permissions") and https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html.
/// * KMS: ReEncrypt needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination key,
///   https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html.
/// * Lambda: Invoke is lambda:InvokeFunction, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html.
/// * trailscraper's mapping of the same cases, https://github.com/flosell/trailscraper (iam.py, cloudtrail.py).
const RENAMED: &[(&str, &str, &[&str])] = &[
    ("s3", "ListBuckets", &["ListAllMyBuckets"]),
    ("s3", "HeadBucket", &["ListBucket"]),
    ("s3", "ListObjects", &["ListBucket"]),
    ("s3", "ListObjectsV2", &["ListBucket"]),
    ("s3", "ListObjectVersions", &["ListBucketVersions"]),
    ("s3", "ListMultipartUploads", &["ListBucketMultipartUploads"]),
    ("s3", "ListParts", &["ListMultipartUploadParts"]),
    ("s3", "HeadObject", &["GetObject"]),
    ("s3", "CopyObject", &["GetObject", "PutObject"]),
    ("s3", "CreateMultipartUpload", &["PutObject"]),
    ("s3", "UploadPart", &["PutObject"]),
    ("s3", "UploadPartCopy", &["GetObject", "PutObject"]),
    ("s3", "CompleteMultipartUpload", &["PutObject"]),
    ("s3", "DeleteObjects", &["DeleteObject"]),
    ("s3", "GetBucketCors", &["GetBucketCORS"]),
    ("s3", "PutBucketCors", &["PutBucketCORS"]),
    ("s3", "DeleteBucketCors", &["PutBucketCORS"]),
    ("s3", "GetBucketEncryption", &["GetEncryptionConfiguration"]),
    ("s3", "PutBucketEncryption", &["PutEncryptionConfiguration"]),
    ("s3", "DeleteBucketEncryption", &["PutEncryptionConfiguration"]),
    ("s3", "GetBucketLifecycle", &["GetLifecycleConfiguration"]),
    ("s3", "GetBucketLifecycleConfiguration", &["GetLifecycleConfiguration"]),
    ("s3", "PutBucketLifecycle", &["PutLifecycleConfiguration"]),
    ("s3", "PutBucketLifecycleConfiguration", &["PutLifecycleConfiguration"]),
    ("s3", "DeleteBucketLifecycle", &["PutLifecycleConfiguration"]),
    ("s3", "GetBucketReplication", &["GetReplicationConfiguration"]),
    ("s3", "PutBucketReplication", &["PutReplicationConfiguration"]),
    ("s3", "DeleteBucketReplication", &["PutReplicationConfiguration"]),
    ("s3", "DeleteBucketTagging", &["PutBucketTagging"]),
    ("kms", "ReEncrypt", &["ReEncryptFrom", "ReEncryptTo"]),
    ("lambda", "Invoke", &["InvokeFunction"]),
];

/// The IAM service prefix of an event source: `ec2.amazonaws.com` → `ec2`,
/// `monitoring.amazonaws.com` → `cloudwatch`.
pub fn prefix(event_source: &str) -> Option<String> {
    if let Some((_, prefix)) = SOURCE_PREFIXES.iter().find(|(s, _)| *s == event_source) {
        return Some((*prefix).to_owned());
    }
    if let Some(prefix) = crate::reference::prefix_of(event_source) {
        return Some(prefix);
    }
    let label = event_source.strip_suffix(".amazonaws.com")?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

/// An event name without its API version suffix: Lambda's `CreateFunction20150331`,
/// `UpdateFunctionCode20150331v2`, CloudFront's `UpdateDistribution2017_03_25`
/// (https://docs.aws.amazon.com/lambda/latest/dg/logging-using-cloudtrail.html,
/// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/logging_using_cloudtrail.html).
pub fn strip_version(name: &str) -> &str {
    let bytes = name.as_bytes();
    let mut end = bytes.len();
    // "v2", "v3" after the date.
    if end >= 2 && bytes[end - 1].is_ascii_digit() && bytes[end - 2] == b'v' {
        end -= 2;
    }
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let stem = &bytes[..end];
    // 20150331
    if stem.len() > 8 && digits(&stem[stem.len() - 8..]) && stem[stem.len() - 8..].starts_with(b"20") {
        return &name[..stem.len() - 8];
    }
    // 2017_03_25
    if stem.len() > 10 {
        let tail = &stem[stem.len() - 10..];
        if digits(&tail[..4]) && tail[4] == b'_' && digits(&tail[5..7]) && tail[7] == b'_' && digits(&tail[8..]) {
            return &name[..stem.len() - 10];
        }
    }
    name
}

/// The IAM actions (`prefix:Name`) an event needs; empty for events that are no IAM action of a caller.
pub fn of_event(record: &Value) -> Vec<String> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    if matches!(text("eventType"), Some("AwsConsoleSignIn" | "AwsServiceEvent" | "AwsCloudTrailInsight")) {
        return Vec::new();
    }
    let (Some(source), Some(name)) = (text("eventSource"), text("eventName")) else { return Vec::new() };
    if NOT_ACTIONS.contains(&source) {
        return Vec::new();
    }
    let Some(prefix) = prefix(source) else { return Vec::new() };
    let name = strip_version(name);
    if name.is_empty() {
        return Vec::new();
    }
    match RENAMED.iter().find(|(p, n, _)| *p == prefix && *n == name) {
        Some((_, _, actions)) => actions.iter().map(|a| format!("{prefix}:{a}")).collect(),
        None => vec![format!("{prefix}:{name}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn actions(source: &str, name: &str) -> Vec<String> {
        of_event(&json!({"eventSource": source, "eventName": name, "eventType": "AwsApiCall"}))
    }

    #[test]
    fn mappings() {
        assert_eq!(actions("ec2.amazonaws.com", "RunInstances"), ["ec2:RunInstances"]);
        assert_eq!(actions("monitoring.amazonaws.com", "PutMetricAlarm"), ["cloudwatch:PutMetricAlarm"]);
        assert_eq!(actions("lambda.amazonaws.com", "CreateFunction20150331"), ["lambda:CreateFunction"]);
        assert_eq!(actions("lambda.amazonaws.com", "UpdateFunctionCode20150331v2"), ["lambda:UpdateFunctionCode"]);
        assert_eq!(
            actions("cloudfront.amazonaws.com", "UpdateDistribution2017_03_25"),
            ["cloudfront:UpdateDistribution"]
        );
        assert_eq!(actions("s3.amazonaws.com", "ListBuckets"), ["s3:ListAllMyBuckets"]);
        assert_eq!(actions("kms.amazonaws.com", "ReEncrypt"), ["kms:ReEncryptFrom", "kms:ReEncryptTo"]);
        assert_eq!(actions("streams.dynamodb.amazonaws.com", "GetRecords"), ["dynamodb:GetRecords"]);
        assert_eq!(actions("pinpoint.amazonaws.com", "GetApps"), ["mobiletargeting:GetApps"]);
        assert!(actions("signin.amazonaws.com", "ConsoleLogin").is_empty());
        assert!(actions("signin.amazonaws.com", "SwitchRole").is_empty());
        assert!(of_event(
            &json!({"eventSource": "s3.amazonaws.com", "eventName": "x", "eventType": "AwsServiceEvent"})
        )
        .is_empty());
        assert!(actions("not-a-source", "X").is_empty());
        assert_eq!(strip_version("Get2015"), "Get2015");
        assert_eq!(strip_version("20150331"), "20150331");
    }
}
