//! Splits the big array of a JSON document (`{"Records":[…]}`, `{"Events":[…]}`) into the texts of its
//! elements without parsing them, so that each element is parsed on its own (or skipped by the
//! prefilter) and memory holds one element at a time whatever the file size.

use std::fmt;
use std::io::{self, Read};

use memchr::memchr_iter;

#[derive(Debug)]
pub enum SplitError {
    /// The input ended inside the document.
    Truncated {
        offset: u64,
    },
    Invalid {
        offset: u64,
        expected: &'static str,
    },
    Io(io::Error),
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::Truncated { offset } => write!(f, "truncated: the document ends at byte {offset}"),
            SplitError::Invalid { offset, expected } => write!(f, "invalid JSON at byte {offset}: expected {expected}"),
            SplitError::Io(err) => write!(f, "truncated or corrupt: {err}"),
        }
    }
}

const CHUNK: usize = 256 * 1024;

/// Calls `on_element(key, index, text)` for each element of the arrays under `keys` of the top-level
/// object; other keys are skipped. An `Err` from the callback stops the split and is returned as is
/// (that is how a consumer that has had enough says so).
pub fn split_arrays<E>(
    reader: impl Read,
    keys: &[&str],
    mut on_element: impl FnMut(&str, u64, &[u8]) -> Result<(), E>,
) -> Result<Result<(), SplitError>, E> {
    let mut s = Scanner { reader, buf: vec![0; CHUNK], pos: 0, end: 0, keep: None, discarded: 0 };
    macro_rules! scan {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(err) => return Ok(Err(err)),
            }
        };
    }
    scan!(s.expect(b'{', "'{'"));
    loop {
        match scan!(s.peek_token()) {
            b'}' => return Ok(Ok(())),
            b',' => s.pos += 1,
            b'"' => {
                let key = scan!(s.key());
                scan!(s.expect(b':', "':'"));
                let array = keys.iter().find(|k| k.as_bytes() == key.as_slice()).copied();
                match (array, scan!(s.peek_token())) {
                    (Some(array), b'[') => {
                        s.pos += 1;
                        let mut index = 0;
                        loop {
                            match scan!(s.peek_token()) {
                                b']' => {
                                    s.pos += 1;
                                    break;
                                }
                                b',' => s.pos += 1,
                                _ => {
                                    s.keep = Some(s.pos);
                                    scan!(s.skip_value());
                                    let start = s.keep.take().expect("kept start");
                                    on_element(array, index, &s.buf[start..s.pos])?;
                                    index += 1;
                                }
                            }
                        }
                    }
                    _ => scan!(s.skip_value()),
                }
            }
            _ => return Ok(Err(s.invalid("a key or '}'"))),
        }
    }
}

struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The start of the element being captured: bytes from there on are kept when refilling.
    keep: Option<usize>,
    discarded: u64,
}

