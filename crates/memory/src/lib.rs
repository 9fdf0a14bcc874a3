//! QEMU's memory API for Ferrite.
//!
//! QEMU counterpart: `system/memory.c`, `system/physmem.c`,
//! `include/system/memory.h`, `docs/devel/memory.rst` (behaviour as of
//! QEMU 7.2, the version of the oracles in `spec/oracles/`).
//!
//! # Model
//! * A graph of [`MemoryRegion`]s — containers, MMIO ([`MemoryRegionOps`]
//!   with an [`OpsDesc`]), RAM/ROM (a [`ram::RamBlock`]), ROM devices, RAM
//!   devices, IOMMUs and aliases — is edited under the BQL with
//!   `add_subregion[_overlap]`, `del_subregion`, `set_enabled`,
//!   `set_address`, ... Changes are batched in [`Transaction`]s.
//! * At the outermost commit every distinct root is *rendered* into an
//!   immutable [`FlatView`]: sorted, merged, non-overlapping
//!   [`FlatRange`]s naming the leaf region that answers each address
//!   (the visibility rules of `memory.rst`: priority, newest-first ties,
//!   aliases, containers with their own backing showing through holes,
//!   disabled subtrees, clipping, inherited read-only).
//! * Each view also gets its *phys map*, QEMU's `AddressSpaceDispatch`
//!   radix table over page numbers (9 bits per level, 6 levels, compacted),
//!   whose leaves name FlatRanges directly; [`FlatView::lookup`] walks it
//!   (a few dependent loads whatever the number of ranges), and
//!   `info mtree -f -d` ([`mtree`]) prints it in QEMU's format. Views too
//!   fragmented for its node budget (64 + one 2 KiB node per range) are
//!   searched by binary search instead.
//! * Each [`AddressSpace`] publishes its current view through an
//!   `arc_swap::ArcSwap`: readers (vCPUs, device DMA) load it without
//!   locks and keep a consistent view for as long as they hold it; ASes
//!   whose roots resolve to the same physical root share one view.
//! * [`MemoryListener`]s see each change as a diff (region_del/add/nop,
//!   log_start/stop, eventfd_add/del, coalesced_io_add/del) in QEMU's
//!   order.
//! * Accesses go through [`AddressSpace::read`]/[`write`](AddressSpace::write),
//!   the `ld*`/`st*` helpers, [`AddressSpace::map`], or, on a CPU's fast
//!   path, [`FlatView::translate`] which classifies an address as RAM
//!   (host pointer, ram_addr, writability, dirty clients), ROM device,
//!   MMIO, IOMMU or unassigned. Every `AddressSpace` access pays one
//!   arc-swap load (two atomic read-modify-writes); a vCPU that keeps an
//!   `Arc<FlatView>` snapshot (and re-takes it when
//!   [`FlatView::generation`] changes, e.g. from a listener's `commit`)
//!   can call the same access methods on the snapshot with no atomics.
//! * Dirty memory: per-client bitmaps over ram_addr pages
//!   ([`ram::set_dirty_range`], [`ram::snapshot_and_clear_dirty`], ...).
//!   Under TCG ([`ram::set_tcg_enabled`]) every write through this crate
//!   to a page whose CODE bit is clear calls the hook installed with
//!   [`ram::set_code_write_hook`]; the translator clears CODE with
//!   [`ram::reset_dirty_range`] when it translates from a page and sets it
//!   again ([`ram::set_dirty_flag`]) once the page holds no code.
//!
//! # Example: a board, a device, DMA and a vCPU's fast path
//! ```
//! use std::sync::Arc;
//! use ferrite_memory::*;
//!
//! struct Uart; // line status register at offset 5 reads 0x60
//! impl MemoryRegionOps for Uart {
//!     fn read(&self, addr: HwAddr, _size: u32) -> u64 {
//!         if addr == 5 { 0x60 } else { 0 }
//!     }
//! }
//! const UART: OpsDesc = OpsDesc::new().little_endian().valid_sizes(1, 1);
//!
//! let system = MemoryRegion::new_container("system", u64::MAX);
//! let ram = MemoryRegion::new_ram("ram", 0x10000).unwrap();
//! system.add_subregion(0x8000_0000, &ram);
//! system.add_subregion(0x1000_0000, &MemoryRegion::new_io("serial", 8, Arc::new(Uart), UART));
//! let memory = AddressSpace::new(&system, "memory");
//! let attrs = MEMTXATTRS_UNSPECIFIED;
//!
//! // Loaders and device DMA go through the AddressSpace.
//! assert!(memory.write(0x8000_0000, attrs, &[0x13, 0, 0, 0]).is_ok());
//! assert_eq!(memory.ldub(0x1000_0005, attrs), (0x60, MemTxResult::OK));
//! assert_eq!(memory.ldl_le(0x2000_0000, attrs), (0, MemTxResult::DECODE_ERROR));
//!
//! // A vCPU keeps a snapshot and its generation, and classifies addresses.
//! let fv = memory.flatview();
//! match fv.translate(0x8000_0000) {
//!     PhysTarget::Ram { host, writable, .. } => {
//!         assert!(writable);
//!         // SAFETY: `host` points into guest RAM kept alive by `fv`.
//!         assert_eq!(unsafe { *host }, 0x13);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! if let PhysTarget::Mmio { fr, offset } = fv.translate(0x1000_0005) {
//!     assert_eq!(dispatch_read(fr.mr(), offset, 1, Endian::Little, attrs).0, 0x60);
//! }
//! let gen_before = fv.generation();
//! system.add_subregion(0x9000_0000, &MemoryRegion::new_reservation("hole", 0x1000));
//! assert_ne!(memory.flatview().generation(), gen_before); // time to flush the TLB
//! ```
//!
//! # Lifetime: what replaces `object_unparent`
//! Regions are reference counted (`Arc`). A container holds its
//! subregions, an alias its target, a FlatView the regions it renders; a
//! reader holding a FlatView therefore keeps every region (and RAM block,
//! and device state behind the ops) it may touch alive — this is QEMU's
//! RCU grace period, enforced by the type system. A region *leaves the
//! graph* only explicitly: [`MemoryRegion::unparent`] (QEMU's
//! `object_unparent` → finalize) detaches it from its container and
//! detaches its children in one transaction, and dropping a
//! [`RegionOwner`] (the device that owns the regions) unparents all
//! regions registered with it. Memory is freed when the last reference
//! goes, never under a reader. Device state reached from the ops must not
//! own the region handles that point back to it (that would be a cycle);
//! the board or the device's owner keeps the [`RegionOwner`].
//!
//! # Locking
//! Topology mutators, transactions and listener callbacks run under the
//! BQL (`ferrite_aio::bql`); mutators take it if the caller does not hold
//! it. MMIO callbacks run with the BQL held unless the region opted out
//! with [`MemoryRegion::enable_lockless_io`]; a caller already holding
//! the BQL keeps it (no deadlock).

