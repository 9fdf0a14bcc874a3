//! The serial/monitor multiplexer's terminal side (QEMU:
//! `chardev/char-mux.c`, and `monitor/hmp.c:monitor_event()` for what the
//! monitor prints when it gains or loses focus), as used by
//! `-serial mon:stdio`.
//!
//! [`MuxEscape`] interprets the escape character (Ctrl-A by default):
//! `C-a h`/`C-a ?` help, `C-a x` exit, `C-a s` commit disks, `C-a t`
//! timestamps, `C-a b` break, `C-a c` switch focus to the next front end,
//! `C-a C-a` sends a literal Ctrl-A; every other byte goes to the front end
//! that has focus. [`MuxHmp`] is the monitor front end: the banner and
//! prompt the first time it gets focus, the prompt afterwards, a newline
//! when it loses focus, and line assembly for HMP commands.
//!
//! The chardev layer that owns the terminal and the serial device is not
//! part of this crate; it feeds bytes through these types and writes what
//! they return. Both are checked against QEMU 7.2's output for the same
//! key sequence, including [`crate::readline`]'s echo.

/// QEMU's default escape character, Ctrl-A.
pub const DEFAULT_ESCAPE: u8 = 0x01;

/// Help lines; `%` stands for the escape character's name (`mux_help`).
const MUX_HELP: &[&str] = &[
    "% h    print this help\n\r",
    "% x    exit emulator\n\r",
    "% s    save disk data back to file (if -snapshot)\n\r",
    "% t    toggle console timestamps\n\r",
    "% b    send break (magic sysrq)\n\r",
    "% c    switch between console and monitor\n\r",
    "% %  sends %\n\r",
];

/// What one input byte means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MuxEvent {
    /// Deliver `byte` to front end `frontend`.
    Input {
        /// The focused front end.
        frontend: usize,
        /// The byte.
        byte: u8,
    },
    /// Write this text to the terminal (`C-a h`).
    Help(Vec<u8>),
    /// `C-a x`: write `QEMU: Terminated\n\r` and quit the emulator.
    Exit,
    /// `C-a s`: commit all disks.
    Commit,
    /// `C-a t`: toggle timestamps on console output.
    ToggleTimestamps,
    /// `C-a b`: send a break to the focused front end.
    Break,
    /// `C-a c`: focus moved.
    Focus {
        /// Front end losing focus.
        from: usize,
        /// Front end gaining focus.
        to: usize,
    },
}

/// The text QEMU writes on `C-a x` before quitting.
pub const EXIT_TEXT: &str = "QEMU: Terminated\n\r";

/// Escape-sequence state of one mux (`mux_proc_byte()`).
#[derive(Debug)]
pub struct MuxEscape {
    escape: u8,
    got_escape: bool,
    focus: usize,
    count: usize,
}

impl MuxEscape {
    /// A mux with `count` front ends (e.g. serial and monitor), focus on
    /// the first, escape character `escape`. `count` must be at least 1.
    pub fn new(count: usize, escape: u8) -> Self {
        assert!(count > 0, "a mux needs at least one front end");
        MuxEscape {
            escape,
            got_escape: false,
            focus: 0,
            count,
        }
    }

    /// The focused front end.
    pub fn focus(&self) -> usize {
        self.focus
    }

    /// Interpret one input byte; `None` means it was swallowed (the
    /// escape character itself, or an unknown escape).
    pub fn feed(&mut self, ch: u8) -> Option<MuxEvent> {
        if self.got_escape {
            self.got_escape = false;
            if ch == self.escape {
                return Some(self.input(ch));
            }
            return match ch {
                b'?' | b'h' => Some(MuxEvent::Help(self.help_text())),
                b'x' => Some(MuxEvent::Exit),
                b's' => Some(MuxEvent::Commit),
                b'b' => Some(MuxEvent::Break),
                b't' => Some(MuxEvent::ToggleTimestamps),
                b'c' => {
                    let from = self.focus;
                    self.focus = (self.focus + 1) % self.count;
                    Some(MuxEvent::Focus {
                        from,
                        to: self.focus,
                    })
                }
                _ => None,
            };
        }
        if ch == self.escape {
            self.got_escape = true;
            return None;
        }
        Some(self.input(ch))
    }

    fn input(&self, byte: u8) -> MuxEvent {
        MuxEvent::Input {
            frontend: self.focus,
            byte,
        }
    }

    /// `mux_print_help()`.
    pub fn help_text(&self) -> Vec<u8> {
        let (mut out, name) = if self.escape > 0 && self.escape < 26 {
            (
                b"\n\r".to_vec(),
                format!("C-{}", (self.escape - 1 + b'a') as char),
            )
        } else {
            (
                format!(
                    "\n\rEscape-Char set to Ascii: 0x{:02x}\n\r\n\r",
                    self.escape
                )
                .into_bytes(),
                "Escape-Char".to_string(),
            )
        };
        for line in MUX_HELP {
            out.extend(line.replace('%', &name).into_bytes());
        }
        out
    }
}

