//! The IAM actions a CloudTrail event stands for: the service prefix of its event source and its event
//! name, with API version suffixes dropped and the names that differ from the action's mapped, as
//! `ctlookup policy` and the `denied` rows without an action in their message need it. Events that are
//! no API call of the caller (console actions, sign-in, service events) have none, nor do event names
//! that cannot be the name of an action.
//!
//! The mappings come from the Service Authorization Reference (each service's page, "Actions defined by
//! …" and "API operations defined by …",
//! https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html)
//! and the services' API references; each table names its pages.

use serde_json::Value;

/// Event sources whose IAM service prefix is not the first label of the source. The Service
/// Reference's own exceptions (`monitoring` → `cloudwatch`, …) come from `crate::reference`.
///
/// * DynamoDB Streams records its calls as streams.dynamodb.amazonaws.com; its actions are dynamodb:
///   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/logging-using-cloudtrail.html,
///   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
/// * Cloud Control API records cloudcontrolapi.amazonaws.com; its prefix is cloudformation
///   (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudcontrolapi.html).
/// * RDS Data API records rdsdata.amazonaws.com; its prefix is rds-data
///   (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/logging-using-cloudtrail-data-api.html,
///   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrdsdataapi.html).
/// * AppRegistry records servicecatalog-appregistry.amazonaws.com; its actions are servicecatalog:
///   (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsservicecatalog.html).
const SOURCE_PREFIXES: &[(&str, &str)] = &[
    ("streams.dynamodb.amazonaws.com", "dynamodb"),
    ("cloudcontrolapi.amazonaws.com", "cloudformation"),
    ("rdsdata.amazonaws.com", "rds-data"),
    ("servicecatalog-appregistry.amazonaws.com", "servicecatalog"),
];

/// Event sources whose events are no IAM action of the caller: AWS sign-in (ConsoleLogin, SwitchRole,
/// ExitRole, CheckMfa, …; https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html).
const NOT_ACTIONS: &[&str] = &["signin.amazonaws.com"];

/// The event types of API calls; the others (`AwsConsoleAction`, `AwsConsoleSignIn`, `AwsServiceEvent`,
/// `AwsCloudTrailInsight`, `AwsVpceEvent`) record no call the caller needs an action for
/// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
/// Records without an eventType (older saved output) are read as calls.
const API_CALL: &str = "AwsApiCall";

/// Event names that are not the name of the action they need (prefix, event name, actions).
///
/// * S3: the Service Authorization Reference for S3,
///   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html, and each
///   operation's "Permissions" in https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
///   (CloudTrail names some calls after the bucket, `DeleteBucketPublicAccessBlock` for
///   DeletePublicAccessBlock: both are listed).
/// * KMS: ReEncrypt needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination key,
///   https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html.
/// * Lambda: Invoke is lambda:InvokeFunction, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html.
/// * SQS: a batch needs the action of one message,
///   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html.
/// * SNS: PublishBatch needs sns:Publish, https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html.
/// * DynamoDB: a transaction needs the actions of its items,
///   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html.
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
    ("s3", "SelectObjectContent", &["GetObject"]),
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
    ("s3", "GetPublicAccessBlock", &["GetBucketPublicAccessBlock"]),
    ("s3", "PutPublicAccessBlock", &["PutBucketPublicAccessBlock"]),
    ("s3", "DeletePublicAccessBlock", &["PutBucketPublicAccessBlock"]),
    ("s3", "DeleteBucketPublicAccessBlock", &["PutBucketPublicAccessBlock"]),
    ("s3", "DeleteBucketOwnershipControls", &["PutBucketOwnershipControls"]),
    ("s3", "GetBucketAnalyticsConfiguration", &["GetAnalyticsConfiguration"]),
    ("s3", "ListBucketAnalyticsConfigurations", &["GetAnalyticsConfiguration"]),
    ("s3", "PutBucketAnalyticsConfiguration", &["PutAnalyticsConfiguration"]),
    ("s3", "DeleteBucketAnalyticsConfiguration", &["PutAnalyticsConfiguration"]),
    ("s3", "GetBucketInventoryConfiguration", &["GetInventoryConfiguration"]),
    ("s3", "ListBucketInventoryConfigurations", &["GetInventoryConfiguration"]),
    ("s3", "PutBucketInventoryConfiguration", &["PutInventoryConfiguration"]),
    ("s3", "DeleteBucketInventoryConfiguration", &["PutInventoryConfiguration"]),
    ("s3", "GetBucketMetricsConfiguration", &["GetMetricsConfiguration"]),
    ("s3", "ListBucketMetricsConfigurations", &["GetMetricsConfiguration"]),
    ("s3", "PutBucketMetricsConfiguration", &["PutMetricsConfiguration"]),
    ("s3", "DeleteBucketMetricsConfiguration", &["PutMetricsConfiguration"]),
    ("s3", "GetBucketIntelligentTieringConfiguration", &["GetIntelligentTieringConfiguration"]),
    ("s3", "ListBucketIntelligentTieringConfigurations", &["GetIntelligentTieringConfiguration"]),
    ("s3", "PutBucketIntelligentTieringConfiguration", &["PutIntelligentTieringConfiguration"]),
    ("s3", "DeleteBucketIntelligentTieringConfiguration", &["PutIntelligentTieringConfiguration"]),
    ("s3", "GetBucketNotificationConfiguration", &["GetBucketNotification"]),
    ("s3", "PutBucketNotificationConfiguration", &["PutBucketNotification"]),
    ("s3", "GetObjectLockConfiguration", &["GetBucketObjectLockConfiguration"]),
    ("s3", "PutObjectLockConfiguration", &["PutBucketObjectLockConfiguration"]),
    ("s3", "GetBucketAccelerateConfiguration", &["GetAccelerateConfiguration"]),
    ("s3", "PutBucketAccelerateConfiguration", &["PutAccelerateConfiguration"]),
    ("kms", "ReEncrypt", &["ReEncryptFrom", "ReEncryptTo"]),
    ("lambda", "Invoke", &["InvokeFunction"]),
    ("sqs", "SendMessageBatch", &["SendMessage"]),
    ("sqs", "DeleteMessageBatch", &["DeleteMessage"]),
    ("sqs", "ChangeMessageVisibilityBatch", &["ChangeMessageVisibility"]),
    ("sns", "PublishBatch", &["Publish"]),
    ("dynamodb", "TransactWriteItems", &["ConditionCheckItem", "DeleteItem", "PutItem", "UpdateItem"]),
    ("dynamodb", "TransactGetItems", &["GetItem"]),
];

