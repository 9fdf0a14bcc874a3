//! Code-page coherence between vCPUs whose TB caches are separate.
//!
//! QEMU keeps one TB cache for all vCPUs: `tb_invalidate_phys_page` drops a
//! page's blocks for everyone and `tb_jmp_cache_inval_tb` clears every
//! vCPU's jump cache, and `tlb_protect_code` sets `TLB_NOTDIRTY` in every
//! vCPU's TLB (`tlb_reset_dirty_range_all`). Here each vCPU owns its
//! [`crate::Executor`] and its TLB, and only its own thread touches them, so
//! the same two events are *published* in a [`CodeSync`] log shared by the
//! vCPUs of one guest memory:
//!
//! * [`CodeEvent::Invalidate`]: a vCPU or a device wrote a RAM page that
//!   held translated code; every other vCPU drops its blocks on that page.
//! * [`CodeEvent::Protect`]: a page started to hold translated code; every
//!   other vCPU sets `TLB_NOTDIRTY` on its TLB entries for it, so its stores
//!   there take the slow path and are seen.
//!
//! Publishing sets [`crate::cpu::REQ_SYNC`] in every other vCPU's request
//! word. A vCPU checks that word before every chained block, so it applies
//! the event at its next block boundary, before it can run a block of the
//! page again. The writer publishes before its next guest instruction (the
//! storing block ends there), so a guest that tells another hart "code
//! written" with a later store has the invalidation ordered before that
//! store (the request word is set with a sequentially consistent RMW).
//!
//! The log keeps the last [`LOG_CAP`] events; a vCPU that fell further
//! behind (it was halted through a burst of events) flushes its whole TB
//! cache and TLB instead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::cpu::REQ_SYNC;

/// Events kept for vCPUs that have not caught up yet.
pub const LOG_CAP: usize = 4096;

/// A code-page event for the other vCPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeEvent {
    /// Drop the blocks translated from this RAM page (page-aligned
    /// `ram_addr`).
    Invalidate(u64),
    /// This RAM page now holds translated code: mark write entries for it
    /// `TLB_NOTDIRTY`.
    Protect(u64),
}

struct Inner {
    /// Sequence number of `log[0]`.
    base: u64,
    /// `(event, publisher id)`.
    log: VecDeque<(CodeEvent, usize)>,
    /// The request words of the registered vCPUs.
    cpus: Vec<Weak<AtomicU32>>,
}

/// The shared code-page event log of the vCPUs of one guest memory (see
/// the module docs).
pub struct CodeSync {
    inner: Mutex<Inner>,
    /// Sequence number of the next event (`base + log.len()`).
    seq: AtomicU64,
}

impl Default for CodeSync {
    fn default() -> Self {
        Self::new()
    }
}

/// What a vCPU must do to catch up with the log.
#[derive(Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// Apply these events (others' events only).
    Events(Vec<CodeEvent>),
    /// Events were dropped before this vCPU saw them: flush everything.
    FlushAll,
}

/// The identity of a vCPU in the log: the address of its request word.
pub fn cpu_id(req: &Arc<AtomicU32>) -> usize {
    Arc::as_ptr(req) as usize
}

impl CodeSync {
    /// An empty log.
    pub fn new() -> Self {
        CodeSync {
            inner: Mutex::new(Inner {
                base: 0,
                log: VecDeque::new(),
                cpus: Vec::new(),
            }),
            seq: AtomicU64::new(0),
        }
    }

    /// Registers a vCPU (its request word) and returns the sequence number
    /// it starts from.
    pub fn register(&self, req: &Arc<AtomicU32>) -> u64 {
        let mut g = self.inner.lock();
        g.cpus.retain(|w| w.strong_count() > 0);
        g.cpus.push(Arc::downgrade(req));
        g.base + g.log.len() as u64
    }

    /// The sequence number of the next event; a vCPU whose own number is
    /// lower has events to apply.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Publishes `ev` by the vCPU with request word `from` (`None` for a
    /// device write) and asks every other vCPU to apply it.
    pub fn publish(&self, ev: CodeEvent, from: Option<&Arc<AtomicU32>>) {
        let id = from.map_or(0, cpu_id);
        let mut g = self.inner.lock();
        g.log.push_back((ev, id));
        if g.log.len() > LOG_CAP {
            g.log.pop_front();
            g.base += 1;
        }
        self.seq
            .store(g.base + g.log.len() as u64, Ordering::Release);
        for w in &g.cpus {
            if let Some(r) = w.upgrade()
                && cpu_id(&r) != id
            {
                r.fetch_or(REQ_SYNC, Ordering::SeqCst);
            }
        }
    }

    /// The events after sequence number `*pos` published by others than
    /// `me`; advances `*pos`.
    pub fn catch_up(&self, me: &Arc<AtomicU32>, pos: &mut u64) -> CatchUp {
        let id = cpu_id(me);
        let g = self.inner.lock();
        let end = g.base + g.log.len() as u64;
        let from = *pos;
        *pos = end;
        if from < g.base {
            return CatchUp::FlushAll;
        }
        CatchUp::Events(
            g.log
                .iter()
                .skip((from - g.base) as usize)
                .filter(|&&(_, who)| who != id)
                .map(|&(e, _)| e)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_the_other_vcpus_only() {
        let s = CodeSync::new();
        let a = Arc::new(AtomicU32::new(0));
        let b = Arc::new(AtomicU32::new(0));
        let (mut pa, mut pb) = (s.register(&a), s.register(&b));
        s.publish(CodeEvent::Protect(0x1000), Some(&a));
        s.publish(CodeEvent::Invalidate(0x2000), None);
        assert_eq!(a.load(Ordering::SeqCst), REQ_SYNC, "device events reach a");
        assert_eq!(b.load(Ordering::SeqCst), REQ_SYNC);
        assert_eq!(s.seq(), 2);
        assert_eq!(
            s.catch_up(&a, &mut pa),
            CatchUp::Events(vec![CodeEvent::Invalidate(0x2000)])
        );
        assert_eq!(
            s.catch_up(&b, &mut pb),
            CatchUp::Events(vec![
                CodeEvent::Protect(0x1000),
                CodeEvent::Invalidate(0x2000)
            ])
        );
        assert_eq!((pa, pb), (2, 2));
        assert_eq!(s.catch_up(&b, &mut pb), CatchUp::Events(vec![]));
    }

    #[test]
    fn a_vcpu_that_fell_behind_flushes() {
        let s = CodeSync::new();
        let a = Arc::new(AtomicU32::new(0));
        let b = Arc::new(AtomicU32::new(0));
        let mut pb = s.register(&b);
        for i in 0..(LOG_CAP as u64 + 1) {
            s.publish(CodeEvent::Invalidate(i << 12), Some(&a));
        }
        assert_eq!(s.catch_up(&b, &mut pb), CatchUp::FlushAll);
        assert_eq!(pb, LOG_CAP as u64 + 1);
        s.publish(CodeEvent::Invalidate(0), Some(&a));
        assert_eq!(
            s.catch_up(&b, &mut pb),
            CatchUp::Events(vec![CodeEvent::Invalidate(0)])
        );
    }
}
