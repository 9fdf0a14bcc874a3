//! Property tests of the JSON input path and the QMP request path.

mod common;
use ferrite_monitor::json::parser::is_valid_codepoint;
use ferrite_monitor::json::{JsonMessage, JsonMessageParser, to_json};
use ferrite_monitor::qobject::{QDict, QNum, QObject};
use proptest::prelude::*;

fn feed_chunks(input: &[u8], cuts: &[usize]) -> Vec<JsonMessage> {
    let mut p = JsonMessageParser::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        out.extend(p.feed_collect(&input[start..c]));
        start = c;
    }
    out.extend(p.feed_collect(&input[start..]));
    out
}

fn is_qemu_error(e: &str) -> bool {
    e.starts_with("JSON parse error, ")
        || e == "JSON token size limit exceeded"
        || e == "JSON token count limit exceeded"
        || e == "JSON nesting depth limit exceeded"
}

/// Bytes biased towards JSON-ish input.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b":".to_vec()),
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\\u".to_vec()),
        Just(b"true".to_vec()),
        Just(b"nul".to_vec()),
        Just(b"-0.5e+3".to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"\xc3\xa9".to_vec()),
        Just(b"\xed\xa0\x80".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\"execute\"".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
        "[a-z0-9]{1,4}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(atom, 0..64).prop_map(|v| v.concat())
}

fn valid_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("QEMU rejects noncharacters", |c| {
        is_valid_codepoint(*c as i64)
    })
}

fn qobject() -> impl Strategy<Value = QObject> {
    let leaf = prop_oneof![
        Just(QObject::Null),
        any::<bool>().prop_map(QObject::Bool),
        any::<i64>().prop_map(|v| QObject::Num(QNum::I64(v))),
        any::<u64>().prop_map(QObject::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|v| QObject::Num(QNum::Double(v))),
        prop::collection::vec(valid_char(), 0..8)
            .prop_map(|v| QObject::String(v.into_iter().collect())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(QObject::List),
            prop::collection::vec(("[a-z_-]{0,6}", inner), 0..6).prop_map(|kv| {
                let mut d = QDict::new();
                for (k, v) in kv {
                    d.put(&k, v);
                }
                QObject::Dict(d)
            }),
        ]
    })
}

