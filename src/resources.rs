//! Event history's `Resources` for a CloudTrail record: which request and response fields name which
//! resources, and the order LookupEvents lists them in. Depends only on serde_json and std, because the
//! fake CloudTrail server compiles this same file (`#[path]`) to build the envelopes it serves.
//!
//! The rules come from real saved lookup events (tests/data/real/lookup-events, each file says where it
//! came from) and, where no saved event was found, from the services' request shapes and the resource
//! types of AWS's documentation (CloudFormation type names, which Event history uses); every group of
//! rules says which. What the real data shows:
//! - Event history names resources from the request and response fields, not from the record's
//!   `resources` array: S3 lists the bucket name where the record has its ARN, and a KMS Decrypt called
//!   by CloudFront lists nothing although the record names the key.
//! - Which fields count depends on the call: DescribeInstanceStatus names instances in its request and
//!   lists nothing, StopInstances lists the instance.
//! - The name is the value as written (ID, name or ARN); one resource may be listed under several names
//!   (an IAM user by ID, ARN and name), each once.
//! - An ID whose type the service cannot tell (EC2 CreateTags) is listed with no type.
//! - Since 2019 at least, entries come grouped by type, the groups in the order a `java.util.HashMap`
//!   keyed by the type string iterates (five kinds of call with two to seven types agree). Within one
//!   type the order varies between events of the same call (three AssumeRole events, three orders), so
//!   the rules keep the order of the table. Output of 2017 was not grouped.
//!
//! Where no rule is known for an event source and name, the record's own `resources` array is used
//! (type and ARN), as ctlookup did before these rules.

use serde_json::Value;

/// One resource as Event history lists it: `(ResourceType, ResourceName)`. The type is absent where the
/// service cannot tell it; a name is absent only in a record's `resources` entry that has no ARN.
pub type Named = (Option<String>, Option<String>);

/// The Resources Event history lists for this record.
pub fn derive(record: &Value) -> Vec<Named> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    let (Some(source), Some(name)) = (text("eventSource"), text("eventName")) else {
        return from_record_resources(record);
    };
    let mut rules = rules_for(source, name).peekable();
    if rules.peek().is_none() {
        return from_record_resources(record);
    }
    let mut groups: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
    for rule in rules {
        walk(record, rule.path, &mut |found| {
            let at = match groups.iter().position(|(kind, _)| *kind == rule.kind) {
                Some(at) => at,
                None => {
                    groups.push((rule.kind, Vec::new()));
                    groups.len() - 1
                }
            };
            let names = &mut groups[at].1;
            if !names.contains(&found) {
                names.push(found);
            }
        });
    }
    let capacity = hash_map_capacity(groups.len());
    // A stable sort: types in one bucket keep the order they were first found in, as in the HashMap.
    groups.sort_by_key(|(kind, _)| hash_map_bucket(*kind, capacity));
    groups
        .into_iter()
        .flat_map(|(kind, names)| names.into_iter().map(move |name| (kind.map(str::to_owned), Some(name.to_owned()))))
        .collect()
}

/// Where no rule is known, what ctlookup listed before these rules: the record's `resources`, type and
/// ARN, in its order.
fn from_record_resources(record: &Value) -> Vec<Named> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    record
        .get("resources")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(|r| (text(r, "type"), text(r, "ARN"))).collect())
        .unwrap_or_default()
}

/// Calls `found` with every non-empty string at `path` (dot-separated keys from the record's root);
/// arrays met on the way are walked element by element, and an array of strings at the end gives each.
fn walk<'v>(value: &'v Value, path: &str, found: &mut impl FnMut(&'v str)) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| walk(item, path, found)),
        Value::String(s) if path.is_empty() && !s.is_empty() => found(s),
        Value::Object(map) if !path.is_empty() => {
            let (key, rest) = path.split_once('.').unwrap_or((path, ""));
            if let Some(next) = map.get(key) {
                walk(next, rest, found);
            }
        }
        _ => {}
    }
}

/// The table size of a `java.util.HashMap` holding `entries` keys: 16, doubled while more than three
/// quarters full. Splitting buckets on a resize keeps their order, so iterating after the last resize
/// is iterating buckets of this size.
fn hash_map_capacity(entries: usize) -> usize {
    let mut capacity = 16;
    while entries * 4 > capacity * 3 {
        capacity *= 2;
    }
    capacity
}

