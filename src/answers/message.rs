//! AccessDenied messages read: the principal, action and resource a refusal names, why it was refused
//! (which kind of policy, S3 Block Public Access, or the message's own words), and EC2's encoded
//! authorization failure message. Formats, as AWS documents them (IAM User Guide, "Troubleshoot access
//! denied error messages", https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html;
//! S3 User Guide, "Access denied message examples" and "Access denied due to Block Public Access
//! settings", https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html;
//! AWS Organizations, "explicit deny in a service control policy" and EC2's "Encoded authorization
//! failure message", https://repost.aws/knowledge-center/organizations-troubleshoot-explicit-deny-scp and
//! https://repost.aws/knowledge-center/ec2-not-auth-launch):
//!
//! * `User: ARN is not authorized to perform: ACTION [on resource: RESOURCE] because no TYPE policy allows the ACTION action`
//! * `User: ARN is not authorized to perform: ACTION [on resource: RESOURCE] with an explicit deny in a TYPE policy[: POLICY-ARN]`
//! * the older form without a reason, `User: ARN is not authorized to perform: ACTION on resource: RESOURCE`
//!   (and its `… with an explicit deny` without a policy type);
//! * S3 quotes the resource (`on resource: "arn:aws:s3:::bucket"`), and its Block Public Access settings
//!   refuse with `… because public ACLs are prevented by the BlockPublicAcls setting in S3 Block Public
//!   Access` (and `public policies are prevented by the BlockPublicPolicy setting`; S3 also says `public
//!   policies are blocked by the BlockPublicPolicy block public access setting`);
//! * any other `because …` (S3's SSE-C block, KMS's `on the resource associated with this ciphertext
//!   because the resource does not exist in this Region, …`) is the message's own reason, in its words;
//! * EC2 prefixes `You are not authorized to perform this operation.` and may end with
//!   `Encoded authorization failure message: …`, alone or after one of the forms above.

/// Why the call was refused, normalised where the message uses one of AWS's documented forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// `because no <kind> allows`: nothing granted it (an implicit deny).
    NoAllow(Kind),
    /// `with an explicit deny in a <kind>`.
    ExplicitDeny(Kind),
    /// The older `with an explicit deny`, without the kind of policy.
    ExplicitDenyUnsaid,
    /// A setting of S3 Block Public Access refused it (None: the message names no setting). No policy
    /// lifts it: the setting must change, or the request must not make anything public.
    BlockPublicAccess(Option<PublicAccessSetting>),
    /// Any other `because …`: the message's own words.
    Said(String),
}

/// The kinds of policy a message names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    IdentityBased,
    ResourceBased,
    ServiceControl,
    ResourceControl,
    PermissionsBoundary,
    Session,
    VpcEndpoint,
}

/// The message's words for each kind, as they follow "no " or "in a"/"in an".
const KINDS: &[(&str, Kind)] = &[
    ("identity-based policy", Kind::IdentityBased),
    ("resource-based policy", Kind::ResourceBased),
    ("service control policy", Kind::ServiceControl),
    ("resource control policy", Kind::ResourceControl),
    ("permissions boundary", Kind::PermissionsBoundary),
    ("session policy", Kind::Session),
    ("vpc endpoint policy", Kind::VpcEndpoint),
];

/// The four settings of S3 Block Public Access (S3 User Guide, "Block public access settings",
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublicAccessSetting {
    BlockPublicAcls,
    IgnorePublicAcls,
    BlockPublicPolicy,
    RestrictPublicBuckets,
}

const SETTINGS: &[PublicAccessSetting] = &[
    PublicAccessSetting::BlockPublicAcls,
    PublicAccessSetting::IgnorePublicAcls,
    PublicAccessSetting::BlockPublicPolicy,
    PublicAccessSetting::RestrictPublicBuckets,
];

impl PublicAccessSetting {
    /// The setting's name, as S3 spells it.
    pub fn name(self) -> &'static str {
        match self {
            PublicAccessSetting::BlockPublicAcls => "BlockPublicAcls",
            PublicAccessSetting::IgnorePublicAcls => "IgnorePublicAcls",
            PublicAccessSetting::BlockPublicPolicy => "BlockPublicPolicy",
            PublicAccessSetting::RestrictPublicBuckets => "RestrictPublicBuckets",
        }
    }
}

