//! Character device backends (QEMU: `chardev/`, the `CharBackend` frontend API
//! in `include/chardev/char-fe.h`).
//!
//! A frontend device (the UART) sends its output through a [`CharBackend`]. Input
//! flows the other way, as in QEMU: the backend's owner (the main loop's fd
//! handler, set up by the board) asks the frontend how much it can take
//! (`can_receive`, QEMU's `IOCanReadHandler`) and hands it bytes (`receive`,
//! QEMU's `IOReadHandler`). The backends here are the ones that need no event
//! loop: `null`, `file:`, any [`std::io::Write`] and an in-memory buffer for tests.
//! [`mux`] decodes the `-nographic` console's escape keys (Ctrl-A x, Ctrl-A h,
//! ...) and [`terminal`] puts the host terminal in raw mode and restores it on
//! every exit path.

pub mod mux;
pub mod terminal;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

/// Where a frontend's output bytes go (QEMU: `qemu_chr_fe_write_all`).
pub trait CharBackend: Send + Sync {
    /// Writes all of `buf` to the backend. Host I/O errors are logged and the
    /// bytes dropped, as QEMU drops output a backend cannot take.
    fn write(&self, buf: &[u8]);
}

/// Discards all output (QEMU: `-serial null`, `chardev/char-null.c`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullBackend;

impl CharBackend for NullBackend {
    fn write(&self, _buf: &[u8]) {}
}

/// Sends output to any [`Write`] (a file, stdout, a pipe), flushing after every
/// write so that the guest's console output is visible at once
/// (QEMU: `chardev/char-fd.c` writes without buffering).
#[derive(Debug)]
pub struct WriterBackend<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> WriterBackend<W> {
    /// Wraps `out`.
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    /// Returns the writer.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }
}

impl<W: Write + Send> CharBackend for WriterBackend<W> {
    fn write(&self, buf: &[u8]) {
        let mut out = self.out.lock();
        if let Err(e) = out.write_all(buf).and_then(|()| out.flush()) {
            log::warn!("chardev: dropping {} output bytes: {e}", buf.len());
        }
    }
}

/// The `file:PATH` backend (QEMU: `chardev/char-file.c`, output only).
pub type FileBackend = WriterBackend<File>;

impl FileBackend {
    /// Opens `path` for output as QEMU does: created if missing (mode 0666
    /// before umask), truncated unless `append`.
    pub fn open(path: &Path, append: bool) -> io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true);
        if append {
            opts.append(true);
        } else {
            opts.truncate(true);
        }
        Ok(Self::new(opts.open(path)?))
    }
}

/// Collects output in memory (for tests); clones share the buffer.
#[derive(Clone, Debug, Default)]
pub struct BufferBackend {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl BufferBackend {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.buf.lock().clone()
    }

    /// Takes everything written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock())
    }
}

impl CharBackend for BufferBackend {
    fn write(&self, buf: &[u8]) {
        self.buf.lock().extend_from_slice(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_collects() {
        let b = BufferBackend::new();
        let dev_side: Arc<dyn CharBackend> = Arc::new(b.clone());
        dev_side.write(b"ab");
        dev_side.write(b"c");
        assert_eq!(b.take(), b"abc");
        assert!(b.contents().is_empty());
    }

    #[test]
    fn file_backend_truncates_or_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("serial.log");
        std::fs::write(&p, b"old").unwrap();
        FileBackend::open(&p, false).unwrap().write(b"new");
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        FileBackend::open(&p, true).unwrap().write(b"+more");
        assert_eq!(std::fs::read(&p).unwrap(), b"new+more");
    }

    #[test]
    fn writer_backend_wraps_vec() {
        let w = WriterBackend::new(Vec::new());
        w.write(b"xyz");
        NullBackend.write(b"gone");
        assert_eq!(w.into_inner(), b"xyz");
    }
}
