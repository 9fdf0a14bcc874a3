//! A stand-alone front end to the guest tool, for trying it before the
//! `ferrite` binary wires in `ferrite guest ...`:
//!
//! ```text
//! cargo run -p ferrite-guest --example guest -- fetch [--mirror URL] [--refresh] [--strict]
//! cargo run -p ferrite-guest --example guest -- path
//! cargo run -p ferrite-guest --example guest -- list
//! cargo run -p ferrite-guest --example guest -- seed DIR
//! ```
//!
//! Errors are printed as one line, `ferrite guest: <message>`, exit status 1.

use std::path::Path;
use std::process::ExitCode;

use ferrite_guest::{
    FetchOptions, FetchOutcome, GuestError, fetch, list, path, progress, seed_from_dir,
};

fn run(args: &[String]) -> Result<(), GuestError> {
    match args.first().map(String::as_str) {
        Some("fetch") => {
            let mut opts = FetchOptions::default();
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--mirror" => opts.mirror = it.next().cloned(),
                    "--refresh" => opts.refresh = true,
                    "--strict" => opts.strict_index = true,
                    other => usage(&format!("unknown fetch option {other}")),
                }
            }
            let r = fetch(&opts, &mut *progress::auto())?;
            if r.outcome == FetchOutcome::Cached {
                eprintln!("using the cached guest (--refresh asks the mirror for newer packages)");
            }
            print!("{}", r.paths);
        }
        Some("path") => print!("{}", path(None)?),
        Some("list") => print!("{}", list(None)?),
        Some("seed") => {
            let Some(dir) = args.get(1) else {
                usage("seed needs a directory")
            };
            print!("{}", seed_from_dir(Path::new(dir), None)?);
        }
        _ => usage("expected fetch, path, list or seed"),
    }
    Ok(())
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "guest: {msg}\nusage: guest fetch [--mirror URL] [--refresh] [--strict] | path | list | seed DIR"
    );
    std::process::exit(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrite guest: {e}");
            ExitCode::FAILURE
        }
    }
}
