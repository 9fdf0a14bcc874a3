//! The fetch flow against a fake Debian mirror: a tiny HTTP/1.1 server on a
//! loopback port serving fixture indices and packages built in the test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::deb::fixture::{Node, deb, xz};
use crate::modinfo::fixture_module;
use crate::progress::{Lines, Silent};
use crate::*;

/// How the fake mirror answers one path.
#[derive(Clone)]
enum Reply {
    /// 200 with the body.
    Ok(Vec<u8>),
    /// 200 announcing the full length, then only the first `n` bytes.
    Cut(Vec<u8>, usize),
    /// This status with an empty body.
    Status(u16),
}

/// A loopback HTTP server; stops (and joins) on drop. It serves one request
/// per connection and accepts at most `MAX_CONNECTIONS`, so it always ends.
struct FakeMirror {
    url: String,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

const MAX_CONNECTIONS: usize = 200;

impl FakeMirror {
    fn start(routes: HashMap<String, Reply>) -> FakeMirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes = Arc::new(Mutex::new(routes));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (routes.clone(), hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((conn, _)) = listener.accept() else {
                    return;
                };
                if s.load(Ordering::SeqCst) {
                    return;
                }
                h.fetch_add(1, Ordering::SeqCst);
                let _ = serve(conn, &r);
            }
        });
        FakeMirror {
            url: format!("http://127.0.0.1:{port}/debian"),
            routes,
            hits,
            stop,
            port,
            thread: Some(thread),
        }
    }

    fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for FakeMirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept() so the thread sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, routes: &Mutex<HashMap<String, Reply>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let reply = routes
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Reply::Status(404));
    let mut conn = conn;
    let head = |status: u16, len: usize| {
        format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    match reply {
        Reply::Ok(body) => {
            conn.write_all(head(200, body.len()).as_bytes())?;
            conn.write_all(&body)?;
        }
        Reply::Cut(body, n) => {
            conn.write_all(head(200, body.len()).as_bytes())?;
            conn.write_all(&body[..n])?;
        }
        Reply::Status(s) => conn.write_all(head(s, 0).as_bytes())?,
    }
    conn.flush()?;
    // Drain so the client never sees a reset before reading the reply.
    let _ = conn.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 512];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

const KVER: &str = "6.12.117+deb13-riscv64";

/// Modules as the real kernel has them (names and `depends=`), plus one the
/// guest does not need.
const MODULES: &[(&str, &str, &[&str])] = &[
    ("drivers/virtio/virtio_mmio.ko.xz", "virtio_mmio", &[]),
    ("drivers/block/virtio_blk.ko.xz", "virtio_blk", &[]),
    ("net/core/failover.ko.xz", "failover", &[]),
    (
        "drivers/net/net_failover.ko.xz",
        "net_failover",
        &["failover"],
    ),
    (
        "drivers/net/virtio_net.ko.xz",
        "virtio_net",
        &["net_failover"],
    ),
    ("drivers/char/hw_random/virtio-rng.ko.xz", "virtio_rng", &[]),
    ("lib/crc16.ko.xz", "crc16", &[]),
    ("fs/mbcache.ko.xz", "mbcache", &[]),
    ("fs/jbd2/jbd2.ko.xz", "jbd2", &[]),
    ("fs/ext4/ext4.ko.xz", "ext4", &["jbd2", "mbcache", "crc16"]),
    ("sound/unneeded.ko.xz", "unneeded", &["ext4"]),
];

struct Fixture {
    kernel_deb: Vec<u8>,
    busybox_deb: Vec<u8>,
    opensbi_deb: Vec<u8>,
}

fn fixture() -> Fixture {
    let modules: Vec<(String, Vec<u8>)> = MODULES
        .iter()
        .map(|(p, n, d)| {
            (
                format!("./usr/lib/modules/{KVER}/kernel/{p}"),
                xz(&fixture_module(n, d)),
            )
        })
        .collect();
    let image = format!("./boot/vmlinux-{KVER}");
    let mut nodes = vec![
        Node::Dir("./boot/"),
        Node::File(&image, b"RISCV IMAGE"),
        Node::File("./boot/config-x", b"CONFIG_X=y"),
    ];
    nodes.extend(modules.iter().map(|(p, d)| Node::File(p, d)));
    Fixture {
        kernel_deb: deb(".xz", &nodes),
        busybox_deb: deb(
            ".zst",
            &[
                Node::Dir("./usr/bin/"),
                Node::File("./usr/bin/busybox", b"BUSYBOX ELF"),
                Node::Symlink("./bin/busybox", "/usr/bin/busybox"),
            ],
        ),
        opensbi_deb: deb(
            ".xz",
            &[Node::File(&format!("./{FW_DYNAMIC}"), b"OPENSBI FW")],
        ),
    }
}

