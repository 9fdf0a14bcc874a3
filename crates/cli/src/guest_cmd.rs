//! `ferrite guest ...`: the guest image tool's subcommands, on top of the
//! `ferrite-guest` library.
//!
//! ```text
//! ferrite guest fetch [--mirror URL] [--refresh] [--strict]
//! ferrite guest path
//! ferrite guest list
//! ferrite guest seed DIR
//! ferrite guest help
//! ```
//!
//! Each failure is one line, `ferrite guest: <message>`, worded by the
//! library (it names the problem and what to do), and exit status 1; success
//! is exit status 0. Download progress goes to stderr: a bar on a terminal,
//! plain lines otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ferrite_guest::{FetchOptions, FetchOutcome, GuestError, progress};

/// Environment variable naming the root under which `etc/apt` is read
/// (default `/`): for hosts whose APT configuration lives in a chroot, and for
/// tests that need a host without one.
pub const APT_ROOT_ENV: &str = "FERRITE_APT_ROOT";

/// `ferrite guest help`.
pub const USAGE: &str = "\
usage: ferrite guest fetch [--mirror URL] [--refresh] [--strict]
       ferrite guest path
       ferrite guest list
       ferrite guest seed DIR
       ferrite guest help

The default guest (Debian 13 riscv64: the Linux kernel, busybox and OpenSBI,
with a project-built initramfs) is kept in $XDG_CACHE_HOME/ferrite/guests/riscv64
(or ~/.cache/ferrite/guests/riscv64). Running `ferrite` with no machine options
boots it, fetching it first if needed.

  fetch    make sure an intact guest is cached; download, verify (SHA-256 from
           the signed index) and unpack the packages if it is not. A cached,
           intact guest is used as is, without the network.
           --mirror URL  the Debian archive to use (http://.../debian); without
                         it, FERRITE_DEBIAN_MIRROR, then the host's APT sources
                         (/etc/apt/sources.list, /etc/apt/sources.list.d/*)
           --refresh     ask the mirror for newer packages even if cached
           --strict      fail (as APT does) when an index does not match the
                         suite's InRelease, instead of warning
  path     print the cached files (kernel, initrd, bios, busybox, modules)
  list     print what is cached, with the Debian package versions
  seed DIR fill the cache from a directory holding Image, busybox,
           fw_dynamic.bin and modules/ (laid out like shared/guests/riscv64)

Environment: FERRITE_DEBIAN_MIRROR (mirror URL), XDG_CACHE_HOME,
FERRITE_APT_ROOT (read APT's configuration under this root instead of /).
";

/// What went wrong: a library error or a usage error.
#[derive(Debug)]
enum CmdError {
    Guest(GuestError),
    Usage(String),
}

impl From<GuestError> for CmdError {
    fn from(e: GuestError) -> Self {
        CmdError::Guest(e)
    }
}

/// The fetch options from the environment (`FERRITE_APT_ROOT`); the
/// default run uses these too.
pub fn fetch_options_from_env() -> FetchOptions {
    let mut opts = FetchOptions::default();
    if let Some(root) = std::env::var_os(APT_ROOT_ENV).filter(|r| !r.is_empty()) {
        opts.apt_root = PathBuf::from(root);
    }
    opts
}

/// Parses `fetch`'s options.
fn parse_fetch(args: &[String]) -> Result<FetchOptions, CmdError> {
    let mut opts = fetch_options_from_env();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--mirror" | "-mirror" => match it.next() {
                Some(url) => opts.mirror = Some(url.clone()),
                None => return Err(CmdError::Usage(format!("{a} needs a URL"))),
            },
            s if s.starts_with("--mirror=") => opts.mirror = Some(s[9..].to_string()),
            "--refresh" | "-refresh" => opts.refresh = true,
            "--strict" | "-strict" => opts.strict_index = true,
            other => {
                return Err(CmdError::Usage(format!(
                    "unknown option '{other}' for fetch"
                )));
            }
        }
    }
    Ok(opts)
}

fn no_more(cmd: &str, rest: &[String]) -> Result<(), CmdError> {
    match rest.first() {
        None => Ok(()),
        Some(a) => Err(CmdError::Usage(format!(
            "unexpected argument '{a}' for {cmd}"
        ))),
    }
}

fn run(args: &[String], out: &mut dyn Write) -> Result<(), CmdError> {
    let Some(cmd) = args.first() else {
        return Err(CmdError::Usage(
            "expected a command: fetch, path, list, seed or help".into(),
        ));
    };
    let rest = &args[1..];
    let w = |out: &mut dyn Write, s: String| {
        // A closed stdout (`| head`) is not worth a second error.
        let _ = out.write_all(s.as_bytes());
    };
    match cmd.as_str() {
        "fetch" => {
            let opts = parse_fetch(rest)?;
            let r = ferrite_guest::fetch(&opts, &mut *progress::auto())?;
            if r.outcome == FetchOutcome::Cached {
                eprintln!(
                    "ferrite guest: the cached guest is intact; using it \
                     (--refresh asks the mirror for newer packages)"
                );
            }
            w(out, r.paths.to_string());
        }
        "path" => {
            no_more(cmd, rest)?;
            w(out, ferrite_guest::path(None)?.to_string());
        }
        "list" => {
            no_more(cmd, rest)?;
            w(out, ferrite_guest::list(None)?.to_string());
        }
        "seed" => {
            let [dir] = rest else {
                return Err(CmdError::Usage("seed needs exactly one directory".into()));
            };
            let p = ferrite_guest::seed_from_dir(std::path::Path::new(dir), None)?;
            w(out, p.to_string());
        }
        "help" | "-h" | "-help" | "--help" => w(out, USAGE.to_string()),
        other => return Err(CmdError::Usage(format!("unknown command '{other}'"))),
    }
    Ok(())
}

/// Runs `ferrite guest <args>` (`args` without `guest`), printing results to
/// stdout and errors to stderr; returns the exit status.
pub fn main(args: &[String]) -> ExitCode {
    match run(args, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CmdError::Guest(e)) => {
            eprintln!("ferrite guest: {e}");
            ExitCode::FAILURE
        }
        Err(CmdError::Usage(m)) => {
            eprintln!("ferrite guest: {m}; `ferrite guest help` lists the commands");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn fetch_options() {
        let o = parse_fetch(&s(&["--mirror", "http://m/debian", "--refresh"])).unwrap();
        assert_eq!(o.mirror.as_deref(), Some("http://m/debian"));
        assert!(o.refresh && !o.strict_index);
        let o = parse_fetch(&s(&["--mirror=http://x/debian", "--strict"])).unwrap();
        assert_eq!(o.mirror.as_deref(), Some("http://x/debian"));
        assert!(o.strict_index && !o.refresh);
        assert!(matches!(
            parse_fetch(&s(&["--mirror"])),
            Err(CmdError::Usage(m)) if m == "--mirror needs a URL"
        ));
        assert!(matches!(
            parse_fetch(&s(&["--bogus"])),
            Err(CmdError::Usage(m)) if m.contains("'--bogus'")
        ));
    }

    #[test]
    fn usage_errors() {
        let mut out = Vec::new();
        for (args, want) in [
            (&[][..], "expected a command"),
            (&["frob"][..], "unknown command 'frob'"),
            (&["path", "x"][..], "unexpected argument 'x' for path"),
            (&["seed"][..], "seed needs exactly one directory"),
        ] {
            match run(&s(args), &mut out) {
                Err(CmdError::Usage(m)) => assert!(m.contains(want), "{args:?}: {m}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        assert!(out.is_empty());
        run(&s(&["help"]), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), USAGE);
    }
}