impl<R: Read> Scanner<R> {
    /// Reads more input, moving what is still needed to the front; false at the end of input.
    fn fill(&mut self) -> Result<bool, SplitError> {
        let from = self.keep.unwrap_or(self.pos).min(self.pos);
        if from > 0 {
            self.buf.copy_within(from..self.end, 0);
            self.end -= from;
            self.pos -= from;
            self.keep = self.keep.map(|k| k - from);
            self.discarded += from as u64;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(SplitError::Io(err)),
            }
        }
    }

    fn offset(&self) -> u64 {
        self.discarded + self.pos as u64
    }

    fn invalid(&self, expected: &'static str) -> SplitError {
        SplitError::Invalid { offset: self.offset(), expected }
    }

    /// The byte at `pos`, reading more if needed.
    #[inline]
    fn byte(&mut self) -> Result<u8, SplitError> {
        while self.pos >= self.end {
            if !self.fill()? {
                return Err(SplitError::Truncated { offset: self.offset() });
            }
        }
        Ok(self.buf[self.pos])
    }

    /// The next byte that is not white space, left in place.
    fn peek_token(&mut self) -> Result<u8, SplitError> {
        loop {
            let b = self.byte()?;
            if !b.is_ascii_whitespace() {
                return Ok(b);
            }
            self.pos += 1;
        }
    }

    fn expect(&mut self, wanted: u8, expected: &'static str) -> Result<(), SplitError> {
        if self.peek_token()? != wanted {
            return Err(self.invalid(expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// A key's raw bytes (keys compared here have no escapes).
    fn key(&mut self) -> Result<Vec<u8>, SplitError> {
        self.pos += 1;
        self.keep = Some(self.pos);
        self.skip_string_body()?;
        let start = self.keep.take().expect("kept start");
        Ok(self.buf[start..self.pos - 1].to_vec())
    }

    /// From just after an opening quote to just after the closing one. A quote closes the string when
    /// an even number of backslashes precede it; the opening quote stays in the buffer meanwhile, so the
    /// count never runs past the string's start.
    fn skip_string_body(&mut self) -> Result<(), SplitError> {
        let outer = self.keep;
        if outer.is_none() {
            self.keep = Some(self.pos - 1);
        }
        let result = loop {
            // One pass finds every quote of the buffered text; escaped ones are passed over.
            let closing = memchr_iter(b'"', &self.buf[self.pos..self.end])
                .map(|i| self.pos + i)
                .find(|&at| self.buf[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0);
            match closing {
                Some(at) => {
                    self.pos = at + 1;
                    break Ok(());
                }
                None => {
                    self.pos = self.end;
                    match self.fill() {
                        Ok(true) => {}
                        Ok(false) => break Err(SplitError::Truncated { offset: self.offset() }),
                        Err(err) => break Err(err),
                    }
                }
            }
        };
        if outer.is_none() {
            self.keep = None;
        }
        result
    }

    /// One whole value, whatever its kind.
    fn skip_value(&mut self) -> Result<(), SplitError> {
        match self.peek_token()? {
            b'"' => {
                self.pos += 1;
                self.skip_string_body()
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    if self.pos >= self.end {
                        self.byte()?;
                    }
                    // The bytes between strings: brackets, separators, numbers and literals.
                    let mut string = false;
                    while self.pos < self.end {
                        let b = self.buf[self.pos];
                        self.pos += 1;
                        match b {
                            b'"' => {
                                string = true;
                                break;
                            }
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    return Ok(());
                                }
                            }
                            _ => {}
                        }
                    }
                    if string {
                        self.skip_string_body()?;
                    }
                }
            }
            b'}' | b']' | b',' | b':' => Err(self.invalid("a value")),
            _ => {
                // A number, true, false or null: up to the next delimiter.
                let start = self.pos;
                loop {
                    match self.byte() {
                        Ok(b) if b == b',' || b == b'}' || b == b']' || b.is_ascii_whitespace() => break,
                        Ok(_) => self.pos += 1,
                        Err(SplitError::Truncated { .. }) if self.pos > start => break,
                        Err(err) => return Err(err),
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, chunk_reader: bool) -> (Vec<String>, Option<String>) {
        let mut out = Vec::new();
        // A reader that returns a few bytes at a time exercises every refill boundary.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let result = if chunk_reader {
            split_arrays(Trickle(text.as_bytes()), &["Records", "Events"], |key, i, el| {
                out.push(format!("{key}[{i}]={}", String::from_utf8_lossy(el)));
                Ok::<_, ()>(())
            })
        } else {
            split_arrays(text.as_bytes(), &["Records", "Events"], |key, i, el| {
                out.push(format!("{key}[{i}]={}", String::from_utf8_lossy(el)));
                Ok::<_, ()>(())
            })
        };
        (out, result.unwrap().err().map(|e| e.to_string()))
    }

    #[test]
    fn elements_come_out_whole() {
        let doc = r#" {"Other": {"a": [1, "]}"]}, "Records": [ {"k": "v \" } ] \\"}, {"n": [1,{}]} , 7, "s" ], "NextToken": "x"} "#;
        for trickle in [false, true] {
            let (out, err) = split(doc, trickle);
            assert_eq!(
                out,
                [
                    r#"Records[0]={"k": "v \" } ] \\"}"#,
                    r#"Records[1]={"n": [1,{}]}"#,
                    "Records[2]=7",
                    r#"Records[3]="s""#
                ],
            );
            assert_eq!(err, None);
        }
    }

    #[test]
    fn truncation_and_garbage_are_errors_after_the_good_elements() {
        let (out, err) = split(r#"{"Events":[{"a":1},{"b":"#, true);
        assert_eq!(out, [r#"Events[0]={"a":1}"#]);
        assert!(err.unwrap().starts_with("truncated"));
        let (_, err) = split(r#"["not an object"]"#, false);
        assert!(err.unwrap().contains("expected '{'"));
        let (_, err) = split(r#"{"Records":[{"a":1}] garbage}"#, false);
        assert!(err.unwrap().contains("expected a key or '}'"));
    }
}
