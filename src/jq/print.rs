//! Values printed as `jq -c` (1.6) prints them: compact, keys in their order, UTF-8 as is, `"` `\` and
//! control characters (U+007F too) escaped, numbers by [`number`](super::number).

use jaq_json::Val;

use super::guard;
use super::number::write_num;

/// A value's compact JSON text.
pub fn json_text(value: &Val) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, value);
    out
}

/// Appends a value's compact JSON text, as `jq -c` prints it. A value nested too deeply for the stack
/// budget stops the program ([`guard::check`]) rather than the process.
pub fn write_json(out: &mut Vec<u8>, value: &Val) {
    match value {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Val::Num(n) => write_num(out, n),
        // jaq's byte strings (from `tobytes`) have no JSON form; like jq, print text, lossily if need be.
        Val::TStr(s) | Val::BStr(s) => write_str(out, &String::from_utf8_lossy(s)),
        Val::Arr(items) => {
            guard::check();
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
            guard::check();
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