fn stanza(name: &str, version: &str, arch: &str, file: &str, data: &[u8]) -> String {
    format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nDescription: x\n more\n\
         Filename: {file}\nSize: {}\nSHA256: {}\n\n",
        data.len(),
        cache::sha256_hex(data)
    )
}

const KFILE: &str = "pool/main/l/linux/linux-image-new.deb";
const BFILE: &str = "pool/main/b/busybox/busybox-static.deb";
const OFILE: &str = "pool/main/o/opensbi/opensbi.deb";

fn riscv_index(f: &Fixture, busybox: bool) -> String {
    let mut s = stanza(
        &format!("linux-image-{KVER}"),
        "6.12.117-1",
        "riscv64",
        KFILE,
        &f.kernel_deb,
    );
    // An older kernel whose package is not even on the mirror: must not be picked.
    s += &stanza(
        "linux-image-6.12.9+deb13-riscv64",
        "6.12.9-1",
        "riscv64",
        "pool/main/l/linux/old.deb",
        b"old",
    );
    s += &stanza(
        "linux-image-riscv64",
        "6.12.200-1",
        "riscv64",
        "pool/meta.deb",
        b"meta",
    );
    if busybox {
        s += &stanza(
            "busybox-static",
            "1:1.37.0-6+b9",
            "riscv64",
            BFILE,
            &f.busybox_deb,
        );
    }
    s
}

const RISCV_INDEX: &str = "/debian/dists/trixie/main/binary-riscv64/Packages.xz";
const ALL_INDEX: &str = "/debian/dists/trixie/main/binary-all/Packages.xz";
const INRELEASE: &str = "/debian/dists/trixie/InRelease";

/// An (unsigned) InRelease listing the two indices.
fn inrelease(riscv: &[u8], all: &[u8]) -> Vec<u8> {
    format!(
        "Origin: Debian\nSuite: stable\nCodename: trixie\nMD5Sum:\n 00 1 main/x\nSHA256:\n \
         {} {} main/binary-all/Packages.xz\n {} {} main/binary-riscv64/Packages.xz\n",
        cache::sha256_hex(all),
        all.len(),
        cache::sha256_hex(riscv),
        riscv.len()
    )
    .into_bytes()
}

/// Serves a new riscv64 index (and the InRelease listing it).
fn set_riscv_index(server: &FakeMirror, f: &Fixture, text: &str) {
    let riscv = xz(text.as_bytes());
    server.set(INRELEASE, Reply::Ok(inrelease(&riscv, &all_index(f))));
    server.set(RISCV_INDEX, Reply::Ok(riscv));
}

fn all_index(f: &Fixture) -> Vec<u8> {
    xz(stanza("opensbi", "1.6-1", "all", OFILE, &f.opensbi_deb).as_bytes())
}

fn routes(f: &Fixture, riscv_index: &str) -> HashMap<String, Reply> {
    let riscv = xz(riscv_index.as_bytes());
    let all = all_index(f);
    HashMap::from([
        (INRELEASE.to_string(), Reply::Ok(inrelease(&riscv, &all))),
        (RISCV_INDEX.to_string(), Reply::Ok(riscv)),
        (ALL_INDEX.to_string(), Reply::Ok(all)),
        (format!("/debian/{KFILE}"), Reply::Ok(f.kernel_deb.clone())),
        (format!("/debian/{BFILE}"), Reply::Ok(f.busybox_deb.clone())),
        (format!("/debian/{OFILE}"), Reply::Ok(f.opensbi_deb.clone())),
    ])
}

fn opts(mirror: &str, cache: &Path) -> FetchOptions {
    FetchOptions {
        mirror: Some(mirror.to_string()),
        cache_dir: Some(cache.to_path_buf()),
        apt_root: cache.join("no-apt-here"),
        // The fake mirror's InRelease is not signed; its hashes are checked.
        check_signature: false,
        ..FetchOptions::default()
    }
}

