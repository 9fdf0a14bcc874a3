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
//!   MMIO or unassigned.
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
pub mod ram;
mod region;
mod transaction;
mod types;

pub use address_space::{AddressSpace, DEFAULT_MAX_BOUNCE_BUFFER_SIZE, Mapping, Translation};
pub use cache::MemoryRegionCache;
pub use dispatch::{access_valid, dispatch_read, dispatch_write, memory_access_size};
pub use flatview::{FlatRange, FlatView, PhysTarget};
pub use ioeventfd::MemoryRegionIoeventfd;
pub use listener::{
    MEMORY_LISTENER_PRIORITY_ACCEL, MEMORY_LISTENER_PRIORITY_DEV_BACKEND,
    MEMORY_LISTENER_PRIORITY_MIN, MemoryListener, MemoryRegionSection,
};
pub use region::{
    MemoryRegion, MemoryRegionOps, RegionKind, RegionOwner, ResizedFn, UNASSIGNED_IO_DESC,
    UnassignedIoOps,
};
pub use transaction::{
    GLOBAL_DIRTY_DIRTY_RATE, GLOBAL_DIRTY_LIMIT, GLOBAL_DIRTY_MIGRATION, Transaction,
    global_dirty_log_start, global_dirty_log_stop, global_dirty_log_sync, global_dirty_tracking,
    transaction_begin, transaction_commit, transaction_depth,
};
pub use types::*;