/// Where to look when S3 Block Public Access refused a call.
pub const BLOCK_PUBLIC_ACCESS_WHERE: &str =
    "the Block Public Access settings of the bucket, its access points, the account and the organization";

impl Kind {
    /// Every kind, in the order of [`KINDS`].
    pub fn all() -> impl Iterator<Item = Kind> {
        KINDS.iter().map(|(_, kind)| *kind)
    }

    pub fn text(self) -> &'static str {
        match self {
            Kind::VpcEndpoint => "VPC endpoint policy",
            other => KINDS.iter().find(|(_, k)| *k == other).map_or("", |(t, _)| t),
        }
    }

    /// Where to look for the statement that refused it.
    pub fn where_to_look(self) -> &'static str {
        match self {
            Kind::IdentityBased => "the principal's own policies (inline, managed, its groups')",
            Kind::ResourceBased => "the resource's policy (bucket policy, key policy, trust policy, …)",
            Kind::ServiceControl => "the service control policies of the account's OUs and root in AWS Organizations",
            Kind::ResourceControl => "the resource control policies of the account's OUs and root in AWS Organizations",
            Kind::PermissionsBoundary => "the principal's permissions boundary",
            Kind::Session => "the session policy passed when the role was assumed or the user federated",
            Kind::VpcEndpoint => "the policy of the VPC endpoint the call went through",
        }
    }
}

impl Reason {
    /// The normalised text printed in the `reason` column.
    pub fn text(&self) -> String {
        match self {
            Reason::NoAllow(kind) => format!("no {} allows", kind.text()),
            Reason::ExplicitDeny(kind) => {
                let article = if *kind == Kind::IdentityBased { "an" } else { "a" };
                format!("explicit deny in {article} {}", kind.text())
            }
            Reason::ExplicitDenyUnsaid => "explicit deny".to_owned(),
            Reason::BlockPublicAccess(Some(setting)) => {
                format!("blocked by S3 Block Public Access ({})", setting.name())
            }
            Reason::BlockPublicAccess(None) => "blocked by S3 Block Public Access".to_owned(),
            Reason::Said(words) => words.clone(),
        }
    }

    /// The reason a `reason` cell stands for: the inverse of [`Reason::text`], so that what reads the
    /// rows (`--policy`) decides on the reason, not on its wording. Empty is no reason.
    pub fn from_text(text: &str) -> Option<Reason> {
        if text.is_empty() {
            return None;
        }
        let normalised = Kind::all()
            .flat_map(|kind| [Reason::NoAllow(kind), Reason::ExplicitDeny(kind)])
            .chain([Reason::ExplicitDenyUnsaid, Reason::BlockPublicAccess(None)])
            .chain(SETTINGS.iter().map(|s| Reason::BlockPublicAccess(Some(*s))))
            .find(|reason| reason.text() == text);
        Some(normalised.unwrap_or_else(|| Reason::Said(text.to_owned())))
    }
}

/// What a message says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub reason: Option<Reason>,
    /// EC2's encoded authorization failure message, to decode through STS.
    pub encoded: Option<String>,
    /// Whether the message had the "is not authorized to perform" form at all.
    pub recognised: bool,
}

const PERFORM: &str = " is not authorized to perform: ";
const ENCODED: &str = "encoded authorization failure message:";
/// Where the reason begins: AWS's two connectives.
const CLAUSES: &[&str] = &["because ", "with an explicit deny"];

