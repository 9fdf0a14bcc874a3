//! QEMU-compatible JSON: the streaming input path (lexer, message
//! streamer, parser) and the output writer.
//!
//! Input (QEMU: `qobject/json-lexer.c`, `json-streamer.c`,
//! `json-parser.c`): bytes are fed in whatever pieces the transport reads;
//! the [`JsonMessageParser`] cuts the token stream into top-level values by
//! counting braces and brackets and yields, per value, either a [`QObject`]
//! or an error string exactly as QEMU 7.2 words it (`"JSON parse error,
//! stray '%'"`, `"JSON parse error, expecting value"`, ...). Limits are
//! QEMU's: 64 MiB per token and per message, 2 Mi tokens per message,
//! nesting depth 1024; exceeding one yields an error and discards the
//! message so far, so no input is buffered without bound.
//!
//! Output (QEMU: `qobject/json-writer.c`): compact JSON with `": "` and
//! `", "` separators, [`QDict`](crate::qobject::QDict) hash order, every
//! non-ASCII or control character escaped as upper-case `\uXXXX`, doubles
//! printed with `%.17g`.

pub mod lexer;
pub mod parser;

use crate::qobject::{QNum, QObject};
use lexer::{Lexer, MAX_TOKEN_SIZE, TokenType};
use parser::Token;

/// Most tokens in one message (`MAX_TOKEN_COUNT`).
pub const MAX_TOKEN_COUNT: usize = 2 << 20;
/// Deepest nesting of `{`/`[` in one message (`MAX_NESTING`).
pub const MAX_NESTING: i64 = 1 << 10;

/// One result of the input path: a value or QEMU's error text.
pub type JsonMessage = Result<QObject, String>;

/// QEMU's `JSONMessageParser`: lexer plus the token-queue streamer.
#[derive(Debug, Default)]
pub struct JsonMessageParser {
    lexer: Lexer,
    tokens: Vec<Token>,
    brace_count: i64,
    bracket_count: i64,
    token_size: usize,
}

impl JsonMessageParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; each complete message (or error) is passed to `emit` in
    /// stream order.
    pub fn feed(&mut self, bytes: &[u8], emit: &mut dyn FnMut(JsonMessage)) {
        let Self {
            lexer,
            tokens,
            brace_count,
            bracket_count,
            token_size,
        } = self;
        let mut st = Streamer {
            tokens,
            brace_count,
            bracket_count,
            token_size,
        };
        for &b in bytes {
            lexer.feed_byte(b, &mut |ty, text| st.process_token(ty, text, emit));
        }
    }

    /// Convenience: feed bytes and collect the messages.
    pub fn feed_collect(&mut self, bytes: &[u8]) -> Vec<JsonMessage> {
        let mut out = Vec::new();
        self.feed(bytes, &mut |m| out.push(m));
        out
    }

    /// Drop all partial input (QEMU re-initialises the parser when a client
    /// connects).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Bytes currently held for unfinished messages (for tests and
    /// accounting): the token queue plus the partial token.
    pub fn buffered(&self) -> usize {
        self.token_size
    }
}

struct Streamer<'a> {
    tokens: &'a mut Vec<Token>,
    brace_count: &'a mut i64,
    bracket_count: &'a mut i64,
    token_size: &'a mut usize,
}

impl Streamer<'_> {
    /// `json_message_process_token()`.
    fn process_token(&mut self, ty: TokenType, text: &[u8], emit: &mut dyn FnMut(JsonMessage)) {
        match ty {
            TokenType::LCurly => *self.brace_count += 1,
            TokenType::RCurly => *self.brace_count -= 1,
            TokenType::LSquare => *self.bracket_count += 1,
            TokenType::RSquare => *self.bracket_count -= 1,
            TokenType::Error => {
                let msg = format!("JSON parse error, stray '{}'", parser::decode_lossy(text));
                self.reset();
                emit(Err(msg));
                return;
            }
            _ => {}
        }
        let limit = if *self.token_size + text.len() + 1 > MAX_TOKEN_SIZE {
            Some("JSON token size limit exceeded")
        } else if self.tokens.len() + 1 > MAX_TOKEN_COUNT {
            Some("JSON token count limit exceeded")
        } else if *self.bracket_count + *self.brace_count > MAX_NESTING {
            Some("JSON nesting depth limit exceeded")
        } else {
            None
        };
        if let Some(msg) = limit {
            self.reset();
            emit(Err(msg.to_owned()));
            return;
        }
        if ty == TokenType::Oversized {
            // Cannot get here: an oversized token always trips the size
            // limit above. Kept total for robustness.
            self.reset();
            emit(Err("JSON token size limit exceeded".into()));
            return;
        }
        self.tokens.push(Token {
            ty,
            text: text.to_vec(),
        });
        *self.token_size += text.len();
        if (*self.brace_count > 0 || *self.bracket_count > 0)
            && *self.brace_count >= 0
            && *self.bracket_count >= 0
        {
            return;
        }
        let result = parser::parse(self.tokens);
        self.reset();
        emit(result);
    }

    fn reset(&mut self) {
        *self.brace_count = 0;
        *self.bracket_count = 0;
        *self.token_size = 0;
        // Free the memory, not just the length: a 64 MiB message must not
        // stay allocated.
        *self.tokens = Vec::new();
    }
}

/// Serialise a QObject in QEMU's compact format (`qobject_to_json()`).
pub fn to_json(obj: &QObject) -> String {
    let mut out = String::new();
    write_value(&mut out, obj);
    out
}

fn write_value(out: &mut String, obj: &QObject) {
    match obj {
        QObject::Null => out.push_str("null"),
        QObject::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        QObject::Num(QNum::I64(v)) => out.push_str(&v.to_string()),
        QObject::Num(QNum::U64(v)) => out.push_str(&v.to_string()),
        QObject::Num(QNum::Double(v)) => out.push_str(&format_g17(*v)),
        QObject::String(s) => write_str(out, s),
        QObject::Dict(d) => {
            out.push('{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k);
                out.push_str(": ");
                write_value(out, v);
            }
            out.push('}');
        }
        QObject::List(l) => {
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, v);
            }
            out.push(']');
        }
    }
}

/// JSON-quote a string as QEMU's `quoted_str()` does.
pub fn write_str(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) > 0xFFFF => {
                let v = c as u32 - 0x10000;
                let _ = write!(
                    out,
                    "\\u{:04X}\\u{:04X}",
                    0xD800 + (v >> 10),
                    0xDC00 + (v & 0x3FF)
                );
            }
            c if (c as u32) < 0x20 || (c as u32) >= 0x7F => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// C's `printf("%.17g", v)`, which QEMU uses for doubles.
pub fn format_g17(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    const P: i32 = 17;
    // Scientific form with P significant digits gives the decimal exponent
    // after rounding, which decides between %e and %f style.
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..P).contains(&exp) {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (P - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, v)).to_owned()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests;
