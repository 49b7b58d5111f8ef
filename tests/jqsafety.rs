//! `--jq` cannot crash ctlookup or hold its output back: runaway recursion is an error of each event,
//! deeply nested values are printed or refused, and an endless program streams in bounded memory and
//! ends when its reader goes.

use std::io::{BufRead, BufReader};
use std::process::ExitStatus;

use crate::common::*;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lookup-events.json");

fn jq(sb: &Sandbox, program: &str, max_items: usize) -> std::process::Output {
    let max = max_items.to_string();
    sb.ctlookup().args(["--input", EXAMPLE, "--max-items", &max, "--jq", program]).output().unwrap()
}

#[test]
fn runaway_recursion_is_an_error_of_each_event_not_a_crash() {
    let sb = Sandbox::new();
    for program in
        ["def f: 1 + f; f", "def f: [f]; f", "def f: reduce f as $x (0; . + $x); f", "def f($n): 1 + f($n + 1); f(0)"]
    {
        let out = jq(&sb, program, 3);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{program}: {stderr}");
        assert!(out.stdout.is_empty(), "{program}");
        let errors = stderr.lines().filter(|l| l.contains("--jq error on event ")).collect::<Vec<_>>();
        assert_eq!(errors.len(), 3, "{program}: {stderr}");
        assert!(errors.iter().all(|l| l.contains("recursed or nested too deeply")), "{program}: {stderr}");
        assert!(stderr.contains("--jq failed on 3 events"), "{program}: {stderr}");
    }
    // What an event printed before its program ran away stays, and the next event runs.
    let out = jq(&sb, ".eventName, (def f: 1 + f; f)", 3);
    assert_eq!(out.status.code(), Some(1));
    let names = jq(&sb, ".eventName", 3).stdout;
    assert_eq!(names.iter().filter(|&&b| b == b'\n').count(), 3);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), String::from_utf8(names).unwrap());
}

#[test]
fn deeply_nested_values_are_printed_or_refused_not_a_crash() {
    let sb = Sandbox::new();
    // Built by reduce, 200,000 levels deep: taken apart at the end without exhausting the stack.
    let out = jq(&sb, "reduce range(200000) as $x (null; [.]) | length", 2);
    assert_eq!((out.status.code(), String::from_utf8(out.stdout).unwrap()), (Some(0), "1\n1\n".to_owned()));
    // Printed whole.
    let out = jq(&sb, "reduce range(100000) as $x (0; [.])", 1);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = format!("{}0{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(out.stdout == expected.as_bytes(), "{} bytes printed", out.stdout.len());
    // fromjson refuses what is nested beyond jq 1.7's limit, and reads what is within it.
    let out = jq(&sb, r#""[" * 1000000 | fromjson"#, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("nested more than 10000 levels deep").count(), 2, "{stderr}");
    let out = jq(&sb, r#""[" * 5000 + "]" * 5000 | fromjson | length"#, 1);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "1\n");
}

/// Waits for the child to end by itself once its reader went, and returns its status and stderr.
fn wait_for_end(running: Running) -> (ExitStatus, String) {
    let out = running.finish();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// ctlookup with `--jq program`, its stdout left for the test to read ([`Running::read_stdout`]: a
/// ctlookup that prints nothing fails the test instead of hanging it).
fn spawn_jq(sb: &Sandbox, program: &str) -> Running {
    Running::start_unread(sb.std_ctlookup().args(["--input", EXAMPLE, "--max-items", "1", "--jq", program]))
}

/// `ctlookup --jq 'range(1e9)' | head -1`: one line, then a quiet end.
#[test]
fn an_endless_program_ends_when_its_reader_goes() {
    let sb = Sandbox::new();
    let mut child = spawn_jq(&sb, "range(1e9)");
    let first = child.read_stdout(|stdout| {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    assert_eq!(first, "0\n");
    let (status, stderr) = wait_for_end(child);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
}

/// An endless program read by a slow or fast reader streams: its outputs are not kept back.
#[test]
fn an_endless_program_streams_in_bounded_memory() {
    const READ: usize = 200 << 20;
    let sb = Sandbox::new();
    let mut child = spawn_jq(&sb, "repeat(.)");
    let pid = child.id();
    let (lines, rss) = child.read_stdout(move |stdout| {
        let mut reader = BufReader::with_capacity(1 << 20, stdout);
        let (mut read, mut lines, mut line) = (0, 0, String::new());
        while read < READ {
            line.clear();
            read += reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("{\"eventVersion\"") && line.ends_with("}\n"), "{line:.200}");
            lines += 1;
        }
        // Measured while ctlookup runs on, blocked on the pipe that is still open.
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        (lines, rss)
    });
    assert!(lines > 1000);
    if cfg!(target_os = "linux") {
        let rss_kib = rss.expect("VmRSS of the running ctlookup");
        assert!(rss_kib < 100 * 1024, "ctlookup holds {rss_kib} KiB after printing {READ} bytes");
    }
    let (status, stderr) = wait_for_end(child);
    assert!(status.success(), "{status}: {stderr}");
}
