//! Numbers printed as `jq -c` (1.6) prints them. jaq's own printer differs: it prints `1.0` as `1.0` and
//! `1e17` as `1e17` where jq prints `1` and `1e+17`.

use std::borrow::Cow;

use jaq_json::Num;

/// jaq's parser reads the integer `-0` as 0, which prints as `0`; jq keeps it a negative zero (`-0`).
/// Rewrites each `-0` number of a JSON text as `-0.0`, which jaq keeps as written. A text without one
/// (nearly every record) is returned as it is, after a quick search.
pub fn keep_negative_zeros(json: &str) -> Cow<'_, str> {
    let bytes = json.as_bytes();
    let ends_number =
        |i: usize| bytes.get(i).is_none_or(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'));
    if !memchr::memmem::find_iter(bytes, b"-0").any(|i| ends_number(i + 2)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let (mut in_string, mut escaped, mut copied) = (false, false, 0);
    for (i, &byte) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b'-' && bytes.get(i + 1) == Some(&b'0') && ends_number(i + 2) {
            out.push_str(&json[copied..i + 2]);
            out.push_str(".0");
            copied = i + 2;
        }
    }
    out.push_str(&json[copied..]);
    Cow::Owned(out)
}

/// Appends a number's text.
pub fn write_num(out: &mut Vec<u8>, n: &Num) {
    match n {
        Num::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Num::BigInt(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Num::Float(f) => write_float(out, *f),
        // A decimal as written in the record or the program, kept as text by jaq; jq 1.6 reads it as a
        // double.
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

    #[test]
    fn negative_zeros_stay_negative() {
        let text = r#"{"a": -0, "b": "x-0,\"-0]", "c": [-0,-0.5,-0e1, 0], "d":-0}"#;
        assert_eq!(keep_negative_zeros(text), r#"{"a": -0.0, "b": "x-0,\"-0]", "c": [-0.0,-0.5,-0e1, 0], "d":-0.0}"#);
        let dates = r#"{"eventTime": "2024-07-02T00:00:00Z", "n": -1}"#;
        assert!(matches!(keep_negative_zeros(dates), Cow::Borrowed(_)));
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
