//! `ferrite guest ...` and the default run, driven through the binary with a
//! temporary cache (`XDG_CACHE_HOME`) seeded from `shared/guests/riscv64`.
//! No test uses the network: the failures that would need a mirror are
//! provoked with an empty APT configuration (`FERRITE_APT_ROOT`) or a mirror
//! on a closed local port.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ferrite_cli::default_run::{command_line, default_command};
use ferrite_guest::GuestPaths;

/// `shared/guests/riscv64` beside (or above) the repository, or
/// `FERRITE_REFERENCE_GUEST`.
fn reference_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRITE_REFERENCE_GUEST") {
        return Some(PathBuf::from(p));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/guests/riscv64"))
        .find(|p| p.join("Image").is_file())
}

/// A sandbox: an empty cache, an empty APT root, and no mirror variable.
struct Sandbox {
    tmp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("root/etc/apt")).unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        Sandbox { tmp }
    }

    fn cache_home(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    /// The guest cache directory inside the sandbox.
    fn guest_dir(&self) -> PathBuf {
        self.cache_home().join("ferrite/guests/riscv64")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrite"));
        c.args(args)
            .env("XDG_CACHE_HOME", self.cache_home())
            .env("HOME", self.tmp.path().join("home"))
            .env("FERRITE_APT_ROOT", self.tmp.path().join("root"))
            .env_remove("FERRITE_DEBIAN_MIRROR")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Seeds the cache from the reference guest (`None`: not available).
    fn seed(&self) -> Option<GuestPaths> {
        let Some(from) = reference_dir() else {
            eprintln!("skipped: shared/guests/riscv64 not found (set FERRITE_REFERENCE_GUEST)");
            return None;
        };
        Some(ferrite_guest::seed_from_dir(&from, Some(&self.guest_dir())).unwrap())
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn nothing_cached() {
    let sb = Sandbox::new();
    let want = format!(
        "ferrite guest: no guest is cached in {}; run `ferrite guest fetch` first\n",
        sb.guest_dir().display()
    );
    for cmd in ["path", "list"] {
        let o = sb.run(&["guest", cmd]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert_eq!(stderr(&o), want, "{cmd}");
        assert!(o.stdout.is_empty(), "{cmd}");
    }
}

#[test]
fn seeded_cache_path_list_and_fetch() {
    let sb = Sandbox::new();
    let Some(paths) = sb.seed() else { return };
    let o = sb.run(&["guest", "path"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), paths.to_string());
    assert!(stdout(&o).starts_with(&format!("kernel  {}\n", paths.kernel.display())));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));

    let o = sb.run(&["guest", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let l = stdout(&o);
    assert!(l.starts_with("riscv64 guest in "), "{l}");
    for pkg in ["linux-image-", "busybox-static ", "opensbi "] {
        assert!(l.contains(pkg), "{pkg} missing from\n{l}");
    }
    assert!(l.contains("modules (load order): virtio_mmio.ko.xz"), "{l}");

    // An intact cache is used as is: no mirror is configured in the
    // sandbox, so any network access would fail.
    let o = sb.run(&["guest", "fetch"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), paths.to_string());
    assert!(
        stderr(&o).contains("the cached guest is intact"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn print_default_command_uses_the_cache_and_extra_options() {
    let sb = Sandbox::new();
    let Some(paths) = sb.seed() else { return };
    let extra = [
        "-smp",
        "2",
        "-drive",
        "file=my disk.img,if=virtio,format=raw",
    ];
    let mut args = vec!["--print-default-command"];
    args.extend(extra);
    let o = sb.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let want = command_line(&default_command(&paths, &s(&extra)));
    assert_eq!(stdout(&o), format!("{want}\n"));
    assert!(want.contains(" -append console=ttyS0"));
    assert!(want.contains(" -smp 2 "));
    assert!(want.ends_with(" -drive 'file=my disk.img,if=virtio,format=raw'"));
    // The flag may come anywhere among the options.
    let o = sb.run(&["-smp", "2", "-print-default-command"]);
    assert_eq!(
        stdout(&o),
        format!(
            "{}\n",
            command_line(&default_command(&paths, &s(&["-smp", "2"])))
        )
    );
}

#[test]
fn print_default_command_rejects_machine_options() {
    let sb = Sandbox::new();
    let o = sb.run(&["--print-default-command", "-M", "virt"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ferrite: --print-default-command cannot be combined with -machine virt: it is a \
         machine option, so the command line is run as given rather than the default\n"
    );
    assert!(!sb.guest_dir().exists(), "nothing may be fetched");
}

#[test]
fn default_run_without_cache_or_mirror_fails_clearly() {
    let sb = Sandbox::new();
    for args in [&[][..], &["-smp", "2"], &["--print-default-command"]] {
        let o = sb.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{args:?}: {e}");
        assert_eq!(
            lines[0],
            format!(
                "ferrite: no guest is cached in {} yet; fetching the default guest (once; \
                 later runs use the cache)",
                sb.guest_dir().display()
            )
        );
        assert!(
            lines[1].starts_with("ferrite: no Debian mirror is configured: "),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("pass --mirror"), "{}", lines[1]);
        assert_eq!(
            lines[2],
            "ferrite: (--mirror is an option of `ferrite guest fetch`: run `ferrite guest \
             fetch --mirror http://<mirror>/debian` once, then `ferrite` again)"
        );
        assert!(o.stdout.is_empty());
        // Nothing half-written: no manifest.
        assert!(!sb.guest_dir().join("manifest").exists());
    }
}

#[test]
fn damaged_cache_is_fetched_again() {
    let sb = Sandbox::new();
    let Some(paths) = sb.seed() else { return };
    // A truncated file fails the quick check (sizes) that `path` and the
    // default run make.
    std::fs::write(&paths.initrd, b"short").unwrap();
    let o = sb.run(&["guest", "path"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "ferrite guest: the guest cache in {} is damaged (",
            sb.guest_dir().display()
        )),
        "{e}"
    );
    assert!(
        e.contains("run `ferrite guest fetch` to fetch it again"),
        "{e}"
    );
    // The default run tries to fetch it again (and, with no mirror, says so).
    let o = sb.run(&["--print-default-command"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("is damaged") && e.contains("; fetching it again\n"),
        "{e}"
    );
    assert!(e.contains("ferrite: no Debian mirror is configured"), "{e}");
    assert!(o.stdout.is_empty());
}

#[test]
fn fetch_errors_are_one_clear_line() {
    let sb = Sandbox::new();
    let o = sb.run(&["guest", "fetch"]);
    assert_eq!(o.status.code(), Some(1));
    let root = sb.tmp.path().join("root/etc/apt");
    assert_eq!(
        stderr(&o),
        format!(
            "ferrite guest: no Debian mirror is configured: {} and {} name no binary (deb) \
             sources; pass --mirror http://<mirror>/debian or set FERRITE_DEBIAN_MIRROR to a \
             Debian archive URL\n",
            root.join("sources.list").display(),
            root.join("sources.list.d").display()
        )
    );

    let o = sb.run(&["guest", "fetch", "--mirror", "ftp://deb.example/debian"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("ferrite guest: the mirror URL ftp://deb.example/debian cannot be used"),
        "{e}"
    );

    // Port 1 on the loopback is closed: refused at once, no network needed.
    let o = sb.run(&["guest", "fetch", "--mirror", "http://127.0.0.1:1/debian"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let last = e.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "ferrite guest: cannot reach the Debian mirror for \
             http://127.0.0.1:1/debian/dists/trixie/InRelease: "
        ),
        "{e}"
    );
    assert!(!sb.guest_dir().join("manifest").exists());
}

#[test]
fn usage() {
    let sb = Sandbox::new();
    let o = sb.run(&["guest", "help"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), ferrite_cli::guest_cmd::USAGE);
    for (args, msg) in [
        (&["guest"][..], "expected a command"),
        (
            &["guest", "fetch", "--bogus"],
            "unknown option '--bogus' for fetch",
        ),
        (&["guest", "frob"], "unknown command 'frob'"),
    ] {
        let o = sb.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.starts_with("ferrite guest: ") && e.contains(msg), "{e}");
        assert!(e.contains("`ferrite guest help`"), "{e}");
    }
}

/// Machine options and informational options never touch the cache.
#[test]
fn explicit_command_lines_do_not_fetch() {
    let sb = Sandbox::new();
    let o = sb.run(&["-h"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("--print-default-command"));
    let o = sb.run(&["-version"]);
    assert_eq!(o.status.code(), Some(0));
    let o = sb.run(&[
        "-M",
        "spike",
        "-bios",
        "none",
        "-kernel",
        "/nonexistent/prog",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("guest"), "{}", stderr(&o));
    let o = sb.run(&["-smp", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("guest"), "{}", stderr(&o));
    assert!(!sb.cache_home().exists(), "nothing may be fetched");
}
