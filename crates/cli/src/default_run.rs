//! The default run: `ferrite` with no machine options boots the cached
//! Debian riscv64 guest.
//!
//! It is not a separate code path. [`start`] builds the explicit QEMU-style
//! command line ([`default_command`]):
//!
//! ```text
//! ferrite -M virt -m 1G -nographic -bios <fw_dynamic.bin> -kernel <Image>
//!         -initrd <initramfs.cpio.gz> -append console=ttyS0
//!         [the -device options of DEFAULT_DEVICES] [the user's options]
//! ```
//!
//! and hands it to the binary, which parses and runs it exactly as if it had
//! been typed; `ferrite --print-default-command` prints it instead. The
//! user's options come last, so options QEMU lets a later occurrence
//! override (`-m`, `-smp`, `-cpu`, ...) override the defaults, and repeatable
//! ones (`-device`, `-drive`, `-serial`, ...) add to them.
//!
//! *Machine options* ([`MACHINE_OPTIONS`]) say which machine or which guest
//! to run; any of them turns the default off and the command line runs as
//! given, as on QEMU. Command lines that only print something (`-h`,
//! `-version`, `-machine help`, `-d help`) or that do not parse are also
//! passed through untouched, so they never trigger a download.
//!
//! `ferrite guest ...` is dispatched here too ([`crate::guest_cmd`]).

use std::borrow::Cow;
use std::process::ExitCode;

use ferrite_guest::{GuestError, GuestPaths, progress};

use crate::config::{self, Action};
use crate::guest_cmd;
use crate::options::{self, Arg};

/// The options (canonical names, without the dash) that choose the machine
/// or the guest themselves and so turn the default run off: `-machine`/`-M`,
/// `-kernel`, `-bios`, `-initrd`, `-append`, `-dtb`, and the informational
/// `-h`/`-help` and `-version`.
pub const MACHINE_OPTIONS: &[&str] = &[
    "machine", "kernel", "bios", "initrd", "append", "dtb", "h", "version",
];

/// The flag that prints the default command line instead of running it
/// (accepted with one or two dashes, like every ferrite option).
pub const PRINT_FLAG: &str = "print-default-command";

/// The kernel command line of the default run: the console on the virt
/// board's NS16550A (`ttyS0`), which `-nographic` connects to the terminal.
/// The guest's init needs nothing else (`guest.poweroff`, which powers off
/// right after boot, is for tests).
pub const DEFAULT_APPEND: &str = "console=ttyS0";

/// The devices (`-device` drivers) the default run adds: an entropy source
/// for the guest (its init loads the `virtio-rng` module), as the issue asks.
pub const DEFAULT_DEVICES: &[&str] = &["virtio-rng-device"];

