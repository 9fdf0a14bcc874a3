//! QMP transcripts recorded from qemu-system-riscv64 7.2.22 (`-M virt -S
//! -name testvm -qmp unix:...`), replayed against the protocol core with
//! the fake machine. Every expected line is QEMU's reply byte for byte
//! (event timestamps masked).

mod common;
use common::{Session, core};

const GREETING: &str = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n";

#[track_caller]
fn expect(s: &mut Session, input: &str, reply: &str) {
    assert_eq!(s.send(input.as_bytes()), reply, "input: {input}");
}

#[test]
fn greeting_and_negotiation() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    assert_eq!(s.out.take(), GREETING);
    expect(
        &mut s,
        r#"{"execute":"query-status"}"#,
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"nosuch","id":1}"#,
        "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities"}"#,
        "{\"return\": {}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities"}"#,
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation is already complete, command ignored\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{'execute':'query-name'}"#,
        "{\"return\": {\"name\": \"testvm\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"query-version","id":5}"#,
        "{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"id\": 5}\r\n",
    );
}

#[test]
fn capability_argument_errors() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities","arguments":{"enable":["foo"]}}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'null' does not accept value 'foo'\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for 'enable', expected: array\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities","arguments":{"enable":[1]}}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for 'enable[0]', expected: string\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities","arguments":{"foo":1}}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'foo' is unexpected\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"qmp_capabilities","id":7,"arguments":{"enable":["oob","oob"]}}"#,
        "{\"return\": {}, \"id\": 7}\r\n",
    );
    assert!(s.mon.oob_enabled());
    // With oob negotiated.
    expect(
        &mut s,
        r#"{"exec-oob":"query-name"}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"The command query-name does not support OOB\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"exec-oob":"query-name","id":1}"#,
        "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"The command query-name does not support OOB\"}}\r\n",
    );
    for clash in [
        r#"{"execute":"query-name","exec-oob":"query-name"}"#,
        r#"{"exec-oob":"query-name","execute":"query-name"}"#,
    ] {
        expect(
            &mut s,
            clash,
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'execute' clashes with 'exec-oob'\"}}\r\n",
        );
    }
    expect(
        &mut s,
        r#"{"exec-oob":1}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'exec-oob' must be a string\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"query-name","control":{}}"#,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'control' is unexpected\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"exec-oob":"nosuch","id":1}"#,
        "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nosuch has not been found\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"exec-oob":"yank","arguments":{"instances":[]},"id":"y"}"#,
        "{\"return\": {}, \"id\": \"y\"}\r\n",
    );
}

