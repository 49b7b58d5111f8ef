//! `--jq`: a jq program compiled once with jaq, run on each matching record.
//!
//! The program is compiled with jaq's standard library (jaq-core, jaq-std and jaq-json definitions and
//! native filters) plus [`PRELUDE`], a few definitions that make jaq behave as jq 1.6 where CloudTrail
//! programs notice: `ltrimstr`/`rtrimstr` leave non-strings alone, and `IN`, `INDEX`, `leaf_paths`, `@csv`
//! and `@tsv` exist. Each output is printed as `jq -c` (1.6) prints it, by [`write_json`] rather than jaq's
//! own printer: jaq prints `1.0` as `1.0` and `1e17` as `1e17` where jq prints `1` and `1e+17`.
//!
//! The program runs inside ctlookup, once per record, so it can neither end the process nor read input:
//! * `halt` and `halt(N)` are runtime errors (jaq would otherwise `exit` the process);
//! * `halt_error` and `halt_error(N)` are runtime errors whose message is the input (as jq would print it);
//! * `input` and `inputs` are not defined, so a program using them fails to compile, with a hint;
//! * `debug` and `stderr` pass their input through and print nothing (jaq sends them to the `log` crate,
//!   which has no logger here).
//!
//! Known differences from jq 1.6:
//! * integers are exact at any size, as in jq 1.7 (jq 1.6 rounds them past 2^53, and prints 1e17 as `1e+17`);
//! * string interpolation (`"\(.x)"`), `join`, `@text` and `@sh` print numbers the jaq way (`1.0`, `1e17`);
//!   `tostring`, `tojson`, `@json`, `@csv` and `@tsv` print them the jq way;
//! * error messages are jaq's (`cannot index "abc" with "b"` where jq says `Cannot index string with "b"`);
//! * jaq lacks a few jq 1.6 names (`$ENV` but not `env`, `$__loc__`, `input_filename`, `tostream`, `ascii`,
//!   `@base32`…): using one is a compile error that names it.

use jaq_core::load::{lex, Arena, File, Loader};
use jaq_core::native::{bome, run, v, Filter, Fun};
use jaq_core::{compile, data::JustLut, load, Compiler, Ctx, Exn, RunPtr, Vars};
use jaq_json::{Num, Val};
use serde_json::Value;

/// jaq's data kind for filters on plain JSON values that need no global data (no `input`).
type Data = JustLut<Val>;

/// Definitions added after jaq's standard library; a later definition replaces an earlier one of the same
/// name and arity for the user's program.
const PRELUDE: &str = r#"
# jq 1.6 returns a non-string input unchanged (`null | ltrimstr("x")` is null); jaq's natives fail.
def ltrimstr($prefix):
  if type == "string" and ($prefix | type) == "string" and startswith($prefix)
  then .[($prefix | length):] else . end;
def rtrimstr($suffix):
  if type == "string" and ($suffix | type) == "string" and ($suffix | length) > 0 and endswith($suffix)
  then .[:length - ($suffix | length)] else . end;

# jaq's `tostring` is `"\(.)"`, which prints numbers the jaq way; `tojson` is ours (see `natives`).
def tostring: if type == "string" then . else tojson end;

# The environment may hold credentials, which ctlookup never prints.
def env: error("env is not available in --jq: the environment may hold credentials");

# jaq's `halt_error` ends the process; here it is an error carrying what jq would have printed.
def halt_error($exit_code):
  error("halt_error(\($exit_code)): " + (if type == "string" then . else tojson end));
def halt_error: halt_error(5);

# jq 1.6 filters that jaq 3 does not define, written from the jq manual.
def IN(s): any(s == .; .);
def IN(source; s): any(source == s; .);
def INDEX(stream; f): reduce stream as $row ({}; .[$row | f | tostring] = $row);
def INDEX(f): INDEX(.[]; f);
def leaf_paths: paths(scalars);
# jq 1.6's @csv and @tsv (jaq 3 has neither).
def @csv:
  if type != "array" then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(
      if type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
    elif type == "number" or type == "boolean" then tojson
    elif type == "null" then ""
    else error("\(type) (\(tojson)) is not valid in a csv row") end
  ) | join(",") end;
