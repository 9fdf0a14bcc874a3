//! Differential check of the initramfs this crate builds: seed a cache from
//! `shared/guests/riscv64` (Debian's kernel, busybox and OpenSBI), then boot
//! it with Debian's `qemu-system-riscv64` exactly as the reference guest is
//! booted, once with `guest.poweroff` and once to the interactive shell.
//!
//! Skipped (with the reason printed) when the reference directory or QEMU is
//! not installed. ferrite's own board will run the same guest once it boots
//! Linux; this checks the guest side (init files, module order) now.

mod common;

use std::path::PathBuf;

use common::{Guest, check_boot_and_poweroff, qemu, reference_dir};
use ferrite_guest::{GuestPaths, seed_from_dir};

fn setup() -> Option<(tempfile::TempDir, GuestPaths, PathBuf)> {
    let Some(dir) = reference_dir() else {
        eprintln!("skipped: shared/guests/riscv64 is not next to the repository");
        return None;
    };
    let Some(qemu) = qemu() else {
        eprintln!("skipped: qemu-system-riscv64 is not installed");
        return None;
    };
    let tmp = tempfile::tempdir().unwrap();
    let paths = seed_from_dir(&dir, Some(tmp.path())).unwrap();
    Some((tmp, paths, qemu))
}

#[test]
fn boots_to_guest_booted_and_powers_off() {
    let Some((_tmp, paths, qemu)) = setup() else {
        return;
    };
    check_boot_and_poweroff(&qemu, &paths);
}

#[test]
fn interactive_shell_has_job_control_and_poweroff_works() {
    let Some((_tmp, paths, qemu)) = setup() else {
        return;
    };
    let mut g = Guest::boot(&qemu, &paths, "console=ttyS0 panic=-1");
    assert!(g.wait_for("GUEST-BOOTED"), "{}", g.seen);
    assert!(g.wait_for("Ctrl-A"), "welcome text: {}", g.seen);
    // Wake the console and wait for the prompt the profile sets.
    g.send("\n");
    assert!(g.wait_for("guest:/# "), "{}", g.seen);
    g.send("echo MODS=$(wc -l < /proc/modules)\n");
    assert!(g.wait_for("MODS=10"), "all ten modules loaded: {}", g.seen);
    g.send("poweroff\n");
    let status = g.wait_exit();
    let seen = &g.seen;
    assert!(status.success(), "qemu: {status}\n{seen}");
    assert!(
        !seen.contains("job control turned off"),
        "the shell has no controlling tty:\n{seen}"
    );
    assert!(seen.contains("reboot: Power down"), "{seen}");
}

#[test]
fn on_a_terminal_the_shell_runs_jobs_and_ctrl_a_x_leaves() {
    let Some((_tmp, paths, qemu)) = setup() else {
        return;
    };
    let mut g = Guest::boot_pty(&qemu, &paths, "console=ttyS0 panic=-1");
    assert!(g.wait_for("Ctrl-A"), "{}", g.seen);
    g.send("\r");
    assert!(g.wait_for("guest:/# "), "{}", g.seen);
    // Job control: a background job is listed with its job number.
    g.send("sleep 100 &\r");
    g.send("jobs\r");
    assert!(g.wait_for("[1]+"), "{}", g.seen);
    assert!(g.wait_for("Running"), "{}", g.seen);
    // The way out the welcome text promises: Ctrl-A, then x.
    g.send("\u{1}x");
    let status = g.wait_exit();
    assert!(g.seen.contains("QEMU: Terminated"), "{}", g.seen);
    assert!(!g.seen.contains("job control turned off"), "{}", g.seen);
    assert!(status.success(), "qemu: {status}");
}