#[test]
fn request_shape_errors() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    let g =
        |d: &str| format!("{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"{d}\"}}}}\r\n");
    expect(&mut s, "[1,2]", &g("QMP input must be a JSON object"));
    expect(&mut s, "1 ", &g("QMP input must be a JSON object"));
    expect(&mut s, "\"abc\"", &g("QMP input must be a JSON object"));
    expect(
        &mut s,
        r#"{"execute": 1}"#,
        &g("QMP input member 'execute' must be a string"),
    );
    expect(
        &mut s,
        r#"{"execute":"stop","foo":1}"#,
        &g("QMP input member 'foo' is unexpected"),
    );
    expect(
        &mut s,
        r#"{"arguments":{}}"#,
        &g("QMP input lacks member 'execute'"),
    );
    expect(
        &mut s,
        r#"{"execute":"nosuch"}"#,
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nosuch has not been found\"}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"nosuch","id":[1,{"a":2}]}"#,
        "{\"id\": [1, {\"a\": 2}], \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nosuch has not been found\"}}\r\n",
    );
    // Without oob negotiated exec-oob is just an unknown member.
    expect(
        &mut s,
        r#"{"exec-oob":"query-name"}"#,
        &g("QMP input member 'exec-oob' is unexpected"),
    );
    expect(
        &mut s,
        r#"{"execute":"query-name","exec-oob":"query-name"}"#,
        &g("QMP input member 'exec-oob' is unexpected"),
    );
    expect(
        &mut s,
        r#"{"execute":"stop","arguments":[]}"#,
        &g("QMP input member 'arguments' must be an object"),
    );
    expect(
        &mut s,
        r#"{"execute":"stop","arguments":{"foo":1}}"#,
        &g("Parameter 'foo' is unexpected"),
    );
    expect(
        &mut s,
        r#"{"execute":"pmemsave","arguments":{"val":1}}"#,
        &g("Parameter 'size' is missing"),
    );
    for bad in ["\"x\"", "1.5", "18446744073709551615"] {
        expect(
            &mut s,
            &format!(
                r#"{{"execute":"pmemsave","arguments":{{"val":{bad},"size":1,"filename":"/tmp/x"}}}}"#
            ),
            &g("Invalid parameter type for 'val', expected: integer"),
        );
    }
    expect(
        &mut s,
        r#"{"execute":"pmemsave","arguments":{"val":1,"size":1,"filename":2}}"#,
        &g("Invalid parameter type for 'filename', expected: string"),
    );
    expect(
        &mut s,
        r#"{"execute":"pmemsave","arguments":{"val":1,"size":1,"filename":"/nonexist/x"}}"#,
        &g("Could not open '/nonexist/x': No such file or directory"),
    );
    expect(
        &mut s,
        r#"{"execute":"human-monitor-command"}"#,
        &g("Parameter 'command-line' is missing"),
    );
    expect(
        &mut s,
        r#"{"execute":"human-monitor-command","arguments":{"command-line":"xp /2x 0x1000","cpu-index":3}}"#,
        &g("Parameter 'cpu-index' expects a CPU number"),
    );
    expect(
        &mut s,
        r#"{"execute":"query-name","id":1,"id":2}"#,
        &g("JSON parse error, duplicate key"),
    );
    expect(&mut s, "}", &g("JSON parse error, expecting value"));
    // Incomplete input gets no reply until it is complete.
    expect(&mut s, "[[[[", "");
    expect(&mut s, "]]]]", &g("QMP input must be a JSON object"));
    expect(
        &mut s,
        "{\"execute\":\"query-name\"\x01,\"id\":1}",
        &[
            g("JSON parse error, stray '\\u0001'"),
            g("JSON parse error, expecting value"),
            g("QMP input must be a JSON object"),
            g("JSON parse error, expecting value"),
            g("QMP input must be a JSON object"),
            g("JSON parse error, expecting value"),
        ]
        .concat(),
    );
    expect(
        &mut s,
        r#"{"execute":"query-name","id":{"b":1,"a":2,"c":3,"arguments":4,"execute":5,"id":6,"timestamp":7,"event":8,"data":9,"return":10,"error":11,"class":12,"desc":13}}"#,
        "{\"return\": {\"name\": \"testvm\"}, \"id\": {\"timestamp\": 7, \"class\": 12, \"a\": 2, \"execute\": 5, \"b\": 1, \"event\": 8, \"desc\": 13, \"return\": 10, \"arguments\": 4, \"c\": 3, \"id\": 6, \"error\": 11, \"data\": 9}}\r\n",
    );
}

#[test]
fn resync_with_0xff() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    assert_eq!(
        s.send(b"{\"execute\":\"query-name\",\"id\":\"\xff\"}"),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\\"\\uFFFD'\"}}\r\n\
         {\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, expecting value\"}}\r\n"
    );
    assert_eq!(
        s.send(b"\xff{\"execute\":\"query-name\"}"),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\r\n\
         {\"return\": {\"name\": \"testvm\"}}\r\n"
    );
}

