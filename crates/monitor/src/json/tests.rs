//! Test vectors recorded from qemu-system-riscv64 7.2.22 (Debian), by
//! sending the input over QMP and reading back either the echoed `id` or
//! the error `desc`.

use super::*;

fn run(input: &[u8]) -> Vec<String> {
    let mut p = JsonMessageParser::new();
    p.feed_collect(input)
        .into_iter()
        .map(|m| match m {
            Ok(v) => to_json(&v),
            Err(e) => format!("ERR {e}"),
        })
        .collect()
}

#[track_caller]
fn check(input: &[u8], expected: &[&str]) {
    assert_eq!(
        run(input),
        expected,
        "input {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn qemu_parse_errors() {
    check(b"}", &["ERR JSON parse error, expecting value"]);
    check(b"]", &["ERR JSON parse error, expecting value"]);
    check(
        b"{\"execute\":x}",
        &["ERR JSON parse error, invalid keyword 'x'"],
    );
    check(b"{\"a\":1,}", &["ERR JSON parse error, expecting value"]);
    check(
        b"{\"a\" 1}",
        &["ERR JSON parse error, missing : in object pair"],
    );
    check(
        b"{\"a\":1 \"b\":1}",
        &["ERR JSON parse error, expected separator in dict"],
    );
    check(
        b"{1:2}",
        &["ERR JSON parse error, key is not a string in object"],
    );
    check(
        b"[1 2]",
        &["ERR JSON parse error, expected separator in list"],
    );
    check(b"[1,]", &["ERR JSON parse error, expecting value"]);
    check(
        b"{\"a\":1,\"a\":2}",
        &["ERR JSON parse error, duplicate key"],
    );
    check(b"tru ", &["ERR JSON parse error, invalid keyword 'tru'"]);
    check(b"%d", &["ERR JSON parse error, stray '%'"]);
}

#[test]
fn qemu_stray_bytes_and_recovery() {
    check(
        b"{\"execute\":\"query-name\"\xff}",
        &[
            "ERR JSON parse error, stray '\u{FFFD}'",
            "ERR JSON parse error, expecting value",
        ],
    );
    check(
        b"abc\xff",
        &[
            "ERR JSON parse error, invalid keyword 'abc'",
            "ERR JSON parse error, stray '\u{FFFD}'",
        ],
    );
    check(
        b"{\"id\":\"\xff\"}",
        &[
            "ERR JSON parse error, stray '\"\u{FFFD}'",
            "ERR JSON parse error, expecting value",
        ],
    );
    check(
        b"\xff{\"a\":1}",
        &["ERR JSON parse error, stray '\u{FFFD}'", "{\"a\": 1}"],
    );
    check(
        b"{\"id\":\"\x01\"}",
        &[
            "ERR JSON parse error, stray '\"\u{1}'",
            "ERR JSON parse error, expecting value",
        ],
    );
    check(
        b"{\"id\":01}",
        &[
            "ERR JSON parse error, stray '01'",
            "ERR JSON parse error, expecting value",
        ],
    );
    check(b"{\"id\":-}", &["ERR JSON parse error, stray '-}'"]);
    check(b"{\"id\":1.}", &["ERR JSON parse error, stray '1.}'"]);
    check(b"{\"id\":1e}", &["ERR JSON parse error, stray '1e}'"]);
    check(
        b"{\"id\":True}",
        &[
            "ERR JSON parse error, stray 'T'",
            "ERR JSON parse error, expecting value",
        ],
    );
    // A control byte between tokens: the rest of the object is re-lexed
    // piece by piece, each piece a message of its own.
    check(
        b"{\"execute\":\"query-name\"\x01,\"id\":1}",
        &[
            "ERR JSON parse error, stray '\u{1}'",
            "ERR JSON parse error, expecting value",
            "\"id\"",
            "ERR JSON parse error, expecting value",
            "1",
            "ERR JSON parse error, expecting value",
        ],
    );
    // NUL stops the C string in the message.
    check(b"\"ab\x00", &["ERR JSON parse error, stray '\"ab'"]);
}

#[test]
fn qemu_strings() {
    check(
        b"\"\xc3\xa9\\u00e9\\ud83d\\ude00\" ",
        &["\"\\u00E9\\u00E9\\uD83D\\uDE00\""],
    );
    check(
        b"\"\\u12\"",
        &["ERR JSON parse error, \\u12\" is not a valid Unicode character"],
    );
    check(
        b"\"\\ud800\"",
        &["ERR JSON parse error, \\ud800 is not a valid Unicode character"],
    );
    check(
        b"\"\\ufffe\"",
        &["ERR JSON parse error, \\ufffe is not a valid Unicode character"],
    );
    check(b"\"\\u0000x\"", &["\"\\u0000x\""]);
    check(
        b"\"\\q\"",
        &["ERR JSON parse error, invalid escape sequence in string"],
    );
    check(
        b"\"\xed\xa0\x80\"",
        &["ERR JSON parse error, invalid UTF-8 sequence in string"],
    );
    check(b"\"\xc0\x80\"", &["\"\\u0000\""]);
    check(
        b"\"\xc1\x81\"",
        &["ERR JSON parse error, invalid UTF-8 sequence in string"],
    );
    check(
        b"\"a/b\\\"\\\\\\b\\f\\n\\r\\t\x7f\\u007f\\u0080\"",
        &["\"a/b\\\"\\\\\\b\\f\\n\\r\\t\\u007F\\u007F\\u0080\""],
    );
    check(b"'it\\'s \"q\"'", &["\"it's \\\"q\\\"\""]);
    check(b"\"%s\"", &["\"%s\""]);
}

#[test]
fn qemu_numbers() {
    check(
        b"[1e5, 1.5, -0, 0.1, 1E+2, 123456789012345678901234567890, -9223372036854775809, \
          18446744073709551615, 1e400, 3.0]",
        &[
            "[100000, 1.5, 0, 0.10000000000000001, 100, 1.2345678901234568e+29, \
           -9.2233720368547758e+18, 18446744073709551615, inf, 3]",
        ],
    );
}

#[test]
fn streaming_split_anywhere() {
    let input = b"{\"execute\": 'query-name', \"id\": [1, 2.5, \"\\u00e9\"]} {\"a\":{}}";
    let whole = run(input);
    assert_eq!(whole.len(), 2);
    for cut in 0..input.len() {
        let mut p = JsonMessageParser::new();
        let mut got = p.feed_collect(&input[..cut]);
        got.extend(p.feed_collect(&input[cut..]));
        let got: Vec<_> = got.into_iter().map(|m| to_json(&m.unwrap())).collect();
        assert_eq!(got, whole, "cut at {cut}");
    }
}

#[test]
fn nesting_limit() {
    let mut p = JsonMessageParser::new();
    let ok = [b"[".repeat(1024), b"]".repeat(1024)].concat();
    let r = p.feed_collect(&ok);
    assert_eq!(r.len(), 1);
    assert!(r[0].is_ok());
    let deep = b"[".repeat(1025);
    let r = p.feed_collect(&deep);
    assert_eq!(r, [Err("JSON nesting depth limit exceeded".to_string())]);
    // After the error the counts restart: the remaining input is new.
    assert_eq!(
        p.feed_collect(b"{}"),
        [Ok(QObject::Dict(Default::default()))]
    );
}

#[test]
fn token_size_limit_refuses_and_frees() {
    let mut p = JsonMessageParser::new();
    let mut big = Vec::with_capacity(MAX_TOKEN_SIZE + 16);
    big.extend_from_slice(b"{\"a\": \"");
    big.resize(MAX_TOKEN_SIZE + 8, b'x');
    let r = p.feed_collect(&big);
    assert_eq!(r, [Err("JSON token size limit exceeded".to_string())]);
    assert_eq!(p.buffered(), 0);
}

#[test]
fn g17_formatting() {
    for (v, s) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (0.5, "0.5"),
        (1e16, "10000000000000000"),
        (1e17, "1e+17"),
        (1.5e-5, "1.5e-05"),
        (1e-5, "1.0000000000000001e-05"),
        (2.5e-300, "2.5e-300"),
        (0.0001, "0.0001"),
        (123.456, "123.456"),
        (f64::INFINITY, "inf"),
    ] {
        assert_eq!(format_g17(v), s, "{v}");
    }
}