/// API Gateway's management actions are the HTTP verbs of its REST API (`apigateway:GET` on
/// `arn:aws:apigateway:REGION::/restapis/…`), https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
/// and …/list_amazonapigatewaymanagementv2.html. An event name is mapped to the verb its operation is
/// sent with (https://docs.aws.amazon.com/apigateway/latest/api/API_Operations.html,
/// https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/api-reference.html): these names
/// first, then by the first word ([`APIGATEWAY_VERB_OF_WORD`]).
const APIGATEWAY_VERBS: &[(&str, &[&str])] = &[
    // PUT /tags/{arn} in the REST API, POST /v2/tags/{arn} in the HTTP and WebSocket API: CloudTrail
    // names both TagResource.
    ("TagResource", &["POST", "PUT"]),
    ("UntagResource", &["DELETE"]),
    ("ImportRestApi", &["POST"]),
    ("ImportApiKeys", &["POST"]),
    ("ImportDocumentationParts", &["PUT"]),
    ("ImportApi", &["PUT"]),
    ("ReimportApi", &["PUT"]),
    ("ExportApi", &["GET"]),
    ("FlushStageCache", &["DELETE"]),
    ("FlushStageAuthorizersCache", &["DELETE"]),
    ("ResetAuthorizersCache", &["DELETE"]),
    ("TestInvokeMethod", &["POST"]),
    ("TestInvokeAuthorizer", &["POST"]),
    ("GenerateClientCertificate", &["POST"]),
];

/// The verb of an API Gateway operation by its first word: Create → POST, Get → GET, Update → PATCH,
/// Delete → DELETE, Put → PUT.
const APIGATEWAY_VERB_OF_WORD: &[(&str, &str)] =
    &[("Create", "POST"), ("Get", "GET"), ("Update", "PATCH"), ("Delete", "DELETE"), ("Put", "PUT")];

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

/// Why an event stands for no IAM action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoAction {
    /// Not an API call of the caller: a console action, a sign-in, a service event, an Insights event.
    NotACall,
    /// The eventName cannot be the name of an action (an address, spaces, slashes, …).
    NotAnActionName,
    /// No eventSource or eventName, or a source that is no AWS service's.
    NoService,
}

impl NoAction {
    /// The events left out, as stderr says it.
    pub fn describe(self) -> &'static str {
        match self {
            NoAction::NotACall => "that are no API call of the caller (console actions, sign-ins, service events)",
            NoAction::NotAnActionName => "whose eventName cannot be the name of an IAM action",
            NoAction::NoService => "of no AWS service's event source",
        }
    }
}

