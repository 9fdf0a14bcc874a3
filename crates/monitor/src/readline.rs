//! QEMU's line editor for the human monitor (QEMU: `util/readline.c`),
//! which every HMP monitor runs: on a socket, on stdio, and on the
//! `-serial mon:stdio` mux, where the terminal is in raw mode and the
//! monitor must echo and edit the line itself. [`Readline::handle_byte`] follows `readline_handle_byte()`:
//! printable bytes insert at the cursor, Backspace/DEL, Ctrl-D (delete),
//! Ctrl-E (end), Ctrl-W (delete word), the arrow keys (cursor and history),
//! Home/End/Delete escape sequences; Enter completes the line. After each
//! byte it redraws exactly as `readline_update()` does (move the cursor
//! back with `ESC [ D`, reprint the line, `ESC [ K`, then move to the
//! cursor), so a terminal shows the same bytes QEMU 7.2 would send.
//! Tab completion is not implemented (Tab is ignored; see
//! docs/divergences.md).

use std::collections::VecDeque;

/// `READLINE_CMD_BUF_SIZE`: longest line.
pub const READLINE_CMD_BUF_SIZE: usize = 4096;
/// `READLINE_MAX_CMDS`: history entries kept.
pub const READLINE_MAX_CMDS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EscState {
    Norm,
    Esc,
    Csi,
    Ss3,
}

/// The state of one monitor's line editor (`ReadLineState`).
#[derive(Debug)]
pub struct Readline {
    buf: Vec<u8>,
    index: usize,
    /// What the terminal shows now, for the minimal redraw.
    last_buf: Vec<u8>,
    last_index: usize,
    esc: EscState,
    esc_param: u32,
    history: VecDeque<String>,
    /// The history entry being shown, `None` when editing a new line.
    hist_entry: Option<usize>,
}

impl Default for Readline {
    fn default() -> Self {
        Self::new()
    }
}

impl Readline {
    /// An empty editor with no history.
    pub fn new() -> Self {
        Readline {
            buf: Vec::new(),
            index: 0,
            last_buf: Vec::new(),
            last_index: 0,
            esc: EscState::Norm,
            esc_param: 0,
            history: VecDeque::new(),
            hist_entry: None,
        }
    }

    /// `readline_show_prompt()`: the prompt was just printed, so the
    /// terminal shows an empty line.
    pub fn prompt_shown(&mut self) {
        self.last_buf.clear();
        self.last_index = 0;
        self.esc = EscState::Norm;
    }

