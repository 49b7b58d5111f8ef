//! Every output format on the fixed example set, as a user would pipe or open it: golden files, CSV read
//! back by a strict reader, the BOM and the formula guard, and terminal safety of the table.
//!
//! `UPDATE_GOLDEN=1 cargo test --test outputs` rewrites the golden files after a deliberate change;
//! review the diff before committing it.

use std::path::PathBuf;

use crate::common::*;
use serde_json::Value;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lookup-events.json");

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn run(sb: &Sandbox, args: &[&str]) -> Vec<u8> {
    let out = sb
        .ctlookup()
        .env("COLUMNS", "120")
        .args(["--input", EXAMPLE, "--tz", "Asia/Tokyo"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn example_records() -> Vec<Value> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    doc["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn every_format_matches_its_golden_file() {
    let sb = Sandbox::new();
    let cases: [(&str, &[&str]); 6] = [
        ("lookup-events.jsonl", &["-o", "jsonl"]),
        ("lookup-events.json", &["-o", "json"]),
        ("lookup-events.csv", &["-o", "csv"]),
        ("lookup-events.tsv", &["-o", "tsv"]),
        ("lookup-events.table", &["-o", "table", "--color", "never"]),
        (
            "lookup-events.color.table",
            &["-o", "table", "--color", "always", "--columns", "eventTime,user,eventName,errorCode,userAgent"],
        ),
    ];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, args) in cases {
        let got = run(&sb, args);
        let path = golden(name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want =
            std::fs::read(&path).unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
        assert!(got == want, "{name} differs from {}:\n{}", path.display(), String::from_utf8_lossy(&got));
    }
}

#[test]
fn csv_reads_back_with_a_strict_reader() {
    let sb = Sandbox::new();
    let records = example_records();
    let text = run(&sb, &["-o", "csv", "--columns", "eventID,eventName,userAgent,requestParameters,errorMessage"]);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["eventID", "eventName", "userAgent", "requestParameters", "errorMessage"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a well-formed row")).collect();
    assert_eq!(rows.len(), records.len());
    let guard = |s: &str| if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
    for (row, record) in rows.iter().zip(&records) {
        assert_eq!(&row[0], record["eventID"].as_str().unwrap());
        assert_eq!(&row[2], guard(record["userAgent"].as_str().unwrap_or_default()));
        let params = match &record["requestParameters"] {
            Value::Null => String::new(),
            other => other.to_string(),
        };
        assert_eq!(&row[3], guard(&params), "objects are compact JSON");
        assert_eq!(&row[4], guard(record["errorMessage"].as_str().unwrap_or_default()));
    }
    let raw = String::from_utf8(text).unwrap();
    assert!(raw.contains("\r\n") && !raw.replace("\r\n", "").contains("\r\n"));
    assert!(raw.contains("本番環境の説明"), "Japanese text is written as UTF-8");
}

#[test]
fn bom_and_guard_exactly_when_asked() {
    let sb = Sandbox::new();
    let formula = r#"=HYPERLINK("http://evil.example","click")"#;
    let plain = run(&sb, &["-o", "csv", "--columns", "userAgent"]);
    assert!(!plain.starts_with("\u{feff}".as_bytes()));
    let text = String::from_utf8(plain).unwrap();
    assert!(text.contains(&format!("\"'{}\"", formula.replace('"', "\"\""))), "guarded: {text}");
    let with_bom = run(&sb, &["-o", "csv", "--bom", "--columns", "userAgent"]);
    assert!(with_bom.starts_with("\u{feff}userAgent\r\n".as_bytes()));
    let unguarded = String::from_utf8(run(&sb, &["-o", "csv", "--no-csv-guard", "--columns", "userAgent"])).unwrap();
    assert!(unguarded.contains(&format!("\"{}\"", formula.replace('"', "\"\""))));
    assert!(!unguarded.contains("'="));
    let tsv = String::from_utf8(run(&sb, &["-o", "tsv", "--bom", "--columns", "userAgent"])).unwrap();
    assert!(tsv.starts_with("\u{feff}userAgent\n") && tsv.contains(&format!("\n'{formula}\n")));
}

#[test]
fn the_table_never_sends_raw_control_characters_from_the_data() {
    let sb = Sandbox::new();
    let columns = "eventTime,user,eventName,errorCode,userAgent";
    for color in ["never", "always"] {
        let mut out = run(&sb, &["-o", "table", "--color", color, "--columns", columns]);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("\\x1b[31m"), "the ANSI user agent is shown escaped");
        // Remove the writer's own codes; no escape byte may remain.
        for code in ["\x1b[1m", "\x1b[31m", "\x1b[0m"] {
            out = String::from_utf8(out).unwrap().replace(code, "").into_bytes();
        }
        assert!(!out.contains(&0x1b), "--color {color}: a raw ESC from the data reached the terminal");
        assert_eq!(text.contains('\x1b'), color == "always");
    }
}

#[test]
fn bad_output_options_are_usage_errors() {
    let sb = Sandbox::new();
    for (args, expected) in [
        (vec!["-o", "jsonl", "--columns", "eventName"], "--columns applies to"),
        (vec!["-o", "json", "--bom"], "--bom applies to"),
        (vec!["-o", "csv", "--columns", "a,,b"], "empty column name"),
        (vec!["--color", "sometimes"], "invalid value 'sometimes'"),
    ] {
        let out = sb.ctlookup().args(["--input", EXAMPLE]).args(&args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.lines().count() == 1, "{args:?}: {stderr}");
    }
}

#[test]
fn jq_programs_print_what_jq_prints() {
    let sb = Sandbox::new();
    let programs = [
        ".eventName",
        "select(.errorCode != null) | {id: .eventID, error: .errorCode}",
        r#".userIdentity.sessionContext.sessionIssuer.userName // "none""#,
        "[.resources[]?.ARN]",
        r#""\(.eventName) by \(.userIdentity.type)""#,
        ".requestParameters | keys?",
        r#".eventTime | split("T")[0]"#,
        ".userAgent | ascii_downcase | test(\"aws-cli\")",
    ];
    let jq = std::path::Path::new("/usr/bin/jq");
    let jsonl = run(&sb, &["-o", "jsonl"]);
    for program in programs {
        let ours = run(&sb, &["--jq", program]);
        assert!(!ours.is_empty(), "{program} printed something");
        for line in String::from_utf8(ours.clone()).unwrap().lines() {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("{program}: not one JSON value: {line}: {e}"));
        }
        if jq.exists() {
            let mut child = std::process::Command::new(jq)
                .args(["-c", program])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), &jsonl).unwrap();
            drop(child.stdin.take());
            let theirs = child.wait_with_output().unwrap().stdout;
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "--jq {program}");
        }
    }
    let exact = run(&sb, &["--jq", "{name: .eventName, n: 1.5}", "--max-items", "1"]);
    assert_eq!(String::from_utf8(exact).unwrap(), "{\"name\":\"LookupEvents\",\"n\":1.5}\n");
}

#[test]
fn jq_errors() {
    let sb = Sandbox::new();
    let out = sb.ctlookup().args(["--input", EXAMPLE, "--jq", ".["]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("ctlookup: --jq: ") && stderr.lines().count() == 1, "{stderr}");
    // A runtime error names the event and goes on; the run then exits 1.
    let out = sb
        .ctlookup()
        .args(["--input", EXAMPLE, "--jq", "if .errorCode then error(\"bad\") else .eventID end"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let records = example_records();
    let failed = records.iter().filter(|r| r.get("errorCode").is_some()).count();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), records.len() - failed);
    assert!(stderr.contains("--jq error on event ") && stderr.contains(&format!("--jq failed on {failed} events")));
    // The program cannot end the process or read the environment.
    let out = sb.ctlookup().args(["--input", EXAMPLE, "--jq", "halt", "--max-items", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = sb
        .ctlookup()
        .env("AWS_SECRET_ACCESS_KEY", "do-not-print")
        .args(["--input", EXAMPLE, "--jq", "env"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("do-not-print"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("do-not-print"));
    let out = sb.ctlookup().args(["--input", EXAMPLE, "--jq", ".", "-o", "csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
