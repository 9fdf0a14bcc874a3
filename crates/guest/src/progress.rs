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
        Box::new(Bar::new(std::io::stderr(), terminal_width()))
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
    width: usize,
}

impl<W: Write> Bar<W> {
    /// A bar drawing to `out`, a terminal `width` columns wide.
    pub fn new(out: W, width: usize) -> Self {
        Bar {
            out,
            cur: None,
            last_draw: None,
            width,
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
        let line = bar_line(&c.what, c.done, c.total, c.rate(), self.width);
        let _ = write!(self.out, "\r{line}\x1b[K");
        let _ = self.out.flush();
    }
}

/// The text of one bar redraw, at most `width - 1` characters so that it
/// never wraps (a wrapped line cannot be redrawn with `\r`).
fn bar_line(what: &str, done: u64, total: Option<u64>, rate: f64, width: usize) -> String {
    let max = width.saturating_sub(1).max(20);
    let Some(t) = total.filter(|&t| t > 0) else {
        let stats = format!(" {} {}/s", human(done), human(rate as u64));
        return format!("{}{stats}", fit(what, max.saturating_sub(stats.len())));
    };
    let frac = (done as f64 / t as f64).min(1.0);
    let pct = format!("{:>3}%", (frac * 100.0) as u32);
    let eta = if rate > 0.0 {
        format_duration(t.saturating_sub(done) as f64 / rate)
    } else {
        "--".to_string()
    };
    // The longest figures that leave room for at least 8 label columns.
    let candidates = [
        format!(
            "{pct} {} / {} {}/s ETA {eta}",
            human(done),
            human(t),
            human(rate as u64)
        ),
        format!("{pct} {} / {}", human(done), human(t)),
        pct,
    ];
    let stats = candidates
        .iter()
        .find(|s| s.len() + 9 <= max)
        .unwrap_or(&candidates[2]);
    // Label, then the bar (8 to 30 columns) if there is room, then figures.
    let room = max.saturating_sub(stats.len() + 1);
    let label = fit(what, room.saturating_sub(11).max(room.min(12)));
    let bar_width = room.saturating_sub(label.chars().count() + 3).min(30);
    if bar_width >= 8 {
        let filled = (frac * bar_width as f64) as usize;
        format!(
            "{label} [{}{}] {stats}",
            "#".repeat(filled),
            " ".repeat(bar_width - filled)
        )
    } else {
        format!("{label} {stats}")
    }
}

/// `s` cut to `n` characters, ending in `…` if cut.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The width of the terminal on stderr (80 if it cannot be told).
pub fn terminal_width() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively
    // borrowed `ws`; an fd that is not a terminal makes it fail harmlessly.
    let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80)
    }
}

/// A reader that reports the bytes read through a [`Progress`].
pub struct ProgressReader<'p, R> {
    inner: R,
    progress: &'p mut dyn Progress,
}

impl<'p, R> ProgressReader<'p, R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: &'p mut dyn Progress) -> Self {
        ProgressReader { inner, progress }
    }
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
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
        let _ = writeln!(self.out, "{what}{size}");
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
                "{}: done, {} in {} ({}/s)",
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
        let l = bar_line("kernel", 50_000_000, Some(100_000_000), 10_000_000.0, 100);
        assert!(l.starts_with("kernel ["), "{l}");
        assert!(l.contains("##############               ]  50% "), "{l}");
        assert!(
            l.contains("50.0 MB / 100.0 MB") && l.contains("10.0 MB/s") && l.ends_with("ETA 5s"),
            "{l}"
        );
        assert_eq!(bar_line("x", 10, None, 0.0, 80), "x 10 B 0 B/s");
    }

    #[test]
    fn bar_never_wraps() {
        let what = "downloading linux-image-6.12.117+deb13-riscv64 6.12.117-1";
        for width in [20, 40, 60, 80, 100, 120, 200] {
            let l = bar_line(what, 1_000_000, Some(112_593_968), 3e8, width);
            assert!(l.chars().count() < width.max(21), "{width}: {l}");
            assert!(width < 60 || l.contains("112.6 MB"), "{width}: {l}");
            assert!(l.contains("0%"), "{width}: {l}");
            let l = bar_line(what, 1_000_000, None, 3e8, width);
            assert!(l.chars().count() < width.max(21), "{width}: {l}");
        }
        let l = bar_line(what, 0, Some(1), 0.0, 120);
        assert!(l.starts_with(what) && l.contains('['), "{l}");
    }

    #[test]
    fn lines_mode_prints_start_and_end() {
        let mut buf = Vec::new();
        {
            let mut p = Lines::new(&mut buf);
            p.start("downloading busybox-static", Some(941_532));
            p.advance(941_532);
            p.finish();
        }
        let s = String::from_utf8(buf).unwrap();
        let lines: Vec<_> = s.lines().collect();
        assert_eq!(lines[0], "downloading busybox-static (941.5 kB)");
        assert!(
            lines[1].starts_with("downloading busybox-static: done, 941.5 kB in "),
            "{s}"
        );
        assert!(!s.contains('\r'));
    }

    #[test]
    fn bar_mode_redraws_in_place() {
        let mut buf = Vec::new();
        {
            let mut p = Bar::new(&mut buf, 80);
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
