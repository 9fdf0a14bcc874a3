//! The option table and the first pass over `argv` (QEMU's `qemu-options.def`
//! and the option loop in `qemu_init`).
//!
//! Options start with `-` or `--`; an option that takes an argument always
//! takes the next word, whatever it looks like (`-M -display` makes
//! `-display` the machine type, as in QEMU). A word that is not an option is
//! QEMU's legacy "disk image" argument, which ferrite does not support.

use crate::CliError;

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `-nographic`
    None,
    /// `-m SIZE`: the next word is the argument.
    Required,
}

/// One entry of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptionDef {
    /// Name without the dash.
    pub name: &'static str,
    /// Argument kind.
    pub arg: Arg,
    /// Synopsis shown by `-help` (first column).
    pub synopsis: &'static str,
    /// Help text (may span lines).
    pub help: &'static str,
    /// Section heading this option is listed under in `-help`.
    pub section: &'static str,
}

macro_rules! opt {
    ($sec:expr, $name:expr, $arg:ident, $syn:expr, $help:expr) => {
        OptionDef {
            name: $name,
            arg: Arg::$arg,
            synopsis: $syn,
            help: $help,
            section: $sec,
        }
    };
}

const STD: &str = "Standard options";
const BOOT: &str = "Linux/Multiboot boot specific";
const CHAR: &str = "Character device options";
const DEBUG: &str = "Debug/Expert options";
const DISPLAY: &str = "Display options";
const BLOCK: &str = "Block device options";

/// Every option ferrite accepts, in `-help` order.
pub const OPTIONS: &[OptionDef] = &[
    opt!(STD, "h", None, "-h or -help", "display this help and exit"),
    opt!(STD, "help", None, "", ""),
    opt!(
        STD,
        "version",
        None,
        "-version",
        "display version information and exit"
    ),
    opt!(
        STD,
        "machine",
        Required,
        "-machine [type=]name[,prop[=value][,...]]",
        "selects emulated machine ('-machine help' for list)"
    ),
    opt!(STD, "M", Required, "", ""),
    opt!(
        STD,
        "cpu",
        Required,
        "-cpu cpu",
        "select CPU ('-cpu help' for list)"
    ),
    opt!(
        STD,
        "accel",
        Required,
        "-accel [accel=]accelerator[,prop[=value][,...]]",
        "select accelerator (tcg only; use 'help' for a list)\n\
         thread=single|multi (enable multi-threaded TCG)"
    ),
    opt!(
        STD,
        "smp",
        Required,
        "-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets][,cores=cores][,threads=threads]",
        "set the number of initial CPUs to 'n' [default=1]"
    ),
    opt!(
        STD,
        "m",
        Required,
        "-m [size=]megs",
        "configure guest RAM\n\
         size: initial amount of guest memory (default: 128MiB for spike, 128MiB for virt)\n\
         NOTE: Some architectures might enforce a specific granularity"
    ),
    opt!(
        STD,
        "name",
        Required,
        "-name string",
        "set the name of the guest"
    ),
    opt!(
        STD,
        "device",
        Required,
        "-device driver[,prop[=value][,...]]",
        "add device (based on driver)\n\
         prop=value,... sets driver properties\n\
         use '-device help' to print all possible drivers"
    ),
    opt!(
        STD,
        "global",
        Required,
        "-global driver.property=value",
        "set a default value of a driver's property\n\
         (ferrite: only virtio-mmio.force-legacy=false, its only transport version)"
    ),
    opt!(
        STD,
        "object",
        Required,
        "-object TYPENAME[,PROP1=VALUE1,...]",
        "create a new object of type TYPENAME setting properties\n\
         in the order they are specified (e.g. iothread,id=IOTHREAD)"
    ),
    opt!(
        BLOCK,
        "drive",
        Required,
        "-drive [file=file][,if=virtio|none][,format=raw][,id=name][,readonly=on|off]",
        "use 'file' as a drive image"
    ),
    opt!(
        DISPLAY,
        "display",
        Required,
        "-display none",
        "select display backend type (only 'none')"
    ),
    opt!(
        DISPLAY,
        "nographic",
        None,
        "-nographic",
        "disable graphical output and redirect serial I/Os to console"
    ),
    opt!(
        BOOT,
        "kernel",
        Required,
        "-kernel bzImage",
        "use 'bzImage' as kernel image"
    ),
    opt!(
        BOOT,
        "append",
        Required,
        "-append cmdline",
        "use 'cmdline' as kernel command line"
    ),
    opt!(
        BOOT,
        "initrd",
        Required,
        "-initrd file",
        "use 'file' as initial ram disk"
    ),
    opt!(
        BOOT,
        "dtb",
        Required,
        "-dtb file",
        "use 'file' as device tree image"
    ),
    opt!(
        CHAR,
        "chardev",
        Required,
        "-chardev backend,id=id[,...]",
        "backends: null, stdio, socket (path= or host=,port=), file (path=), pty"
    ),
    opt!(
        CHAR,
        "serial",
        Required,
        "-serial dev",
        "redirect the serial port to char device 'dev'"
    ),
    opt!(
        CHAR,
        "monitor",
        Required,
        "-monitor dev",
        "redirect the monitor to char device 'dev'"
    ),
    opt!(
        CHAR,
        "qmp",
        Required,
        "-qmp dev",
        "like -monitor but opens in 'control' mode"
    ),
    opt!(
        CHAR,
        "mon",
        Required,
        "-mon [chardev=]name[,mode=readline|control][,pretty[=on|off]]",
        ""
    ),
    opt!(
        DEBUG,
        "S",
        None,
        "-S",
        "freeze CPU at startup (use 'c' to start execution)"
    ),
    opt!(
        DEBUG,
        "no-reboot",
        None,
        "-no-reboot",
        "exit instead of rebooting"
    ),
    opt!(
        DEBUG,
        "no-shutdown",
        None,
        "-no-shutdown",
        "stop before shutdown"
    ),
    opt!(
        DEBUG,
        "bios",
        Required,
        "-bios file",
        "set the filename for the BIOS (a file, 'none' or 'default')"
    ),
    opt!(
        DEBUG,
        "d",
        Required,
        "-d item1,...",
        "enable logging of specified items (use '-d help' for a list of log items)"
    ),
    opt!(
        DEBUG,
        "D",
        Required,
        "-D logfile",
        "output log to logfile (default stderr)"
    ),
];

