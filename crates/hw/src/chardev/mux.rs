//! The escape-key layer of QEMU's multiplexed console (`chardev/char-mux.c`),
//! which `-nographic` puts between the host terminal and the UART/monitor.
//!
//! Input bytes pass through unchanged except after the escape character
//! (Ctrl-A by default, `-echr` to change): `C-a x` quits, `C-a h` or `C-a ?`
//! prints the help, `C-a b` sends a break, `C-a c` switches between console
//! and monitor, `C-a t` toggles timestamps, `C-a s` commits `-snapshot`
//! disks, `C-a C-a` sends one `C-a`. Any other key after the escape is
//! swallowed together with it, as on QEMU. This type only decodes; the board
//! acts on the [`MuxEvent`]s.

/// QEMU's default escape character, Ctrl-A.
pub const DEFAULT_ESCAPE: u8 = 0x01;

/// What QEMU prints on `C-a x` before quitting.
pub const TERMINATED: &str = "QEMU: Terminated\n\r";

/// One decoded piece of input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MuxEvent {
    /// Bytes for the focused frontend.
    Data(Vec<u8>),
    /// `C-a h` / `C-a ?`: print [`MuxEscape::help_text`] on the terminal.
    Help,
    /// `C-a x`: print [`TERMINATED`] and quit.
    Quit,
    /// `C-a b`: send a break to the focused frontend (the UART's
    /// `receive_break`, Linux's magic SysRq).
    Break,
    /// `C-a c`: switch the input focus between console and monitor.
    SwitchFocus,
    /// `C-a t`: toggle timestamps on console output.
    ToggleTimestamps,
    /// `C-a s`: write `-snapshot` disk data back to the image files.
    CommitDisks,
}

/// The escape-key decoder.
#[derive(Clone, Debug)]
pub struct MuxEscape {
    escape: u8,
    got_escape: bool,
}

impl Default for MuxEscape {
    fn default() -> Self {
        Self::new(DEFAULT_ESCAPE)
    }
}

impl MuxEscape {
    /// A decoder using `escape` as the escape character.
    pub fn new(escape: u8) -> Self {
        Self {
            escape,
            got_escape: false,
        }
    }

    /// Decodes `input`, which may end in the middle of an escape sequence
    /// (the state carries over to the next call).
    pub fn feed(&mut self, input: &[u8]) -> Vec<MuxEvent> {
        let mut events = Vec::new();
        let mut data = Vec::new();
        for &ch in input {
            let event = if self.got_escape {
                self.got_escape = false;
                match ch {
                    c if c == self.escape => {
                        data.push(c);
                        None
                    }
                    b'h' | b'?' => Some(MuxEvent::Help),
                    b'x' => Some(MuxEvent::Quit),
                    b's' => Some(MuxEvent::CommitDisks),
                    b'b' => Some(MuxEvent::Break),
                    b'c' => Some(MuxEvent::SwitchFocus),
                    b't' => Some(MuxEvent::ToggleTimestamps),
                    _ => None,
                }
            } else if ch == self.escape {
                self.got_escape = true;
                None
            } else {
                data.push(ch);
                None
            };
            if let Some(e) = event {
                if !data.is_empty() {
                    events.push(MuxEvent::Data(std::mem::take(&mut data)));
                }
                events.push(e);
            }
        }
        if !data.is_empty() {
            events.push(MuxEvent::Data(data));
        }
        events
    }

    /// The help text exactly as QEMU prints it (`mux_print_help`).
    pub fn help_text(&self) -> Vec<u8> {
        let (lead, name) = if self.escape > 0 && self.escape < 26 {
            (
                "\n\r".to_string(),
                format!("C-{}", char::from(self.escape - 1 + b'a')),
            )
        } else {
            (
                format!(
                    "\n\rEscape-Char set to Ascii: 0x{:02x}\n\r\n\r",
                    self.escape
                ),
                "Escape-Char".to_string(),
            )
        };
        let lines = [
            "% h    print this help\n\r",
            "% x    exit emulator\n\r",
            "% s    save disk data back to file (if -snapshot)\n\r",
            "% t    toggle console timestamps\n\r",
            "% b    send break (magic sysrq)\n\r",
            "% c    switch between console and monitor\n\r",
            "% %  sends %\n\r",
        ];
        let mut out = lead;
        for l in lines {
            out.push_str(&l.replace('%', &name));
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_input_passes_through() {
        let mut m = MuxEscape::default();
        assert_eq!(
            m.feed(b"ls -l\r"),
            vec![MuxEvent::Data(b"ls -l\r".to_vec())]
        );
        assert!(m.feed(b"").is_empty());
    }

    #[test]
    fn escape_commands() {
        let mut m = MuxEscape::default();
        assert_eq!(
            m.feed(b"ab\x01xcd"),
            vec![
                MuxEvent::Data(b"ab".to_vec()),
                MuxEvent::Quit,
                MuxEvent::Data(b"cd".to_vec())
            ]
        );
        assert_eq!(m.feed(b"\x01h"), vec![MuxEvent::Help]);
        assert_eq!(m.feed(b"\x01?"), vec![MuxEvent::Help]);
        assert_eq!(
            m.feed(b"\x01b\x01c\x01t\x01s"),
            vec![
                MuxEvent::Break,
                MuxEvent::SwitchFocus,
                MuxEvent::ToggleTimestamps,
                MuxEvent::CommitDisks
            ]
        );
    }

    #[test]
    fn double_escape_sends_one_and_unknown_keys_are_swallowed() {
        let mut m = MuxEscape::default();
        assert_eq!(m.feed(b"\x01\x01"), vec![MuxEvent::Data(vec![1])]);
        assert_eq!(m.feed(b"a\x01zb"), vec![MuxEvent::Data(b"ab".to_vec())]);
    }

    #[test]
    fn escape_split_across_reads() {
        let mut m = MuxEscape::default();
        assert_eq!(m.feed(b"q\x01"), vec![MuxEvent::Data(b"q".to_vec())]);
        assert_eq!(m.feed(b"x"), vec![MuxEvent::Quit]);
    }

    #[test]
    fn other_escape_character() {
        // -echr 0x14 (Ctrl-T)
        let mut m = MuxEscape::new(0x14);
        assert_eq!(
            m.feed(b"\x01\x14x"),
            vec![MuxEvent::Data(vec![1]), MuxEvent::Quit]
        );
        assert!(
            String::from_utf8(m.help_text())
                .unwrap()
                .contains("C-t x    exit emulator")
        );
    }

    #[test]
    fn help_text_matches_qemu() {
        let text = String::from_utf8(MuxEscape::default().help_text()).unwrap();
        assert_eq!(
            text,
            "\n\rC-a h    print this help\n\r\
             C-a x    exit emulator\n\r\
             C-a s    save disk data back to file (if -snapshot)\n\r\
             C-a t    toggle console timestamps\n\r\
             C-a b    send break (magic sysrq)\n\r\
             C-a c    switch between console and monitor\n\r\
             C-a C-a  sends C-a\n\r"
        );
        let odd = String::from_utf8(MuxEscape::new(0x7f).help_text()).unwrap();
        assert!(odd.starts_with("\n\rEscape-Char set to Ascii: 0x7f\n\r\n\rEscape-Char h"));
    }
}
