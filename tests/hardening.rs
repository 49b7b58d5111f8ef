//! Mistakes and odd inputs that must end as one clear line with the right exit status, before anything
//! is sent: usage errors reported as such, typos warned about, nothing raw on the terminal.

use crate::common::*;
use serde_json::json;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_endpoints_regions_and_rates_are_usage_errors() {
    let sb = Sandbox::new();
    let long_region = "a".repeat(5000);
    let cases: [(&[&str], &str); 6] = [
        (&["--endpoint-url", "http://"], "--endpoint-url"),
        (&["--endpoint-url", "http://127.0.0.1:99999"], "not a valid URL"),
        (&["--endpoint-url", "http://user:secret@"], "--endpoint-url"),
        (&["--region", &long_region], "--region"),
        (&["--tps", "5000"], "at most 1000"),
        (&["--where", "sourceIPAddress in (10.0.0.0/-1)"], "invalid IP network"),
    ];
    for (args, says) in cases {
        let out = run_code(sb.ctlookup().args(args), 2);
        let said = stderr(&out);
        assert_eq!(said.lines().count(), 1, "{args:?}: {said}");
        assert!(said.contains(says), "{args:?}: {said}");
        assert!(!said.contains("secret"), "{said}");
        assert!(said.len() < 400, "{args:?}: a long value is not echoed whole");
    }
}

#[test]
fn a_column_no_event_had_is_warned_about() {
    let sb = Sandbox::new();
    let path = sb.path("one.jsonl");
    write(
        &path,
        &(json!({"eventID": "a", "eventName": "GetObject", "requestParameters": {"bucketName": "b"}}).to_string()
            + "\n"),
    );
    let columns = "eventName,requestParameters.bucketNme";
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "-o", "csv", "--columns", columns]));
    let said = stderr(&out);
    assert!(
        said.contains("requestParameters.bucketNme") && said.contains("did you mean requestParameters.bucketName"),
        "{said}"
    );
    // The default columns are not typos: no warning for the errorCode most events lack.
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "-o", "csv"]));
    assert_eq!(stderr(&out), "");
}

#[test]
fn control_characters_from_files_never_reach_stderr_raw() {
    let sb = Sandbox::new();
    let path = sb.path("evil\u{1b}]0;title\u{7}.jsonl");
    write(&path, "\u{1b}[31mnot json\u{202e}\n");
    let out = run_code(sb.ctlookup().args(["--input", path.to_str().unwrap()]), 1);
    let said = stderr(&out);
    assert!(!said.contains('\u{1b}') && !said.contains('\u{7}') && !said.contains('\u{202e}'), "{said:?}");
    assert!(said.contains("evil\\x1b]0;title\\x07.jsonl"), "{said}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stderr_is_no_panic() {
    let sb = Sandbox::new();
    let path = sb.path("bad.jsonl");
    write(&path, "not json\n");
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let status = sb.std_ctlookup().args(["--input", path.to_str().unwrap()]).stderr(full).status().unwrap();
    assert_eq!(status.code(), Some(1), "the error, not a panic (101)");
}