#[test]
fn token_count_limit() {
    // QEMU 7.2 answers a list of more than 2 Mi tokens with this error, then
    // treats the rest of the input as new top-level values.
    let mut p = JsonMessageParser::new();
    let n = MAX_TOKEN_COUNT / 2;
    let mut input = b"[".to_vec();
    input.extend(b"1,".repeat(n));
    input.extend_from_slice(b"1]");
    let msgs = p.feed_collect(&input);
    assert_eq!(msgs[0], Err("JSON token count limit exceeded".to_string()));
    // The token that tripped the limit (a `,`) is dropped with the list;
    // then `1`, `,`, `1`, ... `]` each stand alone, as in QEMU's replies.
    assert_eq!(msgs[1], Ok(QObject::from(1i64)));
    assert_eq!(
        msgs[2],
        Err("JSON parse error, expecting value".to_string())
    );
    assert_eq!(
        msgs.last(),
        Some(&Err("JSON parse error, expecting value".to_string()))
    );
}

#[test]
fn large_object_parses_in_reasonable_time() {
    // 400 000 members is within every QEMU limit; parsing must not be
    // quadratic in the member count (a client could otherwise stall the
    // monitor).
    let mut input = b"{".to_vec();
    for i in 0..400_000 {
        if i > 0 {
            input.push(b',');
        }
        input.extend(format!("\"k{i}\":{i}").into_bytes());
    }
    input.push(b'}');
    let mut p = JsonMessageParser::new();
    let r = p.feed_collect(&input);
    let d = r[0].as_ref().unwrap().as_dict().unwrap();
    assert_eq!(d.len(), 400_000);
    assert_eq!(d.get("k123"), Some(&QObject::from(123i64)));
}
