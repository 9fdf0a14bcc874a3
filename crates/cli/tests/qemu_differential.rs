//! Command-line errors, differentially against Debian's `qemu-system-riscv64`:
//! for each bad command line both programs must fail with status 1 and print
//! the same message (after the program-name prefix).

use std::process::Command;

fn run(prog: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(prog)
        .args(args)
        .args(["-display", "none"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e} (Debian package qemu-system-misc)"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn errors_match_qemu() {
    let cases: &[&[&str]] = &[
        &["-foo"],
        &["-m", "12x"],
        &["-m", "-1"],
        &["-m", "1G,foo=3"],
        &["-m", "1G,slots=2"],
        &["-smp", "2x"],
        &["-smp", "foo=1"],
        &["-smp", "cpus=2,sockets=3"],
        &["-smp", "cpus=2,maxcpus=1"],
        &["-machine", "virt,aclint"],
        &["-machine", "virt,,x"],
        &["-M", "bogus"],
        &["-M", "virt", "-append", "x"],
        &["-M", "virt", "-initrd", "/etc/hostname"],
        &["-accel", "tcg,thread=bogus"],
        &["-object", "iothread"],
        &[
            "-M",
            "spike",
            "-bios",
            "none",
            "-kernel",
            "/nonexistent/file",
        ],
    ];
    let ferrite = env!("CARGO_BIN_EXE_ferrite");
    for args in cases {
        let (qrc, qerr) = run("qemu-system-riscv64", args);
        let (frc, ferr) = run(ferrite, args);
        let q = qerr.replace("qemu-system-riscv64: ", "");
        let f = ferr.replace("ferrite: ", "");
        assert_eq!(qrc, 1, "{args:?}: QEMU should fail: {qerr}");
        assert_eq!(frc, 1, "{args:?}: ferrite should fail: {ferr}");
        assert_eq!(f, q, "{args:?}");
    }
}

#[test]
fn version_and_help() {
    let ferrite = env!("CARGO_BIN_EXE_ferrite");
    let (rc, _) = run(ferrite, &["-version"]);
    assert_eq!(rc, 0);
    let out = Command::new(ferrite).arg("-h").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("usage: ferrite [options]"));
    assert!(text.contains("-machine [type=]name"));
    let out = Command::new(ferrite)
        .args(["-machine", "help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("spike"));
}