/// The names of everything in `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn fetch_builds_the_guest_then_works_offline() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut log = Vec::new();
    let r = fetch(&opts(&server.url, &cache), &mut Lines::new(&mut log)).unwrap();
    let log = String::from_utf8(log).unwrap();
    assert_eq!(r.outcome, FetchOutcome::Fetched);
    assert!(
        log.contains("signature of trixie InRelease was not checked"),
        "{log}"
    );
    assert!(
        log.contains(&format!("downloading linux-image-{KVER} 6.12.117-1")),
        "{log}"
    );

    assert_eq!(std::fs::read(&r.paths.kernel).unwrap(), b"RISCV IMAGE");
    assert_eq!(std::fs::read(&r.paths.busybox).unwrap(), b"BUSYBOX ELF");
    assert_eq!(std::fs::read(&r.paths.bios).unwrap(), b"OPENSBI FW");
    let mods: Vec<String> = r
        .paths
        .modules
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        mods,
        [
            "virtio_mmio.ko.xz",
            "virtio_blk.ko.xz",
            "failover.ko.xz",
            "net_failover.ko.xz",
            "virtio_net.ko.xz",
            "virtio-rng.ko.xz",
            "jbd2.ko.xz",
            "mbcache.ko.xz",
            "crc16.ko.xz",
            "ext4.ko.xz"
        ]
    );
    // The initramfs is exactly what the builder makes from these inputs.
    let module_data: Vec<(String, Vec<u8>)> = mods
        .iter()
        .zip(&r.paths.modules)
        .map(|(n, p)| (n.clone(), std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(
        std::fs::read(&r.paths.initrd).unwrap(),
        initramfs::build_initramfs(b"BUSYBOX ELF", &module_data)
    );
    let versions: Vec<(&str, &str)> = r
        .manifest
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(
        versions,
        [
            (&*format!("linux-image-{KVER}"), "6.12.117-1"),
            ("busybox-static", "1:1.37.0-6+b9"),
            ("opensbi", "1.6-1")
        ]
    );
    // Only the set and the manifest: no temporaries or downloaded .debs left.
    assert_eq!(
        entries(&cache),
        [r.manifest.set.clone(), "manifest".to_string()]
    );

    // Offline: the mirror is gone, the cache is used without the network.
    let url = server.url.clone();
    drop(server);
    let again = fetch(&opts(&url, &cache), &mut Silent).unwrap();
    assert_eq!(again.outcome, FetchOutcome::Cached);
    assert_eq!(again.signature, None);
    assert_eq!(again.paths, r.paths);
    assert_eq!(path(Some(&cache)).unwrap(), r.paths);
    let listing = list(Some(&cache)).unwrap().to_string();
    assert!(
        listing.contains("busybox-static 1:1.37.0-6+b9 (riscv64)"),
        "{listing}"
    );
    assert!(listing.contains("opensbi 1.6-1 (all)"), "{listing}");
    assert!(
        listing.contains("virtio_mmio.ko.xz virtio_blk.ko.xz"),
        "{listing}"
    );
}

#[test]
fn refresh_with_nothing_newer_downloads_no_package() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(&server.url, tmp.path());
    fetch(&o, &mut Silent).unwrap();
    let first = server.hits();
    assert_eq!(first, 6, "InRelease, two indices and three packages");
    o.refresh = true;
    assert_eq!(
        fetch(&o, &mut Silent).unwrap().outcome,
        FetchOutcome::UpToDate
    );
    assert_eq!(
        server.hits(),
        first + 3,
        "only InRelease and the two indices"
    );
}

#[test]
fn damaged_cache_is_fetched_again() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let tmp = tempfile::tempdir().unwrap();
    let r = fetch(&opts(&server.url, tmp.path()), &mut Silent).unwrap();
    std::fs::write(&r.paths.kernel, b"RISCV IMAGF").unwrap();
    assert!(path(Some(tmp.path())).is_ok(), "path only checks sizes");
    let again = fetch(&opts(&server.url, tmp.path()), &mut Silent).unwrap();
    assert_eq!(again.outcome, FetchOutcome::Fetched);
    assert_eq!(std::fs::read(&again.paths.kernel).unwrap(), b"RISCV IMAGE");
}

/// Runs a fetch expected to fail and checks that the cache is exactly as it
/// was before (nothing half-written).
fn fails_cleanly(server: &FakeMirror, cache: &Path) -> GuestError {
    fails_cleanly_with(server, cache, |_| {})
}