def @tsv:
  if type != "array" then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(
      if type == "string" then
        split("\\") | join("\\\\") | split("\t") | join("\\t") | split("\n") | join("\\n") | split("\r") | join("\\r")
    elif type == "number" or type == "boolean" then tojson
    elif type == "null" then ""
    else error("\(type) (\(tojson)) is not valid in a tsv row") end
  ) | join("\t") end;
"#;

/// A compiled `--jq` program; compile once, run on every record.
pub struct JqProgram {
    /// The program's text, for `Debug`.
    text: String,
    filter: jaq_core::Filter<Data>,
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
        let prelude = load::parse(PRELUDE, |p| p.defs()).expect("the --jq prelude parses");
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs()).chain(prelude);
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code: program, path: () })
            .map_err(|errs| join_errors(errs.into_iter().flat_map(|(_, e)| load_error(program, e))))?;
        // Our natives come first: the compiler binds a name to the first native with that signature.
        let funs = natives().chain(jaq_core::funs()).chain(jaq_std::funs()).chain(jaq_json::funs());
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| join_errors(errs.into_iter().flat_map(|(_, e)| e).map(|e| undefined(program, e))))?;
        Ok(JqProgram { text: program.to_owned(), filter })
    }

    /// Runs the program on one record (a serde_json::Value; object key order must be preserved). Each
    /// output is appended to `out` as one compact JSON text followed by '\n', exactly as `jq -c` prints it.
    /// A runtime error (e.g. `error("x")`, a type error) returns Err(one-line message); outputs produced
    /// before the error stay in `out`.
    pub fn run(&self, record: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), String> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        for output in self.filter.id.run((ctx, to_val(record))) {
            let value = output.map_err(exception)?;
            write_json(out, &value);
            out.push(b'\n');
        }
        Ok(())
    }
}

/// Native filters that replace jaq's own.
fn natives() -> impl Iterator<Item = Fun<Data>> {
    // `tojson` (and so `@json`, `tostring`, `@csv`…) prints numbers as jq does, like the outputs.
    let tojson: Filter<RunPtr<Data>> = ("tojson", v(0), |cv| bome(Ok(Val::utf8_str(json_text(&cv.1)))));
    [run::<Data>(tojson)].into_iter()
}

// ---------------------------------------------------------------------------------------------------------
// Compile errors: one line, each message with the column (and token or name) where the mistake is.

/// Joins several messages into one line.
fn join_errors(messages: impl Iterator<Item = String>) -> String {
    messages.collect::<Vec<_>>().join("; ")
}

/// Messages of a lexer or parser error (or a module that could not be loaded).
fn load_error(program: &str, error: load::Error<&str>) -> Vec<String> {
    match error {
        load::Error::Io(errs) => {
            errs.into_iter().map(|(path, e)| format!("cannot load module {path:?}: {e}")).collect()
        }
        load::Error::Lex(errs) => errs.into_iter().map(|(expect, found)| lex_error(program, expect, found)).collect(),
        load::Error::Parse(errs) => {
            errs.into_iter().map(|(expect, found)| parse_error(program, expect.as_str(), found)).collect()
        }
    }
}

/// A lexer error: `found` is the rest of the program from where the lexer gave up.
fn lex_error(program: &str, expect: lex::Expect<&str>, found: &str) -> String {
    let what = match expect {
        // An unclosed delimiter: `found` starts at the opening one.
        lex::Expect::Delim(open) => format!("unclosed {open:?}: expected {}", expect_delim(open)),
        other => format!("expected {}", other.as_str()),
    };
    format!("{what}, found {}{}", describe(found, 1), at(program, found))
}

