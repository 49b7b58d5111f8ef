//! `--jq`: a jq program compiled once with jaq, run on each matching record, its outputs streamed to stdout.
//!
//! The program is compiled with jaq's standard library (jaq-core, jaq-std and jaq-json definitions and
//! native filters) plus a prelude of a few definitions that make jaq behave as jq 1.6 where CloudTrail
//! programs notice (`compile.rs`): `ltrimstr`/`rtrimstr` leave non-strings alone, and `IN`, `INDEX`,
//! `leaf_paths`, `@csv` and `@tsv` exist. Each record's JSON text is parsed straight into a jaq value by
//! jaq-json's parser. Each output is printed as `jq -c` (1.6) prints it (`print.rs`, `number.rs`) rather
//! than by jaq's own printer: jaq prints `1.0` as `1.0` and `1e17` as `1e17` where jq prints `1` and `1e+17`.
//!
//! The program runs inside ctlookup, once per record, so it can neither end the process nor read input:
//! * `halt` and `halt(N)` are runtime errors (jaq would otherwise `exit` the process);
//! * `halt_error` and `halt_error(N)` are runtime errors whose message is the input (as jq would print it);
//! * `input` and `inputs` are not defined, so a program using them fails to compile, with a hint;
//! * `debug` and `stderr` pass their input through and print nothing (jaq sends them to the `log` crate,
//!   which has no logger here);
//! * recursion or nesting too deep for its stack budget is a runtime error of that record, not a crash
//!   (`guard.rs`), and `fromjson` refuses texts nested more than 10,000 levels deep;
//! * it runs on a thread of its own (`worker.rs`) and its outputs reach stdout while it runs, so an endless
//!   program streams, in bounded memory, and ends when stdout is closed (`writer.rs`).
//!
//! Known differences from jq 1.6:
//! * integers are exact at any size, as in jq 1.7 (jq 1.6 rounds them past 2^53, and prints 1e17 as `1e+17`);
//! * string interpolation (`"\(.x)"`), `join`, `@text` and `@sh` print numbers the jaq way (`1.0`, `1e17`,
//!   and a decimal from the record as it is written there, `2.50`); `tostring`, `tojson`, `@json`, `@csv`
//!   and `@tsv` print them the jq way;
//! * error messages are jaq's (`cannot index "abc" with "b"` where jq says `Cannot index string with "b"`);
//! * jaq lacks a few jq 1.6 names (`$ENV` but not `env`, `$__loc__`, `input_filename`, `tostream`, `ascii`,
//!   `@base32`…): using one is a compile error that names it.

mod compile;
mod guard;
mod number;
mod print;
mod worker;
mod writer;

pub use writer::JqWriter;

use worker::Worker;

/// A compiled `--jq` program; compile once, run on every record. One writer at a time runs records
/// through it ([`JqWriter`], or [`JqProgram::run`]).
pub struct JqProgram {
    /// The program's text, for `Debug`.
    text: String,
    worker: Worker,
}

impl std::fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JqProgram").field("text", &self.text).finish_non_exhaustive()
    }
}

impl JqProgram {
    /// Compiles the program with jaq's standard library (jaq-std + jaq-json definitions). A bad program is
    /// Err with ONE line of text: jaq's own message(s) (parse or compile errors, undefined names…) with
    /// what is needed to find the mistake (the offending token or name).
    pub fn compile(program: &str) -> Result<JqProgram, String> {
        Ok(JqProgram { text: program.to_owned(), worker: Worker::start(program)? })
    }

