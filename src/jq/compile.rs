//! Compiling a `--jq` program: jaq's standard library, [`PRELUDE`] and [`natives`] that make jaq behave as
//! jq 1.6 where CloudTrail programs notice, and compile errors as one line that says what and where.

use jaq_core::box_iter::then;
use jaq_core::load::{lex, Arena, File, Loader};
use jaq_core::native::{bome, run, v, Filter, Fun};
use jaq_core::{compile, load, Compiler, Exn, RunPtr};
use jaq_json::{read, Val};

use super::guard::Guarded;
use super::print::json_text;

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

/// Compiles the program with jaq's standard library (jaq-std + jaq-json definitions). A bad program is
/// Err with ONE line of text: jaq's own message(s) (parse or compile errors, undefined names…) with what
/// is needed to find the mistake (the offending token or name).
pub fn compile(program: &str) -> Result<jaq_core::Filter<Guarded>, String> {
    let prelude = load::parse(PRELUDE, |p| p.defs()).expect("the --jq prelude parses");
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs()).chain(prelude);
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code: program, path: () })
        .map_err(|errs| join_errors(errs.into_iter().flat_map(|(_, e)| load_error(program, e))))?;
    // Our natives come first: the compiler binds a name to the first native with that signature.
    let funs = natives().chain(jaq_core::funs()).chain(jaq_std::funs()).chain(jaq_json::funs());
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| join_errors(errs.into_iter().flat_map(|(_, e)| e).map(|e| undefined(program, e))))
}

/// `fromjson` refuses texts nested deeper than this (jq 1.7's limit; jq 1.6's is 256): jaq's parser
/// recurses once per level, and a string of a few million `[` in a record must not exhaust the stack.
pub const MAX_FROMJSON_DEPTH: usize = 10_000;

/// Native filters that replace jaq's own.
fn natives() -> impl Iterator<Item = Fun<Guarded>> {
    // `tojson` (and so `@json`, `tostring`, `@csv`…) prints numbers as jq does, like the outputs.
    let tojson: Filter<RunPtr<Guarded>> = ("tojson", v(0), |cv| bome(Ok(Val::utf8_str(json_text(&cv.1)))));
    // jaq's own `fromjson` (jaq-json's funs.rs), after a check of the nesting depth.
    let fromjson: Filter<RunPtr<Guarded>> = ("fromjson", v(0), |cv| {
        Box::new(
            then(cv.1.try_as_utf8_bytes_owned(), |text| {
                if nesting_depth(&text) > MAX_FROMJSON_DEPTH {
                    let message =
                        format!("cannot parse a text nested more than {MAX_FROMJSON_DEPTH} levels deep as JSON");
                    return Box::new(std::iter::once(Err(jaq_core::Error::str(message))));
                }
                let input = cv.1.clone();
                let fail = move |r: Result<Val, read::Error>| {
                    r.map_err(|e| jaq_core::Error::str(format_args!("cannot parse {input} as JSON: {e}")))
                };
                jaq_json::bytes_valrs(text, |bytes| Box::new(read::parse_many(bytes).map(fail)))
            })
            .map(|r| r.map_err(Exn::from)),
        )
    });
    [run::<Guarded>(tojson), run::<Guarded>(fromjson)].into_iter()
}

/// How deeply arrays and objects nest in a JSON text (brackets inside strings and `#` comments, which jaq
/// reads, do not count). Malformed text gets some answer; the parser then says what is wrong with it.
fn nesting_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut bytes = text.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                while let Some(&byte) = bytes.next() {
                    match byte {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            b'#' => {
                for &byte in bytes.by_ref() {
                    if byte == b'\n' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    deepest
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