/// The bucket of a `java.util.HashMap` key: `String.hashCode` (over UTF-16 units) spread by
/// `h ^ (h >>> 16)`; the null key (no type) goes to bucket 0.
fn hash_map_bucket(kind: Option<&str>, capacity: usize) -> usize {
    let Some(kind) = kind else { return 0 };
    let h = kind.encode_utf16().fold(0u32, |h, unit| h.wrapping_mul(31).wrapping_add(u32::from(unit)));
    ((h ^ (h >> 16)) as usize) & (capacity - 1)
}

/// One row of the table: for these events of this source (all its events when `events` is empty), the
/// strings at `path` are resources of type `kind` (no type when `None`).
struct Rule {
    events: &'static [&'static str],
    path: &'static str,
    kind: Option<&'static str>,
}

const fn all(path: &'static str, kind: &'static str) -> Rule {
    Rule { events: &[], path, kind: Some(kind) }
}

const fn on(events: &'static [&'static str], path: &'static str, kind: &'static str) -> Rule {
    Rule { events, path, kind: Some(kind) }
}

const fn untyped(events: &'static [&'static str], path: &'static str) -> Rule {
    Rule { events, path, kind: None }
}

/// The rules that apply to one event, in table order.
fn rules_for<'a>(source: &str, name: &'a str) -> impl Iterator<Item = &'static Rule> + 'a {
    let rules = RULES.iter().find(|(s, _)| *s == source).map_or(&[][..], |(_, rules)| *rules);
    rules.iter().filter(move |r| r.events.is_empty() || r.events.contains(&name))
}

const INSTANCE_STATE: &[&str] = &[
    "StartInstances",
    "StopInstances",
    "TerminateInstances",
    "RebootInstances",
    "MonitorInstances",
    "UnmonitorInstances",
];
const SECURITY_GROUP_RULES: &[&str] = &[
    "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
];
const KEY_PAIR: &[&str] = &["CreateKeyPair", "DeleteKeyPair", "ImportKeyPair"];
const EKS_BY_NAME: &[&str] =
    &["CreateCluster", "DeleteCluster", "DescribeCluster", "UpdateClusterConfig", "UpdateClusterVersion"];
const SSM_PARAMETER: &[&str] = &[
    "PutParameter",
    "GetParameter",
    "DeleteParameter",
    "GetParameterHistory",
    "LabelParameterVersion",
    "UnlabelParameterVersion",
];
const SSM_DOCUMENT: &[&str] =
    &["CreateDocument", "UpdateDocument", "DeleteDocument", "DescribeDocument", "GetDocument"];
const TRAIL_BY_NAME: &[&str] =
    &["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging", "GetTrail", "GetTrailStatus"];
const TRAIL_BY_TRAIL_NAME: &[&str] =
    &["PutEventSelectors", "GetEventSelectors", "PutInsightSelectors", "GetInsightSelectors"];
const ALARMS: &[&str] = &["DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions"];