fn fails_cleanly_with(
    server: &FakeMirror,
    cache: &Path,
    tweak: impl FnOnce(&mut FetchOptions),
) -> GuestError {
    let before: Vec<(String, Vec<u8>)> = entries(cache)
        .into_iter()
        .map(|n| {
            let p = cache.join(&n);
            (n, std::fs::read(&p).unwrap_or_default())
        })
        .collect();
    let mut o = opts(&server.url, cache);
    o.refresh = true;
    tweak(&mut o);
    let e = fetch(&o, &mut Silent).unwrap_err();
    let after: Vec<(String, Vec<u8>)> = entries(cache)
        .into_iter()
        .map(|n| {
            let p = cache.join(&n);
            (n, std::fs::read(&p).unwrap_or_default())
        })
        .collect();
    assert_eq!(before, after, "the cache changed on error {e}");
    e
}

#[test]
fn checksum_mismatch_leaves_the_cache_untouched() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let tmp = tempfile::tempdir().unwrap();
    // A good guest first, so "untouched" means the old one survives.
    let good = fetch(&opts(&server.url, tmp.path()), &mut Silent).unwrap();
    // The mirror now serves a kernel that is not what the index says.
    let mut evil = f.kernel_deb.clone();
    let n = evil.len();
    evil[n - 100] ^= 1;
    let idx = riscv_index(&f, true).replace("Version: 6.12.117-1", "Version: 6.12.117-2");
    set_riscv_index(&server, &f, &idx);
    server.set(&format!("/debian/{KFILE}"), Reply::Ok(evil));
    let e = fails_cleanly(&server, tmp.path());
    assert!(matches!(e, GuestError::ChecksumMismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains("run `ferrite guest fetch` again"),
        "{msg}"
    );
    assert_eq!(path(Some(tmp.path())).unwrap(), good.paths);
}

#[test]
fn index_out_of_sync_with_inrelease() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let tmp = tempfile::tempdir().unwrap();
    // An index that is not the one InRelease lists: an out-of-sync mirror
    // (or a forgery). Strict mode refuses it like APT ...
    let stale = riscv_index(&f, true).replace("Description: x", "Description: y");
    server.set(RISCV_INDEX, Reply::Ok(xz(stale.as_bytes())));
    let e = fails_cleanly_with(&server, tmp.path(), |o| o.strict_index = true);
    assert!(
        matches!(&e, GuestError::ChecksumMismatch { what, .. } if what.contains("binary-riscv64/Packages.xz (against")),
        "{e:?}"
    );
    // ... the default warns and goes on (the .debs are still checked).
    let mut log = Vec::new();
    let r = fetch(&opts(&server.url, tmp.path()), &mut Lines::new(&mut log)).unwrap();
    let log = String::from_utf8(log).unwrap();
    assert_eq!(r.outcome, FetchOutcome::Fetched);
    assert!(
        r.warnings.iter().any(|w| w.contains("out of sync")),
        "{:?}",
        r.warnings
    );
    assert!(
        log.contains("binary-riscv64/Packages.xz does not match"),
        "{log}"
    );

    // With Acquire-By-Hash the exact index is fetched by its hash: no warning.
    let good = xz(riscv_index(&f, true).as_bytes());
    let mut rel = String::from_utf8(inrelease(&good, &all_index(&f))).unwrap();
    rel = rel.replace(
        "Codename: trixie\n",
        "Codename: trixie\nAcquire-By-Hash: yes\n",
    );
    server.set(INRELEASE, Reply::Ok(rel.into_bytes()));
    let by_hash = format!(
        "/debian/dists/trixie/main/binary-riscv64/by-hash/SHA256/{}",
        cache::sha256_hex(&good)
    );
    server.set(&by_hash, Reply::Ok(good));
    let mut o = opts(&server.url, tmp.path());
    o.refresh = true;
    o.strict_index = true;
    // binary-all has no by-hash copy on this mirror: the plain name is used.
    let r = fetch(&o, &mut Silent).unwrap();
    assert!(
        r.warnings.iter().all(|w| !w.contains("out of sync")),
        "{:?}",
        r.warnings
    );

    // An InRelease that does not list the index.
    server.set(INRELEASE, Reply::Ok(b"Origin: Debian\nSHA256:\n".to_vec()));
    let e = fails_cleanly(&server, tmp.path());
    assert!(
        e.to_string()
            .contains("does not list main/binary-riscv64/Packages.xz"),
        "{e}"
    );
}

