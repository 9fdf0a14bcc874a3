//! IOMMU regions (`IOMMUMemoryRegionClass`, `memory_region_register_iommu_notifier`,
//! `memory_region_notify_iommu`, `memory_region_iommu_replay`,
//! `address_space_translate_iommu`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::address_space::AddressSpace;
use crate::region::MemoryRegion;
use crate::types::*;

/// Access permissions of an IOMMU mapping (QEMU `IOMMUAccessFlags`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct IommuAccessFlags(pub u32);

impl IommuAccessFlags {
    /// No access (`IOMMU_NONE`).
    pub const NONE: IommuAccessFlags = IommuAccessFlags(0);
    /// Read only (`IOMMU_RO`).
    pub const RO: IommuAccessFlags = IommuAccessFlags(1);
    /// Write only (`IOMMU_WO`).
    pub const WO: IommuAccessFlags = IommuAccessFlags(2);
    /// Read/write (`IOMMU_RW`).
    pub const RW: IommuAccessFlags = IommuAccessFlags(3);

    /// The flag for a read (`is_write == false`) or write access.
    pub const fn for_access(is_write: bool) -> IommuAccessFlags {
        if is_write { Self::WO } else { Self::RO }
    }
    /// True if all bits of `o` are set.
    pub const fn contains(self, o: IommuAccessFlags) -> bool {
        self.0 & o.0 == o.0
    }
}

/// One IOMMU translation (QEMU `IOMMUTLBEntry`).
#[derive(Clone, Debug, Default)]
pub struct IommuTlbEntry {
    /// Address space the translated address lives in.
    pub target_as: Option<AddressSpace>,
    /// Input address (page aligned).
    pub iova: HwAddr,
    /// Output address (page aligned).
    pub translated_addr: HwAddr,
    /// Page mask (`0xfff` for 4 KiB pages).
    pub addr_mask: HwAddr,
    /// Allowed accesses.
    pub perm: IommuAccessFlags,
}

/// Notifier event flags (QEMU `IOMMUNotifierFlag`).
pub mod notifier_flags {
    /// Unmap events (`IOMMU_NOTIFIER_UNMAP`).
    pub const UNMAP: u32 = 1;
    /// Map events (`IOMMU_NOTIFIER_MAP`).
    pub const MAP: u32 = 2;
    /// Device-IOTLB unmap events (`IOMMU_NOTIFIER_DEVIOTLB_UNMAP`).
    pub const DEVIOTLB_UNMAP: u32 = 4;
}

/// Callbacks of an IOMMU region (QEMU `IOMMUMemoryRegionClass`).
#[allow(unused_variables)]
pub trait IommuMemoryRegionOps: Send + Sync {
    /// Translates `addr` (offset in the region) for an access of kind
    /// `flag` (`RO`/`WO`, or `NONE` during replay).
    fn translate(&self, addr: HwAddr, flag: IommuAccessFlags, iommu_idx: u32) -> IommuTlbEntry;
    /// Smallest page size (`get_min_page_size`).
    fn get_min_page_size(&self) -> u64 {
        TARGET_PAGE_SIZE
    }
    /// The union of notifier flags changed; an error vetoes a registration.
    fn notify_flag_changed(&self, old: u32, new: u32) -> Result<(), String> {
        Ok(())
    }
    /// Which IOMMU index transactions with `attrs` use.
    fn attrs_to_index(&self, attrs: MemTxAttrs) -> u32 {
        0
    }
    /// Number of IOMMU indexes.
    fn num_indexes(&self) -> u32 {
        1
    }
    /// Class-specific replay (QEMU `IOMMUMemoryRegionClass::replay`):
    /// return `true` after sending the current mappings to `n` yourself;
    /// the default returns `false` and the generic page walk is used.
    fn replay(&self, n: &IommuNotifier) -> bool {
        false
    }
}

/// Event delivered to notifiers (QEMU `IOMMUTLBEvent`).
#[derive(Clone, Debug)]
pub struct IommuTlbEvent {
    /// `notifier_flags::MAP`, `UNMAP` or `DEVIOTLB_UNMAP`.
    pub event_type: u32,
    /// The (cropped) mapping.
    pub entry: IommuTlbEntry,
}

/// Callback type of an IOMMU notifier.
pub type IommuNotifyFn = Arc<dyn Fn(&IommuTlbEvent) + Send + Sync>;

/// A registered interest in mapping changes (QEMU `IOMMUNotifier`).
#[derive(Clone)]
pub struct IommuNotifier {
    /// Called for matching events.
    pub notify: IommuNotifyFn,
    /// Event types wanted (non-zero).
    pub flags: u32,
    /// First IOVA of interest.
    pub start: HwAddr,
    /// Last IOVA of interest (inclusive).
    pub end: HwAddr,
    /// IOMMU index.
    pub iommu_idx: u32,
}

/// Handle returned by [`MemoryRegion::register_iommu_notifier`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IommuNotifierId(u64);

static NEXT_NOTIFIER: AtomicU64 = AtomicU64::new(1);

