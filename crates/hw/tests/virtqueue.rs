//! Split virtqueue tests: a small driver model lays rings out in guest
//! memory as Linux's `virtio_ring.c` does, and the device side must pop
//! exactly what was made available, reject every kind of malformed ring
//! without panicking, and follow the notification-suppression rules.

use ferrite_hw::virtio::queue::*;
use ferrite_hw::virtio::{GuestMemory, VecMemory, VirtQueueConfig};
use proptest::prelude::*;

const BASE: u64 = 0x8000_0000;
const RAM: usize = 1 << 20;
const DESC: u64 = BASE;
const AVAIL: u64 = BASE + 0x4000;
const USED: u64 = BASE + 0x5000;
const DATA: u64 = BASE + 0x1_0000;
const INDIRECT: u64 = 1 << 28;
const EVENT_IDX: u64 = 1 << 29;

/// The driver side, writing rings directly.
struct Driver {
    mem: VecMemory,
    size: u16,
    next_desc: u16,
    avail_idx: u16,
    last_used: u16,
}

impl Driver {
    fn new(size: u16) -> Self {
        Self {
            mem: VecMemory::new(BASE, RAM),
            size,
            next_desc: 0,
            avail_idx: 0,
            last_used: 0,
        }
    }

    fn config(&self) -> VirtQueueConfig {
        VirtQueueConfig {
            size: self.size,
            ready: true,
            desc: DESC,
            avail: AVAIL,
            used: USED,
        }
    }

