//! HMP output recorded from qemu-system-riscv64 7.2.22 through
//! `human-monitor-command` (`-M virt -S`, 1 hart), replayed in the same
//! order against the fake machine (whose mask ROM holds the same bytes).
//! The order matters: `x`/`xp` keep QEMU's sticky default format and size.

mod common;
use common::core;
use ferrite_monitor::hmp::to_crlf;

const VECTORS: &[(&str, &str)] = &[
    ("info status", "VM status: paused (prelaunch)\r\n"),
    ("nosuch", "unknown command: 'nosuch'\r\n"),
    ("info nosuch", "unknown command: 'info nosuch'\r\n"),
    (
        "xp /4x 0x1000",
        "0000000000001000: 0x00000297 0x02828613 0xf1402573 0x0202b583\r\n",
    ),
    (
        "xp /20xb 0x1000",
        "0000000000001000: 0x97 0x02 0x00 0x00 0x13 0x86 0x82 0x02\r\n0000000000001008: 0x73 0x25 0x40 0xf1 0x83 0xb5 0x02 0x02\r\n0000000000001010: 0x83 0xb2 0x82 0x01\r\n",
    ),
    (
        "xp /3xg 0x1000",
        "0000000000001000: 0x0282861300000297 0x0202b583f1402573\r\n0000000000001010: 0x000280670182b283\r\n",
    ),
    (
        "xp /5xh 0x1000",
        "0000000000001000: 0x0297 0x0000 0x8613 0x0282 0x2573\r\n",
    ),
    (
        "xp /6d 0x1000",
        "0000000000001000:   663     0 34323   642  9587 61760\r\n",
    ),
    (
        "xp /6u 0x1000",
        "0000000000001000:   663     0 34323   642  9587 61760\r\n",
    ),
    (
        "xp /6o 0x1000",
        "0000000000001000:  01227      0 0103023  01202 022563 0170500\r\n",
    ),
    (
        "xp /20c 0x1000",
        "0000000000001000: '\\x97' '\\x02' '\\x00' '\\x00' '\\x13' '\\x86' '\\x82' '\\x02' 's' '%' '@' '\\xf1' '\\x83' '\\xb5' '\\x02' '\\x02'\r\n0000000000001010: '\\x83' '\\xb2' '\\x82' '\\x01' 'g' '\\x80' '\\x02' '\\x00' '\\x00' '\\x00' '\\x00' '\\x80' '\\x00' '\\x00' '\\x00' '\\x00'\r\n0000000000001020: '\\x00' '\\x00' '\\xe0' '\\x87' '\\x00' '\\x00' '\\x00' '\\x00'\r\n",
    ),
    (
        "xp /4cw 0x1000",
        "0000000000001000: '\\x97' '\\x02' '\\x00' '\\x00' '\\x13' '\\x86' '\\x82' '\\x02' 's' '%' '@' '\\xf1' '\\x83' '\\xb5' '\\x02' '\\x02'\r\n",
    ),
    (
        "xp /8db 0x1000",
        "0000000000001000: 151   2   0   0  19 134 130   2\r\n",
    ),
    ("xp /2x 0x0", "0000000000000000: Cannot access memory\r\n"),
    (
        "xp /2x 0xfffffffffffffff0",
        "fffffffffffffff0: Cannot access memory\r\n",
    ),
    (
        "xp /2q 0x1000",
        "invalid char in format: 'q'\r\nTry \"help xp\" for more information\r\n",
    ),
    ("xp 0x1000", "0000000000001000: 0x97\r\n"),
    (
        "xp",
        "unexpected end of expression\r\nTry \"help xp\" for more information\r\n",
    ),
    ("xp /2x 0x1000+8*2", "0000000000001010: 0x83 0xb2\r\n"),
    ("x /2x 0x1000", "0000000000001000: 0x97 0x02\r\n"),
    (
        "xp /2x zz",
        "invalid char 'z' in expression\r\nTry \"help xp\" for more information\r\n",
    ),
    ("help stop", "stop|s  -- stop emulation\r\n"),
    (
        "stop extra",
        "stop|s: extraneous characters at the end of line\r\nTry \"help stop\" for more information\r\n",
    ),
    ("info cpus", "* CPU #0: thread_id=22895\r\n"),
    ("", ""),
    ("   ", ""),
    (
        "xp /x 1 2",
        "xp: extraneous characters at the end of line\r\nTry \"help xp\" for more information\r\n",
    ),
    (
        "xp /2x (0x1000",
        "')' expected\r\nTry \"help xp\" for more information\r\n",
    ),
    (
        "xp /2x 0x1000/0",
        "division by zero\r\nTry \"help xp\" for more information\r\n",
    ),
    (
        "xp /2x $pc",
        "unknown register\r\nTry \"help xp\" for more information\r\n",
    ),
    ("xp /2x -1", "ffffffffffffffff: Cannot access memory\r\n"),
    ("xp /2x 010", "0000000000000008: Cannot access memory\r\n"),
    ("xp/2x 0x1000", "0000000000001000: 0x97 0x02\r\n"),
    ("xp /0x 0x1000", ""),
    (
        "xp /3xw 0x1002",
        "0000000000001002: 0x86130000 0x25730282 0xb583f140\r\n",
    ),
    ("s", ""),
    ("c", ""),
    ("info status", "VM status: running\r\n"),
    ("stop", ""),
    ("info status", "VM status: paused\r\n"),
    ("system_reset", ""),
];