/// Rules by event source. Within a source, rules for one type come in the order Event history most
/// often lists the names in.
static RULES: &[(&str, &[Rule])] = &[
    (
        "ec2.amazonaws.com",
        &[
            // Real: RunInstances of cloudryer-ec2.json (2022) and grafiti-2017.json (the instance
            // profile). The instance is first found before the key pair: both types share a HashMap
            // bucket and Event history lists the instance first.
            on(&["RunInstances"], "responseElements.instancesSet.items.instanceId", "AWS::EC2::Instance"),
            on(&["RunInstances"], "responseElements.instancesSet.items.imageId", "AWS::EC2::Ami"),
            on(&["RunInstances"], "requestParameters.instancesSet.items.imageId", "AWS::EC2::Ami"),
            on(&["RunInstances"], "responseElements.instancesSet.items.keyName", "AWS::EC2::KeyPair"),
            on(&["RunInstances"], "requestParameters.instancesSet.items.keyName", "AWS::EC2::KeyPair"),
            on(
                &["RunInstances"],
                "responseElements.instancesSet.items.networkInterfaceSet.items.networkInterfaceId",
                "AWS::EC2::NetworkInterface",
            ),
            on(
                &["RunInstances"],
                "responseElements.instancesSet.items.groupSet.items.groupId",
                "AWS::EC2::SecurityGroup",
            ),
            on(
                &["RunInstances"],
                "responseElements.instancesSet.items.groupSet.items.groupName",
                "AWS::EC2::SecurityGroup",
            ),
            on(&["RunInstances"], "requestParameters.groupSet.items.groupId", "AWS::EC2::SecurityGroup"),
            on(
                &["RunInstances"],
                "requestParameters.networkInterfaceSet.items.groupSet.items.groupId",
                "AWS::EC2::SecurityGroup",
            ),
            on(&["RunInstances"], "responseElements.instancesSet.items.subnetId", "AWS::EC2::Subnet"),
            on(&["RunInstances"], "requestParameters.subnetId", "AWS::EC2::Subnet"),
            on(&["RunInstances"], "requestParameters.networkInterfaceSet.items.subnetId", "AWS::EC2::Subnet"),
            on(&["RunInstances"], "responseElements.instancesSet.items.vpcId", "AWS::EC2::VPC"),
            on(
                &["RunInstances"],
                "responseElements.instancesSet.items.iamInstanceProfile.arn",
                "AWS::IAM::InstanceProfile",
            ),
            on(
                &["RunInstances"],
                "responseElements.instancesSet.items.iamInstanceProfile.id",
                "AWS::IAM::InstanceProfile",
            ),
            on(&["RunInstances"], "requestParameters.iamInstanceProfile.arn", "AWS::IAM::InstanceProfile"),
            on(&["RunInstances"], "requestParameters.iamInstanceProfile.name", "AWS::IAM::InstanceProfile"),
            // Real: Start, Stop and TerminateInstances of cloudryer-ec2.json (the response's order);
            // Reboot, Monitor and UnmonitorInstances take the same request.
            on(INSTANCE_STATE, "responseElements.instancesSet.items.instanceId", "AWS::EC2::Instance"),
            on(INSTANCE_STATE, "requestParameters.instancesSet.items.instanceId", "AWS::EC2::Instance"),
            // Real: ec2-volumes-2021.json.
            on(&["AttachVolume", "DetachVolume"], "requestParameters.volumeId", "AWS::EC2::Volume"),
            on(&["AttachVolume", "DetachVolume"], "requestParameters.instanceId", "AWS::EC2::Instance"),
            untyped(&["CreateTags", "DeleteTags"], "requestParameters.resourcesSet.items.resourceId"),
            // Real: cloudryer-ec2.json.
            on(&["AttachNetworkInterface"], "responseElements.attachmentId", "AWS::EC2::NetworkInterfaceAttachment"),
            on(&["AttachNetworkInterface"], "requestParameters.networkInterfaceId", "AWS::EC2::NetworkInterface"),
            on(&["AttachNetworkInterface"], "requestParameters.instanceId", "AWS::EC2::Instance"),
            // Real: ec2-createvpc-2019.json (not the DHCP options the response also names).
            on(&["CreateVpc"], "responseElements.vpc.vpcId", "AWS::EC2::VPC"),
            // Real: devlab-tokyo-2026.json.
            on(
                &["DescribeLaunchTemplateVersions"],
                "requestParameters.DescribeLaunchTemplateVersionsRequest.LaunchTemplateId",
                "AWS::EC2::LaunchTemplate",
            ),
            on(
                &["DescribeLaunchTemplateVersions"],
                "requestParameters.DescribeLaunchTemplateVersionsRequest.LaunchTemplateName",
                "AWS::EC2::LaunchTemplate",
            ),
            // Documentation: the request and response shapes of these calls.
            on(&["ModifyInstanceAttribute"], "requestParameters.instanceId", "AWS::EC2::Instance"),
            on(&["CreateSecurityGroup"], "responseElements.groupId", "AWS::EC2::SecurityGroup"),
            on(&["CreateSecurityGroup"], "requestParameters.groupName", "AWS::EC2::SecurityGroup"),
            on(&["CreateSecurityGroup"], "requestParameters.vpcId", "AWS::EC2::VPC"),
            on(SECURITY_GROUP_RULES, "requestParameters.groupId", "AWS::EC2::SecurityGroup"),
            on(SECURITY_GROUP_RULES, "requestParameters.groupName", "AWS::EC2::SecurityGroup"),
            on(&["CreateSubnet"], "responseElements.subnet.subnetId", "AWS::EC2::Subnet"),
            on(&["CreateSubnet"], "requestParameters.vpcId", "AWS::EC2::VPC"),
            on(&["DeleteSubnet"], "requestParameters.subnetId", "AWS::EC2::Subnet"),
            on(&["DeleteVpc"], "requestParameters.vpcId", "AWS::EC2::VPC"),
            on(&["CreateVolume"], "responseElements.volumeId", "AWS::EC2::Volume"),
            on(&["DeleteVolume"], "requestParameters.volumeId", "AWS::EC2::Volume"),
            on(&["CreateSnapshot"], "responseElements.snapshotId", "AWS::EC2::Snapshot"),
            on(&["CreateSnapshot"], "requestParameters.volumeId", "AWS::EC2::Volume"),
            on(&["DeleteSnapshot"], "requestParameters.snapshotId", "AWS::EC2::Snapshot"),
            on(KEY_PAIR, "requestParameters.keyName", "AWS::EC2::KeyPair"),
        ],
    ),
    (
        // Real: s3-putbucketversioning.json (the bucket's name, not the record's ARN).
        "s3.amazonaws.com",
        &[all("requestParameters.bucketName", "AWS::S3::Bucket")],
    ),
    (
        "iam.amazonaws.com",
        &[
            // Real: iam-createuser.json (ID, ARN, name).
            all("responseElements.user.userId", "AWS::IAM::User"),
            all("responseElements.user.arn", "AWS::IAM::User"),
            all("requestParameters.userName", "AWS::IAM::User"),
            // Real: custodian-iam-instance-profile.json and grafiti-2017.json (AddRoleToInstanceProfile).
            all("responseElements.instanceProfile.arn", "AWS::IAM::InstanceProfile"),
            all("requestParameters.instanceProfileName", "AWS::IAM::InstanceProfile"),
            all("responseElements.instanceProfile.instanceProfileId", "AWS::IAM::InstanceProfile"),
            // Documentation, by analogy with users and instance profiles.
            all("responseElements.role.roleId", "AWS::IAM::Role"),
            all("responseElements.role.arn", "AWS::IAM::Role"),
            all("requestParameters.roleName", "AWS::IAM::Role"),
            all("responseElements.group.groupId", "AWS::IAM::Group"),
            all("responseElements.group.arn", "AWS::IAM::Group"),
            all("requestParameters.groupName", "AWS::IAM::Group"),
            all("requestParameters.policyArn", "AWS::IAM::Policy"),
            all("responseElements.policy.arn", "AWS::IAM::Policy"),
            on(&["CreatePolicy"], "requestParameters.policyName", "AWS::IAM::Policy"),
            all("responseElements.accessKey.accessKeyId", "AWS::IAM::AccessKey"),
            all("requestParameters.accessKeyId", "AWS::IAM::AccessKey"),
        ],
    ),
    (
        // Real: AssumeRole of eks-pod-identity.json, evidence-report-2026.json, devlab-tokyo-2026.json.
        "sts.amazonaws.com",
        &[
            all("responseElements.credentials.accessKeyId", "AWS::IAM::AccessKey"),
            all("responseElements.assumedRoleUser.arn", "AWS::STS::AssumedRole"),
            all("responseElements.assumedRoleUser.assumedRoleId", "AWS::STS::AssumedRole"),
            all("requestParameters.roleSessionName", "AWS::STS::AssumedRole"),
            all("requestParameters.roleArn", "AWS::IAM::Role"),
        ],
    ),
    (
        // Real: AssumeRoleForPodIdentity of eks-pod-identity.json.
        "eks-auth.amazonaws.com",
        &[all("requestParameters.clusterName", "AWS::EKS::Cluster")],
    ),
    (
        // Documentation: the EKS API names its cluster `clusterName`, or `name` in the cluster calls.
        "eks.amazonaws.com",
        &[
            all("requestParameters.clusterName", "AWS::EKS::Cluster"),
            on(EKS_BY_NAME, "requestParameters.name", "AWS::EKS::Cluster"),
            all("requestParameters.nodegroupName", "AWS::EKS::Nodegroup"),
            all("requestParameters.fargateProfileName", "AWS::EKS::FargateProfile"),
        ],
    ),
    (
        // Real: evidence-report-2026.json (a Decrypt without keyId lists nothing, whatever the record's
        // `resources` say). Documentation: the key ID, alias or ARN a request gives, the key CreateKey
        // makes.
        "kms.amazonaws.com",
        &[
            all("requestParameters.keyId", "AWS::KMS::Key"),
            all("requestParameters.targetKeyId", "AWS::KMS::Key"),
            all("responseElements.keyMetadata.keyId", "AWS::KMS::Key"),
            all("responseElements.keyMetadata.arn", "AWS::KMS::Key"),
            all("requestParameters.aliasName", "AWS::KMS::Alias"),
        ],
    ),
    (
        // Documentation: every Lambda call on a function names it `functionName`.
        "lambda.amazonaws.com",
        &[all("requestParameters.functionName", "AWS::Lambda::Function")],
    ),
    (
        // Real: devlab-tokyo-2026.json and evidence-report-2026.json (Describe calls without an
        // identifier list nothing). Documentation: the identifiers of the RDS API.
        "rds.amazonaws.com",
        &[
            all("requestParameters.dBInstanceIdentifier", "AWS::RDS::DBInstance"),
            all("requestParameters.dBClusterIdentifier", "AWS::RDS::DBCluster"),
            all("requestParameters.dBSnapshotIdentifier", "AWS::RDS::DBSnapshot"),
            all("requestParameters.dBClusterSnapshotIdentifier", "AWS::RDS::DBClusterSnapshot"),
            all("requestParameters.dBSubnetGroupName", "AWS::RDS::DBSubnetGroup"),
            all("requestParameters.dBParameterGroupName", "AWS::RDS::DBParameterGroup"),
            all("requestParameters.dBClusterParameterGroupName", "AWS::RDS::DBClusterParameterGroup"),
            all("requestParameters.optionGroupName", "AWS::RDS::OptionGroup"),
        ],
    ),
    (
        // Documentation.
        "cloudformation.amazonaws.com",
        &[
            all("requestParameters.stackName", "AWS::CloudFormation::Stack"),
            all("responseElements.stackId", "AWS::CloudFormation::Stack"),
        ],
    ),
    (
        // Documentation: `name` is a parameter in the parameter calls and a document in the document
        // calls, so these rules go by call.
        "ssm.amazonaws.com",
        &[
            on(SSM_PARAMETER, "requestParameters.name", "AWS::SSM::Parameter"),
            on(&["GetParameters", "DeleteParameters"], "requestParameters.names", "AWS::SSM::Parameter"),
            on(SSM_DOCUMENT, "requestParameters.name", "AWS::SSM::Document"),
            on(&["SendCommand"], "requestParameters.documentName", "AWS::SSM::Document"),
            on(&["SendCommand"], "requestParameters.instanceIds", "AWS::EC2::Instance"),
        ],
    ),
    (
        // Documentation; a 2026 report shows DeleteSecret naming the secret (Smana/runlore pull request
        // 416). secretsmanager-docs-2018.json, a 2018 documentation example, lists nothing for
        // CreateSecret: the golden test keeps it as a known difference.
        "secretsmanager.amazonaws.com",
        &[
            all("requestParameters.secretId", "AWS::SecretsManager::Secret"),
            on(&["CreateSecret"], "requestParameters.name", "AWS::SecretsManager::Secret"),
        ],
    ),
    (
        // Documentation: clusters, services and task definitions by the name or ARN the request gives.
        "ecs.amazonaws.com",
        &[
            all("requestParameters.cluster", "AWS::ECS::Cluster"),
            on(&["CreateCluster"], "requestParameters.clusterName", "AWS::ECS::Cluster"),
            all("requestParameters.service", "AWS::ECS::Service"),
            on(&["CreateService"], "requestParameters.serviceName", "AWS::ECS::Service"),
            all("requestParameters.taskDefinition", "AWS::ECS::TaskDefinition"),
            on(
                &["RegisterTaskDefinition"],
                "responseElements.taskDefinition.taskDefinitionArn",
                "AWS::ECS::TaskDefinition",
            ),
        ],
    ),
    (
        // Documentation.
        "dynamodb.amazonaws.com",
        &[all("requestParameters.tableName", "AWS::DynamoDB::Table")],
    ),
    (
        // Documentation.
        "sns.amazonaws.com",
        &[
            all("requestParameters.topicArn", "AWS::SNS::Topic"),
            all("responseElements.topicArn", "AWS::SNS::Topic"),
            on(&["CreateTopic"], "requestParameters.name", "AWS::SNS::Topic"),
        ],
    ),
    (
        // Documentation.
        "sqs.amazonaws.com",
        &[
            all("requestParameters.queueUrl", "AWS::SQS::Queue"),
            all("responseElements.queueUrl", "AWS::SQS::Queue"),
            on(&["CreateQueue"], "requestParameters.queueName", "AWS::SQS::Queue"),
        ],
    ),
    (
        // Documentation.
        "logs.amazonaws.com",
        &[
            all("requestParameters.logGroupName", "AWS::Logs::LogGroup"),
            all("requestParameters.logStreamName", "AWS::Logs::LogStream"),
        ],
    ),
    (
        // Documentation (LookupEvents' own documentation gives Trail as CloudTrail's resource type).
        "cloudtrail.amazonaws.com",
        &[
            on(TRAIL_BY_NAME, "requestParameters.name", "AWS::CloudTrail::Trail"),
            on(TRAIL_BY_TRAIL_NAME, "requestParameters.trailName", "AWS::CloudTrail::Trail"),
            on(&["CreateTrail"], "responseElements.trailARN", "AWS::CloudTrail::Trail"),
        ],
    ),
    (
        // Documentation: the calls that change alarms.
        "monitoring.amazonaws.com",
        &[
            on(&["PutMetricAlarm", "SetAlarmState"], "requestParameters.alarmName", "AWS::CloudWatch::Alarm"),
            on(ALARMS, "requestParameters.alarmNames", "AWS::CloudWatch::Alarm"),
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Real saved lookup events, trimmed to the events; each file names its source.
    const REAL: &[(&str, &str)] = &[
        (
            "aws-cli-example-consolelogin.json",
            include_str!("../tests/data/real/lookup-events/aws-cli-example-consolelogin.json"),
        ),
        ("cloudryer-ec2.json", include_str!("../tests/data/real/lookup-events/cloudryer-ec2.json")),
        (
            "custodian-iam-instance-profile.json",
            include_str!("../tests/data/real/lookup-events/custodian-iam-instance-profile.json"),
        ),
        ("devlab-tokyo-2026.json", include_str!("../tests/data/real/lookup-events/devlab-tokyo-2026.json")),
        ("ec2-createvpc-2019.json", include_str!("../tests/data/real/lookup-events/ec2-createvpc-2019.json")),
        ("ec2-volumes-2021.json", include_str!("../tests/data/real/lookup-events/ec2-volumes-2021.json")),
        ("eks-pod-identity.json", include_str!("../tests/data/real/lookup-events/eks-pod-identity.json")),
        ("evidence-report-2026.json", include_str!("../tests/data/real/lookup-events/evidence-report-2026.json")),
        ("grafiti-2017.json", include_str!("../tests/data/real/lookup-events/grafiti-2017.json")),
        ("iam-createuser.json", include_str!("../tests/data/real/lookup-events/iam-createuser.json")),
        ("s3-putbucketversioning.json", include_str!("../tests/data/real/lookup-events/s3-putbucketversioning.json")),
        (
            "secretsmanager-docs-2018.json",
            include_str!("../tests/data/real/lookup-events/secretsmanager-docs-2018.json"),
        ),
    ];

    fn listed(event: &Value) -> Vec<Named> {
        let text = |r: &Value, key: &str| r.get(key).and_then(Value::as_str).map(str::to_owned);
        event["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (text(r, "ResourceType"), text(r, "ResourceName")))
            .collect()
    }

    /// The types in the order their groups come, each with its names as a sorted list: equal when the
    /// type groups come in the same order and hold the same names, in whatever order within a type.
    fn by_type(resources: &[Named]) -> Vec<(Option<String>, Vec<Option<String>>)> {
        let mut groups: Vec<(Option<String>, Vec<Option<String>>)> = Vec::new();
        for (kind, name) in resources {
            match groups.last_mut() {
                Some((last, names)) if last == kind => names.push(name.clone()),
                _ => groups.push((kind.clone(), vec![name.clone()])),
            }
        }
        groups.iter_mut().for_each(|(_, names)| names.sort());
        groups
    }

    fn sorted(mut resources: Vec<Named>) -> Vec<Named> {
        resources.sort();
        resources
    }

    #[test]
    fn every_real_saved_event_gets_the_resources_event_history_listed() {
        let (mut checked, mut known_differences, mut failures) = (0, 0, Vec::new());
        for (file, text) in REAL {
            let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            let unordered = match doc["order"].as_str() {
                Some("types") => false,
                Some("unordered") => true,
                other => panic!("{file}: order {other:?}"),
            };
            for event in doc["Events"].as_array().unwrap() {
                let id = event["EventId"].as_str().unwrap();
                let record: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
                let (got, want) = (derive(&record), listed(event));
                let same = if unordered {
                    sorted(got.clone()) == sorted(want.clone())
                } else {
                    by_type(&got) == by_type(&want)
                };
                if doc["differs"].get(id).is_some() {
                    // Documented as real data that disagrees with the rest: it must still disagree.
                    assert!(!same, "{file} {id}: now matches; drop it from `differs`");
                    known_differences += 1;
                } else if !same {
                    failures.push(format!("{file} {id} {}:\n  got  {got:?}\n  want {want:?}", event["EventName"]));
                }
                checked += 1;
            }
        }
        assert!(failures.is_empty(), "{} of {checked} real events differ:\n{}", failures.len(), failures.join("\n"));
        assert_eq!((checked, known_differences), (45, 1), "every saved event was read");
    }

    #[test]
    fn types_come_in_java_hash_map_order() {
        // The 2022 RunInstances order; Instance and KeyPair share a bucket, found in that order.
        let record = json!({
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-1", "keyName": "k"}]}, "subnetId": "subnet-1"},
            "responseElements": {"instancesSet": {"items": [{
                "instanceId": "i-1", "imageId": "ami-1", "keyName": "k", "subnetId": "subnet-1", "vpcId": "vpc-1",
                "groupSet": {"items": [{"groupId": "sg-1", "groupName": "web"}]},
                "networkInterfaceSet": {"items": [{"networkInterfaceId": "eni-1"}]}
            }]}}
        });
        let types: Vec<_> =
            derive(&record).into_iter().map(|(t, n)| format!("{} {}", t.unwrap(), n.unwrap())).collect();
        assert_eq!(
            types,
            [
                "AWS::EC2::VPC vpc-1",
                "AWS::EC2::Ami ami-1",
                "AWS::EC2::NetworkInterface eni-1",
                "AWS::EC2::Instance i-1",
                "AWS::EC2::KeyPair k",
                "AWS::EC2::SecurityGroup sg-1",
                "AWS::EC2::SecurityGroup web",
                "AWS::EC2::Subnet subnet-1"
            ]
        );
        assert_eq!(hash_map_bucket(Some("AWS::EC2::VPC"), 16), 2);
        assert_eq!(hash_map_bucket(None, 16), 0);
        assert_eq!((hash_map_capacity(12), hash_map_capacity(13), hash_map_capacity(25)), (16, 32, 64));
    }

    #[test]
    fn names_are_found_through_arrays_once_each_and_never_empty() {
        let record = json!({
            "eventSource": "ec2.amazonaws.com", "eventName": "TerminateInstances",
            "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-2"}, {"instanceId": "i-1"}, {"instanceId": ""}]}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}}
        });
        let names: Vec<_> = derive(&record).into_iter().map(|(_, n)| n.unwrap()).collect();
        assert_eq!(names, ["i-1", "i-2"]);
        // An array of strings gives each; other values give nothing.
        let record = json!({"eventSource": "ssm.amazonaws.com", "eventName": "GetParameters",
            "requestParameters": {"names": ["/a", "/b", 3, null]}});
        assert_eq!(derive(&record).len(), 2);
    }

    #[test]
    fn without_a_rule_the_records_resources_are_used() {
        let resources = json!([{"ARN": "arn:aws:glue:us-east-1:1:table/db/t", "accountId": "1", "type": "AWS::Glue::Table"}, {"type": "AWS::Glue::Database"}]);
        let record = json!({"eventSource": "glue.amazonaws.com", "eventName": "CreateTable", "resources": resources});
        assert_eq!(
            derive(&record),
            [
                (Some("AWS::Glue::Table".to_owned()), Some("arn:aws:glue:us-east-1:1:table/db/t".to_owned())),
                (Some("AWS::Glue::Database".to_owned()), None)
            ]
        );
        // A known call whose fields are absent lists nothing, whatever the record's array says.
        let record = json!({"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "requestParameters": {},
            "resources": [{"ARN": "arn:aws:kms:us-east-1:1:key/k", "type": "AWS::KMS::Key"}]});
        assert!(derive(&record).is_empty());
        assert!(derive(&json!({"eventSource": "glue.amazonaws.com"})).is_empty());
    }
}