    fn w16(&self, addr: u64, v: u16) {
        self.mem.write(addr, &v.to_le_bytes()).unwrap();
    }
    fn r16(&self, addr: u64) -> u16 {
        let mut b = [0; 2];
        self.mem.read(addr, &mut b).unwrap();
        u16::from_le_bytes(b)
    }
    fn r32(&self, addr: u64) -> u32 {
        let mut b = [0; 4];
        self.mem.read(addr, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    fn write_desc_at(&self, table: u64, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..16].copy_from_slice(&next.to_le_bytes());
        self.mem.write(table + 16 * u64::from(i), &b).unwrap();
    }

    /// Makes a chain of buffers available; returns its head.
    fn add(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (k, &(addr, len, write)) in bufs.iter().enumerate() {
            let i = (head + k as u16) % self.size;
            let last = k + 1 == bufs.len();
            let mut flags = if write { VRING_DESC_F_WRITE } else { 0 };
            if !last {
                flags |= VRING_DESC_F_NEXT;
            }
            self.write_desc_at(DESC, i, addr, len, flags, (i + 1) % self.size);
        }
        self.next_desc = (head + bufs.len() as u16) % self.size;
        self.publish(head);
        head
    }

    fn publish(&mut self, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        self.w16(AVAIL + 4 + 2 * slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.w16(AVAIL + 2, self.avail_idx);
    }

    /// Takes the next used element, if any.
    fn get_used(&mut self) -> Option<(u32, u32)> {
        if self.r16(USED + 2) == self.last_used {
            return None;
        }
        let slot = u64::from(self.last_used % self.size);
        self.last_used = self.last_used.wrapping_add(1);
        Some((self.r32(USED + 4 + 8 * slot), self.r32(USED + 8 + 8 * slot)))
    }
}

#[test]
fn pop_returns_chains_in_order_and_push_publishes_used() {
    let mut drv = Driver::new(8);
    let mut q = SplitQueue::new(&drv.config(), 0);
    assert_eq!(q.pop(&drv.mem).unwrap(), None);
    let h1 = drv.add(&[
        (DATA, 16, false),
        (DATA + 0x100, 512, true),
        (DATA + 0x400, 1, true),
    ]);
    let h2 = drv.add(&[(DATA + 0x800, 8, true)]);
    let c1 = q.pop(&drv.mem).unwrap().unwrap();
    assert_eq!(c1.head, h1);
    assert_eq!(
        c1.readable,
        vec![Buffer {
            addr: DATA,
            len: 16
        }]
    );
    assert_eq!(
        c1.writable,
        vec![
            Buffer {
                addr: DATA + 0x100,
                len: 512
            },
            Buffer {
                addr: DATA + 0x400,
                len: 1
            }
        ]
    );
    assert_eq!(c1.writable_len(), 513);
    let c2 = q.pop(&drv.mem).unwrap().unwrap();
    assert_eq!(c2.head, h2);
    assert_eq!(q.pop(&drv.mem).unwrap(), None);
    // Complete out of order, as a disk may.
    q.push(&drv.mem, c2.head, 8).unwrap();
    q.push(&drv.mem, c1.head, 513).unwrap();
    assert_eq!(drv.get_used(), Some((u32::from(h2), 8)));
    assert_eq!(drv.get_used(), Some((u32::from(h1), 513)));
    assert_eq!(drv.get_used(), None);
}

#[test]
fn chain_data_helpers_copy_through_guest_memory() {
    let mut drv = Driver::new(4);
    drv.mem.write(DATA, b"hello, ").unwrap();
    drv.mem.write(DATA + 0x10, b"world").unwrap();
    drv.add(&[
        (DATA, 7, false),
        (DATA + 0x10, 5, false),
        (DATA + 0x100, 3, true),
        (DATA + 0x200, 4, true),
    ]);
    let mut q = SplitQueue::new(&drv.config(), 0);
    let c = q.pop(&drv.mem).unwrap().unwrap();
    assert_eq!(c.read_all(&drv.mem, 64).unwrap(), b"hello, world");
    assert!(c.read_all(&drv.mem, 11).is_err(), "over the caller's limit");
    assert_eq!(c.write_all(&drv.mem, b"abcdefghij").unwrap(), 7);
    let mut out = [0u8; 4];
    drv.mem.read(DATA + 0x200, &mut out).unwrap();
    assert_eq!(&out, b"defg");
}

#[test]
fn indirect_tables() {
    let mut drv = Driver::new(4);
    let table = DATA + 0x1000;
    drv.write_desc_at(table, 0, DATA, 4, VRING_DESC_F_NEXT, 2);
    drv.write_desc_at(table, 2, DATA + 0x10, 6, VRING_DESC_F_WRITE, 0);
    drv.write_desc_at(DESC, 0, table, 48, VRING_DESC_F_INDIRECT, 0);
    drv.publish(0);
    // Without the feature it is a protocol error.
    let mut q = SplitQueue::new(&drv.config(), 0);
    assert!(matches!(q.pop(&drv.mem), Err(QueueError::Protocol(_))));
    let mut q = SplitQueue::new(&drv.config(), INDIRECT);
    let c = q.pop(&drv.mem).unwrap().unwrap();
    assert_eq!(c.head, 0);
    assert_eq!(c.readable, vec![Buffer { addr: DATA, len: 4 }]);
    assert_eq!(
        c.writable,
        vec![Buffer {
            addr: DATA + 0x10,
            len: 6
        }]
    );
}

/// Builds a queue whose only available head is 0 after `setup` wrote
/// descriptors, and returns the pop result.
fn pop_after(features: u64, setup: impl FnOnce(&Driver)) -> Result<Option<DescChain>, QueueError> {
    let mut drv = Driver::new(8);
    setup(&drv);
    drv.publish(0);
    SplitQueue::new(&drv.config(), features).pop(&drv.mem)
}

#[test]
fn malformed_rings_are_errors_not_panics() {
    let bad = |what: &str, r: Result<Option<DescChain>, QueueError>| {
        assert!(r.is_err(), "{what}: {r:?}");
    };
    bad(
        "loop",
        pop_after(0, |d| {
            d.write_desc_at(DESC, 0, DATA, 1, VRING_DESC_F_NEXT, 1);
            d.write_desc_at(DESC, 1, DATA, 1, VRING_DESC_F_NEXT, 0);
        }),
    );
    bad(
        "self loop",
        pop_after(0, |d| {
            d.write_desc_at(DESC, 0, DATA, 1, VRING_DESC_F_NEXT, 0)
        }),
    );
    bad(
        "next beyond ring",
        pop_after(0, |d| {
            d.write_desc_at(DESC, 0, DATA, 1, VRING_DESC_F_NEXT, 8)
        }),
    );
    bad(
        "readable after writable",
        pop_after(0, |d| {
            d.write_desc_at(DESC, 0, DATA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
            d.write_desc_at(DESC, 1, DATA, 1, 0, 0);
        }),
    );
    bad(
        "buffer outside RAM",
        pop_after(0, |d| d.write_desc_at(DESC, 0, 0x1000, 16, 0, 0)),
    );
    bad(
        "buffer past end of RAM",
        pop_after(0, |d| {
            d.write_desc_at(DESC, 0, BASE + RAM as u64 - 8, 16, 0, 0)
        }),
    );
    bad(
        "buffer wrapping the address space",
        pop_after(0, |d| d.write_desc_at(DESC, 0, u64::MAX - 3, 16, 0, 0)),
    );
    bad(
        "indirect with next",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(
                DESC,
                0,
                DATA,
                16,
                VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
                1,
            );
        }),
    );
    bad(
        "indirect bad length",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(DESC, 0, DATA, 24, VRING_DESC_F_INDIRECT, 0)
        }),
    );
    bad(
        "indirect empty",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(DESC, 0, DATA, 0, VRING_DESC_F_INDIRECT, 0)
        }),
    );
    bad(
        "indirect table outside RAM",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(DESC, 0, 0x1000, 32, VRING_DESC_F_INDIRECT, 0)
        }),
    );
    bad(
        "nested indirect",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(DATA, 0, DATA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
            d.write_desc_at(DESC, 0, DATA, 16, VRING_DESC_F_INDIRECT, 0);
        }),
    );
    bad(
        "indirect loop",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(DATA, 0, DATA + 0x100, 1, VRING_DESC_F_NEXT, 1);
            d.write_desc_at(DATA, 1, DATA + 0x100, 1, VRING_DESC_F_NEXT, 0);
            d.write_desc_at(DESC, 0, DATA, 32, VRING_DESC_F_INDIRECT, 0);
        }),
    );
    bad(
        "indirect in the middle of a chain",
        pop_after(INDIRECT, |d| {
            d.write_desc_at(DESC, 0, DATA, 1, VRING_DESC_F_NEXT, 1);
            d.write_desc_at(DESC, 1, DATA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
        }),
    );
    // A zero-length buffer anywhere is fine (no memory is touched).
    assert!(
        pop_after(0, |d| d.write_desc_at(DESC, 0, 0, 0, 0, 0))
            .unwrap()
            .is_some()
    );
}