pub(crate) struct IommuState {
    pub(crate) ops: Arc<dyn IommuMemoryRegionOps>,
    notifiers: Mutex<Vec<(IommuNotifierId, IommuNotifier)>>,
    flags: Mutex<u32>,
}

impl IommuState {
    pub(crate) fn new(ops: Arc<dyn IommuMemoryRegionOps>) -> IommuState {
        IommuState {
            ops,
            notifiers: Mutex::new(Vec::new()),
            flags: Mutex::new(0),
        }
    }
}

impl MemoryRegion {
    fn iommu_target(&self) -> MemoryRegion {
        let mut mr = self.clone();
        while let Some(a) = mr.alias() {
            mr = a;
        }
        assert!(mr.is_iommu(), "{:?} is not an IOMMU region", self.name());
        mr
    }

    pub(crate) fn iommu_ops(&self) -> Option<&Arc<dyn IommuMemoryRegionOps>> {
        self.0.iommu.as_ref().map(|s| &s.ops)
    }

    /// `memory_region_register_iommu_notifier` (through aliases).
    ///
    /// # Panics
    /// On zero flags, `start > end` or an out-of-range index.
    pub fn register_iommu_notifier(&self, n: IommuNotifier) -> Result<IommuNotifierId, String> {
        let mr = self.iommu_target();
        let st = mr.0.iommu.as_ref().expect("iommu");
        assert!(n.flags != 0, "IOMMU notifier without flags");
        assert!(n.start <= n.end, "IOMMU notifier start > end");
        assert!(
            n.iommu_idx < st.ops.num_indexes(),
            "IOMMU index out of range"
        );
        let id = IommuNotifierId(NEXT_NOTIFIER.fetch_add(1, Ordering::Relaxed));
        st.notifiers.lock().insert(0, (id, n));
        if let Err(e) = update_flags(st) {
            st.notifiers.lock().retain(|(i, _)| *i != id);
            return Err(e);
        }
        Ok(id)
    }

    /// `memory_region_unregister_iommu_notifier`.
    pub fn unregister_iommu_notifier(&self, id: IommuNotifierId) {
        let mr = self.iommu_target();
        let st = mr.0.iommu.as_ref().expect("iommu");
        st.notifiers.lock().retain(|(i, _)| *i != id);
        let _ = update_flags(st);
    }

    /// `memory_region_notify_iommu`: delivers `event` to notifiers of
    /// `iommu_idx` whose range it touches, cropped to that range.
    pub fn notify_iommu(&self, iommu_idx: u32, event: &IommuTlbEvent) {
        let mr = self.iommu_target();
        let st = mr.0.iommu.as_ref().expect("iommu");
        let list: Vec<IommuNotifier> = st.notifiers.lock().iter().map(|(_, n)| n.clone()).collect();
        for n in list {
            if n.iommu_idx == iommu_idx {
                notify_one(&n, event);
            }
        }
    }

    /// `memory_region_iommu_replay`: the IOMMU's own replay if it has one,
    /// else a walk of the region in minimum-page steps sending a MAP for
    /// every valid translation to `n`.
    pub fn iommu_replay(&self, n: &IommuNotifier) {
        let mr = self.iommu_target();
        let ops = mr.iommu_ops().expect("iommu").clone();
        if ops.replay(n) {
            return;
        }
        let gran = ops.get_min_page_size().max(1);
        let size = mr.size128();
        let mut addr: u128 = 0;
        while addr < size {
            let e = ops.translate(addr as u64, IommuAccessFlags::NONE, n.iommu_idx);
            if e.perm != IommuAccessFlags::NONE {
                (n.notify)(&IommuTlbEvent {
                    event_type: notifier_flags::MAP,
                    entry: e,
                });
            }
            addr += u128::from(gran);
        }
    }
}

fn update_flags(st: &IommuState) -> Result<(), String> {
    let new = st.notifiers.lock().iter().fold(0, |a, (_, n)| a | n.flags);
    let mut cur = st.flags.lock();
    if new != *cur {
        st.ops.notify_flag_changed(*cur, new)?;
        *cur = new;
    }
    Ok(())
}

/// `memory_region_notify_iommu_one`.
fn notify_one(n: &IommuNotifier, event: &IommuTlbEvent) {
    let e = &event.entry;
    let entry_end = e.iova.saturating_add(e.addr_mask);
    if n.start > entry_end || n.end < e.iova {
        return;
    }
    let mut cropped = e.clone();
    if event.event_type & notifier_flags::DEVIOTLB_UNMAP == 0 {
        let s = n.start.max(e.iova);
        let end = n.end.min(entry_end);
        cropped.iova = s;
        cropped.addr_mask = end - s;
        cropped.translated_addr = e.translated_addr.wrapping_add(s - e.iova);
    }
    if event.event_type & notifier_flags::UNMAP != 0 {
        assert_eq!(
            e.perm,
            IommuAccessFlags::NONE,
            "UNMAP events must carry no permission"
        );
    }
    if event.event_type & n.flags != 0 {
        (n.notify)(&IommuTlbEvent {
            event_type: event.event_type,
            entry: cropped,
        });
    }
}