/// Equality up to QNum representation (`3.0` is written as `3` and read
/// back as an integer, as in QEMU).
fn same(a: &QObject, b: &QObject) -> bool {
    match (a, b) {
        (QObject::Num(x), QObject::Num(y)) => match (x, y) {
            (QNum::Double(_), _) | (_, QNum::Double(_)) => x.as_f64() == y.as_f64(),
            _ => x == y,
        },
        (QObject::List(x), QObject::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (QObject::Dict(x), QObject::Dict(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary input never panics, every error is worded QEMU's way, and
    /// how the input is split into reads does not matter.
    #[test]
    fn any_input_any_split(input in jsonish(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let whole = feed_chunks(&input, &[]);
        for m in &whole {
            if let Err(e) = m {
                prop_assert!(is_qemu_error(e), "{e}");
            }
        }
        prop_assert_eq!(&whole, &feed_chunks(&input, &cuts));
    }

    /// Raw random bytes as well.
    #[test]
    fn random_bytes(input in prop::collection::vec(any::<u8>(), 0..512)) {
        for m in feed_chunks(&input, &[]) {
            if let Err(e) = m {
                prop_assert!(is_qemu_error(&e), "{e}");
            }
        }
    }

    /// After any garbage, `0xFF` resynchronises: the next object parses.
    #[test]
    fn ff_resynchronises(garbage in jsonish()) {
        let mut input = garbage;
        input.extend_from_slice(b"\xff{\"execute\": \"query-name\"}");
        let msgs = feed_chunks(&input, &[]);
        let last = msgs.last().cloned().unwrap();
        let expected = QObject::Dict(QDict::new().with("execute", "query-name"));
        prop_assert_eq!(last, Ok(expected));
    }

    /// Writer and parser agree: what QEMU's writer emits, the parser reads
    /// back (with any whitespace after tokens and any read splits).
    #[test]
    fn roundtrip(v in qobject(), cuts in prop::collection::vec(any::<usize>(), 0..4)) {
        let text = to_json(&v);
        let input = format!("{text} ");
        let msgs = feed_chunks(input.as_bytes(), &cuts);
        prop_assert_eq!(msgs.len(), 1);
        let back = msgs[0].clone().unwrap();
        prop_assert!(same(&v, &back), "{} vs {}", text, to_json(&back));
    }

    /// Deep nesting is refused at QEMU's limit, not by stack overflow.
    #[test]
    fn nesting(depth in 1000usize..1100) {
        let mut input = vec![b'['; depth];
        input.extend(std::iter::repeat_n(b']', depth));
        let msgs = feed_chunks(&input, &[]);
        if depth <= 1024 {
            prop_assert_eq!(msgs.len(), 1);
            prop_assert!(msgs[0].is_ok());
        } else {
            prop_assert_eq!(&msgs[0], &Err("JSON nesting depth limit exceeded".to_string()));
        }
    }

    /// Random requests through a QMP session: every input gets a reply
    /// that is a JSON object with `return` or `error`, and the session
    /// keeps working.
    #[test]
    fn qmp_requests_never_break_the_session(
        reqs in prop::collection::vec(qmp_request(), 1..12)
    ) {
        let (_m, core) = common::core();
        let mut s = common::Session::new(&core);
        s.out.take();
        s.send(br#"{"execute":"qmp_capabilities"}"#);
        for r in &reqs {
            let out = s.send_raw(format!("{r}\n").as_bytes());
            for line in out.split_terminator("\r\n") {
                let mut p = JsonMessageParser::new();
                let v = p.feed_collect(format!("{line} ").as_bytes());
                prop_assert_eq!(v.len(), 1, "{}", line);
                let d = v[0].clone().unwrap();
                let d = d.as_dict().unwrap();
                prop_assert!(d.contains_key("return") || d.contains_key("error") || d.contains_key("event"));
            }
        }
        let out = s.send(b"\xff{\"execute\":\"query-name\",\"id\":\"end\"}");
        prop_assert!(out.ends_with("{\"return\": {\"name\": \"testvm\"}, \"id\": \"end\"}\r\n"), "{}", out);
    }
}

/// Requests with plausible shapes and wrong types mixed in (no `quit`, no
/// file-writing commands).
fn qmp_request() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("query-status"),
        Just("query-name"),
        Just("stop"),
        Just("cont"),
        Just("system_reset"),
        Just("memsave"),
        Just("human-monitor-command"),
        Just("qmp_capabilities"),
        Just("nosuch"),
    ];
    let value = prop_oneof![
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("\"s\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("null".to_string()),
        Just("\"xp /2x 0x1000\"".to_string()),
        Just("\"info status\"".to_string()),
    ];
    let key = prop_oneof![
        Just("val"),
        Just("size"),
        Just("filename"),
        Just("cpu-index"),
        Just("command-line"),
        Just("enable"),
        Just("foo"),
    ];
    let top = prop_oneof![Just("execute"), Just("exec-oob"), Just("id"), Just("bogus")];
    (
        top,
        name,
        prop::collection::vec((key, value.clone()), 0..4),
        prop::option::of(value),
    )
        .prop_map(|(top, name, args, id)| {
            let mut seen = std::collections::HashSet::new();
            let args: Vec<String> = args
                .into_iter()
                .filter(|(k, _)| seen.insert(*k))
                // memsave would write files: never give it a filename.
                .filter(|(k, _)| *k != "filename")
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            let mut s = format!(
                "{{\"{top}\": \"{name}\", \"arguments\": {{{}}}",
                args.join(", ")
            );
            if let Some(id) = id
                && top != "id"
            {
                s.push_str(&format!(", \"id\": {id}"));
            }
            s.push('}');
            s
        })
}

/// HMP command lines: words, `/fmt`, expressions, junk.
fn hmp_line() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("xp".to_string()),
        Just("x".to_string()),
        Just("info".to_string()),
        Just("help".to_string()),
        Just("mtree".to_string()),
        Just("status".to_string()),
        Just("block".to_string()),
        Just("registers".to_string()),
        Just("-f".to_string()),
        Just("-".to_string()),
        Just("/".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("'".to_string()),
        Just("$pc".to_string()),
        Just(" ".to_string()),
        "/[0-9]{0,3}[xduocibhwgLq]{0,3}",
        "0x[0-9a-f]{1,17}",
        "[0-9]{1,21}",
        "[-+*/%&|^~]",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(atom, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// No HMP line panics; `x`/`xp` output stays bounded.
    #[test]
    fn hmp_lines_never_panic(line in hmp_line()) {
        let (_m, core) = common::core();
        let out = core.hmp.run_line(&core, &line, None);
        prop_assert!(out.len() < 8 << 20);
    }
}

#[test]
fn hmp_deep_expression_is_refused_not_a_crash() {
    let (_m, core) = common::core();
    let line = format!("xp /x {}1", "(".repeat(1_000_000));
    assert_eq!(
        core.hmp.run_line(&core, &line, None),
        "expression too deeply nested\nTry \"help xp\" for more information\n"
    );
    let line = format!("xp /x {}1", "-".repeat(1_000_000));
    assert!(
        core.hmp
            .run_line(&core, &line, None)
            .starts_with("expression too deeply nested")
    );
}