#[test]
fn bad_head_and_runaway_avail_index() {
    let mut drv = Driver::new(8);
    drv.publish(9);
    let mut q = SplitQueue::new(&drv.config(), 0);
    assert!(q.pop(&drv.mem).is_err(), "head beyond the ring");
    let drv = Driver::new(8);
    drv.w16(AVAIL + 2, 9);
    let mut q = SplitQueue::new(&drv.config(), 0);
    assert!(q.pop(&drv.mem).is_err(), "9 new entries in an 8-entry ring");
    // Rings outside RAM (the transport checks this, but the queue copes too).
    let cfg = VirtQueueConfig {
        size: 8,
        ready: true,
        desc: 0,
        avail: 0x10,
        used: 0x100,
    };
    let mut q = SplitQueue::new(&cfg, 0);
    assert!(matches!(q.pop(&drv.mem), Err(QueueError::Memory(_))));
}

#[test]
fn avail_index_wraps_at_u16() {
    let mut drv = Driver::new(4);
    let mut q = SplitQueue::new(&drv.config(), 0);
    for n in 0..70_000u32 {
        let h = drv.add(&[(DATA, 4, true)]);
        let c = q.pop(&drv.mem).unwrap().unwrap();
        assert_eq!(c.head, h, "round {n}");
        q.push(&drv.mem, c.head, 4).unwrap();
        assert_eq!(drv.get_used(), Some((u32::from(h), 4)));
    }
}