/// The default run's options before the user's, for the cached `paths`.
pub fn default_options(paths: &GuestPaths) -> Vec<String> {
    let p = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let mut v: Vec<String> = [
        "-M",
        "virt",
        "-m",
        "1G",
        "-nographic",
        "-bios",
        &p(&paths.bios),
        "-kernel",
        &p(&paths.kernel),
        "-initrd",
        &p(&paths.initrd),
        "-append",
        DEFAULT_APPEND,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for d in DEFAULT_DEVICES {
        v.extend(["-device".to_string(), d.to_string()]);
    }
    v
}

/// The default run's full argument list (without the program name): the
/// defaults for `paths`, then `extra` (the user's options) unchanged.
pub fn default_command(paths: &GuestPaths, extra: &[String]) -> Vec<String> {
    let mut v = default_options(paths);
    v.extend(extra.iter().cloned());
    v
}

/// Quotes `word` for a POSIX shell: unchanged if it only has characters no
/// shell treats specially, else in single quotes (a `'` inside becomes
/// `'\''`).
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// `ferrite` followed by `args`, shell-quoted: what
/// `ferrite --print-default-command` prints.
pub fn command_line(args: &[String]) -> String {
    std::iter::once(Cow::Borrowed("ferrite"))
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What to do with a command line (no I/O: see [`start`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Parse and run these arguments as given.
    AsGiven(Vec<String>),
    /// The default run, with the user's options `extra` appended; `print`
    /// means print the command line instead of running it.
    Default {
        /// The user's options (the print flag removed).
        extra: Vec<String>,
        /// `--print-default-command` was given.
        print: bool,
    },
    /// A mistake in using the default run (the message).
    Fail(String),
}

/// Decides between the default run and the command line as given.
pub fn plan(args: &[String]) -> Plan {
    // Take out the print flag where it is an option (not the argument of
    // one: `-name --print-default-command` names the guest).
    let mut rest = Vec::with_capacity(args.len());
    let mut print = false;
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        let name = word
            .strip_prefix("--")
            .or_else(|| word.strip_prefix('-'))
            .unwrap_or("");
        if name == PRINT_FLAG {
            print = true;
            continue;
        }
        rest.push(word.clone());
        if takes_argument(name)
            && let Some(a) = args.get(i)
        {
            rest.push(a.clone());
            i += 1;
        }
    }
    let opts = match options::split_args(&rest) {
        Ok(o) => o,
        // The normal path reports the error, as for any command line.
        Err(e) if print => return Plan::Fail(e.to_string()),
        Err(_) => return Plan::AsGiven(rest),
    };
    if let Some(o) = opts.iter().find(|o| MACHINE_OPTIONS.contains(&o.name)) {
        if print {
            return Plan::Fail(format!(
                "--{PRINT_FLAG} cannot be combined with {}: it is a machine option, so \
                 the command line is run as given rather than the default",
                o.location()
            ));
        }
        return Plan::AsGiven(rest);
    }
    match config::parse(&rest) {
        Ok(Action::Run(_)) => Plan::Default { extra: rest, print },
        Err(e) if print => Plan::Fail(e.to_string()),
        // `-d help` and friends, and errors: as given, without a download.
        _ => Plan::AsGiven(rest),
    }
}

fn takes_argument(name: &str) -> bool {
    match options::find(name) {
        Some(d) => d.arg == Arg::Required,
        None => options::UNSUPPORTED
            .iter()
            .any(|(n, a)| *n == name && *a == Arg::Required),
    }
}

/// The cached guest's paths, fetching it first if it is missing or damaged.
/// [`ferrite_guest::path`] only checks that the files exist with the right
/// sizes (fast); [`ferrite_guest::fetch`] hashes them and downloads what is
/// needed, so it runs only when the quick check fails.
pub fn ensure_guest() -> Result<GuestPaths, GuestError> {
    match ferrite_guest::path(None) {
        Ok(p) => Ok(p),
        Err(e @ (GuestError::NotCached { .. } | GuestError::CacheDamaged { .. })) => {
            match &e {
                GuestError::NotCached { dir } => eprintln!(
                    "ferrite: no guest is cached in {} yet; fetching the default guest \
                     (once; later runs use the cache)",
                    dir.display()
                ),
                _ => eprintln!("ferrite: {e}; fetching it again"),
            }
            let opts = guest_cmd::fetch_options_from_env();
            ferrite_guest::fetch(&opts, &mut *progress::auto()).map(|r| r.paths)
        }
        Err(e) => Err(e),
    }
}

/// Whether the library's message for `e` tells the user to pass `--mirror`.
fn names_mirror_option(e: &GuestError) -> bool {
    matches!(
        e,
        GuestError::NoMirror { .. }
            | GuestError::BadMirrorUrl { .. }
            | GuestError::MirrorUnreachable { .. }
            | GuestError::HttpStatus { .. }
            | GuestError::PackageMissing { .. }
            | GuestError::BadSignature { .. }
            | GuestError::ChecksumMismatch { .. }
            | GuestError::BadArchive { .. }
            | GuestError::ModuleMissing { .. }
    )
}

/// What the binary does next.
#[derive(Debug)]
pub enum Start {
    /// Parse and run this command line (the user's, or the default one).
    Run(Vec<String>),
    /// Exit with this status: the work is done or has failed (the message
    /// is printed).
    Exit(ExitCode),
}

/// The binary's first step: `ferrite guest ...`, the default run, or the
/// command line as given.
pub fn start(args: Vec<String>) -> Start {
    if args.first().map(String::as_str) == Some("guest") {
        return Start::Exit(guest_cmd::main(&args[1..]));
    }
    match plan(&args) {
        Plan::AsGiven(a) => Start::Run(a),
        Plan::Fail(m) => {
            eprintln!("ferrite: {m}");
            Start::Exit(ExitCode::FAILURE)
        }
        Plan::Default { extra, print } => {
            let paths = match ensure_guest() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("ferrite: {e}");
                    if names_mirror_option(&e) {
                        // `ferrite` itself has no --mirror: say where it goes.
                        eprintln!(
                            "ferrite: (--mirror is an option of `ferrite guest fetch`: run \
                             `ferrite guest fetch --mirror http://<mirror>/debian` once, then \
                             `ferrite` again)"
                        );
                    }
                    return Start::Exit(ExitCode::FAILURE);
                }
            };
            let argv = default_command(&paths, &extra);
            if print {
                println!("{}", command_line(&argv));
                return Start::Exit(ExitCode::SUCCESS);
            }
            eprintln!(
                "ferrite: booting the cached Debian guest (`ferrite --{PRINT_FLAG}` shows \
                 the command line; `poweroff` or Ctrl-A x ends it)"
            );
            Start::Run(argv)
        }
    }
}

