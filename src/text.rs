//! Text from outside made safe to show: the one terminal escaper (in two forms: table cells and stderr
//! lines, and the stricter form of what an endpoint sent), and URLs without their userinfo (a password
//! given in --endpoint-url is never shown).

/// The two forms of the escaper.
#[derive(Clone, Copy)]
enum Form {
    /// Table cells and stderr lines: only what a terminal would act on or hide is escaped, as `\n`,
    /// `\t`, `\r`, `\x1b`, `\u{202e}`.
    Cell,
    /// What an endpoint sent: anything but ASCII printables and letters or digits of other scripts, as
    /// `\u{1b}`; backslashes doubled.
    Answer,
}

/// The one escaper: every character kept or written as an escape, cut after `max` characters.
fn escaped(text: &str, max: usize, form: Form) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match (form, c) {
            (Form::Cell, '\n') => out.push_str("\\n"),
            (Form::Cell, '\t') => out.push_str("\\t"),
            (Form::Cell, '\r') => out.push_str("\\r"),
            (Form::Cell, c) if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            (Form::Cell, c) if !hides(c) => out.push(c),
            (Form::Answer, '\\') => out.push_str("\\\\"),
            (Form::Answer, ' '..='~') => out.push(c),
            (Form::Answer, c) if !c.is_ascii() && c.is_alphanumeric() => out.push(c),
            (_, c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    out
}

/// Shows control characters (C0, DEL, C1) and bidirectional overrides/isolates as visible escapes, so that
/// a record cannot move the cursor, recolour the terminal or make text read as other text.
pub fn escape(s: &str) -> String {
    if !s.chars().any(hides) {
        return s.to_owned();
    }
    escaped(s, usize::MAX, Form::Cell)
}

/// Control characters, and the invisible ones that can make text read as other text: bidirectional
/// overrides and isolates, zero-width and joiner characters, line and paragraph separators, invisible
/// operators, the byte-order mark, soft hyphen, the Arabic letter mark, and tag characters.
fn hides(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// Text from outside (an answer's bytes, a header, an error message) made safe for a terminal: ASCII
/// printables and letters or digits of other scripts as they are, anything else (controls, escapes,
/// format and bidi characters, invalid UTF-8) as `\u{..}`; cut after `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    escaped(text, max, Form::Answer)
}

/// Where the userinfo of a URL is: the bytes between `://` and the last `@` of the authority.
fn userinfo_range(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')?;
    Some((start, start + at))
}

/// The userinfo of a URL, which must appear nowhere in a message; None when it has none.
pub fn userinfo(url: &str) -> Option<&str> {
    let (start, end) = userinfo_range(url)?;
    Some(&url[start..end]).filter(|u| !u.is_empty())
}

/// `http://user:password@host/` as `http://***@host/`: a password given in --endpoint-url is never shown.
pub fn redact_userinfo(url: &str) -> String {
    match userinfo_range(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// "a", "a and b", "a, b and c".
pub fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_a_terminal_would_act_on() {
        assert_eq!(printable("a\x1b[31mb\x07", 100), "a\\u{1b}[31mb\\u{7}");
        assert_eq!(printable("\u{9b}\u{202e}\u{200b}é日本\\", 100), "\\u{9b}\\u{202e}\\u{200b}é日本\\\\");
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(redact_userinfo("http://alice:pw@127.0.0.1:9/x@y"), "http://***@127.0.0.1:9/x@y");
        assert_eq!(redact_userinfo("https://a@b@host"), "https://***@host");
        assert_eq!(redact_userinfo("ftp://u:p@host"), "ftp://***@host");
        assert_eq!(redact_userinfo("http://host/path@x"), "http://host/path@x");
        assert_eq!(redact_userinfo("http://host"), "http://host");
        assert_eq!(userinfo("http://alice:pw@host/"), Some("alice:pw"));
        assert_eq!(userinfo("http://@host/"), None);
        assert_eq!(userinfo("http://host/a@b"), None);
    }
}
