//! The time seam (QEMU: `qemu_clock_get_ns` and `QEMUTimer`, `util/qemu-timer.c`).
//!
//! Devices read a [`Clock`] and own one-shot [`Timer`]s on it. The board
//! implements both with the event loop's clocks and timers (the VIRTUAL clock
//! for the ACLINT and the UART's FIFO timeout, the HOST clock for the goldfish
//! RTC) and routes each timer's expiry to the owning device's callback method
//! (for example [`crate::intc::aclint::AclintMtimer::mtimer_cb`]). Tests use
//! [`FakeClock`] and [`FakeTimer`], which they advance by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock in nanoseconds (QEMU: one `QEMUClockType` read with `qemu_clock_get_ns`).
pub trait Clock: Send + Sync {
    /// The clock's current value in nanoseconds.
    fn get_ns(&self) -> i64;
}

/// A one-shot timer on some [`Clock`] (QEMU: `QEMUTimer`).
///
/// When the clock reaches the deadline, the board calls the owning device's
/// callback once; the timer is then no longer pending.
pub trait Timer: Send {
    /// Arms (or re-arms) the timer for `expire_ns` on its clock (QEMU: `timer_mod`).
    fn modify(&mut self, expire_ns: i64);
    /// Disarms the timer (QEMU: `timer_del`).
    fn delete(&mut self);
}

/// The host's wall clock in nanoseconds since the Unix epoch
/// (QEMU: `QEMU_CLOCK_HOST`, which the goldfish RTC uses).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostClock;

impl Clock for HostClock {
    fn get_ns(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            // A host clock before 1970 is a host misconfiguration; report the epoch.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to (for tests).
#[derive(Clone, Debug, Default)]
pub struct FakeClock {
    ns: Arc<AtomicI64>,
}

impl FakeClock {
    /// A clock reading `ns`.
    pub fn new(ns: i64) -> Self {
        Self {
            ns: Arc::new(AtomicI64::new(ns)),
        }
    }

    /// Sets the clock to `ns`.
    pub fn set(&self, ns: i64) {
        self.ns.store(ns, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ns`.
    pub fn advance(&self, ns: i64) {
        self.ns.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn get_ns(&self) -> i64 {
        self.ns.load(Ordering::SeqCst)
    }
}

/// A timer that records its deadline (for tests); clones share the state, so
/// a test keeps one clone and hands the other to the device.
#[derive(Clone, Debug, Default)]
pub struct FakeTimer {
    deadline: Arc<parking_lot::Mutex<Option<i64>>>,
}

impl FakeTimer {
    /// An unarmed timer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The armed deadline, if any.
    pub fn deadline(&self) -> Option<i64> {
        *self.deadline.lock()
    }

    /// If the timer is armed for a deadline at or before `now`, disarms it and
    /// returns true: the caller must then invoke the device's callback, as the
    /// event loop would.
    pub fn expire(&self, now: i64) -> bool {
        let mut d = self.deadline.lock();
        match *d {
            Some(t) if t <= now => {
                *d = None;
                true
            }
            _ => false,
        }
    }
}

impl Timer for FakeTimer {
    fn modify(&mut self, expire_ns: i64) {
        *self.deadline.lock() = Some(expire_ns);
    }

    fn delete(&mut self) {
        *self.deadline.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_timer_fires_once_at_deadline() {
        let t = FakeTimer::new();
        let mut dev_side = t.clone();
        dev_side.modify(100);
        assert!(!t.expire(99));
        assert!(t.expire(100));
        assert!(!t.expire(200));
        dev_side.modify(5);
        dev_side.delete();
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn host_clock_is_after_2020() {
        // 2020-01-01 in ns since the epoch: a sanity check that the unit is ns.
        assert!(HostClock.get_ns() > 1_577_836_800_000_000_000);
    }
}