#[test]
fn unsigned_inrelease_is_rejected_when_signatures_are_checked() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(&server.url, tmp.path());
    o.check_signature = true;
    match fetch(&o, &mut Silent) {
        Err(e @ GuestError::BadSignature { .. }) => {
            assert!(e.to_string().contains("does not verify"), "{e}");
            assert!(entries(tmp.path()).is_empty());
        }
        // Without gpgv or a keyring the signature cannot be checked; the
        // report says so.
        Ok(r) => assert!(
            matches!(r.signature, Some(release::Signature::NotChecked(_))),
            "{:?}",
            r.signature
        ),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn truncated_download_is_reported() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    server.set(
        &format!("/debian/{BFILE}"),
        Reply::Cut(f.busybox_deb.clone(), 100),
    );
    let tmp = tempfile::tempdir().unwrap();
    let e = fails_cleanly(&server, tmp.path());
    match &e {
        GuestError::Truncated { got, expected, .. } => {
            assert_eq!((*got, *expected), (100, f.busybox_deb.len() as u64))
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("stopped after 100 of"), "{e}");
    // A mirror that closes cleanly but short of the index's size, too.
    let short = f.busybox_deb[..f.busybox_deb.len() - 7].to_vec();
    server.set(&format!("/debian/{BFILE}"), Reply::Ok(short));
    let e = fails_cleanly(&server, tmp.path());
    assert!(matches!(e, GuestError::Truncated { .. }), "{e:?}");
}

#[test]
fn missing_package_is_named() {
    let f = fixture();
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, false)));
    let tmp = tempfile::tempdir().unwrap();
    let e = fails_cleanly(&server, tmp.path());
    assert!(matches!(e, GuestError::PackageMissing { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("no package busybox-static in http://127.0.0.1:"),
        "{msg}"
    );
    assert!(msg.contains("binary-riscv64/Packages.xz"), "{msg}");
}

#[test]
fn index_missing_on_the_mirror_is_an_http_error() {
    let server = FakeMirror::start(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let e = fails_cleanly(&server, tmp.path());
    assert!(
        matches!(e, GuestError::HttpStatus { status: 404, .. }),
        "{e:?}"
    );
}

#[test]
fn unreachable_mirror_is_reported() {
    // A port with nothing listening: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(&format!("http://127.0.0.1:{port}/debian"), tmp.path());
    let e = fetch(&o, &mut Silent).unwrap_err();
    assert!(matches!(e, GuestError::MirrorUnreachable { .. }), "{e:?}");
    assert!(
        e.to_string().contains("cannot reach the Debian mirror"),
        "{e}"
    );
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn no_mirror_configured_is_reported() {
    if std::env::var_os(apt::MIRROR_ENV).is_some() {
        eprintln!("skipped: {} is set in this environment", apt::MIRROR_ENV);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = FetchOptions {
        cache_dir: Some(tmp.path().join("cache")),
        apt_root: tmp.path().to_path_buf(),
        ..FetchOptions::default()
    };
    let e = fetch(&o, &mut Silent).unwrap_err();
    assert!(matches!(e, GuestError::NoMirror { .. }), "{e:?}");
    assert!(!tmp.path().join("cache").exists());
}

#[test]
fn path_and_list_without_a_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let e = path(Some(tmp.path())).unwrap_err();
    assert!(matches!(e, GuestError::NotCached { .. }), "{e:?}");
    assert!(e.to_string().contains("run `ferrite guest fetch` first"));
    assert!(matches!(
        list(Some(tmp.path())),
        Err(GuestError::NotCached { .. })
    ));
}

#[test]
fn seed_from_a_directory_like_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("modules")).unwrap();
    std::fs::write(src.join("Image"), b"IMG").unwrap();
    std::fs::write(src.join("busybox"), b"BB").unwrap();
    std::fs::write(src.join("fw_dynamic.bin"), b"FW").unwrap();
    for (p, n, d) in MODULES {
        let file = p.rsplit('/').next().unwrap();
        std::fs::write(src.join("modules").join(file), xz(&fixture_module(n, d))).unwrap();
    }
    std::fs::write(
        src.join("MANIFEST.md"),
        "| file | from | path |\n| --- | --- | --- |\n\
         | Image | linux-image-6.12.1-riscv64 6.12.1-1 (trixie, riscv64) | boot/vmlinux |\n\
         | busybox | busybox-static 1:1.37.0-6+b9 (trixie, riscv64) | usr/bin/busybox |\n\
         | fw_dynamic.bin | opensbi 1.1-2 (bookworm, all) | x |\n",
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let p = seed_from_dir(&src, Some(&cache)).unwrap();
    assert_eq!(std::fs::read(&p.kernel).unwrap(), b"IMG");
    assert_eq!(p.modules.len(), 10, "the unneeded module is left out");
    let l = list(Some(&cache)).unwrap();
    assert!(l.manifest.source.starts_with("seed "));
    let pk: Vec<_> = l
        .manifest
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.architecture.as_str()))
        .collect();
    assert_eq!(
        pk,
        [
            ("linux-image-6.12.1-riscv64", "6.12.1-1", "riscv64"),
            ("busybox-static", "1:1.37.0-6+b9", "riscv64"),
            ("opensbi", "1.1-2", "all")
        ]
    );
    // A fetch now uses the seeded cache without any mirror.
    let o = FetchOptions {
        cache_dir: Some(cache.clone()),
        apt_root: tmp.path().join("none"),
        ..FetchOptions::default()
    };
    assert_eq!(
        fetch(&o, &mut Silent).unwrap().outcome,
        FetchOutcome::Cached
    );
    // A directory lacking a file is a clear error and writes nothing.
    std::fs::remove_file(src.join("busybox")).unwrap();
    let other = tmp.path().join("cache2");
    let e = seed_from_dir(&src, Some(&other)).unwrap_err();
    assert!(matches!(e, GuestError::BadSeedDir { .. }), "{e:?}");
    assert!(!other.exists());
}

