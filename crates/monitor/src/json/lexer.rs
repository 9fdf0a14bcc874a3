//! The JSON lexer: a byte-at-a-time state machine with QEMU's extensions and
//! error recovery (QEMU: `qobject/json-lexer.c`).
//!
//! Behaviour reproduced from QEMU 7.2:
//! - single-quoted strings (`'...'`, may contain unescaped `"`), `\'` escape;
//! - keywords are lexed as `[a-z]+` and judged by the parser;
//! - string bodies take bytes `0x20..=0xFD`; a backslash may be followed by
//!   any such byte (the parser rejects bad escapes); UTF-8 validation is the
//!   parser's job;
//! - a byte that cannot continue the current token ends it as a `JSON_ERROR`
//!   token that *includes* that byte; the lexer then skips input until a
//!   structural character (`[]{}:,`), a control character other than TAB, or
//!   one of the impossible UTF-8 bytes `0xFE`/`0xFF`, which restart lexing.
//!   This is how a client resynchronises (QMP spec: send `0xFF`);
//! - numbers, keywords need one byte of lookahead; the terminating byte is
//!   re-examined in the start state;
//! - a token longer than `MAX_TOKEN_SIZE` is handed on unfinished (the
//!   streamer then reports the size limit) and lexing restarts.
//!
//! No `%` interpolation: QMP never enables it, so `%` is a stray byte.

/// Largest single token, and largest total message (`MAX_TOKEN_SIZE`).
pub const MAX_TOKEN_SIZE: usize = 64 << 20;

/// What the lexer hands to the streamer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// `{`
    LCurly,
    /// `}`
    RCurly,
    /// `[`
    LSquare,
    /// `]`
    RSquare,
    /// `:`
    Colon,
    /// `,`
    Comma,
    /// An integer literal.
    Integer,
    /// A number with fraction or exponent.
    Float,
    /// `[a-z]+`.
    Keyword,
    /// A complete quoted string, quotes included.
    String,
    /// Bytes that cannot start or continue a token (`JSON_ERROR`).
    Error,
    /// An unfinished token cut off at `MAX_TOKEN_SIZE` (QEMU passes the lexer
    /// state instead of a token type here).
    Oversized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    Recovery,
    DqString,
    DqEscape,
    SqString,
    SqEscape,
    Zero,
    Digits,
    Sign,
    Mantissa,
    MantissaDigits,
    ExpE,
    ExpSign,
    ExpDigits,
    Keyword,
}

/// Result of one transition.
enum Next {
    /// Stay in / move to a state, consuming the byte into the token.
    Go(State),
    /// Consume the byte and finish the token with this type.
    Emit(TokenType),
    /// Finish the token *without* consuming the byte (lookahead), which is
    /// then fed again in the start state.
    EmitLookahead(TokenType),
    /// Discard the byte (whitespace between tokens, or skipped in recovery).
    Skip(State),
    /// Back to the start state without consuming (end of recovery).
    RestartLookahead,
    /// Consume the byte and report everything so far as an error token.
    Error,
}

/// The streaming lexer.
#[derive(Debug)]
pub struct Lexer {
    state: State,
    token: Vec<u8>,
}

impl Default for Lexer {
    fn default() -> Self {
        Self::new()
    }
}

fn transition(state: State, b: u8) -> Next {
    use Next::*;
    use State as S;
    match state {
        S::Start => match b {
            b'"' => Go(S::DqString),
            b'\'' => Go(S::SqString),
            b'0' => Go(S::Zero),
            b'1'..=b'9' => Go(S::Digits),
            b'-' => Go(S::Sign),
            b'{' => Emit(TokenType::LCurly),
            b'}' => Emit(TokenType::RCurly),
            b'[' => Emit(TokenType::LSquare),
            b']' => Emit(TokenType::RSquare),
            b',' => Emit(TokenType::Comma),
            b':' => Emit(TokenType::Colon),
            b'a'..=b'z' => Go(S::Keyword),
            b' ' | b'\t' | b'\r' | b'\n' => Skip(S::Start),
            _ => Error,
        },
        S::Recovery => match b {
            b'\t' => Skip(S::Recovery),
            0..=0x1F | 0xFE | 0xFF | b'[' | b']' | b'{' | b'}' | b':' | b',' => RestartLookahead,
            _ => Skip(S::Recovery),
        },
        S::DqString => match b {
            b'\\' => Go(S::DqEscape),
            b'"' => Emit(TokenType::String),
            0x20..=0xFD => Go(S::DqString),
            _ => Error,
        },
        S::SqString => match b {
            b'\\' => Go(S::SqEscape),
            b'\'' => Emit(TokenType::String),
            0x20..=0xFD => Go(S::SqString),
            _ => Error,
        },
        S::DqEscape => match b {
            0x20..=0xFD => Go(S::DqString),
            _ => Error,
        },
        S::SqEscape => match b {
            0x20..=0xFD => Go(S::SqString),
            _ => Error,
        },
        S::Zero => match b {
            b'0'..=b'9' => Error,
            b'.' => Go(S::Mantissa),
            _ => EmitLookahead(TokenType::Integer),
        },
        S::Digits => match b {
            b'0'..=b'9' => Go(S::Digits),
            b'e' | b'E' => Go(S::ExpE),
            b'.' => Go(S::Mantissa),
            _ => EmitLookahead(TokenType::Integer),
        },
        S::Sign => match b {
            b'0' => Go(S::Zero),
            b'1'..=b'9' => Go(S::Digits),
            _ => Error,
        },
        S::Mantissa => match b {
            b'0'..=b'9' => Go(S::MantissaDigits),
            _ => Error,
        },
        S::MantissaDigits => match b {
            b'0'..=b'9' => Go(S::MantissaDigits),
            b'e' | b'E' => Go(S::ExpE),
            _ => EmitLookahead(TokenType::Float),
        },
        S::ExpE => match b {
            b'-' | b'+' => Go(S::ExpSign),
            b'0'..=b'9' => Go(S::ExpDigits),
            _ => Error,
        },
        S::ExpSign => match b {
            b'0'..=b'9' => Go(S::ExpDigits),
            _ => Error,
        },
        S::ExpDigits => match b {
            b'0'..=b'9' => Go(S::ExpDigits),
            _ => EmitLookahead(TokenType::Float),
        },
        S::Keyword => match b {
            b'a'..=b'z' => Go(S::Keyword),
            _ => EmitLookahead(TokenType::Keyword),
        },
    }
}

