//! Download progress: a one-line bar (bytes, rate, ETA) on a terminal, plain
//! lines otherwise (logs, CI), or nothing.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Receives download progress.
pub trait Progress {
    /// A download of `what` starts; `total` is its size if known.
    fn start(&mut self, what: &str, total: Option<u64>);
    /// `bytes` more bytes arrived.
    fn advance(&mut self, bytes: u64);
    /// The download finished (successfully or not).
    fn finish(&mut self);
    /// A status line that is not a download ("unpacking ...").
    fn note(&mut self, line: &str);
}

/// Picks [`Bar`] if stderr is a terminal, else [`Lines`], both on stderr.
pub fn auto() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new(std::io::stderr()))
    } else {
        Box::new(Lines::new(std::io::stderr()))
    }
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: &str, _: Option<u64>) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
    fn note(&mut self, _: &str) {}
}

/// Shared byte counting and timing.
#[derive(Debug)]
struct Counter {
    what: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
}

impl Counter {
    fn new(what: &str, total: Option<u64>) -> Self {
        Counter {
            what: what.to_string(),
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Bytes per second so far.
    fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }
}

/// A redrawn single-line bar, for terminals.
#[derive(Debug)]
pub struct Bar<W: Write> {
    out: W,
    cur: Option<Counter>,
    last_draw: Option<Instant>,
}

impl<W: Write> Bar<W> {
    /// A bar drawing to `out`.
    pub fn new(out: W) -> Self {
        Bar {
            out,
            cur: None,
            last_draw: None,
        }
    }

    fn draw(&mut self, force: bool) {
        let Some(c) = &self.cur else { return };
        if !force
            && self
                .last_draw
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let line = bar_line(&c.what, c.done, c.total, c.rate());
        let _ = write!(self.out, "\r{line}\x1b[K");
        let _ = self.out.flush();
    }
}

/// The text of one bar redraw.
fn bar_line(what: &str, done: u64, total: Option<u64>, rate: f64) -> String {
    const WIDTH: usize = 24;
    match total {
        Some(t) if t > 0 => {
            let frac = (done as f64 / t as f64).min(1.0);
            let filled = (frac * WIDTH as f64) as usize;
            let eta = if rate > 0.0 {
                format_duration(t.saturating_sub(done) as f64 / rate)
            } else {
                "--".to_string()
            };
            format!(
                "{what} [{}{}] {:>3}% {} / {} {}/s ETA {eta}",
                "#".repeat(filled),
                " ".repeat(WIDTH - filled),
                (frac * 100.0) as u32,
                human(done),
                human(t),
                human(rate as u64)
            )
        }
        _ => format!("{what} {} {}/s", human(done), human(rate as u64)),
    }
}

impl<W: Write> Progress for Bar<W> {
    fn start(&mut self, what: &str, total: Option<u64>) {
        self.cur = Some(Counter::new(what, total));
        self.last_draw = None;
        self.draw(true);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(c) = &mut self.cur {
            c.done += bytes;
        }
        self.draw(false);
    }
    fn finish(&mut self) {
        self.draw(true);
        let _ = writeln!(self.out);
        self.cur = None;
    }
    fn note(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }
}

/// Plain lines: one when a download starts and one when it ends, for logs.
#[derive(Debug)]
pub struct Lines<W: Write> {
    out: W,
    cur: Option<Counter>,
}

impl<W: Write> Lines<W> {
    /// Lines written to `out`.
    pub fn new(out: W) -> Self {
        Lines { out, cur: None }
    }
}

impl<W: Write> Progress for Lines<W> {
    fn start(&mut self, what: &str, total: Option<u64>) {
        let size = total
            .map(|t| format!(" ({})", human(t)))
            .unwrap_or_default();
        let _ = writeln!(self.out, "downloading {what}{size}");
        self.cur = Some(Counter::new(what, total));
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(c) = &mut self.cur {
            c.done += bytes;
        }
    }
    fn finish(&mut self) {
        if let Some(c) = self.cur.take() {
            let _ = writeln!(
                self.out,
                "downloaded {} {} in {} ({}/s)",
                c.what,
                human(c.done),
                format_duration(c.started.elapsed().as_secs_f64()),
                human(c.rate() as u64)
            );
        }
    }
    fn note(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }
}

/// `1.5 MB`-style sizes (decimal units, as download tools show them).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

fn format_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1500), "1.5 kB");
        assert_eq!(human(112_593_968), "112.6 MB");
        assert_eq!(format_duration(5.4), "5s");
        assert_eq!(format_duration(125.0), "2m05s");
        assert_eq!(format_duration(3700.0), "1h01m");
    }

    #[test]
    fn bar_shows_bytes_rate_and_eta() {
        let l = bar_line("kernel", 50_000_000, Some(100_000_000), 10_000_000.0);
        assert!(
            l.starts_with("kernel [############            ]  50% "),
            "{l}"
        );
        assert!(
            l.contains("50.0 MB / 100.0 MB") && l.contains("10.0 MB/s") && l.ends_with("ETA 5s"),
            "{l}"
        );
        assert_eq!(bar_line("x", 10, None, 0.0), "x 10 B 0 B/s");
    }

    #[test]
    fn lines_mode_prints_start_and_end() {
        let mut buf = Vec::new();
        {
            let mut p = Lines::new(&mut buf);
            p.start("busybox-static", Some(941_532));
            p.advance(941_532);
            p.finish();
        }
        let s = String::from_utf8(buf).unwrap();
        let lines: Vec<_> = s.lines().collect();
        assert_eq!(lines[0], "downloading busybox-static (941.5 kB)");
        assert!(
            lines[1].starts_with("downloaded busybox-static 941.5 kB in "),
            "{s}"
        );
        assert!(!s.contains('\r'));
    }

    #[test]
    fn bar_mode_redraws_in_place() {
        let mut buf = Vec::new();
        {
            let mut p = Bar::new(&mut buf);
            p.start("opensbi", Some(1000));
            p.advance(1000);
            p.finish();
        }
        let s = String::from_utf8(buf).unwrap();
        assert!(
            s.starts_with('\r') && s.contains("100%") && s.ends_with('\n'),
            "{s:?}"
        );
    }
}