#[test]
fn seed_from_the_reference_guest() {
    let Some(dir) = crate::tests_support::reference_dir() else {
        eprintln!("skipped: shared/guests/riscv64 is not next to the repository");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = seed_from_dir(&dir, Some(tmp.path())).unwrap();
    // The files are the reference's own (MANIFEST.md lists their SHA-256).
    let notes = std::fs::read_to_string(dir.join("MANIFEST.md")).unwrap();
    for (file, path) in [
        ("Image", &p.kernel),
        ("busybox", &p.busybox),
        ("fw_dynamic.bin", &p.bios),
    ] {
        let h = cache::sha256_file(path).unwrap();
        assert!(notes.contains(&format!("{h}  {file}")), "{file}: {h}");
    }
    assert_eq!(p.modules.len(), 10);
    let l = list(Some(tmp.path())).unwrap();
    let names: Vec<_> = l
        .manifest
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "linux-image-6.12.107+deb13-riscv64",
            "busybox-static",
            "opensbi"
        ]
    );
}

/// A full disk, for real: set `FERRITE_TEST_FULL_DIR` to a directory on a
/// small file system (e.g. a 64 KiB tmpfs) to run it. The fetch must fail
/// with [`GuestError::DiskFull`] and leave nothing in the cache.
#[test]
fn full_disk_is_reported_and_leaves_nothing() {
    let Some(dir) = std::env::var_os("FERRITE_TEST_FULL_DIR") else {
        eprintln!("skipped: set FERRITE_TEST_FULL_DIR to a directory on a small file system");
        return;
    };
    let mut f = fixture();
    // 256 KiB that xz cannot shrink, so the download itself needs the space.
    let mut x = 0x1234_5678u32;
    let noise: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    f.kernel_deb = deb(
        ".xz",
        &[
            Node::File(&format!("./boot/vmlinux-{KVER}"), b"IMG"),
            Node::File("./boot/System.map", &noise),
        ],
    );
    let server = FakeMirror::start(routes(&f, &riscv_index(&f, true)));
    let cache = Path::new(&dir).join("ferrite-full-disk-test");
    let _ = std::fs::remove_dir_all(&cache);
    let e = fetch(&opts(&server.url, &cache), &mut Silent).unwrap_err();
    assert!(matches!(e, GuestError::DiskFull { .. }), "{e:?}");
    assert!(
        e.to_string().contains("no space left on the disk holding"),
        "{e}"
    );
    assert!(entries(&cache).is_empty(), "{:?}", entries(&cache));
    let _ = std::fs::remove_dir_all(&cache);
}