/// QEMU options that ferrite recognises but does not implement; using one is
/// an error that says so, rather than "invalid option".
pub const UNSUPPORTED: &[(&str, Arg)] = &[
    ("netdev", Arg::Required),
    ("nic", Arg::Required),
    ("net", Arg::Required),
    ("vga", Arg::Required),
    ("usb", Arg::None),
    ("usbdevice", Arg::Required),
    ("hda", Arg::Required),
    ("cdrom", Arg::Required),
    ("fsdev", Arg::Required),
    ("virtfs", Arg::Required),
    ("incoming", Arg::Required),
    ("loadvm", Arg::Required),
    ("snapshot", Arg::None),
    ("icount", Arg::Required),
    ("gdb", Arg::Required),
    ("s", Arg::None),
    ("numa", Arg::Required),
    ("rtc", Arg::Required),
    ("boot", Arg::Required),
    ("fw_cfg", Arg::Required),
    ("audiodev", Arg::Required),
    ("semihosting", Arg::None),
    ("enable-kvm", Arg::None),
    ("daemonize", Arg::None),
    ("pidfile", Arg::Required),
    ("readconfig", Arg::Required),
    ("trace", Arg::Required),
    ("L", Arg::Required),
];

/// One option occurrence from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOption {
    /// Canonical name (aliases resolved: `M` is `machine`, `help` is `h`).
    pub name: &'static str,
    /// The argument, for options that take one.
    pub arg: Option<String>,
}

impl CmdOption {
    /// How QEMU names this occurrence in messages: `-m 12x`.
    pub fn location(&self) -> String {
        match &self.arg {
            Some(a) => format!("-{} {a}", self.name_as_typed()),
            None => format!("-{}", self.name_as_typed()),
        }
    }