/// The IAM actions (`prefix:Name`) an event needs; empty for events that are no IAM action of a caller.
pub fn of_event(record: &Value) -> Vec<String> {
    needed(record).unwrap_or_default()
}

/// The IAM actions (`prefix:Name`) an event needs, or why it needs none.
pub fn needed(record: &Value) -> Result<Vec<String>, NoAction> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    if text("eventType").is_some_and(|t| t != API_CALL) {
        return Err(NoAction::NotACall);
    }
    let (Some(source), Some(name)) = (text("eventSource"), text("eventName")) else {
        return Err(NoAction::NoService);
    };
    if NOT_ACTIONS.contains(&source) {
        return Err(NoAction::NotACall);
    }
    let prefix = prefix(source).ok_or(NoAction::NoService)?;
    let name = strip_version(name);
    // Action names are letters and digits (the Service Reference's own, and every event name of a call).
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(NoAction::NotAnActionName);
    }
    let actions: Vec<&str> = match RENAMED.iter().find(|(p, n, _)| *p == prefix && *n == name) {
        Some((_, _, actions)) => actions.to_vec(),
        None if prefix == "apigateway" => apigateway_verbs(name).unwrap_or_else(|| vec![name]),
        None => vec![name],
    };
    Ok(actions.into_iter().map(|action| format!("{prefix}:{action}")).collect())
}

/// The HTTP verbs an API Gateway operation is sent with; None for a name of no known form.
fn apigateway_verbs(name: &str) -> Option<Vec<&'static str>> {
    if let Some((_, verbs)) = APIGATEWAY_VERBS.iter().find(|(n, _)| *n == name) {
        return Some(verbs.to_vec());
    }
    APIGATEWAY_VERB_OF_WORD
        .iter()
        // The first word: "Get" in GetResource, not in "Getaway".
        .find(|(word, _)| {
            name.strip_prefix(word).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        })
        .map(|(_, verb)| vec![*verb])
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
        assert_eq!(actions("apigateway.amazonaws.com", "CreateStage"), ["apigateway:POST"]);
        assert_eq!(actions("apigateway.amazonaws.com", "GetRestApis"), ["apigateway:GET"]);
        assert_eq!(actions("apigateway.amazonaws.com", "UpdateStage"), ["apigateway:PATCH"]);
        assert_eq!(actions("apigateway.amazonaws.com", "DeleteStage"), ["apigateway:DELETE"]);
        assert_eq!(actions("apigateway.amazonaws.com", "PutMethod"), ["apigateway:PUT"]);
        assert_eq!(actions("apigateway.amazonaws.com", "TagResource"), ["apigateway:POST", "apigateway:PUT"]);
        assert_eq!(actions("apigateway.amazonaws.com", "FlushStageCache"), ["apigateway:DELETE"]);
        assert_eq!(actions("apigateway.amazonaws.com", "Getaway"), ["apigateway:Getaway"], "left to the reference");
        assert_eq!(actions("cloudcontrolapi.amazonaws.com", "GetResource"), ["cloudformation:GetResource"]);
        assert_eq!(actions("rdsdata.amazonaws.com", "ExecuteStatement"), ["rds-data:ExecuteStatement"]);
        assert_eq!(actions("s3.amazonaws.com", "DeletePublicAccessBlock"), ["s3:PutBucketPublicAccessBlock"]);
        assert_eq!(actions("sqs.amazonaws.com", "SendMessageBatch"), ["sqs:SendMessage"]);
        for name in ["https://example.com/x", "Get Object", "s3/GetObject", "", "GetÖbject"] {
            let record = json!({"eventSource": "s3.amazonaws.com", "eventName": name, "eventType": "AwsApiCall"});
            assert_eq!(needed(&record), Err(NoAction::NotAnActionName), "{name:?}");
        }
        for event_type in ["AwsConsoleAction", "AwsConsoleSignIn", "AwsServiceEvent", "AwsCloudTrailInsight"] {
            let record = json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventType": event_type});
            assert_eq!(needed(&record), Err(NoAction::NotACall), "{event_type}");
        }
        let untyped = json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject"});
        assert_eq!(needed(&untyped), Ok(vec!["s3:GetObject".to_owned()]));
        assert_eq!(strip_version("Get2015"), "Get2015");
        assert_eq!(strip_version("20150331"), "20150331");
    }
}
