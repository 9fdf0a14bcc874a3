//! QEMU's `EventNotifier` (`util/event_notifier-posix.c`) on top of Linux
//! `eventfd(2)`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::event::{EventfdFlags, eventfd};

/// A level-style event: [`set`](Self::set) makes the fd readable until
/// [`test_and_clear`](Self::test_and_clear) consumes it.
///
/// Setting an already-set notifier is cheap and coalesces, exactly like
/// QEMU's `event_notifier_set`. The notifier is non-blocking and
/// close-on-exec.
#[derive(Debug)]
pub struct EventNotifier {
    fd: OwnedFd,
}

impl EventNotifier {
    /// Creates a notifier, initially set if `active` (QEMU's
    /// `event_notifier_init(e, active)`).
    pub fn new(active: bool) -> io::Result<Self> {
        let fd = eventfd(
            u32::from(active),
            EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC,
        )?;
        Ok(Self { fd })
    }

    /// Signals the notifier (`event_notifier_set`). Never blocks: when the
    /// counter is saturated the write fails with `EAGAIN`, which still
    /// leaves the fd readable, so that error is ignored.
    pub fn set(&self) {
        let one = 1u64.to_ne_bytes();
        loop {
            match rustix::io::write(&self.fd, &one) {
                Ok(_) | Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => continue,
                // An eventfd write can only fail with EAGAIN or EINTR
                // (or EINVAL for a short buffer, which we never pass).
                Err(e) => panic!("eventfd write failed: {e}"),
            }
        }
    }

    /// Consumes a pending signal and reports whether there was one
    /// (`event_notifier_test_and_clear`).
    pub fn test_and_clear(&self) -> bool {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(8) => return u64::from_ne_bytes(buf) != 0,
                Ok(_) | Err(rustix::io::Errno::AGAIN) => return false,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => panic!("eventfd read failed: {e}"),
            }
        }
    }
}

impl AsFd for EventNotifier {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventNotifier {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_clear() {
        let e = EventNotifier::new(false).unwrap();
        assert!(!e.test_and_clear());
        e.set();
        e.set();
        assert!(e.test_and_clear());
        assert!(!e.test_and_clear());
    }

    #[test]
    fn initially_active() {
        let e = EventNotifier::new(true).unwrap();
        assert!(e.test_and_clear());
    }
}