/// Reads an `errorMessage`. Never fails: what it cannot read stays None.
pub fn parse(text: &str) -> Message {
    let mut message = Message::default();
    // A message wrapped over lines (as terminals and documents show it) reads as the one-line original.
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut text = one_line.as_str();
    let lower = text.to_ascii_lowercase();
    if let Some(at) = lower.find(ENCODED) {
        let blob = text[at + ENCODED.len()..].trim();
        let blob: String = blob.chars().take_while(|c| !c.is_whitespace()).collect();
        if !blob.is_empty() {
            message.encoded = Some(blob);
        }
        text = text[..at].trim_end();
    }
    let Some(at) = text.find(PERFORM) else {
        // "You are not authorized to perform this operation." alone: the refusal, nothing more.
        message.recognised = lower.contains("not authorized to perform");
        return message;
    };
    message.recognised = true;
    message.principal = principal(&text[..at]);
    let rest = text[at + PERFORM.len()..].trim();
    // Older messages wrap the action in parentheses: "(sts:DecodeAuthorizationMessage) action".
    let (action, after) = match rest.strip_prefix('(') {
        Some(inner) => inner.split_once(')').unwrap_or((inner, "")),
        None => rest.split_once(' ').unwrap_or((rest, "")),
    };
    let action = action.trim_end_matches(['.', ',']);
    if action.contains(':') {
        message.action = Some(action.to_owned());
    }
    let after = after.trim_start();
    let clause = match after.strip_prefix("on resource:") {
        Some(named) => {
            let named = named.trim_start();
            // A quoted resource ends at its quote, whatever follows; an unquoted one at the reason.
            let (resource, clause) = match named.strip_prefix('"').and_then(|q| q.split_once('"')) {
                Some((quoted, clause)) => (quoted, clause),
                None => split_at_clause(named.trim_start_matches('"')),
            };
            let resource = resource.trim().trim_end_matches('"');
            let resource = if clause.is_empty() { resource.trim_end_matches('.') } else { resource };
            if !resource.is_empty() {
                message.resource = Some(resource.to_owned());
            }
            clause
        }
        // KMS: "kms:Decrypt on the resource associated with this ciphertext because …".
        None => split_at_clause(after).1,
    };
    message.reason = reason(clause.trim());
    message
}

/// "User: ARN" at the end of what comes before "is not authorized" (after EC2's own sentence when there
/// is one); some services leave out the colon.
fn principal(head: &str) -> Option<String> {
    let arn = match head.rfind("User: ") {
        Some(at) => head[at + "User: ".len()..].trim(),
        None => head.rfind("User arn:").map(|at| head[at + "User ".len()..].trim())?,
    };
    (!arn.is_empty()).then(|| arn.to_owned())
}

/// `text` split where its reason begins (the reason empty when it has none).
fn split_at_clause(text: &str) -> (&str, &str) {
    let lower = text.to_ascii_lowercase();
    let at =
        CLAUSES
            .iter()
            .filter_map(|clause| {
                if lower.starts_with(clause) {
                    Some(0)
                } else {
                    lower.find(&format!(" {clause}")).map(|i| i + 1)
                }
            })
            .min();
    match at {
        Some(at) => (text[..at].trim_end(), &text[at..]),
        None => (text, ""),
    }
}

/// The reason a clause gives; None when there is none.
fn reason(clause: &str) -> Option<Reason> {
    let lower = clause.to_ascii_lowercase();
    if lower.starts_with("because ") {
        // The reason is one sentence: newer messages go on with "Go to https://… ".
        let words = clause["because ".len()..].split(". ").next().unwrap_or("").trim().trim_end_matches('.');
        let lower = words.to_ascii_lowercase();
        let kind = lower.strip_prefix("no ").and_then(|k| KINDS.iter().find(|(t, _)| k.starts_with(t)));
        if let Some((_, kind)) = kind {
            return Some(Reason::NoAllow(*kind));
        }
        if let Some(blocked) = block_public_access(&lower) {
            return Some(blocked);
        }
        return (!words.is_empty()).then(|| Reason::Said(words.to_owned()));
    }
    let clause = lower.strip_prefix("with an explicit deny")?.trim_start();
    let kind = clause
        .strip_prefix("in an ")
        .or_else(|| clause.strip_prefix("in a "))
        .or_else(|| clause.strip_prefix("in the "))
        .and_then(|c| KINDS.iter().find(|(t, _)| c.starts_with(t)));
    Some(match kind {
        Some((_, kind)) => Reason::ExplicitDeny(*kind),
        None => Reason::ExplicitDenyUnsaid,
    })
}