    /// `readline_restart()`: drop the line being typed (the monitor got
    /// focus back).
    pub fn restart(&mut self) {
        self.buf.clear();
        self.index = 0;
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// Handle one input byte; terminal output (echo, redraws) is appended
    /// to `echo` with `\n` already as `\r\n`. Returns the line when Enter
    /// completes it.
    pub fn handle_byte(&mut self, ch: u8, echo: &mut Vec<u8>) -> Option<String> {
        let mut line = None;
        match self.esc {
            EscState::Norm => match ch {
                4 => self.delete_char(),
                5 => self.index = self.buf.len(),
                // Tab would complete; completion is not implemented.
                9 => {}
                10 | 13 => {
                    let l = String::from_utf8_lossy(&self.buf).into_owned();
                    self.hist_add(&l);
                    echo.extend_from_slice(b"\r\n");
                    self.buf.clear();
                    self.index = 0;
                    self.last_buf.clear();
                    self.last_index = 0;
                    line = Some(l);
                }
                23 => self.backword(),
                27 => self.esc = EscState::Esc,
                8 | 127 if self.index > 0 => {
                    self.index -= 1;
                    self.delete_char();
                }
                8 | 127 => {}
                155 => {
                    self.esc = EscState::Csi;
                    self.esc_param = 0;
                }
                c if c >= 32 => self.insert_char(c),
                _ => {}
            },
            EscState::Esc => {
                self.esc_param = 0;
                self.esc = match ch {
                    b'[' => EscState::Csi,
                    b'O' => EscState::Ss3,
                    _ => EscState::Norm,
                };
            }
            EscState::Csi => {
                self.esc = EscState::Norm;
                match ch {
                    b'A' | b'F' => self.up(),
                    b'B' | b'E' => self.down(),
                    b'D' => self.index = self.index.saturating_sub(1),
                    b'C' => self.index = (self.index + 1).min(self.buf.len()),
                    b'0'..=b'9' => {
                        self.esc_param = self
                            .esc_param
                            .saturating_mul(10)
                            .saturating_add(u32::from(ch - b'0'));
                        self.esc = EscState::Csi;
                    }
                    b'~' => match self.esc_param {
                        1 => self.index = 0,
                        3 => self.delete_char(),
                        4 => self.index = self.buf.len(),
                        _ => {}
                    },
                    _ => {}
                }
            }
            EscState::Ss3 => {
                self.esc = EscState::Norm;
                match ch {
                    b'F' => self.index = self.buf.len(),
                    b'H' => self.index = 0,
                    _ => {}
                }
            }
        }
        self.update(echo);
        line
    }

    /// `readline_update()`: redraw what changed.
    fn update(&mut self, echo: &mut Vec<u8>) {
        if self.buf != self.last_buf {
            for _ in 0..self.last_index {
                echo.extend_from_slice(b"\x1b[D");
            }
            echo.extend_from_slice(&self.buf);
            echo.extend_from_slice(b"\x1b[K");
            self.last_buf.clone_from(&self.buf);
            self.last_index = self.buf.len();
        }
        if self.index != self.last_index {
            let (seq, n): (&[u8], usize) = if self.index > self.last_index {
                (b"\x1b[C", self.index - self.last_index)
            } else {
                (b"\x1b[D", self.last_index - self.index)
            };
            for _ in 0..n {
                echo.extend_from_slice(seq);
            }
            self.last_index = self.index;
        }
    }

    fn insert_char(&mut self, c: u8) {
        if self.buf.len() < READLINE_CMD_BUF_SIZE {
            self.buf.insert(self.index, c);
            self.index += 1;
        }
    }

    fn delete_char(&mut self) {
        if self.index < self.buf.len() {
            self.buf.remove(self.index);
        }
    }

    /// `readline_backword()`: Ctrl-W deletes the word before the cursor
    /// (and the spaces after it).
    fn backword(&mut self) {
        if self.index == 0 {
            return;
        }
        let sp = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        let mut start = self.index - 1;
        while start > 0 && sp(self.buf[start]) {
            start -= 1;
        }
        while start > 0 {
            if sp(self.buf[start]) {
                start += 1;
                break;
            }
            start -= 1;
        }
        if start < self.index {
            self.buf.drain(start..self.index);
            self.index = start;
        }
    }

    fn load(&mut self, s: &str) {
        self.buf = s.as_bytes()[..s.len().min(READLINE_CMD_BUF_SIZE)].to_vec();
        self.index = self.buf.len();
    }

    fn up(&mut self) {
        let cur = match self.hist_entry {
            Some(0) => return,
            Some(i) => i,
            None => self.history.len(),
        };
        if cur == 0 {
            // No history yet: QEMU's index becomes -1 and nothing changes.
            return;
        }
        self.hist_entry = Some(cur - 1);
        let s = self.history[cur - 1].clone();
        self.load(&s);
    }

    fn down(&mut self) {
        let Some(i) = self.hist_entry else {
            return;
        };
        if i + 1 < self.history.len() {
            self.hist_entry = Some(i + 1);
            let s = self.history[i + 1].clone();
            self.load(&s);
        } else {
            self.hist_entry = None;
            self.buf.clear();
            self.index = 0;
        }
    }

    /// `readline_hist_add()`: a line already in the history moves to its
    /// end; the oldest entry goes when the history is full.
    fn hist_add(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        if let Some(pos) = self.history.iter().position(|h| h == line) {
            self.history.remove(pos);
        } else if self.history.len() == READLINE_MAX_CMDS {
            self.history.pop_front();
        }
        self.history.push_back(line.to_owned());
        self.hist_entry = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(rl: &mut Readline, input: &[u8]) -> (String, Vec<String>) {
        let mut echo = Vec::new();
        let mut lines = Vec::new();
        for &b in input {
            if let Some(l) = rl.handle_byte(b, &mut echo) {
                lines.push(l);
                rl.prompt_shown();
            }
        }
        (String::from_utf8_lossy(&echo).into_owned(), lines)
    }

    /// Recorded from QEMU 7.2 (`-M virt -nographic`, `C-a c`, then
    /// `info stat`, two DELs, `us`, Enter; the pty added a `\r` before
    /// each `\n`, which is taken out here).
    #[test]
    fn echo_and_backspace_match_qemu() {
        let mut rl = Readline::new();
        let (echo, lines) = feed(&mut rl, b"info stat\x7f\x7fus\r");
        let d = |n| "\x1b[D".repeat(n);
        let mut want = String::new();
        let typed = "info stat";
        for i in 1..=typed.len() {
            want += &d(i - 1);
            want += &typed[..i];
            want += "\x1b[K";
        }
        want += &format!("{}info sta\x1b[K", d(9));
        want += &format!("{}info st\x1b[K", d(8));
        want += &format!("{}info stu\x1b[K", d(7));
        want += &format!("{}info stus\x1b[K", d(8));
        want += "\r\n";
        assert_eq!(echo, want);
        assert_eq!(lines, ["info stus"]);
        // Up arrow, as in the same QEMU session: the line comes back.
        let (echo, lines) = feed(&mut rl, b"\x1b[A\r");
        assert_eq!(echo, "info stus\x1b[K\r\n");
        assert_eq!(lines, ["info stus"]);
    }

    #[test]
    fn cursor_movement_and_editing() {
        let mut rl = Readline::new();
        // Left twice, insert: the tail is redrawn and the cursor put back.
        let (_, lines) = feed(&mut rl, b"ac\x1b[Db\r");
        assert_eq!(lines, ["abc"]);
        let (_, lines) = feed(&mut rl, b"xyz\x1b[1~\x1b[3~\x05!\r");
        assert_eq!(lines, ["yz!"]);
        let (_, lines) = feed(&mut rl, b"info  mtree\x17\x17qtree\r");
        assert_eq!(lines, ["qtree"]);
        // Delete at the end does nothing; Ctrl-D deletes under the cursor.
        let (_, lines) = feed(&mut rl, b"ab\x04\x1bOH\x04\r");
        assert_eq!(lines, ["b"]);
    }

    #[test]
    fn history_navigation() {
        let mut rl = Readline::new();
        feed(&mut rl, b"one\rtwo\rthree\rtwo\r");
        assert_eq!(rl.history().collect::<Vec<_>>(), ["one", "three", "two"]);
        let (_, l) = feed(&mut rl, b"\x1b[A\x1b[A\x1b[A\x1b[A\r");
        assert_eq!(l, ["one"]);
        let (_, l) = feed(&mut rl, b"\x1b[A\x1b[A\x1b[B\r");
        // "one" moved to the end: up twice is "two", down is "one".
        assert_eq!(l, ["one"]);
        let (_, l) = feed(&mut rl, b"\x1b[A\x1b[B\x1b[Bx\r");
        assert_eq!(l, ["x"]);
        for i in 0..100 {
            feed(&mut rl, format!("c{i}\r").as_bytes());
        }
        assert_eq!(rl.history().count(), READLINE_MAX_CMDS);
        assert_eq!(rl.history().next(), Some("c36"));
    }

    #[test]
    fn overlong_lines_are_bounded() {
        let mut rl = Readline::new();
        let mut input = vec![b'a'; READLINE_CMD_BUF_SIZE + 100];
        input.push(b'\r');
        let (_, l) = feed(&mut rl, &input);
        assert_eq!(l[0].len(), READLINE_CMD_BUF_SIZE);
        // Arbitrary bytes, including invalid UTF-8 and lone escapes, never
        // panic.
        let junk: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        feed(&mut rl, &junk);
    }
}