#[test]
fn hmp_matches_qemu_transcript() {
    let (_m, core) = core();
    let pid = std::process::id();
    for (line, expected) in VECTORS {
        let expected = expected.replace("thread_id=22895", &format!("thread_id={pid}"));
        let got = to_crlf(&core.hmp.run_line(&core, line, None));
        assert_eq!(got, expected, "command line {line:?}");
    }
}

#[test]
fn hmp_help_and_info_lists() {
    let (_m, core) = core();
    let help = core.hmp.run_line(&core, "help", None);
    for l in [
        "cont|c  -- resume emulation\n",
        "help|? [cmd] -- show the help\n",
        "info [subcommand] -- show various information about the system state\n",
        "quit|q  -- quit the emulator\n",
        "stop|s  -- stop emulation\n",
        "system_powerdown  -- send system power down event\n",
        "system_reset  -- reset the system\n",
        "x /fmt addr -- virtual memory dump starting at 'addr'\n",
        "xp /fmt addr -- physical memory dump starting at 'addr'\n",
    ] {
        assert!(help.contains(l), "{l:?} not in help");
    }
    let info = core.hmp.run_line(&core, "info", None);
    assert_eq!(info, core.hmp.run_line(&core, "help info", None));
    assert!(info.contains("info status  -- show the current VM status (running|paused)\n"));
    assert!(info.contains("info mtree [-f][-d][-o][-D] -- show memory tree (-f: dump flat view for address spaces;-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;-D: dump disabled regions\n"));
    assert_eq!(
        core.hmp.run_line(&core, "help info version", None),
        "info version  -- show the version of QEMU\n"
    );
    assert_eq!(
        core.hmp.run_line(&core, "info version", None),
        "7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3\n"
    );
    assert_eq!(core.hmp.run_line(&core, "info name", None), "testvm\n");
    assert_eq!(
        core.hmp.run_line(&core, "info mtree -x", None),
        "mtree: unsupported option -x\nTry \"help info mtree\" for more information\n"
    );
}

