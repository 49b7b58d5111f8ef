//! Splits a stream of JSON documents into the texts of the events they hold, without parsing them, so
//! that each event is parsed on its own (or skipped by the prefilter) and memory holds one event at a
//! time whatever the file size.
//!
//! The shape is read from the content, value by value, as `jq` reads its input: one or more top-level
//! values, one after another. An object with a `Records` key (a trail log) or an `Events` key (saved
//! lookup output, whatever other keys stand before or after it: `$metadata`, `NextToken`,
//! `ResponseMetadata`) is a document whose array elements are events; any other object is one event
//! (a record, or a saved lookup event); a top-level array of objects holds events.

use std::fmt;
use std::io::{self, Read};

use memchr::memchr2;

/// The largest event (or line) read: far above any real CloudTrail record (the service caps an event
/// at 256 KB), and small enough that hostile input cannot take the memory.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// What the splitter found.
pub enum Piece<'a> {
    /// One event's text: an element of `Records` or `Events` (`array`), of a top-level array (`array`
    /// empty), or a top-level object (`array` None). `index` counts within its array, or the top-level
    /// values.
    Event { array: Option<&'static str>, index: u64, text: &'a [u8] },
    /// Something to warn about that does not stop the reading.
    Problem(String),
}

#[derive(Debug)]
pub enum SplitError {
    /// The input ended inside a value.
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

/// Calls `on_piece` for each event and problem, in order. An `Err` from the callback stops the split
/// and is returned as is (that is how a consumer that has had enough says so); an error of the input
/// ends the split after everything before it was handed on.
pub fn split_values<E>(
    reader: impl Read,
    on_piece: impl FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<Result<(), SplitError>, E> {
    split_values_after(Vec::new(), reader, on_piece)
}

/// [`split_values`] of `head` and then `reader`: the first bytes of the input, read already (to tell
/// its layout), are split where they lie rather than copied. Take `head` from [`buffer`].
pub fn split_values_after<E>(
    head: Vec<u8>,
    reader: impl Read,
    mut on_piece: impl FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<Result<(), SplitError>, E> {
    let end = head.len();
    let buf = if end == 0 { spare_buffer() } else { head };
    let mut s = Scanner { reader, buf, pos: 0, end, keep: None, discarded: 0, oversized: false };
    let result = split_all(&mut s, &mut on_piece);
    give_back(std::mem::take(&mut s.buf));
    result
}

/// An empty buffer with this thread's spare memory, for the head of [`split_values_after`].
pub fn buffer() -> Vec<u8> {
    let mut buffer = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
    buffer.clear();
    buffer.reserve(CHUNK);
    buffer
}

thread_local! {
    /// The buffer of this thread's last split, kept for its next one: a trail's tree is thousands of
    /// small files, and a fresh buffer for each would be zeroed for each.
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn spare_buffer() -> Vec<u8> {
    let mut spare = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
    if spare.capacity() < CHUNK {
        return vec![0; CHUNK];
    }
    // A head given back holds what it held; the scanner needs its whole length initialised.
    spare.resize(spare.capacity(), 0);
    spare
}

fn give_back(buf: Vec<u8>) {
    // One grown past an event's size is not kept.
    if buf.len() <= 4 * CHUNK {
        SPARE.with(|spare| *spare.borrow_mut() = buf);
    }
}

fn split_all<R: Read, E>(
    s: &mut Scanner<R>,
    on_piece: &mut impl FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<Result<(), SplitError>, E> {
    let mut values = 0u64;
    loop {
        let first = match s.peek_token() {
            Ok(b) => b,
            Err(SplitError::Truncated { .. }) => return Ok(Ok(())),
            Err(err) => return Ok(Err(err)),
        };
        let result = match first {
            b'{' => s.object(values, on_piece)?,
            b'[' => s.top_array(values, on_piece)?,
            _ => Err(s.invalid("a JSON object or array")),
        };
        if let Err(err) = result {
            return Ok(Err(err));
        }
        values += 1;
    }
}

/// The arrays of a document, and the kind of event each holds.
const DOCUMENT_KEYS: [&str; 2] = ["Records", "Events"];

struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The start of the text being captured: bytes from there on are kept when refilling.
    keep: Option<usize>,
    discarded: u64,
    /// The capture grew past `MAX_EVENT_BYTES` and was dropped; the value is still skipped to its end.
    oversized: bool,
}

/// `Ok(Err(_))`: the input is bad; `Err(_)`: the consumer stopped.
type Step<E> = Result<Result<(), SplitError>, E>;

macro_rules! scan {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return Ok(Err(err)),
        }
    };
}

impl<R: Read> Scanner<R> {
    /// A top-level object: a document when it has a `Records` or `Events` key, else one event. Its text
    /// is captured from the start until it turns out to be a document.
    fn object<E>(&mut self, value: u64, on_piece: &mut impl FnMut(Piece<'_>) -> Result<(), E>) -> Step<E> {
        let start = self.pos;
        self.start_capture(start);
        self.pos += 1;
        let mut document = false;
        loop {
            match scan!(self.peek_token()) {
                b'}' => {
                    self.pos += 1;
                    break;
                }
                b',' => self.pos += 1,
                b'"' => {
                    let key = scan!(self.key());
                    scan!(self.expect(b':', "':'"));
                    let Some(array) = DOCUMENT_KEYS.iter().find(|k| k.as_bytes() == key.as_slice()).copied() else {
                        scan!(self.skip_value());
                        continue;
                    };
                    if !document {
                        document = true;
                        self.stop_capture();
                    }
                    if scan!(self.peek_token()) == b'[' {
                        scan!(self.elements(Some(array), on_piece)?);
                    } else {
                        let offset = self.offset();
                        scan!(self.skip_value());
                        on_piece(Piece::Problem(format!("byte {offset}: \"{array}\" is not an array")))?;
                    }
                }
                _ => return Ok(Err(self.invalid("a key or '}'"))),
            }
        }
        if !document {
            self.emit(None, value, on_piece)?;
        }
        Ok(Ok(()))
    }

    /// A top-level array: of events when its first element is an object; anything else is one value,
    /// handed on whole to be refused as not an event.
    fn top_array<E>(&mut self, value: u64, on_piece: &mut impl FnMut(Piece<'_>) -> Result<(), E>) -> Step<E> {
        self.start_capture(self.pos);
        self.pos += 1;
        let first = scan!(self.peek_token());
        // Refills move the text: the capture's start is where the array begins now.
        self.pos = self.keep.expect("a capture was started");
        if first == b'{' {
            self.stop_capture();
            return self.elements(Some(""), on_piece);
        }
        scan!(self.skip_value());
        self.emit(None, value, on_piece)?;
        Ok(Ok(()))
    }

    /// The elements of the array at `pos`, each handed on as an event of `array`.
    fn elements<E>(
        &mut self,
        array: Option<&'static str>,
        on_piece: &mut impl FnMut(Piece<'_>) -> Result<(), E>,
    ) -> Step<E> {
        self.pos += 1;
        let mut index = 0;
        loop {
            match scan!(self.peek_token()) {
                b']' => {
                    self.pos += 1;
                    return Ok(Ok(()));
                }
                b',' => self.pos += 1,
                _ => {
                    let start = self.pos;
                    self.start_capture(start);
                    scan!(self.skip_value());
                    self.emit(array, index, on_piece)?;
                    index += 1;
                }
            }
        }
    }

    fn start_capture(&mut self, at: usize) {
        self.keep = Some(at);
        self.oversized = false;
    }

    fn stop_capture(&mut self) {
        self.keep = None;
        self.oversized = false;
    }

    /// Hands on the captured text (from `keep` to `pos`), or says it was too large.
    fn emit<E>(
        &mut self,
        array: Option<&'static str>,
        index: u64,
        on_piece: &mut impl FnMut(Piece<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let kept = self.keep.take();
        let too_large = kept.is_some_and(|start| self.pos - start > MAX_EVENT_BYTES);
        if std::mem::take(&mut self.oversized) || too_large {
            let place = match array {
                Some(name) => format!("{name}[{index}]"),
                None => format!("byte {}", self.offset()),
            };
            return on_piece(Piece::Problem(format!(
                "{place}: an event larger than {} MiB; skipped",
                MAX_EVENT_BYTES >> 20
            )));
        }
        let start = kept.expect("a capture was started");
        on_piece(Piece::Event { array, index, text: &self.buf[start..self.pos] })
    }

    /// Reads more input, moving what is still needed to the front; false at the end of input.
    fn fill(&mut self) -> Result<bool, SplitError> {
        if let Some(keep) = self.keep {
            if self.end - keep > MAX_EVENT_BYTES {
                // Too large to be an event: stop keeping it, but go on to find where it ends.
                self.keep = None;
                self.oversized = true;
            }
        }
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

    /// A key's raw bytes (the keys looked for have no escapes).
    fn key(&mut self) -> Result<Vec<u8>, SplitError> {
        self.pos += 1;
        let from = self.offset();
        let mut key = Vec::new();
        loop {
            let b = self.byte()?;
            self.pos += 1;
            match b {
                b'"' => return Ok(key),
                b'\\' => {
                    key.push(b);
                    key.push(self.byte()?);
                    self.pos += 1;
                }
                _ => key.push(b),
            }
            if key.len() > MAX_EVENT_BYTES {
                return Err(SplitError::Invalid { offset: from, expected: "a key of reasonable length" });
            }
        }
    }

    /// From just after an opening quote to just after the closing one; an escaped character is passed
    /// over whole, so a quote after any run of backslashes is judged right across buffer refills.
    fn skip_string_body(&mut self) -> Result<(), SplitError> {
        loop {
            if self.pos >= self.end {
                self.byte()?;
            }
            match memchr2(b'"', b'\\', &self.buf[self.pos..self.end]) {
                Some(i) => {
                    let at = self.pos + i;
                    if self.buf[at] == b'"' {
                        self.pos = at + 1;
                        return Ok(());
                    }
                    self.pos = at + 1;
                    self.byte()?;
                    self.pos += 1;
                }
                None => self.pos = self.end,
            }
        }
    }

    /// The object or array at `pos`, to just after its end, 64 bytes at a time: where a block has no
    /// backslash, which bytes are inside strings follows from its quotes alone, and only its brackets
    /// outside strings are looked at one by one, when they may close the value. A block with a
    /// backslash is read byte by byte. Either way, as JSON reads: a backslash escapes the next byte
    /// inside a string, and means nothing outside one.
    fn skip_container(&mut self) -> Result<(), SplitError> {
        let mut depth = 0usize;
        let mut in_string = false;
        // The block before ended inside a string on a backslash that escapes the next byte.
        let mut escape = false;
        loop {
            if self.pos >= self.end {
                self.byte()?;
            }
            let block = &self.buf[self.pos..self.end.min(self.pos + BLOCK)];
            let n = block.len();
            let masks = Masks::of(block);
            if masks.backslash != 0 || escape {
                for (i, &b) in block.iter().enumerate() {
                    if in_string {
                        if escape {
                            escape = false;
                        } else if b == b'\\' {
                            escape = true;
                        } else if b == b'"' {
                            in_string = false;
                        }
                        continue;
                    }
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += i + 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
                self.pos += n;
                continue;
            }
            // Inside a string: from an opening quote (included) to its closing one.
            let mut inside = prefix_xor(masks.quote);
            if in_string {
                inside = !inside;
            }
            in_string = inside >> (n - 1) & 1 == 1;
            let opens = masks.open & !inside;
            let closes = masks.close & !inside;
            if (closes.count_ones() as usize) < depth {
                // The value cannot end in this block.
                depth = depth + opens.count_ones() as usize - closes.count_ones() as usize;
                self.pos += n;
                continue;
            }
            let mut brackets = opens | closes;
            while brackets != 0 {
                let i = brackets.trailing_zeros() as usize;
                brackets &= brackets - 1;
                if opens >> i & 1 == 1 {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += i + 1;
                        return Ok(());
                    }
                }
            }
            self.pos += n;
        }
    }

    /// One whole value, whatever its kind.
    fn skip_value(&mut self) -> Result<(), SplitError> {
        match self.peek_token()? {
            b'"' => {
                self.pos += 1;
                self.skip_string_body()
            }
            b'{' | b'[' => self.skip_container(),
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

/// Bytes looked at together by [`Scanner::skip_container`].
const BLOCK: usize = 64;

/// Bit `i` set where byte `i` of a block (of at most 64 bytes) is a quote, a backslash, an opening
/// bracket (`{`, `[`) or a closing one (`}`, `]`).
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl Masks {
    #[inline]
    fn of(block: &[u8]) -> Masks {
        if block.len() == BLOCK {
            return Masks::of_full(block.try_into().expect("a block"));
        }
        let mut full = [0u8; BLOCK];
        full[..block.len()].copy_from_slice(block);
        // Zero bytes are none of the four: the bits past the end stay clear.
        Masks::of_full(&full)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn of_full(block: &[u8; BLOCK]) -> Masks {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let (mut quote, mut backslash, mut open, mut close) = (0u64, 0u64, 0u64, 0u64);
        // SAFETY: SSE2 is part of x86_64; each load reads 16 bytes inside the 64 of `block`.
        unsafe {
            let q = _mm_set1_epi8(b'"' as i8);
            let bs = _mm_set1_epi8(b'\\' as i8);
            // `{` and `[` differ in bit 0x20 only, as do `}` and `]`; no other byte gives 0x7b or 0x7d
            // with that bit set.
            let case = _mm_set1_epi8(0x20);
            let op = _mm_set1_epi8(0x7b);
            let cl = _mm_set1_epi8(0x7d);
            for part in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(part * 16).cast::<__m128i>());
                let folded = _mm_or_si128(v, case);
                let shift = part * 16;
                quote |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)) as u16) << shift;
                backslash |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs)) as u16) << shift;
                open |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, op)) as u16) << shift;
                close |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, cl)) as u16) << shift;
            }
        }
        Masks { quote, backslash, open, close }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    fn of_full(block: &[u8; BLOCK]) -> Masks {
        let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
        for (i, &b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            match b {
                b'"' => masks.quote |= bit,
                b'\\' => masks.backslash |= bit,
                b'{' | b'[' => masks.open |= bit,
                b'}' | b']' => masks.close |= bit,
                _ => {}
            }
        }
        masks
    }
}

