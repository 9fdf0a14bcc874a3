//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use ferrite_memory::mtree::{MtreeOptions, flatview_lines};
use ferrite_memory::*;
use parking_lot::Mutex;

/// One device callback, as recorded by [`Recorder`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Call {
    R(u64, u32),
    W(u64, u64, u32),
}

/// A device that records its calls and answers reads from a queue (or a
/// default value).
#[derive(Default)]
pub struct Recorder {
    pub calls: Mutex<Vec<Call>>,
    pub answers: Mutex<Vec<u64>>,
    pub default: u64,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }
    pub fn with_answers(a: &[u64]) -> Arc<Recorder> {
        let r = Recorder::default();
        *r.answers.lock() = a.to_vec();
        Arc::new(r)
    }
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock())
    }
}

impl MemoryRegionOps for Recorder {
    fn read(&self, addr: HwAddr, size: u32) -> u64 {
        self.calls.lock().push(Call::R(addr, size));
        let mut a = self.answers.lock();
        if a.is_empty() {
            self.default
        } else {
            a.remove(0)
        }
    }
    fn write(&self, addr: HwAddr, value: u64, size: u32) {
        self.calls.lock().push(Call::W(addr, value, size));
    }
}

/// A plain MMIO region with a recorder that returns 0.
pub fn io(name: &str, size: u64) -> MemoryRegion {
    MemoryRegion::new_io(name, size, Recorder::new(), OpsDesc::new())
}

/// Flat view lines of `root` in `info mtree -f` format.
pub fn flat(root: &MemoryRegion) -> String {
    flatview_lines(&FlatView::render(root), MtreeOptions::default())
}

/// Strips leading/trailing blank lines and a common indentation-free
/// form from an expected block written inline in a test.
pub fn block(s: &str) -> String {
    let mut out = String::new();
    for l in s.lines() {
        let t = l.trim_start();
        if t.is_empty() {
            continue;
        }
        out.push_str("  ");
        out.push_str(t);
        out.push('\n');
    }
    out
}

/// Records listener callbacks as strings into a shared log.
pub struct LogListener {
    pub name: &'static str,
    pub prio: u32,
    pub log: Arc<Mutex<Vec<String>>>,
}

fn sec(s: &MemoryRegionSection) -> String {
    format!(
        "{:#x}+{:#x}{}",
        s.offset_within_address_space,
        s.size,
        s.mr.as_ref()
            .map(|m| format!(" {}", m.name()))
            .unwrap_or_default()
    )
}

impl MemoryListener for LogListener {
    fn priority(&self) -> u32 {
        self.prio
    }
    fn begin(&self) {
        self.log.lock().push(format!("{} begin", self.name));
    }
    fn commit(&self) {
        self.log.lock().push(format!("{} commit", self.name));
    }
    fn region_add(&self, s: &MemoryRegionSection) {
        self.log
            .lock()
            .push(format!("{} add {}", self.name, sec(s)));
    }
    fn region_del(&self, s: &MemoryRegionSection) {
        self.log
            .lock()
            .push(format!("{} del {}", self.name, sec(s)));
    }
    fn region_nop(&self, s: &MemoryRegionSection) {
        self.log
            .lock()
            .push(format!("{} nop {}", self.name, sec(s)));
    }
    fn log_start(&self, s: &MemoryRegionSection, old: u8, new: u8) {
        self.log
            .lock()
            .push(format!("{} log_start {} {old}->{new}", self.name, sec(s)));
    }
    fn log_stop(&self, s: &MemoryRegionSection, old: u8, new: u8) {
        self.log
            .lock()
            .push(format!("{} log_stop {} {old}->{new}", self.name, sec(s)));
    }
    fn eventfd_add(
        &self,
        s: &MemoryRegionSection,
        m: bool,
        d: u64,
        _e: &Arc<ferrite_aio::EventNotifier>,
    ) {
        self.log
            .lock()
            .push(format!("{} eventfd_add {} {m} {d:#x}", self.name, sec(s)));
    }
    fn eventfd_del(
        &self,
        s: &MemoryRegionSection,
        m: bool,
        d: u64,
        _e: &Arc<ferrite_aio::EventNotifier>,
    ) {
        self.log
            .lock()
            .push(format!("{} eventfd_del {} {m} {d:#x}", self.name, sec(s)));
    }
    fn coalesced_io_add(&self, s: &MemoryRegionSection, a: HwAddr, l: u64) {
        self.log.lock().push(format!(
            "{} coalesced_add {} {a:#x}+{l:#x}",
            self.name,
            sec(s)
        ));
    }
    fn coalesced_io_del(&self, s: &MemoryRegionSection, a: HwAddr, l: u64) {
        self.log.lock().push(format!(
            "{} coalesced_del {} {a:#x}+{l:#x}",
            self.name,
            sec(s)
        ));
    }
}
