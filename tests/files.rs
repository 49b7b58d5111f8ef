//! `--input`: saved aws output, trail log trees, JSON Lines and stdin give what the API gives.

use std::io::Write;

use crate::common::*;
use fake_cloudtrail::generate;
use flate2::write::GzEncoder;
use serde_json::Value;

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The same records three ways on disk, and the fake server holding them.
struct Fixture {
    sb: Sandbox,
    records: Vec<Value>,
    server: fake_cloudtrail::server::FakeCloudTrail,
}

impl Fixture {
    fn new() -> Fixture {
        let sb = Sandbox::new();
        let records = records(250, 21, fixed_newest());
        let mut aws = Vec::new();
        generate::write_aws_cli_document(&mut aws, &records).unwrap();
        std::fs::write(sb.path("lookup-events.json"), aws).unwrap();
        let mut jsonl = Vec::new();
        generate::write_records_jsonl(&mut jsonl, &records).unwrap();
        std::fs::write(sb.path("records.jsonl"), jsonl).unwrap();
        generate::write_trail_tree(&sb.path("bucket"), &records).unwrap();
        let server = serve(&records);
        Fixture { sb, records, server }
    }

    fn api(&self, filters: &[&str]) -> Vec<String> {
        let out = run_ok(self.sb.api(&self.server.url()).args(filters));
        jsonl_ids(&out.stdout)
    }

    fn file(&self, input: &str, filters: &[&str]) -> Vec<String> {
        let out = run_ok(self.sb.ctlookup().args(["--input", input]).args(filters));
        jsonl_ids(&out.stdout)
    }
}

#[test]
fn files_give_what_the_api_gives() {
    let fx = Fixture::new();
    let saved = fx.sb.path("lookup-events.json");
    let tree = fx.sb.path("bucket");
    let filter_sets: [&[&str]; 6] = [
        &[],
        &["--username", "alice"],
        &["--event-name", "ConsoleLogin"],
        &["--event-source", "ec2.amazonaws.com", "--read-only", "false"],
        &["--resource-type", "AWS::EC2::Instance"],
        &["--since", "2024-07-21T12:00:00Z", "--until", "2024-07-22T06:00:00Z", "--username", "bob"],
    ];
    for filters in filter_sets {
        let api = fx.api(filters);
        assert!(!api.is_empty(), "{filters:?} matches something");
        // Saved aws output keeps the API's order.
        assert_eq!(fx.file(saved.to_str().unwrap(), filters), api, "saved output {filters:?}");
        // A trail's tree is read file by file; the set is the same.
        assert_eq!(sorted(fx.file(tree.to_str().unwrap(), filters)), sorted(api.clone()), "trail tree {filters:?}");
    }
    assert_eq!(fx.api(&[]).len(), fx.records.len());
}

#[test]
fn stdin_and_json_lines() {
    let fx = Fixture::new();
    let jsonl = std::fs::read(fx.sb.path("records.jsonl")).unwrap();
    let out = run_ok(fx.sb.ctlookup().args(["--input", "-", "--username", "alice"]).write_stdin(jsonl.clone()));
    assert_eq!(jsonl_ids(&out.stdout), fx.api(&["--username", "alice"]));
    // Records come out byte for byte as they went in.
    let out = run_ok(fx.sb.ctlookup().args(["--input", "-"]).write_stdin(jsonl.clone()));
    assert_eq!(out.stdout, jsonl);
    // Gzip on stdin is recognised by its content, not a file name.
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(fx.sb.path("lookup-events.json")).unwrap()).unwrap();
    let out = run_ok(
        fx.sb.ctlookup().args(["--input", "-", "--event-name", "ConsoleLogin"]).write_stdin(gz.finish().unwrap()),
    );
    assert_eq!(jsonl_ids(&out.stdout), fx.api(&["--event-name", "ConsoleLogin"]));
}

