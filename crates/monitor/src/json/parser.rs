//! Token list to QObject, with QEMU's error texts (QEMU:
//! `qobject/json-parser.c`, `util/unicode.c`).
//!
//! Every error is `"JSON parse error, <what>"`; only the first error of a
//! message is kept, as QEMU's `parse_error()` does.

use super::lexer::TokenType;
use crate::qobject::{QDict, QNum, QObject};

/// One token as the streamer queued it.
#[derive(Clone, Debug)]
pub struct Token {
    /// Token type.
    pub ty: TokenType,
    /// Token text.
    pub text: Vec<u8>,
}

/// QEMU's `is_valid_codepoint()`: Unicode scalar values minus the
/// noncharacters U+xxFFFE/U+xxFFFF and U+FDD0..U+FDEF.
pub fn is_valid_codepoint(cp: i64) -> bool {
    if !(0..=0x10FFFF).contains(&cp) {
        return false;
    }
    if (cp & 0xFFFF_F800) == 0xD800 {
        return false;
    }
    if (cp & 0xFFFE) == 0xFFFE {
        return false;
    }
    !(0xFDD0..=0xFDEF).contains(&cp)
}

/// QEMU's `mod_utf8_codepoint()`: decode one modified-UTF-8 sequence at the
/// start of `s`. Returns the code point (or `None` if invalid) and how many
/// bytes were consumed. `C0 80` decodes to U+0000; overlong forms,
/// surrogates, noncharacters and stray continuation bytes are invalid.
/// `s` must not be empty.
pub fn mod_utf8_codepoint(s: &[u8]) -> (Option<u32>, usize) {
    let byte = s[0];
    if byte < 0x80 {
        return (Some(byte as u32), 1);
    }
    if byte >= 0xFE || byte & 0x40 == 0 {
        return (None, 1);
    }
    let mut len = 0usize;
    let mut mask = 0x80u8;
    while byte & mask != 0 {
        len += 1;
        mask >>= 1;
    }
    let mut cp = (byte & mask.wrapping_sub(1)) as i64;
    let mut used = 1;
    for i in 1..len {
        let b = s.get(i).copied().unwrap_or(0);
        if b & 0xC0 != 0x80 {
            return (None, used);
        }
        used += 1;
        cp = (cp << 6) | (b & 0x3F) as i64;
    }
    const MIN_CP: [i64; 5] = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];
    if !is_valid_codepoint(cp) || (cp < MIN_CP[len - 2] && !(cp == 0 && len == 2)) {
        return (None, used);
    }
    (Some(cp as u32), used)
}

/// Decode bytes the way QEMU's JSON writer walks a C string: stop at the
/// first NUL byte, and replace each invalid sequence with U+FFFD.
pub fn decode_lossy(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut s = &bytes[..end];
    let mut out = String::with_capacity(s.len());
    while !s.is_empty() {
        let (cp, n) = mod_utf8_codepoint(s);
        out.push(cp.and_then(char::from_u32).unwrap_or('\u{FFFD}'));
        s = &s[n..];
    }
    out
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    err: Option<String>,
}

type PResult<T> = Result<T, ()>;