mod address_space;
mod cache;
pub mod coalesced;
mod dispatch;
mod flatview;
mod ioeventfd;
pub mod iommu;
mod listener;
pub mod mtree;
mod phys_map;
pub mod ram;
mod region;
mod transaction;
mod types;

pub use address_space::{
    AddressSpace, DEFAULT_MAX_BOUNCE_BUFFER_SIZE, MapClient, Mapping, Translation,
};
pub use cache::MemoryRegionCache;
pub use dispatch::{access_valid, dispatch_read, dispatch_write, memory_access_size};
pub use flatview::{FlatRange, FlatView, PhysTarget};
pub use ioeventfd::MemoryRegionIoeventfd;
pub use listener::{
    MEMORY_LISTENER_PRIORITY_ACCEL, MEMORY_LISTENER_PRIORITY_DEV_BACKEND,
    MEMORY_LISTENER_PRIORITY_MIN, MemoryListener, MemoryRegionSection,
};
pub use region::{
    MemoryRegion, MemoryRegionOps, MemoryRegionOpsMut, MutexOps, RegionKind, RegionOwner,
    ResizedFn, UNASSIGNED_IO_DESC, UnassignedIoOps,
};
pub use transaction::{
    GLOBAL_DIRTY_DIRTY_RATE, GLOBAL_DIRTY_LIMIT, GLOBAL_DIRTY_MIGRATION, Transaction,
    global_dirty_log_start, global_dirty_log_stop, global_dirty_log_sync, global_dirty_tracking,
    transaction_begin, transaction_commit, transaction_depth,
};
pub use types::*;