#[test]
fn run_state_commands_and_events() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    let prelaunch =
        "{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}}\r\n";
    expect(
        &mut s,
        r#"{"execute":"query-status","id":"a"}"#,
        "{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}, \"id\": \"a\"}\r\n",
    );
    // stop in prelaunch: no event, state unchanged.
    expect(&mut s, r#"{"execute":"stop"}"#, "{\"return\": {}}\r\n");
    expect(&mut s, r#"{"execute":"query-status"}"#, prelaunch);
    // -S plus cont: RESUME comes before the reply.
    expect(
        &mut s,
        r#"{"execute":"cont"}"#,
        "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESUME\"}\r\n{\"return\": {}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"query-status"}"#,
        "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n",
    );
    expect(&mut s, r#"{"execute":"cont"}"#, "{\"return\": {}}\r\n");
    expect(
        &mut s,
        r#"{"execute":"stop"}"#,
        "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"STOP\"}\r\n{\"return\": {}}\r\n",
    );
    expect(&mut s, r#"{"execute":"stop"}"#, "{\"return\": {}}\r\n");
    expect(
        &mut s,
        r#"{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}"#,
        "{\"return\": \"VM status: paused\\r\\n\"}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"system_reset","id":3}"#,
        "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}\r\n{\"return\": {}, \"id\": 3}\r\n",
    );
    // A reset while paused leaves the VM in prelaunch.
    expect(&mut s, r#"{"execute":"query-status"}"#, prelaunch);
    expect(
        &mut s,
        r#"{"execute":"system_powerdown"}"#,
        "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"POWERDOWN\"}\r\n{\"return\": {}}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"stop","id":1}{"execute":"cont","id":2}"#,
        "{\"return\": {}, \"id\": 1}\r\n{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESUME\"}\r\n{\"return\": {}, \"id\": 2}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"quit","id":9}"#,
        "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n{\"return\": {}, \"id\": 9}\r\n",
    );
}

#[test]
fn queries() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    let pid = std::process::id();
    expect(
        &mut s,
        r#"{"execute":"query-cpus-fast"}"#,
        &format!(
            "{{\"return\": [{{\"thread-id\": {pid}, \"props\": {{\"core-id\": 0}}, \"qom-path\": \"/machine/soc0/harts[0]\", \"cpu-index\": 0, \"target\": \"riscv64\"}}]}}\r\n"
        ),
    );
    expect(
        &mut s,
        r#"{"execute":"query-machines"}"#,
        "{\"return\": [{\"hotpluggable-cpus\": false, \"name\": \"virt\", \"numa-mem-supported\": true, \"default-cpu-type\": \"rv64-riscv-cpu\", \"cpu-max\": 512, \"deprecated\": false, \"default-ram-id\": \"riscv_virt_board.ram\"}]}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"query-block"}"#,
        "{\"return\": []}\r\n",
    );
    let cmds = s.send(br#"{"execute":"query-commands"}"#);
    for c in [
        "qmp_capabilities",
        "query-version",
        "query-commands",
        "query-name",
        "query-status",
        "query-cpus-fast",
        "query-machines",
        "query-block",
        "stop",
        "cont",
        "system_reset",
        "system_powerdown",
        "quit",
        "pmemsave",
        "memsave",
        "human-monitor-command",
    ] {
        assert!(
            cmds.contains(&format!("{{\"name\": \"{c}\"}}")),
            "{c} missing from {cmds}"
        );
    }
}

#[test]
fn memsave_and_pmemsave() {
    let (m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mem.bin");
    let fname = f.to_str().unwrap();
    m.write_ram(0x10, b"ferrite!");
    expect(
        &mut s,
        &format!(
            r#"{{"execute":"memsave","arguments":{{"val":2147483648,"size":32,"filename":"{fname}"}}}}"#
        ),
        "{\"return\": {}}\r\n",
    );
    let data = std::fs::read(&f).unwrap();
    assert_eq!(data.len(), 32);
    assert_eq!(&data[0x10..0x18], b"ferrite!");
    expect(
        &mut s,
        &format!(
            r#"{{"execute":"memsave","arguments":{{"val":1,"size":16,"filename":"{fname}"}}}}"#
        ),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid addr 0x0000000000000001/size 16 specified\"}}\r\n",
    );
    expect(
        &mut s,
        &format!(
            r#"{{"execute":"memsave","arguments":{{"val":1,"size":1,"filename":"{fname}","cpu-index":5}}}}"#
        ),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'cpu-index' expects a CPU number\"}}\r\n",
    );
    // pmemsave: 3000 bytes spanning ROM and the unmapped gap reads zeros
    // there, as cpu_physical_memory_read() does.
    expect(
        &mut s,
        &format!(
            r#"{{"execute":"pmemsave","arguments":{{"val":4096,"size":3000,"filename":"{fname}"}}}}"#
        ),
        "{\"return\": {}}\r\n",
    );
    let data = std::fs::read(&f).unwrap();
    assert_eq!(data.len(), 3000);
    assert_eq!(&data[..4], &[0x97, 0x02, 0x00, 0x00]);
    expect(
        &mut s,
        &format!(
            r#"{{"execute":"pmemsave","arguments":{{"val":0,"size":16,"filename":"{fname}"}}}}"#
        ),
        "{\"return\": {}}\r\n",
    );
    assert_eq!(std::fs::read(&f).unwrap(), vec![0u8; 16]);
}

#[test]
fn events_only_after_negotiation() {
    let (_m, core) = core();
    let mut a = Session::new(&core);
    let mut b = Session::new(&core);
    a.out.take();
    b.out.take();
    a.send(br#"{"execute":"qmp_capabilities"}"#);
    // b is still negotiating: it must not see a's RESUME.
    a.send(br#"{"execute":"cont"}"#);
    assert_eq!(b.out.take(), "");
    b.send(br#"{"execute":"qmp_capabilities"}"#);
    let ra = a.send(br#"{"execute":"stop"}"#);
    assert!(ra.contains("\"event\": \"STOP\""));
    assert_eq!(
        b.out.take().replace(|c: char| c.is_ascii_digit(), ""),
        "{\"timestamp\": {\"seconds\": , \"microseconds\": }, \"event\": \"STOP\"}\r\n"
    );
}

/// Nested argument errors (union members of `yank`) and the choice between
/// several unexpected arguments, recorded from QEMU 7.2.
const QMP4: &[(&str, &str)] = &[
    (
        "{\"execute\":\"yank\",\"arguments\":{\"instances\":[{\"type\":\"chardev\",\"id\":\"x\"}]}}",
        "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Instance not found\"}}\r\n",
    ),
    (
        "{\"execute\":\"yank\",\"arguments\":{\"instances\":[{\"type\":\"foo\"}]}}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'type' does not accept value 'foo'\"}}\r\n",
    ),
    (
        "{\"execute\":\"yank\",\"arguments\":{\"instances\":[{\"id\":\"x\"}]}}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'instances[0].type' is missing\"}}\r\n",
    ),
    (
        "{\"execute\":\"yank\",\"arguments\":{\"instances\":[{\"type\":\"chardev\"}]}}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'instances[0].id' is missing\"}}\r\n",
    ),
    (
        "{\"execute\":\"yank\",\"arguments\":{\"instances\":[{\"type\":\"migration\",\"x\":1}]}}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'instances[0].x' is unexpected\"}}\r\n",
    ),
    (
        "{\"execute\":\"yank\",\"arguments\":{\"instances\":[1]}}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for 'instances[0]', expected: object\"}}\r\n",
    ),
    (
        "{\"execute\":\"stop\",\"arguments\":{\"b\":1,\"a\":2}}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'b' is unexpected\"}}\r\n",
    ),
];

#[test]
fn nested_and_multiple_argument_errors() {
    let (_m, core) = core();
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    for (input, reply) in QMP4 {
        expect(&mut s, input, reply);
    }
}

#[test]
fn block_devices_without_media() {
    // QEMU 7.2's `virt` with `-display none` has three empty drives.
    let (m, core) = core();
    let empty = |name: &str| ferrite_monitor::machine::BlockInfo {
        device: name.into(),
        qdev: None,
        ty: "unknown".into(),
        removable: true,
        locked: false,
        tray_open: None,
        inserted: None,
        io_status: None,
    };
    m.set_block_devices(vec![empty("none2"), empty("floppy0"), empty("sd0")]);
    let mut s = Session::new(&core);
    s.out.take();
    s.send(br#"{"execute":"qmp_capabilities"}"#);
    expect(
        &mut s,
        r#"{"execute":"query-block"}"#,
        "{\"return\": [{\"device\": \"none2\", \"locked\": false, \"removable\": true, \"type\": \"unknown\"}, {\"device\": \"floppy0\", \"locked\": false, \"removable\": true, \"type\": \"unknown\"}, {\"device\": \"sd0\", \"locked\": false, \"removable\": true, \"type\": \"unknown\"}]}\r\n",
    );
    expect(
        &mut s,
        r#"{"execute":"human-monitor-command","arguments":{"command-line":"info block"}}"#,
        "{\"return\": \"none2: [not inserted]\\r\\n    Removable device: not locked, tray closed\\r\\n\\r\\nfloppy0: [not inserted]\\r\\n    Removable device: not locked, tray closed\\r\\n\\r\\nsd0: [not inserted]\\r\\n    Removable device: not locked, tray closed\\r\\n\"}\r\n",
    );
}
