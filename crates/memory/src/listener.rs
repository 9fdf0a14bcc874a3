//! Memory listeners (QEMU `MemoryListener`, `MemoryRegionSection`).
//!
//! A listener registered on an [`crate::AddressSpace`] is told about every
//! change of that AS's FlatView as a diff: `region_del` for ranges that
//! went away or changed, then `region_add` for new ones and `region_nop`
//! for unchanged ones, bracketed by global `begin`/`commit`. Callback
//! order among listeners follows their [`priority`](MemoryListener::priority):
//! add-type callbacks run in ascending priority ("Forward"), delete-type
//! in descending ("Reverse"), with QEMU's inverted order for
//! `eventfd_add`/`eventfd_del`.

use std::sync::Arc;

use ferrite_aio::EventNotifier;

use crate::flatview::FlatRange;
use crate::region::MemoryRegion;
use crate::types::HwAddr;

/// `MEMORY_LISTENER_PRIORITY_MIN`.
pub const MEMORY_LISTENER_PRIORITY_MIN: u32 = 0;
/// `MEMORY_LISTENER_PRIORITY_ACCEL`.
pub const MEMORY_LISTENER_PRIORITY_ACCEL: u32 = 10;
/// `MEMORY_LISTENER_PRIORITY_DEV_BACKEND`.
pub const MEMORY_LISTENER_PRIORITY_DEV_BACKEND: u32 = 10;

/// A slice of an address space backed by one region (QEMU
/// `MemoryRegionSection`).
#[derive(Clone, Debug)]
pub struct MemoryRegionSection {
    /// The leaf region (`None` for ioeventfd notifications, where QEMU
    /// passes a section without a region).
    pub mr: Option<MemoryRegion>,
    /// Offset of the section's first byte inside `mr`.
    pub offset_within_region: HwAddr,
    /// Size in bytes (up to 2^64).
    pub size: u128,
    /// Address of the section's first byte in the address space.
    pub offset_within_address_space: HwAddr,
    /// Read-only flag of the range.
    pub readonly: bool,
    /// Non-volatile flag of the range.
    pub nonvolatile: bool,
    /// Unmergeable flag of the range.
    pub unmergeable: bool,
}

impl MemoryRegionSection {
    pub(crate) fn from_fr(fr: &FlatRange) -> MemoryRegionSection {
        MemoryRegionSection {
            mr: Some(fr.mr.clone()),
            offset_within_region: fr.offset_in_region,
            size: fr.size,
            offset_within_address_space: fr.start,
            readonly: fr.readonly,
            nonvolatile: fr.nonvolatile,
            unmergeable: fr.unmergeable,
        }
    }
}

/// Callbacks on topology and dirty-logging changes (QEMU
/// `MemoryListener`). Every method has an empty default.
#[allow(unused_variables)]
pub trait MemoryListener: Send + Sync {
    /// Ordering key: lower runs first for add-type callbacks.
    fn priority(&self) -> u32 {
        0
    }
    /// Name for debugging.
    fn name(&self) -> &str {
        ""
    }
    /// Start of a topology update (all listeners, Forward).
    fn begin(&self) {}
    /// End of a topology update (all listeners, Forward).
    fn commit(&self) {}
    /// A new range appeared.
    fn region_add(&self, section: &MemoryRegionSection) {}
    /// A range disappeared (or changed: del + add).
    fn region_del(&self, section: &MemoryRegionSection) {}
    /// A range is unchanged.
    fn region_nop(&self, section: &MemoryRegionSection) {}
    /// Dirty logging started for clients `new & !old`.
    fn log_start(&self, section: &MemoryRegionSection, old: u8, new: u8) {}
    /// Dirty logging stopped for clients `old & !new`.
    fn log_stop(&self, section: &MemoryRegionSection, old: u8, new: u8) {}
    /// Push the accelerator's dirty bits for this section into the
    /// bitmaps (called before a snapshot).
    fn log_sync(&self, section: &MemoryRegionSection) {}
    /// Whole-system variant of `log_sync`, called once per sync.
    fn log_sync_global(&self) {}
    /// Dirty bits of this section were cleared.
    fn log_clear(&self, section: &MemoryRegionSection) {}
    /// Global (migration) dirty logging starts; an error vetoes it.
    fn log_global_start(&self) -> Result<(), String> {
        Ok(())
    }
    /// Global dirty logging stops.
    fn log_global_stop(&self) {}
    /// After a global sync.
    fn log_global_after_sync(&self) {}
    /// An ioeventfd appeared in the address space.
    fn eventfd_add(
        &self,
        section: &MemoryRegionSection,
        match_data: bool,
        data: u64,
        e: &Arc<EventNotifier>,
    ) {
    }
    /// An ioeventfd disappeared.
    fn eventfd_del(
        &self,
        section: &MemoryRegionSection,
        match_data: bool,
        data: u64,
        e: &Arc<EventNotifier>,
    ) {
    }
    /// A coalesced MMIO range appeared.
    fn coalesced_io_add(&self, section: &MemoryRegionSection, addr: HwAddr, len: u64) {}
    /// A coalesced MMIO range disappeared.
    fn coalesced_io_del(&self, section: &MemoryRegionSection, addr: HwAddr, len: u64) {}
}

/// Inserts `l` keeping ascending priority, after existing equals.
pub(crate) fn insert_by_priority(
    list: &mut Vec<Arc<dyn MemoryListener>>,
    l: Arc<dyn MemoryListener>,
) {
    let p = l.priority();
    let pos = list
        .iter()
        .position(|o| o.priority() > p)
        .unwrap_or(list.len());
    list.insert(pos, l);
}
