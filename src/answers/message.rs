//! AccessDenied messages read: the principal, action and resource a refusal names, which kind of policy
//! refused it, and EC2's encoded authorization failure message. Formats, as AWS documents them
//! (IAM User Guide, "Troubleshoot access denied error messages",
//! https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html; S3 User Guide,
//! "Access denied message examples", https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html;
//! AWS Organizations, "explicit deny in a service control policy" and EC2's "Encoded authorization
//! failure message", https://repost.aws/knowledge-center/organizations-troubleshoot-explicit-deny-scp and
//! https://repost.aws/knowledge-center/ec2-not-auth-launch):
//!
//! * `User: ARN is not authorized to perform: ACTION [on resource: RESOURCE] because no TYPE policy allows the ACTION action`
//! * `User: ARN is not authorized to perform: ACTION [on resource: RESOURCE] with an explicit deny in a TYPE policy[: POLICY-ARN]`
//! * the older form without a reason, `User: ARN is not authorized to perform: ACTION on resource: RESOURCE`
//!   (and its `… with an explicit deny` without a policy type);
//! * S3 quotes the resource (`on resource: "arn:aws:s3:::bucket"`);
//! * EC2 prefixes `You are not authorized to perform this operation.` and may end with
//!   `Encoded authorization failure message: …`, alone or after one of the forms above.

/// Which policy refused the call, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The message does not say.
    Unknown,
    /// `because no <kind> allows`: nothing granted it (an implicit deny).
    NoAllow(Kind),
    /// `with an explicit deny in a <kind>`.
    ExplicitDeny(Kind),
    /// The older `with an explicit deny`, without the kind of policy.
    ExplicitDenyUnsaid,
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

impl Kind {
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
    pub fn text(self) -> String {
        match self {
            Reason::Unknown => String::new(),
            Reason::NoAllow(kind) => format!("no {} allows", kind.text()),
            Reason::ExplicitDeny(kind) => {
                let article = if kind == Kind::IdentityBased { "an" } else { "a" };
                format!("explicit deny in {article} {}", kind.text())
            }
            Reason::ExplicitDenyUnsaid => "explicit deny".to_owned(),
        }
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

/// Reads an `errorMessage`. Never fails: what it cannot read stays None.
pub fn parse(text: &str) -> Message {
    let mut message = Message::default();
    let mut text = text.trim();
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
    let head = &text[..at];
    // "User: ARN", after EC2's own sentence when there is one.
    if let Some(user) = head.rfind("User: ") {
        let arn = head[user + 6..].trim();
        if !arn.is_empty() {
            message.principal = Some(arn.to_owned());
        }
    }
    let mut rest = text[at + PERFORM.len()..].trim().trim_end_matches('.').trim_end();
    // The reason, at the end.
    let lower_rest = rest.to_ascii_lowercase();
    if let Some(i) = lower_rest.find(" because no ") {
        let clause = &lower_rest[i + " because no ".len()..];
        message.reason = Some(
            KINDS.iter().find(|(t, _)| clause.starts_with(t)).map_or(Reason::Unknown, |(_, k)| Reason::NoAllow(*k)),
        );
        rest = &rest[..i];
    } else if let Some(i) = lower_rest.find(" with an explicit deny") {
        let clause = lower_rest[i + " with an explicit deny".len()..].trim_start();
        let clause = clause
            .strip_prefix("in an ")
            .or_else(|| clause.strip_prefix("in a "))
            .or_else(|| clause.strip_prefix("in the "));
        message.reason = Some(match clause.and_then(|c| KINDS.iter().find(|(t, _)| c.starts_with(t))) {
            Some((_, kind)) => Reason::ExplicitDeny(*kind),
            None => Reason::ExplicitDenyUnsaid,
        });
        rest = &rest[..i];
    }
    let (action, resource) = match rest.find(" on resource: ") {
        Some(i) => (&rest[..i], Some(rest[i + " on resource: ".len()..].trim())),
        None => (rest, None),
    };
    // Older messages wrap the action in parentheses: "(sts:DecodeAuthorizationMessage) action".
    let action = action.trim().trim_start_matches('(').split([')', ' ']).next().unwrap_or("");
    if action.contains(':') {
        message.action = Some(action.to_owned());
    }
    if let Some(resource) = resource {
        let resource = resource.trim_matches('"').trim();
        if !resource.is_empty() {
            message.resource = Some(resource.to_owned());
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        parse(text).reason.map(Reason::text).unwrap_or_default()
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
            assert_eq!(reason(text), want, "{text}");
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
            Some(Reason::Unknown)
        );
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