impl Parser<'_> {
    fn error(&mut self, msg: String) {
        if self.err.is_none() {
            self.err = Some(format!("JSON parse error, {msg}"));
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn pop(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn pop_or_eoi(&mut self) -> PResult<TokenType> {
        match self.pop() {
            Some(t) => Ok(t.ty),
            None => {
                self.error("premature EOI".into());
                Err(())
            }
        }
    }

    fn value(&mut self) -> PResult<QObject> {
        let Some(tok) = self.peek() else {
            self.error("premature EOI".into());
            return Err(());
        };
        match tok.ty {
            TokenType::LCurly => self.object(),
            TokenType::LSquare => self.array(),
            TokenType::Integer | TokenType::Float | TokenType::String => self.literal(),
            TokenType::Keyword => self.keyword(),
            _ => {
                self.error("expecting value".into());
                Err(())
            }
        }
    }

    fn object(&mut self) -> PResult<QObject> {
        self.pos += 1; // '{'
        let mut dict = QDict::new();
        let Some(tok) = self.peek() else {
            self.error("premature EOI".into());
            return Err(());
        };
        if tok.ty == TokenType::RCurly {
            self.pos += 1;
            return Ok(QObject::Dict(dict));
        }
        self.pair(&mut dict)?;
        let mut ty = self.pop_or_eoi()?;
        while ty != TokenType::RCurly {
            if ty != TokenType::Comma {
                self.error("expected separator in dict".into());
                return Err(());
            }
            self.pair(&mut dict)?;
            ty = self.pop_or_eoi()?;
        }
        Ok(QObject::Dict(dict))
    }

    fn pair(&mut self, dict: &mut QDict) -> PResult<()> {
        let key = match self.value() {
            Ok(QObject::String(s)) => s,
            _ => {
                self.error("key is not a string in object".into());
                return Err(());
            }
        };
        if self.pop_or_eoi()? != TokenType::Colon {
            self.error("missing : in object pair".into());
            return Err(());
        }
        let Ok(value) = self.value() else {
            self.error("Missing value in dict".into());
            return Err(());
        };
        if dict.contains_key(&key) {
            self.error("duplicate key".into());
            return Err(());
        }
        dict.put(&key, value);
        Ok(())
    }

    fn array(&mut self) -> PResult<QObject> {
        self.pos += 1; // '['
        let mut list = Vec::new();
        let Some(tok) = self.peek() else {
            self.error("premature EOI".into());
            return Err(());
        };
        if tok.ty == TokenType::RSquare {
            self.pos += 1;
            return Ok(QObject::List(list));
        }
        list.push(
            self.value()
                .inspect_err(|_| self.error("expecting value".into()))?,
        );
        let mut ty = self.pop_or_eoi()?;
        while ty != TokenType::RSquare {
            if ty != TokenType::Comma {
                self.error("expected separator in list".into());
                return Err(());
            }
            list.push(
                self.value()
                    .inspect_err(|_| self.error("expecting value".into()))?,
            );
            ty = self.pop_or_eoi()?;
        }
        Ok(QObject::List(list))
    }

    fn keyword(&mut self) -> PResult<QObject> {
        let text = self.tokens[self.pos].text.clone();
        self.pos += 1;
        match &text[..] {
            b"true" => Ok(QObject::Bool(true)),
            b"false" => Ok(QObject::Bool(false)),
            b"null" => Ok(QObject::Null),
            _ => {
                self.error(format!("invalid keyword '{}'", decode_lossy(&text)));
                Err(())
            }
        }
    }

    fn literal(&mut self) -> PResult<QObject> {
        let tok = &self.tokens[self.pos];
        self.pos += 1;
        // The lexer guarantees number tokens are ASCII.
        let text = std::str::from_utf8(&tok.text).unwrap_or("");
        match tok.ty {
            TokenType::String => {
                let text = tok.text.clone();
                self.string(&text).map(QObject::String)
            }
            TokenType::Integer => {
                // int64 if possible, else uint64 (non-negative only), else
                // double — the QNum classification of json-parser.c.
                if let Ok(v) = text.parse::<i64>() {
                    Ok(QObject::Num(QNum::I64(v)))
                } else if let (false, Ok(v)) = (text.starts_with('-'), text.parse::<u64>()) {
                    Ok(QObject::Num(QNum::U64(v)))
                } else {
                    Ok(QObject::Num(QNum::Double(parse_double(text))))
                }
            }
            _ => Ok(QObject::Num(QNum::Double(parse_double(text)))),
        }
    }

    /// `parse_string()`: unquote, process escapes, validate UTF-8.
    fn string(&mut self, tok: &[u8]) -> PResult<String> {
        let quote = tok[0];
        let mut out = String::new();
        let mut p = 1;
        // Bytes beyond the token read as NUL, like the C string's
        // terminator (`cvt4hex()` may look past the closing quote).
        let at = |i: usize| tok.get(i).copied().unwrap_or(0);
        while at(p) != quote {
            if p >= tok.len() {
                // Cannot happen for a lexer-made string token.
                self.error("premature EOI".into());
                return Err(());
            }
            if at(p) == b'\\' {
                let beg = p;
                p += 1;
                let c = at(p);
                p += 1;
                match c {
                    b'"' => out.push('"'),
                    b'\'' => out.push('\''),
                    b'\\' => out.push('\\'),
                    b'/' => out.push('/'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let mut cp = cvt4hex(&at, p);
                        p += 4;
                        if (0xD800..=0xDBFF).contains(&cp) && at(p) == b'\\' && at(p + 1) == b'u' {
                            cp = 0x10000 + ((cp & 0x3FF) << 10);
                            let trailing = cvt4hex(&at, p + 2);
                            if (0xDC00..=0xDFFF).contains(&trailing) {
                                cp |= trailing & 0x3FF;
                                p += 6;
                            } else {
                                cp = -1;
                            }
                        }
                        match (is_valid_codepoint(cp), char::from_u32(cp as u32)) {
                            (true, Some(ch)) => out.push(ch),
                            _ => {
                                // "%.*s" of the escape text, which stops at
                                // the C string's NUL.
                                let end = p.min(tok.len());
                                self.error(format!(
                                    "{} is not a valid Unicode character",
                                    decode_lossy(&tok[beg..end])
                                ));
                                return Err(());
                            }
                        }
                    }
                    _ => {
                        self.error("invalid escape sequence in string".into());
                        return Err(());
                    }
                }
            } else {
                let (cp, n) = mod_utf8_codepoint(&tok[p..]);
                match cp.and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        self.error("invalid UTF-8 sequence in string".into());
                        return Err(());
                    }
                }
                p += n;
            }
        }
        Ok(out)
    }
}

fn cvt4hex(at: &dyn Fn(usize) -> u8, p: usize) -> i64 {
    let mut cp = 0i64;
    for i in 0..4 {
        let c = at(p + i);
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return -1,
        };
        cp = (cp << 4) | d as i64;
    }
    cp
}

/// `strtod()` on a lexer-validated number; out-of-range values become
/// infinities as in C.
fn parse_double(text: &str) -> f64 {
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// `json_parser_parse()`: one complete value from a balanced token list.
pub fn parse(tokens: &[Token]) -> Result<QObject, String> {
    let mut p = Parser {
        tokens,
        pos: 0,
        err: None,
    };
    match p.value() {
        Ok(v) => Ok(v),
        Err(()) => Err(p
            .err
            .unwrap_or_else(|| "JSON parse error, expecting value".into())),
    }
}