#[test]
fn json_from_trail_logs_derives_the_envelope() {
    let fx = Fixture::new();
    let tree = fx.sb.path("bucket");
    let out = run_ok(fx.sb.ctlookup().args(["--input", tree.to_str().unwrap(), "-o", "json", "--tz", "UTC"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<Value> = doc["Events"].as_array().unwrap().clone();
    got.sort_by_key(|e| e["EventId"].as_str().unwrap().to_owned());
    let mut want: Vec<Value> = fx.records.iter().map(generate::aws_cli_event).collect();
    want.sort_by_key(|e| e["EventId"].as_str().unwrap().to_owned());
    assert_eq!(got, want);
}

#[test]
fn several_inputs_and_max_items() {
    let fx = Fixture::new();
    let saved = fx.sb.path("lookup-events.json");
    let out = run_ok(fx.sb.ctlookup().args(["--input", saved.to_str().unwrap(), "--input", saved.to_str().unwrap()]));
    assert_eq!(jsonl_ids(&out.stdout).len(), 2 * fx.records.len());
    let out = run_ok(fx.sb.ctlookup().args(["--input", saved.to_str().unwrap(), "--max-items", "5"]));
    assert_eq!(jsonl_ids(&out.stdout), fx.api(&["--max-items", "5"]));
}

#[test]
fn bad_records_are_warned_counted_and_skipped() {
    let fx = Fixture::new();
    let good: Vec<String> = fx.records[..3].iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    let text = format!("{}\nnot json at all\n{}\n\n[1,2]\n{}\n", good[0], good[1], good[2]);
    let path = fx.sb.path("mixed.jsonl");
    write(&path, &text);
    // Everything readable is printed, and the exit status says that something was not.
    let out = run_code(fx.sb.ctlookup().args(["--input", path.to_str().unwrap()]), 1);
    assert_eq!(jsonl_ids(&out.stdout), fx.records[..3].iter().map(event_id).collect::<Vec<_>>());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("mixed.jsonl: line 2: not JSON"), "{stderr}");
    assert!(stderr.contains("mixed.jsonl: line 5: not a JSON object"), "{stderr}");
    assert!(stderr.contains("2 unreadable events or records were skipped"), "{stderr}");

    // A truncated gzip trail log: the events before the cut are kept, the file is named.
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(serde_json::json!({"Records": fx.records[..20]}).to_string().as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let cut = fx.sb.path("cut.json.gz");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = run_code(fx.sb.ctlookup().args(["--input", cut.to_str().unwrap()]), 1);
    let got = jsonl_ids(&out.stdout);
    assert!(!got.is_empty() && got.len() < 20, "{} events before the cut", got.len());
    assert_eq!(got, fx.records[..got.len()].iter().map(event_id).collect::<Vec<_>>());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cut.json.gz: truncated"), "{stderr}");

    // A CloudTrailEvent that is not JSON inside saved aws output.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(fx.sb.path("lookup-events.json")).unwrap()).unwrap();
    doc["Events"][1]["CloudTrailEvent"] = Value::String("{broken".into());
    let path = fx.sb.path("broken.json");
    write(&path, &serde_json::to_string_pretty(&doc).unwrap());
    let out = run_code(fx.sb.ctlookup().args(["--input", path.to_str().unwrap()]), 1);
    assert_eq!(jsonl_ids(&out.stdout).len(), fx.records.len() - 1);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("broken.json: Events[1]: event "), "{stderr}");
}

/// A tree of many small trail log files and a few large ones (larger than what is read ahead), with
/// JSON Lines and saved aws output among them: the paths in their order, and the eventIDs of each.
struct Tree {
    sb: Sandbox,
    /// Every file's eventIDs, in path order.
    files: Vec<(std::path::PathBuf, Vec<String>)>,
}

impl Tree {
    fn new() -> Tree {
        let sb = Sandbox::new();
        let records = records(9000, 33, fixed_newest());
        let root = sb.path("bucket");
        let mut files = Vec::new();
        let mut rest = &records[..];
        let mut number = 0;
        while !rest.is_empty() {
            // One file in 25 is large: 1,200 records, well over what a batch holds.
            let size = if number % 25 == 7 { 1200 } else { 1 + number % 9 };
            let (these, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            let folder = root.join(format!("{:02}", number / 40));
            std::fs::create_dir_all(&folder).unwrap();
            let path = match number % 13 {
                5 => {
                    let path = folder.join(format!("part-{number:03}.jsonl"));
                    let mut text = Vec::new();
                    generate::write_records_jsonl(&mut text, these).unwrap();
                    std::fs::write(&path, text).unwrap();
                    path
                }
                11 => {
                    let path = folder.join(format!("part-{number:03}.json"));
                    let mut text = Vec::new();
                    generate::write_aws_cli_document(&mut text, these).unwrap();
                    std::fs::write(&path, text).unwrap();
                    path
                }
                _ => {
                    let path = folder.join(format!("part-{number:03}.json.gz"));
                    std::fs::write(&path, gzip_records(these)).unwrap();
                    path
                }
            };
            files.push((path, these.iter().map(event_id).collect()));
            number += 1;
        }
        Tree { sb, files }
    }

    fn root(&self) -> String {
        self.sb.path("bucket").to_str().unwrap().to_owned()
    }

    /// The eventIDs of every file, in path order.
    fn ids(&self) -> Vec<String> {
        self.files.iter().flat_map(|(_, ids)| ids.iter().cloned()).collect()
    }

    fn run(&self, threads: &str, args: &[&str], code: i32) -> std::process::Output {
        run_code(self.sb.ctlookup().env("CTLOOKUP_THREADS", threads).args(["--input", &self.root()]).args(args), code)
    }
}

fn gzip_records(records: &[Value]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(serde_json::json!({ "Records": records }).to_string().as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_tree_read_on_many_threads_prints_what_one_thread_prints() {
    let tree = Tree::new();
    assert!(tree.files.len() > 150, "{} files", tree.files.len());
    let one = tree.run("1", &[], 0);
    // Path order, and each file's records in their order.
    assert_eq!(jsonl_ids(&one.stdout), tree.ids());
    for threads in ["2", "4", "16"] {
        let many = tree.run(threads, &[], 0);
        assert!(many.stdout == one.stdout, "{threads} threads print what one prints");
        assert_eq!(many.stderr, one.stderr);
    }
    let filter = ["--where", "errorCode exists OR eventName = ConsoleLogin"];
    let one = tree.run("1", &filter, 0);
    assert!(!one.stdout.is_empty());
    assert!(tree.run("3", &filter, 0).stdout == one.stdout);
    // The default (one thread a CPU) too.
    let out = run_ok(tree.sb.ctlookup().args(["--input", &tree.root()]).args(filter));
    assert!(out.stdout == one.stdout);
}

#[test]
fn max_items_stops_a_tree_early() {
    let tree = Tree::new();
    // The last file is corrupt: reaching it would warn and exit 1.
    let (last, _) = tree.files.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(last, bytes).unwrap();
    for threads in ["1", "4"] {
        let out = tree.run(threads, &["--max-items", "30"], 0);
        assert_eq!(jsonl_ids(&out.stdout), tree.ids()[..30], "{threads} threads");
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_corrupt_file_in_the_middle_is_reported_once_and_the_rest_is_read() {
    let tree = Tree::new();
    // A large gzip file, cut in the middle of its compressed data.
    let middle = tree.files.len() / 2;
    let (index, (path, ids)) = tree
        .files
        .iter()
        .enumerate()
        .skip(middle)
        .find(|(_, (path, ids))| ids.len() > 1000 && path.to_str().unwrap().ends_with(".gz"))
        .unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(path, bytes).unwrap();
    let one = tree.run("1", &[], 1);
    let stderr = String::from_utf8(one.stderr.clone()).unwrap();
    let name = path.display().to_string();
    assert_eq!(stderr.matches(&name).count(), 1, "{stderr}");
    assert!(stderr.contains("the rest of this file is skipped"), "{stderr}");
    // Everything before the damage, and every file after it.
    let got = jsonl_ids(&one.stdout);
    let before: Vec<String> = tree.files[..index].iter().flat_map(|(_, ids)| ids.iter().cloned()).collect();
    let after: Vec<String> = tree.files[index + 1..].iter().flat_map(|(_, ids)| ids.iter().cloned()).collect();
    let kept = got.len() - before.len() - after.len();
    assert!(kept < ids.len(), "{kept} of {} records of the damaged file", ids.len());
    assert_eq!(got[..before.len()], before[..]);
    assert_eq!(got[before.len()..before.len() + kept], ids[..kept]);
    assert_eq!(got[before.len() + kept..], after[..]);
    for threads in ["2", "8"] {
        let many = tree.run(threads, &[], 1);
        assert!(many.stdout == one.stdout, "{threads} threads");
        assert_eq!(String::from_utf8(many.stderr).unwrap(), stderr);
    }
}

#[test]
fn a_bad_thread_count_is_a_usage_error() {
    let sb = Sandbox::new();
    for bad in ["0", "many", "-2", "100000"] {
        let out = run_code(sb.ctlookup().env("CTLOOKUP_THREADS", bad).args(["--input", "-"]).write_stdin(""), 2);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("CTLOOKUP_THREADS"), "{stderr}");
    }
}

#[test]
fn ctrl_c_stops_a_tree_and_completes_the_document() {
    let tree = Tree::new();
    let mut running = Running::start_unread(tree.sb.std_ctlookup().env("CTLOOKUP_THREADS", "4").args([
        "--input",
        &tree.root(),
        "-o",
        "json",
    ]));
    // The output is far larger than the pipe: unread, it holds the run until the signal is sent.
    running.first_output();
    running.interrupt(SIGINT);
    let out = running.finish();
    let (status, stdout, stderr) = (out.status, out.stdout, String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(status.code(), Some(130), "{stderr}");
    let doc: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("broken JSON: {e}"));
    let printed = doc["Events"].as_array().unwrap().len();
    assert!(printed > 0 && printed < tree.ids().len(), "{printed} events before the signal");
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// A document written with one element a line, as jq, Python and hand-made tools write them:
/// `open` alone on the first line, each element on a line of its own ending in `,` but the last,
/// `close` on the last line.
fn one_element_a_line(open: &str, elements: &[Value], close: &str, indent: &str) -> String {
    let lines: Vec<String> = elements.iter().map(|e| format!("{indent}{e}")).collect();
    format!("{open}\n{}\n{close}\n", lines.join(",\n"))
}

/// Six events that Event history returned, as saved by the aws CLI.
fn real_lookup_events() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/real/lookup-events/devlab-tokyo-2026.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    saved["Events"].as_array().unwrap()[..6].to_vec()
}

/// Reads a file and the same bytes on stdin, insisting on exit 0 and not a word on stderr.
fn read_quietly(sb: &Sandbox, name: &str, text: &str) -> Vec<String> {
    let path = sb.path(name);
    write(&path, text);
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap()]));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{name}");
    let on_stdin = run_ok(sb.ctlookup().args(["--input", "-"]).write_stdin(text));
    assert_eq!(String::from_utf8_lossy(&on_stdin.stderr), "", "{name} on stdin");
    assert!(on_stdin.stdout == out.stdout, "{name}: stdin prints what the file prints");
    jsonl_ids(&out.stdout)
}

#[test]
fn saved_lookup_output_with_one_event_a_line_is_read_whole() {
    let sb = Sandbox::new();
    let events = real_lookup_events();
    let want: Vec<String> = events.iter().map(|e| e["EventId"].as_str().unwrap().to_owned()).collect();
    let text = one_element_a_line(r#"{"Events": ["#, &events, "]}", "");
    assert_eq!(text.lines().count(), 8);
    assert!(text.lines().nth(1).unwrap().ends_with("},") && text.lines().nth(6).unwrap().ends_with('}'));
    assert_eq!(read_quietly(&sb, "saved.json", &text), want);
}

#[test]
fn documents_with_one_element_a_line_in_every_shape() {
    let sb = Sandbox::new();
    // Few (fewer lines than are looked at to tell the shape) and many.
    for count in [1, 3, 40] {
        let recs = records(count, 5, fixed_newest());
        let want: Vec<String> = recs.iter().map(event_id).collect();
        let events: Vec<Value> = recs.iter().map(generate::aws_cli_event).collect();
        for indent in ["", "    "] {
            let shapes = [
                ("events.json", one_element_a_line(r#"{"Events": ["#, &events, "]}", indent)),
                ("records.json", one_element_a_line(r#"{"Records": ["#, &recs, "]}", indent)),
                ("array.json", one_element_a_line("[", &recs, "]", indent)),
                ("events-array.json", one_element_a_line("[", &events, "]", indent)),
                ("keys-first.json", one_element_a_line("{\"NextToken\": \"t\",\n\"Events\": [", &events, "]}", indent)),
                (
                    "first-on-the-opening-line.json",
                    one_element_a_line(r#"{"Records": ["#, &recs, "]}", "").replacen("[\n", "[", 1),
                ),
            ];
            for (name, text) in shapes {
                assert_eq!(read_quietly(&sb, name, &text), want, "{name}, {count} elements, indent {indent:?}");
                let crlf = text.replace('\n', "\r\n");
                assert_eq!(read_quietly(&sb, name, &crlf), want, "{name} with CRLF, {count} elements");
            }
        }
        // Compact on one line, and pretty-printed.
        let doc = serde_json::json!({ "Records": recs });
        assert_eq!(read_quietly(&sb, "compact.json", &doc.to_string()), want);
        assert_eq!(
            read_quietly(&sb, "compact-lines.json", &format!("{doc}\n{doc}\n")),
            [want.clone(), want.clone()].concat()
        );
        assert_eq!(read_quietly(&sb, "pretty.json", &serde_json::to_string_pretty(&doc).unwrap()), want);
    }
}

#[test]
fn json_lines_with_bad_lines_say_which_and_read_the_rest() {
    let sb = Sandbox::new();
    let recs = records(12, 8, fixed_newest());
    let lines: Vec<String> = recs.iter().map(Value::to_string).collect();
    let truncated = &lines[3][..lines[3].len() / 2];
    // A bad first line, a cut line, and lines that look like the start of a document.
    let text = format!(
        "not json\n{}\n{}\n{truncated}\n{}\n{{\"Events\": [\n{}\n[\n{}\n",
        lines[0],
        lines[1],
        lines[2],
        lines[4..11].join("\n"),
        lines[11]
    );
    let want: Vec<String> = recs.iter().enumerate().filter(|(i, _)| *i != 3).map(|(_, r)| event_id(r)).collect();
    let path = sb.path("damaged.jsonl");
    write(&path, &text);
    for input in [path.to_str().unwrap(), "-"] {
        let out = run_code(sb.ctlookup().args(["--input", input, "-o", "jsonl"]).write_stdin(text.clone()), 1);
        assert_eq!(jsonl_ids(&out.stdout), want, "{input}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let name = if input == "-" { "<stdin>" } else { "damaged.jsonl" };
        for line in [1, 4, 6, 14] {
            assert!(stderr.contains(&format!("{name}: line {line}: ")), "line {line} of {input}: {stderr}");
        }
        assert!(stderr.contains("4 unreadable events or records were skipped"), "{stderr}");
    }
}

/// Every command and way of printing, to be followed by `--input PATH`.
const EVERY_COMMAND: [&[&str]; 17] = [
    &["-o", "jsonl"],
    &["-o", "json"],
    &["-o", "csv"],
    &["-o", "tsv"],
    &["-o", "table"],
    &["--count-by", "eventName"],
    &["--count-by", "eventName", "-o", "json"],
    &["--count-by", "user", "-o", "csv"],
    &["--timeline"],
    &["--timeline", "1h", "-o", "json"],
    &["--jq", ".eventName"],
    &["denied"],
    &["denied", "-o", "json"],
    &["denied", "--policy"],
    &["policy"],
    &["policy", "-o", "jsonl"],
    &["policy", "--include-denied"],
];

/// Whether permissions keep this user out (not so for root, which reads anything).
#[cfg(unix)]
fn locked_out(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if path.is_dir() {
        std::fs::read_dir(path).is_err()
    } else {
        std::fs::File::open(path).is_err()
    }
}

#[cfg(unix)]
#[test]
fn a_given_path_that_cannot_be_read_prints_nothing_whatever_the_command() {
    let sb = Sandbox::new();
    let good = sb.path("good.json");
    write(&good, &serde_json::json!({ "Records": records(20, 3, fixed_newest()) }).to_string());
    let good = good.to_str().unwrap().to_owned();
    let missing = sb.path("missing.json").to_str().unwrap().to_owned();
    let dangling = sb.path("dangling.json");
    std::os::unix::fs::symlink(sb.path("gone.json"), &dangling).unwrap();
    let mut bad_inputs: Vec<(Vec<String>, String)> = vec![
        (vec![missing.clone()], missing.clone()),
        (vec![good.clone(), missing.clone()], missing.clone()),
        (vec![format!("{good}/inner.json")], format!("{good}/inner.json")),
        (vec![dangling.to_str().unwrap().to_owned()], dangling.to_str().unwrap().to_owned()),
    ];
    let locked_file = sb.path("locked.json");
    write(&locked_file, "{}");
    let locked_dir = sb.path("locked");
    std::fs::create_dir(&locked_dir).unwrap();
    for locked in [locked_file, locked_dir] {
        if locked_out(&locked) {
            let path = locked.to_str().unwrap().to_owned();
            bad_inputs.push((vec![good.clone(), path.clone()], path));
        }
    }
    for command in EVERY_COMMAND {
        for (inputs, culprit) in &bad_inputs {
            let mut cmd = sb.ctlookup();
            cmd.args(command);
            for input in inputs {
                cmd.args(["--input", input]);
            }
            let out = run_code(&mut cmd, 1);
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "",
                "{command:?} {inputs:?} prints nothing; stderr: {stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "{command:?} {inputs:?}: one line: {stderr}");
            assert!(stderr.contains(&format!("cannot read input {culprit}: ")), "{command:?}: {stderr}");
        }
    }
}

#[cfg(unix)]
#[test]
fn what_cannot_be_read_inside_a_tree_is_named_and_the_rest_printed() {
    let sb = Sandbox::new();
    let recs = records(30, 4, fixed_newest());
    let root = sb.path("logs");
    for (folder, part) in [("a", &recs[..10]), ("c", &recs[10..20]), ("e", &recs[20..])] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        write(&root.join(folder).join("part.json"), &serde_json::json!({ "Records": part }).to_string());
    }
    // A link to a file that is gone, and (where permissions keep this user out) a locked file and folder.
    std::os::unix::fs::symlink(sb.path("gone.json"), root.join("b.json")).unwrap();
    let mut unreadable = vec![root.join("b.json")];
    let locked_file = root.join("c").join("z.json");
    write(&locked_file, &serde_json::json!({ "Records": [] }).to_string());
    let locked_dir = root.join("d");
    std::fs::create_dir(&locked_dir).unwrap();
    for locked in [locked_file, locked_dir] {
        if locked_out(&locked) {
            unreadable.push(locked);
        }
    }
    for threads in ["1", "4"] {
        let out = run_code(
            sb.ctlookup().env("CTLOOKUP_THREADS", threads).args(["--input", root.to_str().unwrap(), "-o", "json"]),
            1,
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("a whole document");
        let got: Vec<String> =
            doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, recs.iter().map(event_id).collect::<Vec<_>>(), "{threads} threads");
        let stderr = String::from_utf8(out.stderr).unwrap();
        for path in &unreadable {
            let named = stderr.lines().filter(|line| line.contains(&format!("{}: cannot be", path.display()))).count();
            assert_eq!(named, 1, "{} is named once: {stderr}", path.display());
        }
        assert!(stderr.contains(&format!("{} unreadable", unreadable.len())), "{stderr}");
    }
}