/// The HMP front end of a mux: focus handling and QEMU's line editor.
#[derive(Debug, Default)]
pub struct MuxHmp {
    opened: bool,
    rl: crate::readline::Readline,
}

impl MuxHmp {
    /// A monitor that has never had focus.
    pub fn new() -> Self {
        Self::default()
    }

    /// The monitor gains focus (`CHR_EVENT_OPENED` the first time, then
    /// `CHR_EVENT_MUX_IN`, which also drops a half-typed line): returns
    /// what to print. `version` is `major.minor.micro`.
    pub fn focus_in(&mut self, version: &str) -> String {
        self.rl.restart();
        self.rl.prompt_shown();
        if self.opened {
            "(qemu) ".to_string()
        } else {
            self.opened = true;
            format!("QEMU {version} monitor - type 'help' for more information\r\n(qemu) ")
        }
    }

    /// The monitor loses focus (`CHR_EVENT_MUX_OUT`): returns what to
    /// print.
    pub fn focus_out(&mut self) -> &'static str {
        if self.opened { "\r\n" } else { "" }
    }

    /// A byte typed while the monitor has focus: the echo goes to `echo`;
    /// returns a complete command line when Enter is pressed. The caller
    /// prints the command's output and then the prompt, and calls
    /// [`MuxHmp::prompt_shown`].
    pub fn input(&mut self, byte: u8, echo: &mut Vec<u8>) -> Option<String> {
        self.rl.handle_byte(byte, echo)
    }

    /// The prompt was printed after a command.
    pub fn prompt_shown(&mut self) {
        self.rl.prompt_shown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `C-a h`, `C-a c`, `info status`, `C-a c`, `abc C-a C-a`, `C-a x`
    /// into `qemu-system-riscv64 -M virt -S -serial mon:stdio`: QEMU 7.2
    /// printed the help, the banner, the command output, a newline on
    /// leaving the monitor, and the exit text; `abc\x01` went to the
    /// serial port.
    #[test]
    fn matches_qemu_mon_stdio_session() {
        let mut mux = MuxEscape::new(2, DEFAULT_ESCAPE);
        let mut hmp = MuxHmp::new();
        let mut term = Vec::<u8>::new();
        let mut serial = Vec::<u8>::new();
        let mut exited = false;
        let input = b"\x01h\x01cinfo status\n\x01cabc\x01\x01\x01x";
        for &b in input {
            match mux.feed(b) {
                Some(MuxEvent::Help(t)) => term.extend(t),
                Some(MuxEvent::Focus { from, to }) => {
                    if from == 1 {
                        term.extend(hmp.focus_out().as_bytes());
                    }
                    if to == 1 {
                        term.extend(hmp.focus_in("7.2.22").as_bytes());
                    }
                }
                Some(MuxEvent::Input { frontend: 0, byte }) => serial.push(byte),
                Some(MuxEvent::Input { byte, .. }) => {
                    let mut echo = Vec::new();
                    let line = hmp.input(byte, &mut echo);
                    term.extend(echo);
                    if let Some(line) = line {
                        assert_eq!(line, "info status");
                        term.extend(b"VM status: paused (prelaunch)\r\n(qemu) ");
                        hmp.prompt_shown();
                    }
                }
                Some(MuxEvent::Exit) => {
                    term.extend(EXIT_TEXT.as_bytes());
                    exited = true;
                }
                Some(e) => panic!("unexpected {e:?}"),
                None => {}
            }
        }
        let expected = "\n\rC-a h    print this help\n\r\
C-a x    exit emulator\n\r\
C-a s    save disk data back to file (if -snapshot)\n\r\
C-a t    toggle console timestamps\n\r\
C-a b    send break (magic sysrq)\n\r\
C-a c    switch between console and monitor\n\r\
C-a C-a  sends C-a\n\r\
QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) \
@\r\n\
VM status: paused (prelaunch)\r\n(qemu) \r\n\
QEMU: Terminated\n\r";
        // readline's echo of "info status": each key redraws the line.
        let mut echo = String::new();
        let typed = "info status";
        for i in 1..=typed.len() {
            echo += &"\x1b[D".repeat(i - 1);
            echo += &typed[..i];
            echo += "\x1b[K";
        }
        let expected = expected.replace('@', &echo);
        assert_eq!(String::from_utf8(term).unwrap(), expected);
        assert_eq!(serial, b"abc\x01");
        assert!(exited);
        // Back in the monitor a second time: just the prompt.
        assert_eq!(hmp.focus_in("7.2.22"), "(qemu) ");
    }

    #[test]
    fn non_control_escape_help() {
        let mux = MuxEscape::new(1, b'~');
        let h = String::from_utf8(mux.help_text()).unwrap();
        assert!(h.starts_with("\n\rEscape-Char set to Ascii: 0x7e\n\r\n\rEscape-Char h    print"));
    }
}