/// S3 Block Public Access, when the (lowercased) reason names one of its settings or the feature.
fn block_public_access(lower: &str) -> Option<Reason> {
    let named = SETTINGS
        .iter()
        .filter_map(|setting| lower.find(&setting.name().to_ascii_lowercase()).map(|at| (at, *setting)))
        .min();
    match named {
        Some((_, setting)) => Some(Reason::BlockPublicAccess(Some(setting))),
        None => lower.contains("block public access").then_some(Reason::BlockPublicAccess(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_text(text: &str) -> String {
        parse(text).reason.map(|r| r.text()).unwrap_or_default()
    }

    // Message texts from the AWS documentation pages named at the top of this module.
    #[test]
    fn every_documented_reason() {
        let cases = [
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action", "no identity-based policy allows"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: codecommit:ListRepositories with an explicit deny in an identity-based policy", "explicit deny in an identity-based policy"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\" because no resource-based policy allows the s3:GetObject action", "no resource-based policy allows"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\" with an explicit deny in a resource-based policy", "explicit deny in a resource-based policy"),
            ("User: arn:aws:sts::999888777666:assumed-role/ReadOnly/Tom is not authorized to perform: ec2:RunInstances on resource: arn:aws:ec2:us-east-1:999888777666:instance/* with an explicit deny in a service control policy", "explicit deny in a service control policy"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\" with an explicit deny in a resource control policy", "explicit deny in a resource control policy"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: codedeploy:ListDeployments because no permissions boundary allows the codedeploy:ListDeployments action", "no permissions boundary allows"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: codedeploy:ListDeployments with an explicit deny in a permissions boundary", "explicit deny in a permissions boundary"),
            ("User: arn:aws:sts::777788889999:assumed-role/Admin/MaryMajor is not authorized to perform: codedeploy:ListDeployments because no session policy allows the codedeploy:ListDeployments action", "no session policy allows"),
            ("User: arn:aws:sts::777788889999:assumed-role/Admin/MaryMajor is not authorized to perform: codedeploy:ListDeployments with an explicit deny in a session policy", "explicit deny in a session policy"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\" because no VPC endpoint policy allows the s3:GetObject action", "no VPC endpoint policy allows"),
            ("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\" with an explicit deny in a VPC endpoint policy", "explicit deny in a VPC endpoint policy"),
        ];
        for (text, want) in cases {
            assert_eq!(reason_text(text), want, "{text}");
            let m = parse(text);
            assert!(m.principal.as_deref().is_some_and(|p| p.starts_with("arn:aws:")), "{text}");
            assert!(m.action.as_deref().is_some_and(|a| a.contains(':') && !a.contains(' ')), "{text}");
        }
    }

    #[test]
    fn principal_action_resource() {
        let m = parse("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::example-backup-tokyo\" because no identity-based policy allows the s3:PutBucketPolicy action");
        assert_eq!(m.principal.as_deref(), Some("arn:aws:iam::111122223333:user/bob"));
        assert_eq!(m.action.as_deref(), Some("s3:PutBucketPolicy"));
        assert_eq!(m.resource.as_deref(), Some("arn:aws:s3:::example-backup-tokyo"));
        assert_eq!(m.reason, Some(Reason::NoAllow(Kind::IdentityBased)));
        let m = parse("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: lambda:ListFunctions on resource: * because no identity-based policy allows the lambda:ListFunctions action");
        assert_eq!(m.resource.as_deref(), Some("*"));
    }

    #[test]
    fn newer_explicit_deny_names_the_policy() {
        let m = parse("User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:DeleteRole on resource: arn:aws:iam::123456789012:role/prod with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/DenyDelete");
        assert_eq!(m.reason, Some(Reason::ExplicitDeny(Kind::IdentityBased)));
        assert_eq!(m.resource.as_deref(), Some("arn:aws:iam::123456789012:role/prod"));
    }

    #[test]
    fn older_messages_without_a_reason() {
        let m = parse("User: arn:aws:iam::123456789012:user/MaryMajor is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::123456789012:user/");
        assert_eq!((m.reason, m.action.as_deref()), (None, Some("iam:ListUsers")));
        assert_eq!(m.resource.as_deref(), Some("arn:aws:iam::123456789012:user/"));
        let m = parse("User: arn:aws:iam::123456789012:user/tester is not authorized to perform: ec2:RunInstances on resource: role TestReadOnly with an explicit deny");
        assert_eq!(m.reason, Some(Reason::ExplicitDenyUnsaid));
        let m = parse("User: xxx is not authorized to perform: (sts:DecodeAuthorizationMessage) action");
        assert_eq!(m.action.as_deref(), Some("sts:DecodeAuthorizationMessage"));
    }

    #[test]
    fn ec2_messages() {
        let m = parse("You are not authorized to perform this operation. Encoded authorization failure message: AxAouGQ1cERIwCz4FdPwbB6O");
        assert_eq!(m.encoded.as_deref(), Some("AxAouGQ1cERIwCz4FdPwbB6O"));
        assert!(m.recognised);
        assert_eq!((m.principal, m.action, m.reason), (None, None, None));
        let m = parse("You are not authorized to perform this operation. User: arn:aws:sts::999888777666:assumed-role/ReadOnly/Tom is not authorized to perform: ec2:RunInstances on resource: arn:aws:ec2:us-east-1:999888777666:instance/* with an explicit deny in a service control policy. Encoded authorization failure message: XQ_jqde5rHje6j9P-qke7");
        assert_eq!(m.principal.as_deref(), Some("arn:aws:sts::999888777666:assumed-role/ReadOnly/Tom"));
        assert_eq!(m.resource.as_deref(), Some("arn:aws:ec2:us-east-1:999888777666:instance/*"));
        assert_eq!(m.reason, Some(Reason::ExplicitDeny(Kind::ServiceControl)));
        assert_eq!(m.encoded.as_deref(), Some("XQ_jqde5rHje6j9P-qke7"));
        let m = parse("You are not authorized to perform this operation. User: arn:aws:iam::111122223333:user/bob is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows the ec2:DescribeInstances action");
        assert_eq!(m.action.as_deref(), Some("ec2:DescribeInstances"));
    }

    #[test]
    fn text_of_any_kind_never_panics() {
        for text in [
            "Üser: ä is not authorized to perform: é:ü on resource: \"ß\" because no 日本 policy allows",
            "encoded authorization failure message:",
            "Encoded authorization failure message: 日本語 tail",
            " is not authorized to perform: ",
            "User: x is not authorized to perform: a:b with an explicit deny in a",
        ] {
            let _ = parse(text);
        }
        assert_eq!(
            parse("User: x is not authorized to perform: a:b because no other policy allows").reason,
            Some(Reason::Said("no other policy allows".to_owned()))
        );
    }

    // The S3 User Guide's examples ("Access denied due to Block Public Access settings"), and the wording
    // S3 also uses for BlockPublicPolicy.
    #[test]
    fn s3_block_public_access() {
        let cases = [
            ("User: arn:aws:iam::123456789012:user/bob is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::b\" because public policies are blocked by the BlockPublicPolicy block public access setting.", "s3:PutBucketPolicy", "arn:aws:s3:::b", "blocked by S3 Block Public Access (BlockPublicPolicy)"),
            ("An error occurred (AccessDenied) when calling the PutBucketPolicy operation: User: arn:aws:sts::123456789012:user/MaryMajor is not authorized to\nperform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\"\nbecause public policies are prevented by the BlockPublicPolicy setting in S3 Block Public Access.", "s3:PutBucketPolicy", "arn:aws:s3:::amzn-s3-demo-bucket1/object-name", "blocked by S3 Block Public Access (BlockPublicPolicy)"),
            ("User: arn:aws:sts::123456789012:user/MaryMajor is not authorized to perform: s3:CopyObject on resource: \"arn:aws:s3:::amzn-s3-demo-bucket1/object-name\" because public ACLs are prevented by the BlockPublicAcls setting in S3 Block Public Access.", "s3:CopyObject", "arn:aws:s3:::amzn-s3-demo-bucket1/object-name", "blocked by S3 Block Public Access (BlockPublicAcls)"),
            ("User: arn:aws:iam::1:user/x is not authorized to perform: s3:PutObjectAcl on resource: \"arn:aws:s3:::b/k\" because public ACLs are prevented by the BlockPublicACLs setting in S3 Block Public Access.", "s3:PutObjectAcl", "arn:aws:s3:::b/k", "blocked by S3 Block Public Access (BlockPublicAcls)"),
            ("User: arn:aws:iam::1:user/x is not authorized to perform: s3:PutObjectAcl on resource: \"arn:aws:s3:::b/k\" because public ACLs are prevented by the BlockPublicAccess setting in S3 Block Public Access.", "s3:PutObjectAcl", "arn:aws:s3:::b/k", "blocked by S3 Block Public Access"),
        ];
        for (text, action, resource, reason) in cases {
            let m = parse(text);
            assert_eq!(
                (m.action.as_deref(), m.resource.as_deref(), reason_text(text).as_str()),
                (Some(action), Some(resource), reason),
                "{text}"
            );
        }
    }

    #[test]
    fn any_other_reason_is_the_messages_own_words_and_never_the_resource() {
        let m = parse("User: arn:aws:iam::1:user/x is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::b/k\" because this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C).");
        assert_eq!(m.resource.as_deref(), Some("arn:aws:s3:::b/k"));
        assert_eq!(
            m.reason,
            Some(Reason::Said(
                "this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C)".to_owned()
            ))
        );
        // KMS names no resource; "User" without its colon.
        let m = parse("User arn:aws:sts::251774439261:assumed-role/r/s is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access");
        assert_eq!(m.principal.as_deref(), Some("arn:aws:sts::251774439261:assumed-role/r/s"));
        assert_eq!((m.action.as_deref(), m.resource.as_deref()), (Some("kms:Decrypt"), None));
        assert!(
            matches!(&m.reason, Some(Reason::Said(w)) if w.starts_with("the resource does not exist in this Region, "))
        );
        let m = parse("User: *** is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because no identity-based policy allows the kms:Decrypt action");
        assert_eq!(m.reason, Some(Reason::NoAllow(Kind::IdentityBased)));
        // An unquoted resource ends where the reason begins, and the reason at its sentence.
        let m = parse("User: arn:aws:iam::1:user/x is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:us-east-1::parameter/cdk because no service control policy allows the ssm:GetParameter action. Go to https://console.aws.amazon.com/iam/home#/authorization-details/EXAMPLE");
        assert_eq!(m.resource.as_deref(), Some("arn:aws:ssm:us-east-1::parameter/cdk"));
        assert_eq!(m.reason, Some(Reason::NoAllow(Kind::ServiceControl)));
        let m = parse("User: arn:aws:iam::1:user/x is not authorized to perform: iam:CreateInstanceProfile on resource: arn:aws:iam::1:instance-profile/p with an explicit deny in an identity-based policy: arn:aws:iam::1:policy/Deny. Go to https://us-east-1.console.aws.amazon.com/iam/home#/authorization-details/EXAMPLE");
        assert_eq!(m.resource.as_deref(), Some("arn:aws:iam::1:instance-profile/p"));
        assert_eq!(m.reason, Some(Reason::ExplicitDeny(Kind::IdentityBased)));
    }

    #[test]
    fn every_reason_reads_back_from_its_text() {
        let mut reasons: Vec<Reason> =
            Kind::all().flat_map(|k| [Reason::NoAllow(k), Reason::ExplicitDeny(k)]).collect();
        reasons.push(Reason::ExplicitDenyUnsaid);
        reasons.push(Reason::BlockPublicAccess(None));
        reasons.extend(SETTINGS.iter().map(|s| Reason::BlockPublicAccess(Some(*s))));
        reasons.push(Reason::Said("the key is disabled".to_owned()));
        for reason in reasons {
            assert_eq!(Reason::from_text(&reason.text()), Some(reason.clone()), "{reason:?}");
        }
        assert_eq!(Reason::from_text(""), None);
    }

    #[test]
    fn anything_else_is_read_as_nothing() {
        for text in [
            "Access Denied",
            "",
            "Rate exceeded",
            "is not authorized to perform: ",
            "User:  is not authorized to perform: x",
        ] {
            let m = parse(text);
            assert_eq!((m.action, m.reason), (None, None), "{text}");
        }
    }
}