    /// Runs the program on one record (its JSON text, as serde_json accepted it) and waits for the end.
    /// Each output is appended to `out` as one compact JSON text followed by '\n', exactly as `jq -c`
    /// prints it. A runtime error (e.g. `error("x")`, a type error) returns Err(one-line message); outputs
    /// produced before the error stay in `out`.
    #[cfg(test)]
    pub fn run(&self, record: &str, out: &mut Vec<u8>) -> Result<(), String> {
        use worker::Message;
        let gone = |_| "the jq worker stopped".to_owned();
        if let Err(refused) = self.worker.try_submit(vec![record.to_owned()]) {
            refused.map_err(gone)?;
            unreachable!("one record at a time never fills the queue");
        }
        loop {
            match self.worker.receive(true).map_err(gone)? {
                Some(Message::Output(chunk)) => out.extend_from_slice(&chunk),
                Some(Message::Done(done)) => {
                    out.extend_from_slice(&done.out);
                    return done.errors.into_iter().next().map_or(Ok(()), |(_, message)| Err(message));
                }
                None => unreachable!("a waiting receive returns a message"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::worker::MAX_MESSAGE_CHARS;
    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    /// A CloudTrail-like record: Japanese text (also in a key), control characters (ESC, NUL, DEL…), nested
    /// objects and arrays, integers and floats.
    const RECORD: &str = r#"{
      "eventVersion": "1.08",
      "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/yamada", "accountId": "123456789012", "userName": "山田太郎"},
      "eventTime": "2024-07-22T01:02:03Z",
      "eventSource": "s3.amazonaws.com",
      "eventName": "PutObject",
      "sourceIPAddress": "203.0.113.7",
      "userAgent": "aws-cli/2.15.0 Python/3.11 \u001b[31mred\u001b[0m",
      "errorCode": "AccessDenied",
      "errorMessage": "User: arn:aws:iam::123456789012:user/yamada is not authorized to perform: s3:PutObject",
      "requestParameters": {
        "bucketName": "例-bucket", "key": "a\"b\\c\td\ne\r\b\f\u0000\u001f\u007f/é", "表示名": "テスト",
        "maxKeys": 1000, "neg": -42, "big": 12345678901234, "ratio": 2.5, "quarter": -0.25,
        "flags": [true, false, null], "empty": {}, "none": []
      },
      "resources": [
        {"ARN": "arn:aws:s3:::例-bucket", "type": "AWS::S3::Bucket"},
        {"type": "AWS::S3::Object"},
        {"ARN": "arn:aws:s3:::例-bucket/key", "type": "AWS::S3::Object"}
      ],
      "x": "日本語のテキスト😀",
      "a": [1, "two", {"three": 3.25}, [4, -0.5], null, false, true],
      "readOnly": false
    }"#;

    /// `jq -c .` of [`RECORD`].
    const RECORD_COMPACT: &str = concat!(
        r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/yamada","#,
        r#""accountId":"123456789012","userName":"山田太郎"},"eventTime":"2024-07-22T01:02:03Z","#,
        r#""eventSource":"s3.amazonaws.com","eventName":"PutObject","sourceIPAddress":"203.0.113.7","#,
        r#""userAgent":"aws-cli/2.15.0 Python/3.11 \u001b[31mred\u001b[0m","errorCode":"AccessDenied","#,
        r#""errorMessage":"User: arn:aws:iam::123456789012:user/yamada is not authorized to perform: s3:PutObject","#,
        r#""requestParameters":{"bucketName":"例-bucket","key":"a\"b\\c\td\ne\r\b\f\u0000\u001f\u007f/é","#,
        r#""表示名":"テスト","maxKeys":1000,"neg":-42,"big":12345678901234,"ratio":2.5,"quarter":-0.25,"#,
        r#""flags":[true,false,null],"empty":{},"none":[]},"resources":[{"ARN":"arn:aws:s3:::例-bucket","#,
        r#""type":"AWS::S3::Bucket"},{"type":"AWS::S3::Object"},{"ARN":"arn:aws:s3:::例-bucket/key","#,
        r#""type":"AWS::S3::Object"}],"x":"日本語のテキスト😀","a":[1,"two",{"three":3.25},[4,-0.5],null,false,true],"#,
        r#""readOnly":false}"#,
    );

    /// Numbers that jq 1.6 has layout rules for: exponents, -0, shortest digits, zeros after 17 digits.
    const NUMBERS: &str = "[0, 1, -42, 12345678901234, 9007199254740992, 1.0, -0.0, 2.5, -0.5, 0.1, 1e-5, 0.0001, \
        123e-7, 1e15, 1e16, 1e17, 3.0e2, 1.5e300, 5e-324, 1.7976931348623157e308, 0.30000000000000004, \
        1.2345678901234568e20, 1.0e-7]";

    /// How `jq -c` prints each of [`NUMBERS`].
    const NUMBERS_JQ: [&str; 23] = [
        "0",
        "1",
        "-42",
        "12345678901234",
        "9007199254740992",
        "1",
        "-0",
        "2.5",
        "-0.5",
        "0.1",
        "1e-05",
        "0.0001",
        "1.23e-05",
        "1000000000000000",
        "1e+16",
        "1e+17",
        "300",
        "1.5e+300",
        "5e-324",
        "1.7976931348623157e+308",
        "0.30000000000000004",
        "123456789012345680000",
        "1e-07",
    ];

    const STRING_A: &str = r#"{"a": "text"}"#;

    /// What a program does on its input.
    enum Expect {
        /// Prints exactly this (every output and its newline).
        Out(String),
        /// Prints this, then fails at run time with a message containing the second text.
        RuntimeError(&'static str, &'static str),
        /// Does not compile; the message contains this text.
        CompileError(&'static str),
    }
    use Expect::{CompileError, RuntimeError};

    /// Outputs, one per line.
    fn out(lines: &[&str]) -> Expect {
        Expect::Out(lines.iter().map(|line| format!("{line}\n")).collect())
    }

    /// Programs, their input and what they do. Every output text is what jq 1.6 (`jq -c PROGRAM`) printed on
    /// the same input; `matches_real_jq` checks them again when jq 1.6 is installed.
    fn cases() -> Vec<(&'static str, &'static str, Expect)> {
        let numbers_in_strings = format!("[{}]", NUMBERS_JQ.map(|n| format!("\"{n}\"")).join(","));
        vec![
            (".", RECORD, out(&[RECORD_COMPACT])),
            (".eventName", RECORD, out(&[r#""PutObject""#])),
            ("select(.errorCode != null) | .eventName", RECORD, out(&[r#""PutObject""#])),
            ("select(.errorCode == null)", RECORD, out(&[])),
            (
                "{user: .userIdentity.userName, ip: .sourceIPAddress}",
                RECORD,
                out(&[r#"{"user":"山田太郎","ip":"203.0.113.7"}"#]),
            ),
            (r#".userIdentity.userName // "unknown""#, RECORD, out(&[r#""山田太郎""#])),
            (r#".userIdentity.sessionContext // "unknown""#, RECORD, out(&[r#""unknown""#])),
            ("[.resources[]?.ARN]", RECORD, out(&[r#"["arn:aws:s3:::例-bucket",null,"arn:aws:s3:::例-bucket/key"]"#])),
            (".eventName | ascii_downcase", RECORD, out(&[r#""putobject""#])),
            (r#".userAgent | test("aws-cli")"#, RECORD, out(&["true"])),
            (r#""\(.eventName) by \(.userIdentity.type)""#, RECORD, out(&[r#""PutObject by IAMUser""#])),
            (
                ".requestParameters | keys",
                RECORD,
                out(&[
                    r#"["big","bucketName","empty","flags","key","maxKeys","neg","none","quarter","ratio","表示名"]"#,
                ]),
            ),
            (r#".eventTime | split("T")[0]"#, RECORD, out(&[r#""2024-07-22""#])),
            (".x | length", RECORD, out(&["9"])),
            (".requestParameters | length", RECORD, out(&["11"])),
            (
                r#".errorMessage | ltrimstr("User: ")"#,
                RECORD,
                out(&[r#""arn:aws:iam::123456789012:user/yamada is not authorized to perform: s3:PutObject""#]),
            ),
            (r#".missing | ltrimstr("User: ")"#, RECORD, out(&["null"])),
            (".a[]", RECORD, out(&["1", r#""two""#, r#"{"three":3.25}"#, "[4,-0.5]", "null", "false", "true"])),
            (".requestParameters.key", RECORD, out(&[r#""a\"b\\c\td\ne\r\b\f\u0000\u001f\u007f/é""#])),
            (
                ".requestParameters | tojson",
                RECORD,
                out(&[concat!(
                    r#""{\"bucketName\":\"例-bucket\",\"key\":\"a\\\"b\\\\c\\td\\ne\\r\\b\\f\\u0000\\u001f\\u007f/é\","#,
                    r#"\"表示名\":\"テスト\",\"maxKeys\":1000,\"neg\":-42,\"big\":12345678901234,\"ratio\":2.5,"#,
                    r#"\"quarter\":-0.25,\"flags\":[true,false,null],\"empty\":{},\"none\":[]}""#,
                )]),
            ),
            ("[.a[] | tostring]", RECORD, out(&[r#"["1","two","{\"three\":3.25}","[4,-0.5]","null","false","true"]"#])),
            (r#"select(.eventName | IN("PutObject", "GetObject")) | .eventName"#, RECORD, out(&[r#""PutObject""#])),
            (
                r#"[.requestParameters.bucketName, .requestParameters.maxKeys, .requestParameters.ratio, true, null,
                   "say \"hi\"\tnow"] | @csv, @tsv"#,
                RECORD,
                out(&[
                    r#""\"例-bucket\",1000,2.5,true,,\"say \"\"hi\"\"\tnow\"""#,
                    r#""例-bucket\t1000\t2.5\ttrue\t\tsay \"hi\"\\tnow""#,
                ]),
            ),
            (".", NUMBERS, out(&[&format!("[{}]", NUMBERS_JQ.join(","))])),
            ("map(tojson)", NUMBERS, out(&[&numbers_in_strings])),
            ("map(tostring)", NUMBERS, out(&[&numbers_in_strings])),
            ("@csv", NUMBERS, out(&[&format!("\"{}\"", NUMBERS_JQ.join(","))])),
            (r#"error("boom")"#, RECORD, RuntimeError("", "boom")),
            (r#".a[0], error("boom")"#, RECORD, RuntimeError("1\n", "boom")),
            (".a.b", STRING_A, RuntimeError("", r#"cannot index "text" with "b""#)),
            (".[", RECORD, CompileError("expected closing bracket, found end of program at column 3")),
            ("foo(", RECORD, CompileError("expected closing parenthesis, found end of program at column 5")),
            ("nosuchfunction", RECORD, CompileError("undefined filter nosuchfunction/0 at column 1")),
        ]
    }

    /// Compiles and runs a program: the outputs, and the error if any.
    fn run(program: &str, input: &str) -> Result<(String, Option<String>), String> {
        let program = JqProgram::compile(program)?;
        let mut out = Vec::new();
        let result = program.run(input, &mut out);
        Ok((String::from_utf8(out).expect("outputs are UTF-8"), result.err()))
    }

    #[test]
    fn each_program_prints_what_jq_prints() {
        for (program, input, expect) in cases() {
            let result = run(program, input);
            match expect {
                Expect::Out(text) => assert_eq!(result, Ok((text, None)), "program {program}"),
                RuntimeError(before, message) => {
                    let (out, error) = result.unwrap_or_else(|e| panic!("program {program} did not compile: {e}"));
                    assert_eq!(out, before, "program {program}");
                    let error = error.unwrap_or_else(|| panic!("program {program} did not fail"));
                    assert!(error.contains(message), "program {program}: {error}");
                    assert!(!error.contains('\n'), "program {program}: {error}");
                }
                CompileError(message) => {
                    let error = result.err().unwrap_or_else(|| panic!("program {program} compiled"));
                    assert!(error.contains(message), "program {program}: {error}");
                    assert!(!error.contains('\n'), "program {program}: {error}");
                }
            }
        }
    }

    /// Runs every case with the real jq 1.6 and checks that its output is byte for byte ours, and that it
    /// fails where we fail (exit 5 for a runtime error, 3 for a compile error). Skipped without jq 1.6:
    /// jq 1.7 prints some numbers differently (`1.0`, `1E+17`), and 1.6 is what we match.
    #[test]
    fn matches_real_jq() {
        let jq = "/usr/bin/jq";
        let version = Command::new(jq).arg("--version").output();
        match version {
            Ok(v) if String::from_utf8_lossy(&v.stdout).trim() == "jq-1.6" => {}
            _ => return eprintln!("skipped: {jq} is not jq 1.6"),
        }
        for (program, input, expect) in cases() {
            let (ours, exit) = match (expect, run(program, input)) {
                (Expect::Out(_), Ok((out, None))) => (out, 0),
                (RuntimeError(..), Ok((out, Some(_)))) => (out, 5),
                (CompileError(_), Err(_)) => (String::new(), 3),
                (_, result) => panic!("program {program}: unexpected {result:?}"),
            };
            let mut child = Command::new(jq)
                .args(["-c", program])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("jq runs");
            // jq exits without reading its input when the program does not compile: ignore a broken pipe.
            let _ = child.stdin.take().expect("stdin").write_all(input.as_bytes());
            let theirs = child.wait_with_output().expect("jq ends");
            assert_eq!(String::from_utf8_lossy(&theirs.stdout), ours, "program {program}");
            assert_eq!(theirs.status.code(), Some(exit), "program {program}");
        }
    }

    #[test]
    fn one_program_runs_on_many_records_and_appends() {
        let program = JqProgram::compile(".n * 2").unwrap();
        let mut out = Vec::new();
        for n in 1..=3 {
            program.run(&format!("{{\"n\": {n}}}"), &mut out).unwrap();
        }
        assert_eq!(out, b"2\n4\n6\n");
    }

    /// Beyond jq 1.6, which rounds integers past 2^53 to doubles: ours stay exact, as in jq 1.7.
    #[test]
    fn integers_stay_exact() {
        let input = r#"{"u": 18446744073709551615, "i": -9223372036854775808, "n": 12345678901234567}"#;
        let (out, error) = run(".u, .i, .n, .n + 1", input).unwrap();
        assert_eq!(
            (out.as_str(), error),
            ("18446744073709551615\n-9223372036854775808\n12345678901234567\n12345678901234568\n", None)
        );
    }

    #[test]
    fn the_environment_is_not_exposed() {
        let (out, error) = run("env", RECORD).unwrap();
        assert!(out.is_empty());
        assert!(error.unwrap().contains("env is not available"));
    }

    /// As jq 1.6 prints them: an integer `-0` stays a negative zero; integers past 2^64 stay exact (jq 1.6
    /// rounds them); a decimal with more than 17 digits is read as the nearest double.
    #[test]
    fn numbers_of_the_record_are_read_as_jq_reads_them() {
        let input = r#"{"z": -0, "s": "a-0,", "d": 1.00000000000000011102230246251565404236316680908203125}"#;
        assert_eq!(run(".", input), Ok((r#"{"z":-0,"s":"a-0,","d":1}"#.to_owned() + "\n", None)));
        let (out, _) = run(".n + 1", r#"{"n": 123456789012345678901234567890}"#).unwrap();
        assert_eq!(out, "123456789012345678901234567891\n");
    }

    #[test]
    fn halt_is_an_error_not_an_exit() {
        let (out, error) = run(".eventName, halt, 1", RECORD).unwrap();
        assert_eq!(out, "\"PutObject\"\n");
        assert!(error.unwrap().starts_with("halt(0) is not supported by --jq"));
        let (_, error) = run("halt(3)", RECORD).unwrap();
        assert!(error.unwrap().starts_with("halt(3) is not supported"));
    }

    #[test]
    fn halt_error_is_an_error_with_its_message() {
        let (_, error) = run(r#""bye" | halt_error"#, RECORD).unwrap();
        assert_eq!(error.as_deref(), Some("halt_error(5): bye"));
        let (_, error) = run("{a: 1} | halt_error(1)", RECORD).unwrap();
        assert_eq!(error.as_deref(), Some(r#"halt_error(1): {"a":1}"#));
    }

    #[test]
    fn input_and_inputs_are_not_defined() {
        for program in ["input", "[inputs]", "first(inputs)"] {
            let error = JqProgram::compile(program).err().unwrap();
            assert!(error.contains("undefined filter input"), "{error}");
            assert!(error.contains("cannot read other input"), "{error}");
        }
    }

    #[test]
    fn debug_and_stderr_pass_the_input_through() {
        assert_eq!(run("debug, stderr | .eventName", RECORD).unwrap(), ("\"PutObject\"\n\"PutObject\"\n".into(), None));
    }

    #[test]
    fn runtime_errors_are_one_short_line() {
        let (_, error) = run(r#"error("a\nb\u001b[31m")"#, RECORD).unwrap();
        assert_eq!(error.as_deref(), Some("a\\nb\\u001b[31m"));
        let (_, error) = run("error({a: 1})", RECORD).unwrap();
        assert_eq!(error.as_deref(), Some(r#"{"a":1} (not a string)"#));
        // jaq quotes the whole value that has the wrong type: here the record.
        let (_, error) = run("test(\"x\")", RECORD).unwrap();
        let error = error.unwrap();
        assert!(error.starts_with("cannot use {\"eventVersion\""), "{error}");
        assert!(error.ends_with('…') && error.chars().count() == MAX_MESSAGE_CHARS + 1, "{error}");
        assert!(!error.contains('\n') && !error.contains('\u{1b}'), "{error}");
    }

    #[test]
    fn compile_errors_name_what_and_where() {
        let cases = [
            (".a |", "expected term, found end of program at column 5"),
            ("{a:}", "expected term, found \"}\" at column 4"),
            ("if . then 1", "expected else or end, found end of program at column 12"),
            ("\"abc", "expected closing quote, found end of program at column 5"),
            ("1 + §", "expected token, found \"§\" at column 5"),
            ("$x", "undefined variable $x at column 1"),
            ("[.a, nosuch(1)]", "undefined filter nosuch/1 at column 6"),
            ("nosuch1 | nosuch2", "undefined filter nosuch1/0 at column 1; undefined filter nosuch2/0 at column 11"),
            ("import \"m\" as m; .", "cannot load module \"m\""),
        ];
        for (program, message) in cases {
            let error = JqProgram::compile(program).err().unwrap_or_else(|| panic!("{program} compiled"));
            assert!(error.contains(message), "{program}: {error}");
        }
    }

    #[test]
    fn prelude_filters_behave_as_in_jq() {
        // Each expected text is what jq 1.6 prints.
        let cases = [
            (r#"null | rtrimstr("x")"#, "null\n"),
            (
                r#""abc" | rtrimstr(""), ltrimstr(""), rtrimstr("bc"), ltrimstr(1)"#,
                "\"abc\"\n\"abc\"\n\"a\"\n\"abc\"\n",
            ),
            (r#""日本語" | ltrimstr("日本")"#, "\"語\"\n"),
            ("[1, 2] | IN([1, 2], 3)", "true\n"),
            ("IN(.a[]; 2, 3)", "false\n"),
            ("INDEX(.resources[]; .type) | keys", "[\"AWS::S3::Bucket\",\"AWS::S3::Object\"]\n"),
            ("[.requestParameters | leaf_paths] | length", "9\n"), // false and null are not leaves for jq either
            ("[1.0, 1e17] | tostring", "\"[1,1e+17]\"\n"),
        ];
        for (program, expected) in cases {
            assert_eq!(run(program, RECORD), Ok((expected.to_owned(), None)), "{program}");
        }
    }
}