    fn name_as_typed(&self) -> &'static str {
        self.name
    }
}

/// Looks an option up by the name typed (without dashes).
pub fn find(name: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// Splits `args` (without the program name) into option occurrences.
pub fn split_args(args: &[String]) -> Result<Vec<CmdOption>, CliError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        let Some(stripped) = word.strip_prefix('-') else {
            return Err(CliError::at(
                word.clone(),
                "disk image arguments are not supported; use -drive file=...,if=virtio",
            ));
        };
        let name = stripped.strip_prefix('-').unwrap_or(stripped);
        let def = match find(name) {
            Some(d) => d,
            None => {
                if UNSUPPORTED.iter().any(|(n, _)| *n == name) {
                    return Err(CliError::at(
                        word.clone(),
                        "this QEMU option is not supported by ferrite",
                    ));
                }
                return Err(CliError::at(word.clone(), "invalid option"));
            }
        };
        let canonical = match def.name {
            "M" => "machine",
            "help" => "h",
            n => n,
        };
        let arg = match def.arg {
            Arg::None => None,
            Arg::Required => {
                let Some(a) = args.get(i) else {
                    return Err(CliError::at(word.clone(), "requires an argument"));
                };
                i += 1;
                Some(a.clone())
            }
        };
        out.push(CmdOption {
            name: canonical,
            arg,
        });
    }
    Ok(out)
}

/// The `-help` text, in QEMU's layout.
pub fn help_text(prog: &str) -> String {
    let mut s = format!(
        "{}\nusage: {prog} [options]\n",
        crate::config::version_banner()
    );
    let mut section = "";
    for o in OPTIONS {
        if o.synopsis.is_empty() {
            continue;
        }
        if o.section != section {
            section = o.section;
            s.push_str(&format!("\n{section}:\n"));
        }
        let mut lines = o.help.lines();
        let first = lines.next().unwrap_or("");
        if o.synopsis.len() < 16 {
            s.push_str(&format!("{:<16}{first}\n", o.synopsis));
        } else {
            s.push_str(&format!("{}\n", o.synopsis));
            if !first.is_empty() {
                s.push_str(&format!("{:16}{first}\n", ""));
            }
        }
        for l in lines {
            s.push_str(&format!("{:16}{l}\n", ""));
        }
    }
    s.push_str("\nDuring emulation, the following keys are useful:\n");
    s.push_str("ctrl-a x    exit emulation\nctrl-a c    switch between console and monitor\n");
    s.push_str(&crate::default_run::help_section());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_like_qemu() {
        let o = split_args(&args(&["-M", "virt", "--m", "1G", "-nographic", "-S"])).unwrap();
        assert_eq!(o.len(), 4);
        assert_eq!(o[0].name, "machine");
        assert_eq!(o[0].arg.as_deref(), Some("virt"));
        assert_eq!(o[1].location(), "-m 1G");
        assert_eq!(o[2].arg, None);
        // The argument is the next word whatever it looks like.
        let o = split_args(&args(&["-M", "-display"])).unwrap();
        assert_eq!(o[0].arg.as_deref(), Some("-display"));
    }

    /// Messages as `qemu-system-riscv64` 7.2 prints them (after the
    /// program-name prefix).
    #[test]
    fn errors_like_qemu() {
        assert_eq!(
            split_args(&args(&["-foo"])).unwrap_err().to_string(),
            "-foo: invalid option"
        );
        assert_eq!(
            split_args(&args(&["-m"])).unwrap_err().to_string(),
            "-m: requires an argument"
        );
        assert_eq!(
            split_args(&args(&["-netdev", "user"]))
                .unwrap_err()
                .to_string(),
            "-netdev: this QEMU option is not supported by ferrite"
        );
        assert!(split_args(&args(&["disk.img"])).is_err());
    }

    #[test]
    fn help_lists_every_documented_option() {
        let h = help_text("ferrite");
        for o in OPTIONS.iter().filter(|o| !o.synopsis.is_empty()) {
            assert!(h.contains(o.synopsis), "{}", o.name);
        }
        assert!(h.contains("-h or -help     display this help and exit"));
    }
}