/// What closes an opening delimiter, as jaq names it (its `as_str` panics on delimiters it does not know).
fn expect_delim(open: &str) -> &'static str {
    match open {
        "(" => "closing parenthesis",
        "[" => "closing bracket",
        "{" => "closing brace",
        "\"" => "closing quote",
        _ => "closing delimiter",
    }
}

/// A parser error: `found` is the unexpected token (empty at the end of the program).
fn parse_error(program: &str, expected: &str, found: &str) -> String {
    format!("expected {expected}, found {}{}", describe(found, 40), at(program, found))
}

/// An undefined filter, variable, label or module, with a hint for the names --jq leaves out on purpose.
fn undefined(program: &str, (name, undef): compile::Error<&str>) -> String {
    let what = match undef {
        compile::Undefined::Filter(arity) => format!("undefined filter {name}/{arity}"),
        other => format!("undefined {} {name}", other.as_str()),
    };
    let hint = match name {
        "input" | "inputs" => " (--jq runs the program on one record at a time and cannot read other input)",
        _ => "",
    };
    format!("{what}{}{hint}", at(program, name))
}

/// `end of program`, or the found text in quotes, cut to `max_chars` characters and to its first line.
fn describe(found: &str, max_chars: usize) -> String {
    let text: String = found.lines().next().unwrap_or("").chars().take(max_chars).collect();
    if text.is_empty() {
        "end of program".into()
    } else {
        format!("{text:?}")
    }
}

/// ` at column N` (1-based, in characters) when `part` is a slice of `program`, else nothing.
fn at(program: &str, part: &str) -> String {
    let start = (part.as_ptr() as usize).wrapping_sub(program.as_ptr() as usize);
    match program.get(..start) {
        Some(before) if start + part.len() <= program.len() => format!(" at column {}", before.chars().count() + 1),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Running.

/// Converts a record into jaq's value; integers stay integers, so that `.x` of an integer prints as one.
fn to_val(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(to_num(n)),
        Value::String(s) => Val::utf8_str(s.clone()),
        Value::Array(items) => items.iter().map(to_val).collect(),
        Value::Object(map) => Val::obj(map.iter().map(|(k, v)| (Val::utf8_str(k.clone()), to_val(v))).collect()),
    }
}

fn to_num(n: &serde_json::Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::from_integral(i)
    } else if let Some(u) = n.as_u64() {
        Num::from_integral(u)
    } else {
        // Without serde_json's arbitrary_precision every other number is an f64; with it, parse the text.
        n.as_f64().map_or_else(|| Num::from_dec_str(&n.to_string()), Num::Float)
    }
}

/// The one-line message of a runtime exception; `halt` becomes an error instead of ending the process.
fn exception(exn: Exn<'_, Val>) -> String {
    match exn.get_err() {
        Ok(error) => one_line(&shorten(error_text(error.into_val()))),
        Err(exn) => match exn.get_halt() {
            Ok(code) => format!("halt({code}) is not supported by --jq (use empty or select(...) to skip a record)"),
            // A `break` or tail call escaping the program: a jaq bug, never seen by users.
            Err(_) => "internal error in the jq engine (jaq)".to_owned(),
        },
    }
}

/// Error messages longer than this are cut: jaq quotes whole values ("cannot use {…the record…} as string").
const MAX_MESSAGE_CHARS: usize = 300;

/// An error value as jq reports it: a string as is, anything else as JSON.
fn error_text(value: Val) -> String {
    match value {
        Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(&s).into_owned(),
        other => format!("{} (not a string)", String::from_utf8_lossy(&json_text(&other))),
    }
}

/// Cuts a message to [`MAX_MESSAGE_CHARS`] characters.
fn shorten(text: String) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Escapes control characters as JSON does (`\n`, `\u001b`) so that a message is one line and safe on a
/// terminal.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\t' => line.push_str("\\t"),
            '\r' => line.push_str("\\r"),
            c if c.is_control() => line.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => line.push(c),
        }
    }
    line
}

// ---------------------------------------------------------------------------------------------------------
// Printing, exactly as `jq -c` (1.6) does.