#[test]
fn no_interrupt_flag_without_event_idx() {
    let mut drv = Driver::new(4);
    let mut q = SplitQueue::new(&drv.config(), 0);
    drv.add(&[(DATA, 4, true)]);
    let c = q.pop(&drv.mem).unwrap().unwrap();
    q.push(&drv.mem, c.head, 0).unwrap();
    assert!(q.should_notify(&drv.mem).unwrap());
    drv.w16(AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
    assert!(!q.should_notify(&drv.mem).unwrap());
}

#[test]
fn event_idx_suppression() {
    let mut drv = Driver::new(8);
    let mut q = SplitQueue::new(&drv.config(), EVENT_IDX);
    let used_event = AVAIL + 4 + 2 * 8;
    let avail_event = USED + 4 + 8 * 8;
    for _ in 0..4 {
        drv.add(&[(DATA, 4, true)]);
    }
    let chains: Vec<_> = (0..4).map(|_| q.pop(&drv.mem).unwrap().unwrap()).collect();
    assert_eq!(
        drv.r16(avail_event),
        4,
        "device asks for a kick at the next new entry"
    );
    // The driver wants an interrupt once used.idx passes 2 (used_event = 2).
    drv.w16(used_event, 2);
    q.push(&drv.mem, chains[0].head, 0).unwrap();
    assert!(
        q.should_notify(&drv.mem).unwrap(),
        "first notification is always sent"
    );
    q.push(&drv.mem, chains[1].head, 0).unwrap();
    assert!(
        !q.should_notify(&drv.mem).unwrap(),
        "used.idx 2 has not passed used_event 2"
    );
    q.push(&drv.mem, chains[2].head, 0).unwrap();
    assert!(
        q.should_notify(&drv.mem).unwrap(),
        "used.idx 3 passed used_event 2"
    );
    q.push(&drv.mem, chains[3].head, 0).unwrap();
    assert!(
        !q.should_notify(&drv.mem).unwrap(),
        "already notified past used_event"
    );
}

proptest! {
    /// Whatever a driver makes available with valid chains comes out of pop
    /// unchanged and in order, across ring wrap-around.
    #[test]
    fn valid_chains_round_trip(
        size_log in 1u32..6,
        chains in proptest::collection::vec(
            (proptest::collection::vec(1u32..4096, 0..3), proptest::collection::vec(1u32..4096, 0..3)),
            1..80,
        ),
    ) {
        let size = 1u16 << size_log;
        let mut drv = Driver::new(size);
        let mut q = SplitQueue::new(&drv.config(), 0);
        for (k, (r, w)) in chains.iter().enumerate() {
            let mut bufs: Vec<(u64, u32, bool)> = r.iter().map(|&l| (DATA + 0x1000 * k as u64, l, false)).collect();
            bufs.extend(w.iter().map(|&l| (DATA + 0x2000 * k as u64, l, true)));
            if bufs.is_empty() || bufs.len() > usize::from(size) {
                continue;
            }
            let head = drv.add(&bufs);
            let c = q.pop(&drv.mem).unwrap().unwrap();
            prop_assert_eq!(c.head, head);
            let got: Vec<(u64, u32, bool)> = c.readable.iter().map(|b| (b.addr, b.len, false))
                .chain(c.writable.iter().map(|b| (b.addr, b.len, true))).collect();
            prop_assert_eq!(got, bufs);
            q.push(&drv.mem, c.head, 7).unwrap();
            prop_assert_eq!(drv.get_used(), Some((u32::from(head), 7)));
        }
    }

    /// Arbitrary bytes in the descriptor table and available ring never make
    /// the device panic or touch memory outside guest RAM (VecMemory would
    /// report it as an error, never as a crash).
    #[test]
    fn garbage_rings_never_panic(
        desc in proptest::collection::vec(any::<u8>(), 16 * 16),
        avail in proptest::collection::vec(any::<u8>(), 4 + 2 * 16),
        features in prop::sample::select(vec![0u64, INDIRECT, EVENT_IDX, INDIRECT | EVENT_IDX]),
    ) {
        let drv = Driver::new(16);
        drv.mem.write(DESC, &desc).unwrap();
        drv.mem.write(AVAIL, &avail).unwrap();
        let mut q = SplitQueue::new(&drv.config(), features);
        for _ in 0..20 {
            match q.pop(&drv.mem) {
                Ok(Some(c)) => {
                    let _ = c.read_all(&drv.mem, 1 << 16);
                    q.push(&drv.mem, c.head, 0).unwrap();
                    let _ = q.should_notify(&drv.mem);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}
