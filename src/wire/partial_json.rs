//! The value a truncated JSON document holds so far.
//!
//! Anthropic streams a tool call's input as fragments of JSON text, and the
//! anthropic SDK's `messages.stream()` shows the input parsed so far after each
//! one (jiter's `partial_mode=True`). This reads a prefix the same way: a
//! container cut short is closed with what it holds; a member or element cut
//! inside its scalar (a string, number or literal not yet complete) or before
//! its value is left out; text after a complete top-level value is ignored.
//! Anything that cannot become valid JSON is an error.
//!
//! The result is compact JSON text in which strings and numbers keep their
//! source spelling, so it parses into exactly the values the fragments sent.

use crate::wire::json::JsonError;

/// Containers nested deeper than this are rejected, as jiter rejects them (so
/// the anthropic SDK raises on the same fragment).
const MAX_DEPTH: usize = 201;

/// How far a value got before the input ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Got {
    /// Whole.
    Complete,
    /// A container the input ended inside: closed, with what it holds.
    Cut,
    /// Nothing usable: no value yet, or a scalar cut short. Left out.
    Missing,
}

/// The compact JSON text of what `input` holds so far.
pub fn complete(input: &str) -> Result<String, JsonError> {
    let mut p = Parser {
        s: input.as_bytes(),
        at: 0,
        out: String::with_capacity(input.len() + 8),
        depth: 0,
    };
    match p.value()? {
        Got::Missing => Err(p.error("the input ended before a complete value")),
        Got::Complete | Got::Cut => Ok(p.out),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    out: String,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> JsonError {
        JsonError {
            position: self.at,
            message,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    /// Writes the source text `from..self.at` (always on char boundaries: it
    /// starts and ends at ASCII delimiters).
    fn copy_from(&mut self, from: usize) {
        let text = std::str::from_utf8(&self.s[from..self.at]).expect("a &str slice at ASCII");
        self.out.push_str(text);
    }

    fn value(&mut self) -> Result<Got, JsonError> {
        self.skip_ws();
        match self.peek() {
            None => Ok(Got::Missing),
            Some(b'{') => self.container(b'}'),
            Some(b'[') => self.container(b']'),
            Some(b'"') => {
                let from = self.at;
                if self.string()? {
                    self.copy_from(from);
                    Ok(Got::Complete)
                } else {
                    Ok(Got::Missing)
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    /// An object (`close` is `}`) or an array (`]`), written with what it holds.
    fn container(&mut self, close: u8) -> Result<Got, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let object = close == b'}';
        self.out.push(if object { '{' } else { '[' });
        self.at += 1;
        let mut first = true;
        let got = loop {
            self.skip_ws();
            let Some(b) = self.peek() else {
                break Got::Cut;
            };
            if first && b == close {
                self.at += 1;
                break Got::Complete;
            }
            let mark = self.out.len();
            if !first {
                self.out.push(',');
            }
            if object {
                if b != b'"' {
                    return Err(self.error("expected a member name"));
                }
                let from = self.at;
                if !self.string()? {
                    self.out.truncate(mark);
                    break Got::Cut;
                }
                self.copy_from(from);
                self.skip_ws();
                match self.peek() {
                    None => {
                        self.out.truncate(mark);
                        break Got::Cut;
                    }
                    Some(b':') => self.at += 1,
                    Some(_) => return Err(self.error("expected ':' after a member name")),
                }
                self.out.push(':');
            }
            match self.value()? {
                Got::Missing => {
                    self.out.truncate(mark);
                    break Got::Cut;
                }
                Got::Cut => break Got::Cut,
                Got::Complete => {}
            }
            first = false;
            self.skip_ws();
            match self.peek() {
                None => break Got::Cut,
                Some(b',') => self.at += 1,
                Some(b) if b == close => {
                    self.at += 1;
                    break Got::Complete;
                }
                Some(_) => return Err(self.error("expected ',' or the container's end")),
            }
        };
        self.out.push(if object { '}' } else { ']' });
        self.depth -= 1;
        Ok(got)
    }

    /// Steps over a string; `false` if the input ends inside it.
    fn string(&mut self) -> Result<bool, JsonError> {
        self.at += 1; // the opening quote
        loop {
            let Some(b) = self.peek() else {
                return Ok(false);
            };
            match b {
                b'"' => {
                    self.at += 1;
                    return Ok(true);
                }
                b'\\' => {
                    self.at += 1;
                    match self.peek() {
                        None => return Ok(false),
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            self.at += 1;
                            let Some(unit) = self.hex4()? else {
                                return Ok(false);
                            };
                            match unit {
                                // A high surrogate must be followed by a low one.
                                0xD800..=0xDBFF => {
                                    for want in [b'\\', b'u'] {
                                        match self.peek() {
                                            None => return Ok(false),
                                            Some(b) if b == want => self.at += 1,
                                            Some(_) => return Err(self.error("lone surrogate")),
                                        }
                                    }
                                    match self.hex4()? {
                                        None => return Ok(false),
                                        Some(0xDC00..=0xDFFF) => {}
                                        Some(_) => return Err(self.error("lone surrogate")),
                                    }
                                }
                                0xDC00..=0xDFFF => return Err(self.error("lone surrogate")),
                                _ => {}
                            }
                        }
                        Some(_) => return Err(self.error("invalid escape")),
                    }
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => self.at += 1,
            }
        }
    }

    /// Four hex digits of a `\\u` escape; `None` if the input ends first.
    fn hex4(&mut self) -> Result<Option<u32>, JsonError> {
        let mut unit = 0;
        for _ in 0..4 {
            let Some(h) = self.peek() else {
                return Ok(None);
            };
            let digit = (h as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            unit = unit * 16 + digit;
            self.at += 1;
        }
        Ok(Some(unit))
    }

    fn digits(&mut self) -> usize {
        let from = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - from
    }

    /// A number, `Missing` if the input ends before it is one.
    fn number(&mut self) -> Result<Got, JsonError> {
        let from = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            None => return Ok(Got::Missing),
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            Some(_) => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return match self.peek() {
                    None => Ok(Got::Missing),
                    Some(_) => Err(self.error("invalid number")),
                };
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return match self.peek() {
                    None => Ok(Got::Missing),
                    Some(_) => Err(self.error("invalid number")),
                };
            }
        }
        self.copy_from(from);
        Ok(Got::Complete)
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<Got, JsonError> {
        for &w in word {
            match self.peek() {
                None => return Ok(Got::Missing),
                Some(b) if b == w => self.at += 1,
                Some(_) => return Err(self.error("invalid literal")),
            }
        }
        self.out.push_str(std::str::from_utf8(word).expect("ASCII"));
        Ok(Got::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::complete;

    fn ok(input: &str) -> String {
        complete(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    #[test]
    fn prefixes_close_what_they_hold() {
        let cases = [
            ("{", "{}"),
            ("{\"", "{}"),
            ("{\"a\"", "{}"),
            ("{\"a\":", "{}"),
            ("{\"a\": \"x", "{}"),
            ("{\"a\": \"x\"", "{\"a\":\"x\"}"),
            ("{\"a\": 1", "{\"a\":1}"),
            ("{\"a\": 12.", "{}"),
            ("{\"a\": 1e", "{}"),
            ("{\"a\": -", "{}"),
            ("{\"a\": tr", "{}"),
            ("{\"a\": true", "{\"a\":true}"),
            ("{\"a\": [1, 2", "{\"a\":[1,2]}"),
            ("{\"a\": [1, \"b", "{\"a\":[1]}"),
            ("{\"a\": {\"b\": \"c\"}, \"d", "{\"a\":{\"b\":\"c\"}}"),
            ("{\"a\": [{\"b\": 1}, {\"c\"", "{\"a\":[{\"b\":1},{}]}"),
            ("{\"a\": 1,", "{\"a\":1}"),
            ("{\"a\": \"x\\", "{}"),
            ("{\"a\": \"\\u00", "{}"),
            ("[", "[]"),
            ("[1", "[1]"),
            ("{\"a\":1}x", "{\"a\":1}"),
            (
                "{\"q\": \"caf\u{e9} \\\"x\\\"\", \"n\": -1.5e+3}",
                "{\"q\":\"caf\u{e9} \\\"x\\\"\",\"n\":-1.5e+3}",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), want, "{input:?}");
        }
    }

    #[test]
    fn no_value_or_invalid_text_is_an_error() {
        for bad in [
            "",
            "   ",
            "\"ab",
            "{\"a\": x}",
            "{a: 1}",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "[\"\\q\"]",
        ] {
            assert!(complete(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            complete(&"[".repeat(201)).unwrap(),
            "[".repeat(201) + &"]".repeat(201)
        );
        assert_eq!(
            complete(&"[".repeat(202)).unwrap_err().message,
            "nested too deeply"
        );
        for lone in [
            r#"["\ud800"]"#,
            r#"["\udc00"]"#,
            r#"["\ud800\u0041"]"#,
            r#"["\ud800x"]"#,
        ] {
            assert_eq!(
                complete(lone).unwrap_err().message,
                "lone surrogate",
                "{lone}"
            );
        }
        assert_eq!(ok(r#"["\ud83d\ude00"]"#), r#"["\ud83d\ude00"]"#);
        for cut in [
            r#"["\ud800"#,
            r#"["\ud800\"#,
            r#"["\ud800\u"#,
            r#"["\ud800\udc"#,
        ] {
            assert_eq!(ok(cut), "[]", "{cut}");
        }
    }
}