/// A value's compact JSON text.
fn json_text(value: &Val) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, value);
    out
}

/// Appends a value's compact JSON text, as `jq -c` prints it.
fn write_json(out: &mut Vec<u8>, value: &Val) {
    match value {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Val::Num(n) => write_num(out, n),
        // jaq's byte strings (from `tobytes`) have no JSON form; like jq, print text, lossily if need be.
        Val::TStr(s) | Val::BStr(s) => write_str(out, &String::from_utf8_lossy(s)),
        Val::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Val::Obj(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_key(out, key);
                out.push(b':');
                write_json(out, item);
            }
            out.push(b'}');
        }
    }
}

/// An object key; jaq can hold non-string keys, which are printed as the string of their JSON text.
fn write_key(out: &mut Vec<u8>, key: &Val) {
    match key {
        Val::TStr(_) | Val::BStr(_) => write_json(out, key),
        other => write_str(out, &String::from_utf8_lossy(&json_text(other))),
    }
}

/// A JSON string as jq writes it: UTF-8 as is; `"` `\` and control characters (U+007F too) escaped.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut plain = 0; // start of the run of bytes that need no escape
    for (i, byte) in s.bytes().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[plain..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{byte:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        plain = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[plain..]);
    out.push(b'"');
}

fn write_num(out: &mut Vec<u8>, n: &Num) {
    match n {
        Num::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Num::BigInt(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Num::Float(f) => write_float(out, *f),
        // A decimal literal of the program, kept as text by jaq; jq 1.6 reads it as a double.
        Num::Dec(text) => write_float(out, text.parse().unwrap_or(f64::NAN)),
    }
}

/// A double as jq 1.6 prints it: the shortest digits that read back as the same number (Rust's `{:e}`
/// gives them, as jq's dtoa does), laid out like jq's `jvp_dtoa_fmt`: plain when the decimal point is
/// within the digits or up to 15 zeros after them, else `d.ddde+XX` with at least two exponent digits.
/// NaN is `null` and the infinities are ±DBL_MAX, as in jq.
fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"null");
        return;
    }
    let sci = format!("{:e}", f.clamp(f64::MIN, f64::MAX));
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits = mantissa.replace('.', "");
    let exponent: i32 = exponent.parse().expect("{:e} has an integer exponent");
    let ndigits = digits.len() as i32;
    // `point`: how many digits stand before the decimal point (negative: zeros after "0.").
    let point = exponent + 1;
    let text = if point <= -4 || point > ndigits + 15 {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exponent.unsigned_abs())
    } else if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= ndigits {
        format!("{sign}{digits}{}", "0".repeat((point - ndigits) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    };
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
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
    /// (No number with more than 17 significant digits: serde_json without its `float_roundtrip` feature
    /// may read those one unit in the last place away from the nearest double, which jq reads.)
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

    fn parse(json: &str) -> Value {
        serde_json::from_str(json).expect("test input is JSON")
    }

    /// Compiles and runs a program: the outputs, and the error if any.
    fn run(program: &str, input: &str) -> Result<(String, Option<String>), String> {
        let program = JqProgram::compile(program)?;
        let mut out = Vec::new();
        let result = program.run(&parse(input), &mut out);
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
            program.run(&serde_json::json!({ "n": n }), &mut out).unwrap();
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

    #[test]
    fn floats_are_laid_out_as_jq_does() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-10, "1.5e-10"),
            (123.456, "123.456"),
            (1e16, "1e+16"),
            (1.2345e19, "12345000000000000000"),
            (1.2345e20, "1.2345e+20"),
            (1.2345678901234568e20, "123456789012345680000"),
            (f64::INFINITY, "1.7976931348623157e+308"),
            (f64::NEG_INFINITY, "-1.7976931348623157e+308"),
            (f64::NAN, "null"),
        ];
        for (f, text) in cases {
            let mut out = Vec::new();
            write_float(&mut out, f);
            assert_eq!(String::from_utf8(out).unwrap(), text, "{f}");
        }
    }
}
