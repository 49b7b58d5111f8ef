//! Bad input: one clear line on stderr, the right exit code, and no request sent for usage errors.

use crate::common::*;

/// Runs and returns (exit code, stderr), checking that stderr is exactly one line and stdout is empty.
fn fails(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().expect("run ctlookup");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr, got: {stderr}");
    assert!(stderr.starts_with("ctlookup: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    (out.status.code().expect("exit code"), stderr)
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let sb = Sandbox::new();
    let server = serve(&records(10, 30, fixed_newest()));
    let long_name = "a".repeat(2001);
    let underscores = format!("ResourceName={}", "_".repeat(1001));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--since", "yesterday"], "invalid time 'yesterday'"),
        (vec!["--until", "2024-02-30"], "invalid time '2024-02-30'"),
        (vec!["--since", "1h", "--until", "2h"], "is after --end-time"),
        (vec!["--since", "2024-07-22T10:00:00Z", "--until", "2024-07-22"], "the window is empty"),
        (vec!["--tz", "Mars/Olympus"], "unknown time zone"),
        (vec!["--lookup-attribute", "EventNam=RunInstances"], "did you mean EventName?"),
        (vec!["--lookup-attribute", "RunInstances"], "expected KEY=VALUE"),
        (vec!["--lookup-attribute", "AttributeKey=EventName"], "AttributeKey=KEY,AttributeValue=VALUE"),
        (vec!["--lookup-attribute", "EventName=A", "--lookup-attribute", "EventName=B"], "one lookup attribute"),
        (vec!["--lookup-attribute", &underscores], "2002 units"),
        (vec!["--resource-name", &long_name], "too long"),
        (vec!["--event-name", ""], "empty value"),
        (vec!["-o", "xml"], "invalid value 'xml'"),
        (vec!["--read-only", "maybe"], "invalid value 'maybe'"),
        (vec!["--max-items", "0"], "at least 1"),
        (vec!["--max-items", "lots"], "invalid value 'lots'"),
        (vec!["--event-category", "data"], "invalid value 'data'"),
        (vec!["--no-such-option"], "unexpected argument"),
        (vec!["--input", "x.json", "--starting-token", "abc"], "cannot be combined with --input"),
    ];
    for (args, expected) in cases {
        let (code, stderr) = fails(sb.ctlookup().args(["--endpoint-url", &server.url()]).args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: expected '{expected}' in: {stderr}");
    }
    assert!(server.requests().is_empty(), "usage errors send nothing");
}

#[test]
fn runtime_errors_exit_1_and_say_what_to_do() {
    let sb = Sandbox::new();
    let server = serve(&records(10, 31, fixed_newest()));

    let (code, stderr) = fails(sb.bare().args(["--endpoint-url", &server.url(), "--region", "us-east-1"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no AWS credentials") && stderr.contains("--profile"), "{stderr}");

    let (code, stderr) = fails(
        sb.bare()
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTEXAMPLE00000")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .args(["--endpoint-url", &server.url()]),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no AWS region") && stderr.contains("--region"), "{stderr}");
    assert!(server.requests().is_empty());

    // Nothing listens on a port that was just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}");
    let (code, stderr) = fails(sb.ctlookup().args(["--endpoint-url", &url]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("cannot reach {url}")), "{stderr}");

    // An error from the service itself: a token from nowhere.
    let (code, stderr) =
        fails(sb.ctlookup().args(["--endpoint-url", &server.url(), "--starting-token", "bm90LWEtdG9rZW4="]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("InvalidNextTokenException") && stderr.contains("--starting-token"), "{stderr}");

    let missing = sb.path("missing.json");
    let (code, stderr) = fails(sb.ctlookup().args(["--input", missing.to_str().unwrap()]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("missing.json") && stderr.contains("No such file"), "{stderr}");
}

#[test]
fn help_and_version_succeed() {
    let sb = Sandbox::new();
    let out = sb.ctlookup().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in ["--since", "--lookup-attribute", "--input", "--max-items", "--starting-token", "--tz"] {
        assert!(help.contains(option), "{option} in --help");
    }
    let out = sb.ctlookup().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("ctlookup "));
}
