//! Live test: fetches the real trixie packages from the mirror the host's APT
//! configuration (or `FERRITE_DEBIAN_MIRROR`) names into a temporary cache,
//! and boots the result with Debian's `qemu-system-riscv64` when installed
//! (ferrite's own board takes over once it boots Linux).
//!
//! The kernel package alone is about 113 MB, so this is opt-in: set
//! `FERRITE_LIVE_GUEST_FETCH=1`. Without it, or without a configured or
//! reachable mirror, the test prints why it is skipped and passes. The test
//! suite's `scripts/test.d/live-guest.sh` runs the same fetch by default
//! and boots the result on ferrite's default run.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

mod common;

use ferrite_guest::progress::Lines;
use ferrite_guest::{FetchOptions, FetchOutcome, GuestError, apt, fetch};

const OPT_IN: &str = "FERRITE_LIVE_GUEST_FETCH";

#[test]
fn fetch_the_real_guest_from_the_configured_mirror() {
    if std::env::var(OPT_IN).as_deref() != Ok("1") {
        eprintln!(
            "skipped: set {OPT_IN}=1 to fetch the real packages (about 115 MB) from the \
             configured Debian mirror"
        );
        return;
    }
    let mirror = match apt::discover_mirror(None, Path::new("/")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..FetchOptions::default()
    };
    let start = Instant::now();
    let r = match fetch(&opts, &mut Lines::new(std::io::stderr())) {
        Err(e @ GuestError::MirrorUnreachable { .. }) => {
            eprintln!("skipped: the mirror {} is unreachable: {e}", mirror.url);
            return;
        }
        r => r.unwrap(),
    };
    eprintln!("fetched from {} in {:.1?}", mirror.url, start.elapsed());
    assert_eq!(r.outcome, FetchOutcome::Fetched);
    eprintln!("signature: {:?}", r.signature);
    let can_verify = Path::new(ferrite_guest::release::DEFAULT_KEYRING).is_file()
        && Path::new("/usr/bin/gpgv").is_file();
    if can_verify {
        assert!(
            matches!(
                r.signature,
                Some(ferrite_guest::release::Signature::Verified(_))
            ),
            "{:?}",
            r.signature
        );
    }

    // The kernel is a RISC-V `Image` (header magic "RISCV\0\0\0" and "RSC\x05").
    let image = std::fs::read(&r.paths.kernel).unwrap();
    assert_eq!(&image[0x30..0x38], b"RISCV\0\0\0");
    assert_eq!(&image[0x38..0x3c], b"RSC\x05");
    // busybox is a static riscv64 ELF executable.
    let bb = std::fs::read(&r.paths.busybox).unwrap();
    assert_eq!(&bb[..5], b"\x7fELF\x02");
    assert_eq!(u16::from_le_bytes([bb[18], bb[19]]), 0xf3, "EM_RISCV");
    assert!(std::fs::metadata(&r.paths.bios).unwrap().len() > 10_000);
    let mods: Vec<String> = r
        .paths
        .modules
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(mods.first().map(String::as_str), Some("virtio_mmio.ko.xz"));
    assert_eq!(mods.last().map(String::as_str), Some("ext4.ko.xz"));
    for m in ["virtio_blk.ko.xz", "virtio_net.ko.xz", "virtio-rng.ko.xz"] {
        assert!(mods.iter().any(|x| x == m), "{m} missing from {mods:?}");
    }
    // The initramfs holds busybox and the load order.
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&r.paths.initrd).unwrap())
        .read_to_end(&mut cpio)
        .unwrap();
    assert!(cpio.windows(11).any(|w| w == b"bin/busybox"));
    assert!(cpio.windows(22).any(|w| w == b"lib/modules/load-order"));
    let total: u64 = r.manifest.files.iter().map(|f| f.size).sum();
    eprintln!(
        "cached {} files, {total} bytes:\n{}",
        r.manifest.files.len(),
        r.manifest.to_text()
    );

    // Second run: the cache, no network.
    let again = fetch(&opts, &mut Lines::new(std::io::stderr())).unwrap();
    assert_eq!(again.outcome, FetchOutcome::Cached);
    assert_eq!(again.paths, r.paths);

    match common::qemu() {
        Some(q) => common::check_boot_and_poweroff(&q, &r.paths),
        None => eprintln!("boot not checked: qemu-system-riscv64 is not installed"),
    }
}
