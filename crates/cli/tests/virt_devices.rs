//! `-drive`, `-device` and `-object iothread` on the `virt` board,
//! differentially against Debian's `qemu-system-riscv64`: the same bad
//! command lines fail with status 1 and the same message, and `query-block`
//! and `info block` answer the same for the same drives (apart from the
//! generated `#blockNNN` node names, whose numbers come from a global
//! counter in QEMU).

use std::io::Write;
use std::process::{Command, Stdio};

const FERRITE: &str = env!("CARGO_BIN_EXE_ferrite");
const QEMU: &str = "qemu-system-riscv64";

fn qemu_present() -> bool {
    let found = Command::new(QEMU)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: {QEMU} is not installed (Debian package qemu-system-misc)");
    }
    found
}

/// Runs `prog -M virt -bios none -display none ARGS` and returns (status,
/// stderr without the program-name prefix).
fn fail(prog: &str, args: &[String]) -> (i32, String) {
    let out = Command::new(prog)
        .args(["-M", "virt", "-bios", "none", "-display", "none", "-S"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr)
        .replace("qemu-system-riscv64: ", "")
        .replace("ferrite: ", "");
    (out.status.code().unwrap_or(-1), err)
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

#[test]
fn device_errors_match_qemu() {
    if !qemu_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d.img");
    std::fs::write(&img, [0u8; 4096]).unwrap();
    let f = img.display();
    let d = format!("-drive file={f},format=raw,if=none,id=d");
    let cases = [
        "-device foo".to_string(),
        "-device virtio-blk-device".into(),
        "-device virtio-blk-device,drive=x".into(),
        format!("{d} -device virtio-blk-device,drive=d -device virtio-blk-device,drive=d"),
        "-drive file=/nonexistent/x.img,format=raw,if=none,id=d".into(),
        format!("-drive file={f},format=xyz,if=none,id=d"),
        format!("{d} {d}"),
        format!("-drive file={f},format=raw,if=sd"),
        "-drive format=raw,if=none,id=d".into(),
        "-device virtio-rng-device,foo=1".into(),
        "-device virtio-rng-device,iothread=io".into(),
        format!("{d} -device virtio-blk-device,drive=d,iothread=x"),
        format!("{d},bogus=1"),
        format!("{d},readonly=maybe"),
        format!("{d} -device virtio-blk-device,drive=d,bogus=2"),
        "-object iothread,id=io -object iothread,id=io".into(),
        "-object foo,id=x".into(),
        "-object iothread,id=io,poll-max-ns=abc".into(),
        "-object iothread,id=io,bogus=1".into(),
        "-object iothread,id=io,poll-max-ns=-1".into(),
        "-device virtio-rng-device "
            .repeat(9)
            .trim_end()
            .to_string(),
    ];
    for c in &cases {
        let args = words(c);
        let (qrc, q) = fail(QEMU, &args);
        let (frc, f) = fail(FERRITE, &args);
        assert_eq!(qrc, 1, "{c}: QEMU should fail: {q}");
        assert_eq!(frc, 1, "{c}: ferrite should fail: {f}");
        assert_eq!(f, q, "{c}");
    }
}

/// Replaces every `#blockNNN` with `#blockN`.
fn normalise_nodes(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("#block") {
        out.push_str(&rest[..i + 6]);
        out.push('N');
        rest = rest[i + 6..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// The answers to `query-block` and `info block` over QMP on stdio.
/// Runs `prog` paused on `virt` with QMP on stdio, sends `commands` (one
/// JSON request per line, `qmp_capabilities` first and `quit` last are
/// added) and returns the `{"return": ...}` lines of the replies to
/// `commands`, in order.
fn qmp_returns(prog: &str, args: &[String], commands: &[&str]) -> Vec<String> {
    let mut child = Command::new(prog)
        .args(["-M", "virt", "-bios", "none", "-display", "none", "-S"])
        .args(["-serial", "none", "-monitor", "none", "-qmp", "stdio"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::from("{\"execute\":\"qmp_capabilities\"}\n");
    for c in commands {
        input.push_str(c);
        input.push('\n');
    }
    input.push_str("{\"execute\":\"quit\"}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("{\"return\""))
        .map(str::to_string)
        .collect();
    assert!(
        lines.len() > commands.len(),
        "{prog}: missing answers:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines[1..=commands.len()].to_vec()
}

fn query(prog: &str, args: &[String]) -> Vec<String> {
    qmp_returns(
        prog,
        args,
        &[
            r#"{"execute":"query-block"}"#,
            r#"{"execute":"human-monitor-command","arguments":{"command-line":"info block"}}"#,
            r#"{"execute":"human-monitor-command","arguments":{"command-line":"info block d1"}}"#,
        ],
    )
    .iter()
    .map(|l| normalise_nodes(l))
    .collect()
}

#[test]
fn query_block_and_info_block_match_qemu() {
    if !qemu_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    let c = dir.path().join("c.img");
    // 5000 bytes: the raw driver rounds the size up to whole sectors.
    std::fs::write(&a, vec![7u8; 5000]).unwrap();
    std::fs::write(&b, vec![0u8; 1 << 20]).unwrap();
    std::fs::write(&c, vec![1u8; 4096]).unwrap();
    let args = words(&format!(
        "-drive file={},format=raw,if=none,id=plain \
         -drive file={},format=raw,if=none,id=d1,readonly=on \
         -device virtio-blk-device,drive=d1,id=disk1 \
         -drive file={},format=raw,if=none,id=d2 \
         -device virtio-blk-device,drive=d2,serial=abc",
        a.display(),
        b.display(),
        c.display()
    ));
    let theirs = query(QEMU, &args);
    let ours = query(FERRITE, &args);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "answer {i}");
    }
}

/// `spike` has no virtio-mmio bus: a virtio device is refused as on QEMU.
#[test]
fn spike_has_no_virtio_bus() {
    if !qemu_present() {
        return;
    }
    let run = |prog: &str| {
        let out = Command::new(prog)
            .args(["-M", "spike", "-bios", "none", "-display", "none", "-S"])
            .args(["-device", "virtio-rng-device"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr)
            .replace("qemu-system-riscv64: ", "")
            .replace("ferrite: ", "");
        (out.status.code(), err)
    };
    let (qrc, q) = run(QEMU);
    let (frc, f) = run(FERRITE);
    assert_eq!(qrc, Some(1), "{q}");
    assert_eq!(frc, Some(1), "{f}");
    assert_eq!(f, q);
}

/// `info iothreads` through `human-monitor-command`, split into one block
/// per IOThread with the (host-specific) thread id masked, sorted: QEMU
/// lists them in its object hash-table order, ferrite in creation order
/// (docs/divergences.md).
fn info_iothreads(prog: &str, args: &[String]) -> Vec<String> {
    let reply = qmp_returns(
        prog,
        args,
        &[r#"{"execute":"human-monitor-command","arguments":{"command-line":"info iothreads"}}"#],
    )
    .remove(0);
    let body = reply
        .trim_start_matches("{\"return\": \"")
        .trim_end_matches("\"}")
        .replace("\\n", "\n");
    let mut blocks: Vec<String> = Vec::new();
    for line in body.lines() {
        if !line.starts_with(' ') {
            blocks.push(String::new());
        }
        let line = if line.starts_with("  thread_id=") {
            "  thread_id=N"
        } else {
            line
        };
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks.sort();
    blocks
}

#[test]
fn info_iothreads_matches_qemu() {
    if !qemu_present() {
        return;
    }
    let args = words(
        "-object iothread,id=io1 -object iothread,id=zz,poll-max-ns=100,poll-grow=2,poll-shrink=3",
    );
    let ours = info_iothreads(FERRITE, &args);
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(ours, info_iothreads(QEMU, &args));
    assert!(info_iothreads(FERRITE, &[]).is_empty());
}