impl Lexer {
    /// A lexer in the start state.
    pub fn new() -> Self {
        Lexer {
            state: State::Start,
            token: Vec::new(),
        }
    }

    /// Feed one byte; complete tokens go to `emit` with their text.
    pub fn feed_byte(&mut self, b: u8, emit: &mut dyn FnMut(TokenType, &[u8])) {
        loop {
            match transition(self.state, b) {
                Next::Go(s) => {
                    self.token.push(b);
                    self.state = s;
                    break;
                }
                Next::Emit(t) => {
                    self.token.push(b);
                    emit(t, &self.token);
                    self.token.clear();
                    self.state = State::Start;
                    break;
                }
                Next::EmitLookahead(t) => {
                    emit(t, &self.token);
                    self.token.clear();
                    self.state = State::Start;
                    // Re-examine `b` in the start state.
                }
                Next::Skip(s) => {
                    self.token.clear();
                    self.state = s;
                    break;
                }
                Next::RestartLookahead => {
                    self.state = State::Start;
                }
                Next::Error => {
                    self.token.push(b);
                    emit(TokenType::Error, &self.token);
                    self.token.clear();
                    self.state = State::Recovery;
                    break;
                }
            }
        }
        // A single token may not grow without bound (QEMU's security limit).
        if self.token.len() > MAX_TOKEN_SIZE {
            emit(TokenType::Oversized, &self.token);
            self.token = Vec::new();
            self.state = State::Start;
        }
    }

    /// Forget any partial token (a new connection starts here).
    pub fn reset(&mut self) {
        *self = Lexer::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(input: &[u8]) -> Vec<(TokenType, Vec<u8>)> {
        let mut l = Lexer::new();
        let mut out = Vec::new();
        for &b in input {
            l.feed_byte(b, &mut |t, s| out.push((t, s.to_vec())));
        }
        out
    }

    #[test]
    fn basic_tokens() {
        let t = lex(b"{'a': [1, -2.5e3, true]} ");
        let types: Vec<_> = t.iter().map(|x| x.0).collect();
        use TokenType::*;
        assert_eq!(
            types,
            [
                LCurly, String, Colon, LSquare, Integer, Comma, Float, Comma, Keyword, RSquare,
                RCurly
            ]
        );
        assert_eq!(t[1].1, b"'a'");
        assert_eq!(t[6].1, b"-2.5e3");
    }

    #[test]
    fn errors_include_the_bad_byte_then_recover() {
        let t = lex(b"01 -} \"x\x01\" 1");
        assert_eq!(t[0], (TokenType::Error, b"01".to_vec()));
        // Recovery skips " -" up to '}' which restarts lexing? No: '-' is
        // skipped, '}' is structural and lexed again.
        assert_eq!(t[1], (TokenType::RCurly, b"}".to_vec()));
        assert_eq!(t[2], (TokenType::Error, b"\"x\x01".to_vec()));
        // After the control byte error, `"` and ` 1` are skipped until EOF.
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn ff_resyncs() {
        let t = lex(b"\"abc\xff{}");
        assert_eq!(t[0], (TokenType::Error, b"\"abc\xff".to_vec()));
        assert_eq!(t[1].0, TokenType::LCurly);
        let t = lex(b"garbage ZZZ\xff{");
        assert_eq!(t[0], (TokenType::Keyword, b"garbage".to_vec()));
        assert_eq!(t[1], (TokenType::Error, b"Z".to_vec()));
        assert_eq!(t[2], (TokenType::Error, b"\xff".to_vec()));
        assert_eq!(t[3].0, TokenType::LCurly);
    }
}