#[test]
fn hmp_run_state_commands_emit_events() {
    let (m, core) = core();
    assert_eq!(core.hmp.run_line(&core, "c", None), "");
    assert_eq!(
        core.hmp.run_line(&core, "info status", None),
        "VM status: running\n"
    );
    core.hmp.run_line(&core, "system_powerdown", None);
    core.hmp.run_line(&core, "q", None);
    use ferrite_monitor::MachineControl;
    assert!(m.exit_requested());
    assert_eq!(
        *m.calls.lock().unwrap(),
        ["cont", "system_powerdown", "shutdown"]
    );
}

/// Second recording (argument errors, expressions), fresh defaults.
const VECTORS4: &[(&str, &str)] = &[
    ("help nosuch", "unknown command: 'nosuch'\r\n"),
    ("help info nosuch", "unknown command: 'info nosuch'\r\n"),
    (
        "info mtree -x",
        "mtree: unsupported option -x\r\nTry \"help info mtree\" for more information\r\n",
    ),
    (
        "info mtree -fx",
        "mtree: extraneous characters at the end of line\r\nTry \"help info mtree\" for more information\r\n",
    ),
    (
        "info mtree foo",
        "mtree: extraneous characters at the end of line\r\nTry \"help info mtree\" for more information\r\n",
    ),
    (
        "info status extra",
        "status: extraneous characters at the end of line\r\nTry \"help info status\" for more information\r\n",
    ),
    ("help help", "help|? [cmd] -- show the help\r\n"),
    (
        "info version x",
        "version: extraneous characters at the end of line\r\nTry \"help info version\" for more information\r\n",
    ),
    (
        "cont extra",
        "cont|c: extraneous characters at the end of line\r\nTry \"help cont\" for more information\r\n",
    ),
    ("xp /2x 'a'", "0000000000000061: Cannot access memory\r\n"),
    ("xp /2x ~0", "ffffffffffffffff: Cannot access memory\r\n"),
    (
        "xp /2x 4096|1",
        "0000000000001001: 0x13000002 0x73028286\r\n",
    ),
    (
        "xp /2x 0x1000 ",
        "0000000000001000: 0x00000297 0x02828613\r\n",
    ),
    (
        "xp /2x 99999999999999999999",
        "number too large\r\nTry \"help xp\" for more information\r\n",
    ),
    (
        "xp /x",
        "unexpected end of expression\r\nTry \"help xp\" for more information\r\n",
    ),
    (
        "q extra",
        "quit|q: extraneous characters at the end of line\r\nTry \"help q\" for more information\r\n",
    ),
    (
        "x",
        "unexpected end of expression\r\nTry \"help x\" for more information\r\n",
    ),
    (
        "help x",
        "x /fmt addr -- virtual memory dump starting at 'addr'\r\n",
    ),
];

#[test]
fn hmp_argument_parsing_matches_qemu() {
    let (_m, core) = core();
    for (line, expected) in VECTORS4 {
        let got = to_crlf(&core.hmp.run_line(&core, line, None));
        assert_eq!(&got, expected, "command line {line:?}");
    }
}

#[test]
fn board_info_items_get_parsed_arguments() {
    let (m, core) = core();
    m.set_hmp_info(
        "mtree",
        "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n",
    );
    assert_eq!(
        core.hmp.run_line(&core, "info mtree -f -D", None),
        "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
    );
    core.hmp.run_line(&core, "info registers 0", None);
    core.hmp.run_line(&core, "info block -v", None);
    // `-d` alone: the `-f` argument skips it (a later flag of the item),
    // the `-d` argument takes it, as in QEMU's parser.
    core.hmp.run_line(&core, "info mtree -d", None);
    assert_eq!(
        *m.info_calls.lock().unwrap(),
        [
            (
                "mtree".to_string(),
                vec!["-f".to_string(), "-D".to_string()]
            ),
            ("registers".to_string(), vec!["0".to_string()]),
            ("mtree".to_string(), vec!["-d".to_string()]),
        ]
    );
    assert_eq!(
        core.hmp.run_line(&core, "info qtree", None),
        "info qtree: not provided by this machine\n"
    );
}