/// The default command line with `<file>` placeholders for the cache paths.
fn placeholder_command() -> String {
    let placeholders = GuestPaths {
        dir: "<cache>".into(),
        kernel: "<Image>".into(),
        initrd: "<initramfs.cpio.gz>".into(),
        bios: "<fw_dynamic.bin>".into(),
        busybox: "<busybox>".into(),
        modules: Vec::new(),
    };
    // Unquoted: the placeholders are not file names.
    let mut line = String::from("ferrite");
    let mut width = line.len();
    for w in default_options(&placeholders) {
        if width + 1 + w.len() > 72 {
            line.push_str("\n            ");
            width = 12;
        } else {
            line.push(' ');
            width += 1;
        }
        width += w.len();
        line.push_str(&w);
    }
    line
}

/// The default run's section of `ferrite -help`.
pub fn help_section() -> String {
    format!(
        "\nDefault run:
With no machine option, ferrite boots the cached Debian riscv64 guest
(fetching it first if needed; see 'ferrite guest help'), exactly as if this
command line had been given, followed by the options that were given
(e.g. -smp 2, -m 2G):
    {}
Machine options, which turn the default off (the command line then runs as
given): {}.
--{PRINT_FLAG:<22}print the default command line (shell-quoted) and exit
ferrite guest help      fetch, show or list the cached guest
",
        placeholder_command(),
        MACHINE_OPTIONS
            .iter()
            .map(|o| match *o {
                "machine" => "-machine/-M".to_string(),
                "h" => "-h/-help".to_string(),
                o => format!("-{o}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn paths() -> GuestPaths {
        let d = PathBuf::from("/cache dir/guest-1");
        GuestPaths {
            kernel: d.join("Image"),
            initrd: d.join("initramfs.cpio.gz"),
            bios: d.join("fw_dynamic.bin"),
            busybox: d.join("busybox"),
            modules: vec![d.join("modules/virtio_blk.ko.xz")],
            dir: d,
        }
    }

    fn default(extra: &[&str], print: bool) -> Plan {
        Plan::Default {
            extra: s(extra),
            print,
        }
    }

    #[test]
    fn no_options_or_only_extra_options_use_the_default() {
        assert_eq!(plan(&[]), default(&[], false));
        for extra in [
            &["-smp", "2"][..],
            &["-drive", "file=disk.img,if=virtio,format=raw"],
            &["-m", "2G", "-S", "-d", "int", "-D", "log"],
            &["-device", "virtio-blk-device,drive=d0", "-serial", "null"],
            // `-kernel` here is the name of the guest, not an option.
            &["-name", "-kernel"],
            &["--smp", "4"],
        ] {
            assert_eq!(plan(&s(extra)), default(extra, false), "{extra:?}");
        }
    }

    #[test]
    fn machine_options_disable_the_default() {
        for args in [
            &["-M", "virt"][..],
            &["-machine", "spike"],
            &["--machine", "virt", "-smp", "2"],
            &["-smp", "2", "-kernel", "prog.elf"],
            &["-bios", "none"],
            &["-kernel", "Image", "-initrd", "rd"],
            &["-kernel", "Image", "-append", "console=ttyS0"],
            &["-kernel", "Image", "-dtb", "x.dtb"],
            &["-h"],
            &["-help"],
            &["--help"],
            &["-version"],
        ] {
            assert_eq!(plan(&s(args)), Plan::AsGiven(s(args)), "{args:?}");
        }
        // Every machine option is a real option of the table.
        for o in MACHINE_OPTIONS {
            assert!(options::find(o).is_some(), "{o}");
        }
    }

    #[test]
    fn informational_and_bad_command_lines_are_passed_through() {
        for args in [
            &["-d", "help"][..],
            &["-bogus"],
            &["-m"],
            &["disk.img"],
            &["-initrd", "rd"],
            &["-smp", "x"],
        ] {
            assert_eq!(plan(&s(args)), Plan::AsGiven(s(args)), "{args:?}");
        }
    }

    #[test]
    fn print_flag() {
        assert_eq!(plan(&s(&["--print-default-command"])), default(&[], true));
        assert_eq!(plan(&s(&["-print-default-command"])), default(&[], true));
        assert_eq!(
            plan(&s(&["-smp", "2", "--print-default-command", "-S"])),
            default(&["-smp", "2", "-S"], true)
        );
        // As the argument of an option it is just a word.
        assert_eq!(
            plan(&s(&["-name", "--print-default-command"])),
            default(&["-name", "--print-default-command"], false)
        );
        match plan(&s(&["--print-default-command", "-kernel", "x"])) {
            Plan::Fail(m) => assert_eq!(
                m,
                "--print-default-command cannot be combined with -kernel x: it is a machine \
                 option, so the command line is run as given rather than the default"
            ),
            p => panic!("{p:?}"),
        }
        match plan(&s(&["--print-default-command", "-smp", "x"])) {
            Plan::Fail(m) => assert!(m.contains("smp"), "{m}"),
            p => panic!("{p:?}"),
        }
        match plan(&s(&["--print-default-command", "-foo"])) {
            Plan::Fail(m) => assert_eq!(m, "-foo: invalid option"),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn default_command_is_the_explicit_command_line() {
        let argv = default_command(
            &paths(),
            &s(&["-smp", "2", "-drive", "file=d.img,if=virtio"]),
        );
        let devices: String = DEFAULT_DEVICES
            .iter()
            .map(|d| format!(" -device {d}"))
            .collect();
        assert_eq!(
            command_line(&argv),
            format!(
                "ferrite -M virt -m 1G -nographic -bios '/cache dir/guest-1/fw_dynamic.bin' \
                 -kernel '/cache dir/guest-1/Image' \
                 -initrd '/cache dir/guest-1/initramfs.cpio.gz' \
                 -append console=ttyS0{devices} -smp 2 -drive file=d.img,if=virtio"
            )
        );
        // It goes through the normal parser; the default options are not a
        // machine-option-free command line any more.
        assert!(matches!(plan(&argv), Plan::AsGiven(_)));
        let Ok(Action::Run(cfg)) = config::parse(&argv) else {
            panic!("the default command line does not parse")
        };
        assert_eq!(cfg.machine, "virt");
        assert_eq!(cfg.memory.size, Some(1 << 30));
        assert!(cfg.nographic);
        assert_eq!(
            cfg.bios.as_deref(),
            Some("/cache dir/guest-1/fw_dynamic.bin")
        );
        assert_eq!(cfg.kernel.as_deref(), Some("/cache dir/guest-1/Image"));
        assert_eq!(
            cfg.initrd.as_deref(),
            Some("/cache dir/guest-1/initramfs.cpio.gz")
        );
        assert_eq!(cfg.append.as_deref(), Some(DEFAULT_APPEND));
        let drivers: Vec<&str> = cfg.devices.iter().map(|d| d.driver.as_str()).collect();
        assert_eq!(drivers, DEFAULT_DEVICES);
        assert_eq!(cfg.smp.cpus, 2);
        assert_eq!(cfg.drives.len(), 1);
        assert_eq!(cfg.drives[0].get("file"), Some("d.img"));
        // -nographic's console: no explicit -serial, so stdio (mon:stdio).
        assert!(cfg.serials.is_empty());
    }

    #[test]
    fn extra_options_override_or_add_to_the_defaults() {
        let argv = default_command(
            &paths(),
            &s(&[
                "-m",
                "2G",
                "-device",
                "virtio-blk-device,drive=d0",
                "-serial",
                "null",
            ]),
        );
        let Ok(Action::Run(cfg)) = config::parse(&argv) else {
            panic!()
        };
        assert_eq!(cfg.memory.size, Some(2 << 30));
        let drivers: Vec<&str> = cfg.devices.iter().map(|d| d.driver.as_str()).collect();
        let mut want = DEFAULT_DEVICES.to_vec();
        want.push("virtio-blk-device");
        assert_eq!(drivers, want);
        assert_eq!(cfg.serials, ["null"]);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("console=ttyS0"), "console=ttyS0");
        assert_eq!(shell_quote("/a/b-c_d.bin"), "/a/b-c_d.bin");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    /// The quoted words read back as the same words by a real shell.
    #[test]
    fn quoting_round_trips_through_sh() {
        let words = s(&[
            "plain",
            "with space",
            "it's",
            "'",
            "''",
            "\"dq\"",
            "$HOME `x` $(y)",
            "back\\slash",
            "tab\there",
            "new\nline",
            "*?[a]",
            "~",
            "!x",
            "",
            "é ü",
        ]);
        let script = format!(
            "printf '%s\\0' {}",
            words
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let Ok(out) = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
        else {
            eprintln!("skipped: no /bin/sh");
            return;
        };
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_string)
            .collect();
        assert_eq!(got, words);
    }

    #[test]
    fn help_names_every_machine_option() {
        let h = help_section();
        assert!(
            h.contains("-machine/-M, -kernel, -bios, -initrd, -append, -dtb, -h/-help, -version")
        );
        assert!(h.contains("--print-default-command"));
        assert!(h.contains(DEFAULT_APPEND));
        assert!(
            h.contains("ferrite -M virt -m 1G -nographic -bios <fw_dynamic.bin> -kernel <Image>\n"),
            "{h}"
        );
    }
}