/// Bit `i` of the result is the parity of bits 0 to `i` of `x`.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns a few bytes at a time exercises every refill boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn split(text: &str, trickle: bool) -> (Vec<String>, Option<String>) {
        let mut out = Vec::new();
        let on_piece = |piece: Piece<'_>| {
            out.push(match piece {
                Piece::Event { array: Some(name), index, text } => {
                    format!("{name}[{index}]={}", String::from_utf8_lossy(text))
                }
                Piece::Event { array: None, index, text } => format!("#{index}={}", String::from_utf8_lossy(text)),
                Piece::Problem(problem) => format!("problem: {problem}"),
            });
            Ok::<_, ()>(())
        };
        let result = if trickle {
            split_values(Trickle(text.as_bytes()), on_piece)
        } else {
            split_values(text.as_bytes(), on_piece)
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
    fn any_key_order_and_documents_one_after_another() {
        let text = "{\"$metadata\": {\"httpStatusCode\": 200}, \"Events\": [{\"a\":1}]}\n{\"Records\":[{\"b\":2}]}{\"c\":3}\n[{\"d\":4},{\"e\":5}]";
        for trickle in [false, true] {
            let (out, err) = split(text, trickle);
            assert_eq!(
                out,
                [r#"Events[0]={"a":1}"#, r#"Records[0]={"b":2}"#, r#"#2={"c":3}"#, r#"[0]={"d":4}"#, r#"[1]={"e":5}"#]
            );
            assert_eq!(err, None);
        }
    }

    #[test]
    fn containers_of_the_wrong_type_are_problems() {
        let (out, err) = split(r#"{"Records": {}} {"Events": "x"} [1, 2]"#, false);
        assert_eq!(
            out,
            [
                "problem: byte 12: \"Records\" is not an array",
                "problem: byte 27: \"Events\" is not an array",
                "#2=[1, 2]"
            ]
        );
        assert_eq!(err, None);
    }

    #[test]
    fn truncation_and_garbage_are_errors_after_the_good_elements() {
        let (out, err) = split(r#"{"Events":[{"a":1},{"b":"#, true);
        assert_eq!(out, [r#"Events[0]={"a":1}"#]);
        assert!(err.unwrap().starts_with("truncated"));
        let (out, err) = split(r#"{"Records":[{"a":1}]} garbage"#, false);
        assert_eq!(out, [r#"Records[0]={"a":1}"#]);
        assert!(err.unwrap().contains("expected a JSON object or array"));
        let (_, err) = split(r#"{"Records":[{"a":1}] garbage}"#, false);
        assert!(err.unwrap().contains("expected a key or '}'"));
    }

    #[test]
    fn an_oversized_event_is_skipped_and_the_next_one_read() {
        let big = format!("{{\"Records\":[{{\"x\":\"{}\"}},{{\"y\":1}}]}}", "a".repeat(MAX_EVENT_BYTES + 10));
        for trickle in [false, true] {
            let (out, err) = split(&big, trickle);
            assert_eq!(out.len(), 2);
            assert!(out[0].starts_with("problem: Records[0]: an event larger than 16 MiB"), "{:.80}", out[0]);
            assert_eq!(out[1], r#"Records[1]={"y":1}"#);
            assert_eq!(err, None);
        }
        let (out, err) = split(&big, false);
        assert_eq!(out[1], r#"Records[1]={"y":1}"#);
        assert_eq!(err, None);
    }

    #[test]
    fn blocks_agree_with_json_on_strings_brackets_and_escapes() {
        // Records whose strings hold brackets, quotes and runs of backslashes at every offset of a block.
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let alphabet = ['a', '{', '}', '[', ']', '"', '\\', ' ', ',', ':', 'é'];
        let records: Vec<serde_json::Value> = (0..200)
            .map(|n| {
                let text: String = (0..next() % 150).map(|_| alphabet[next() % alphabet.len()]).collect();
                let nested: Vec<serde_json::Value> =
                    (0..n % 4).map(|d| serde_json::json!({ "d": [d, {"t": text}] })).collect();
                serde_json::json!({"n": n, "s": text, "nested": nested, "e": {}})
            })
            .collect();
        let texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        let doc = format!("{{\"Records\":[{}]}}", texts.join(","));
        for trickle in [false, true] {
            let (out, err) = split(&doc, trickle);
            let expected: Vec<String> = texts.iter().enumerate().map(|(i, t)| format!("Records[{i}]={t}")).collect();
            assert_eq!(out, expected, "trickle {trickle}");
            assert_eq!(err, None);
        }
    }
}
