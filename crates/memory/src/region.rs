//! Memory regions: the nodes of the region graph (QEMU `MemoryRegion`,
//! `system/memory.c: memory_region_init*`, `memory_region_add_subregion*`,
//! `memory_region_set_*`).
//!
//! A [`MemoryRegion`] is a cheap, clonable handle (an `Arc`) to one node.
//! All kinds of region share one struct, as in QEMU; the kind decides
//! whether it *terminates* (is rendered into FlatViews) and how accesses
//! are served. Topology mutators take the BQL if the caller does not hold
//! it and run inside a memory transaction, so a change made outside any
//! transaction takes effect immediately and one made inside only at the
//! outermost commit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, MutexGuard};

use crate::ioeventfd::MemoryRegionIoeventfd;
use crate::iommu::{IommuMemoryRegionOps, IommuState};
use crate::ram::RamBlock;
use crate::transaction::{self, Transaction};
use crate::types::*;

/// Device callbacks of an MMIO region (the function-pointer half of QEMU's
/// `MemoryRegionOps`; the data half is [`OpsDesc`]).
///
/// `addr` is the offset inside the region; `size` is 1, 2, 4 or 8 (or a
/// value the device asked for through [`OpsDesc::impl_sizes`]); values are
/// in the byte order given by [`OpsDesc::endianness`]. Callbacks run with
/// the BQL held unless the region was made lockless with
/// [`MemoryRegion::enable_lockless_io`].
///
/// Implement [`read`](Self::read)/[`write`](Self::write), or the
/// `_with_attrs` variants when the device needs the attributes or wants to
/// report errors.
pub trait MemoryRegionOps: Send + Sync {
    /// Reads `size` bytes at `addr` (QEMU `ops->read`).
    fn read(&self, addr: HwAddr, size: u32) -> u64 {
        let _ = (addr, size);
        0
    }
    /// Writes `size` bytes at `addr` (QEMU `ops->write`).
    fn write(&self, addr: HwAddr, value: u64, size: u32) {
        let _ = (addr, value, size);
    }
    /// Read with attributes (QEMU `ops->read_with_attrs`); the default
    /// calls [`read`](Self::read) and reports `MEMTX_OK`.
    fn read_with_attrs(&self, addr: HwAddr, size: u32, attrs: MemTxAttrs) -> (u64, MemTxResult) {
        let _ = attrs;
        (self.read(addr, size), MemTxResult::OK)
    }
    /// Write with attributes (QEMU `ops->write_with_attrs`); the default
    /// calls [`write`](Self::write) and reports `MEMTX_OK`.
    fn write_with_attrs(
        &self,
        addr: HwAddr,
        value: u64,
        size: u32,
        attrs: MemTxAttrs,
    ) -> MemTxResult {
        let _ = attrs;
        self.write(addr, value, size);
        MemTxResult::OK
    }
    /// Extra validity check (QEMU `ops->valid.accepts`); returning false
    /// makes the access fail with `MEMTX_DECODE_ERROR` before any callback.
    fn accepts(&self, addr: HwAddr, size: u32, is_write: bool, attrs: MemTxAttrs) -> bool {
        let _ = (addr, size, is_write, attrs);
        true
    }
}

/// Callbacks for devices written as a plain register block with
/// `&mut self` methods; wrap it in [`MutexOps`] to serve a region.
pub trait MemoryRegionOpsMut: Send {
    /// Reads `size` bytes at `addr`.
    fn read(&mut self, addr: HwAddr, size: u32) -> u64;
    /// Writes `size` bytes at `addr`.
    fn write(&mut self, addr: HwAddr, value: u64, size: u32);
}

/// Adapter from [`MemoryRegionOpsMut`] to [`MemoryRegionOps`]: the device
/// state sits behind a mutex (uncontended under the BQL, and still correct
/// for lockless regions). Under the BQL a re-entrant access (the device's
/// own callback reaching its region again) fails with
/// `MEMTX_ACCESS_ERROR`; on a lockless region it would block, so lockless
/// devices must not access their own regions from their callbacks.
///
/// ```
/// use std::sync::Arc;
/// use ferrite_memory::*;
/// #[derive(Default)]
/// struct Scratch(u64);
/// impl MemoryRegionOpsMut for Scratch {
///     fn read(&mut self, _: HwAddr, _: u32) -> u64 { self.0 }
///     fn write(&mut self, _: HwAddr, v: u64, _: u32) { self.0 = v; }
/// }
/// let mr = MemoryRegion::new_io("scratch", 8, Arc::new(MutexOps::new(Scratch::default())),
///                               OpsDesc::new().little_endian().impl_sizes(8, 8));
/// dispatch_write(&mr, 0, 42, 8, Endian::Little, MEMTXATTRS_UNSPECIFIED);
/// assert_eq!(dispatch_read(&mr, 0, 8, Endian::Little, MEMTXATTRS_UNSPECIFIED).0, 42);
/// ```
pub struct MutexOps<T>(pub Mutex<T>);

impl<T> MutexOps<T> {
    /// Wraps `dev`.
    pub fn new(dev: T) -> MutexOps<T> {
        MutexOps(Mutex::new(dev))
    }
}

impl<T: MemoryRegionOpsMut> MutexOps<T> {
    /// Locks the device. Under the BQL the lock can only be busy because
    /// this very device is being re-entered (its callback caused an access
    /// to its own region, e.g. guest-programmed DMA aimed at its own
    /// registers): that access is refused, like QEMU 8's re-entrancy
    /// guard, instead of deadlocking.
    fn lock_dev(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
        if ferrite_aio::bql::bql_locked() {
            let g = self.0.try_lock();
            if g.is_none() {
                ferrite_aio::qemu_log_mask!(
                    ferrite_aio::log::LogMask::GUEST_ERROR,
                    "Blocked re-entrant IO on MemoryRegion\n"
                );
            }
            g
        } else {
            Some(self.0.lock())
        }
    }
}

impl<T: MemoryRegionOpsMut> MemoryRegionOps for MutexOps<T> {
    fn read_with_attrs(&self, addr: HwAddr, size: u32, _attrs: MemTxAttrs) -> (u64, MemTxResult) {
        match self.lock_dev() {
            Some(mut d) => (d.read(addr, size), MemTxResult::OK),
            None => (0, MemTxResult::ACCESS_ERROR),
        }
    }
    fn write_with_attrs(
        &self,
        addr: HwAddr,
        value: u64,
        size: u32,
        _attrs: MemTxAttrs,
    ) -> MemTxResult {
        match self.lock_dev() {
            Some(mut d) => {
                d.write(addr, value, size);
                MemTxResult::OK
            }
            None => MemTxResult::ACCESS_ERROR,
        }
    }
}

/// QEMU's `unassigned_mem_ops`: rejects everything (reads 0, writes
/// dropped, `MEMTX_DECODE_ERROR`). Used by containers, reservations, RAM
/// and ROM when they are reached through the slow path.
pub(crate) struct UnassignedMemOps;
impl MemoryRegionOps for UnassignedMemOps {
    fn accepts(&self, _: HwAddr, _: u32, _: bool, _: MemTxAttrs) -> bool {
        false
    }
}

/// QEMU's `unassigned_io_ops` (`system/ioport.c`): reads return all ones,
/// writes are ignored, both succeed. The background of port-I/O spaces and
/// PCI windows.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnassignedIoOps;
impl MemoryRegionOps for UnassignedIoOps {
    fn read(&self, _: HwAddr, _: u32) -> u64 {
        u64::MAX
    }
}

/// Descriptor of [`UnassignedIoOps`] (`unassigned_io_ops`: valid 1..4? No:
/// QEMU leaves the sizes unset, so the core defaults apply).
pub const UNASSIGNED_IO_DESC: OpsDesc = OpsDesc::new().native_endian();

/// Which kind of node a region is. Kinds are fixed at creation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RegionKind {
    /// Pure container (`memory_region_init`).
    Container,
    /// MMIO with device callbacks (`memory_region_init_io`), or a
    /// reservation when created without ops.
    Io,
    /// RAM (`memory_region_init_ram*`); ROM is RAM created read-only.
    Ram,
    /// ROM device: RAM-backed reads in romd mode, callbacks for writes
    /// (`memory_region_init_rom_device`).
    RomDevice,
    /// RAM device: host memory accessed with exact access widths
    /// (`memory_region_init_ram_device_ptr`).
    RamDevice,
    /// IOMMU region (`TYPE_IOMMU_MEMORY_REGION`).
    Iommu,
    /// Alias of (part of) another region (`memory_region_init_alias`).
    Alias,
}

/// Callback of resizeable RAM: `(idstr, new_size)`.
pub type ResizedFn = Box<dyn Fn(&str, u64) + Send + Sync>;

/// Mutable, BQL-protected part of a region.
pub(crate) struct MrState {
    pub(crate) size: u128,
    pub(crate) addr: HwAddr,
    pub(crate) priority: i32,
    pub(crate) container: Option<Weak<MrInner>>,
    /// Sorted by priority descending, newest first among equals.
    pub(crate) subregions: Vec<Arc<MrInner>>,
    pub(crate) enabled: bool,
    pub(crate) readonly: bool,
    pub(crate) nonvolatile: bool,
    pub(crate) unmergeable: bool,
    pub(crate) romd_mode: bool,
    pub(crate) alias_offset: HwAddr,
    pub(crate) dirty_log_mask: u8,
    pub(crate) vga_logging_count: u32,
    pub(crate) mapped_via_alias: u32,
    pub(crate) coalesced: Vec<(HwAddr, u64)>,
    pub(crate) owner: Option<String>,
}

/// The shared node behind a [`MemoryRegion`] handle.
pub(crate) struct MrInner {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) kind: RegionKind,
    pub(crate) terminates: bool,
    /// `mr->ram`: RAM and ROM (not ROM devices, which are `ram == false`).
    pub(crate) ram: bool,
    pub(crate) nomigrate: bool,
    pub(crate) ops: Arc<dyn MemoryRegionOps>,
    pub(crate) desc: OpsDesc,
    pub(crate) ram_block: Option<Arc<RamBlock>>,
    pub(crate) iommu: Option<IommuState>,
    pub(crate) alias: Option<Arc<MrInner>>,
    pub(crate) state: Mutex<MrState>,
    pub(crate) lockless_io: AtomicBool,
    pub(crate) flush_coalesced: AtomicBool,
    pub(crate) ioeventfds: ArcSwap<Vec<MemoryRegionIoeventfd>>,
    /// Resize callback of resizeable RAM.
    pub(crate) resized: Option<ResizedFn>,
}

static NEXT_MR_ID: AtomicU64 = AtomicU64::new(1);

/// Handle to a memory region (QEMU `MemoryRegion *`). Cloning is cheap and
/// yields another handle to the same region; equality is identity.
///
/// # Ownership (what replaces `object_unparent`)
/// In QEMU a region lives as long as its owner QOM object and leaves the
/// graph when the owner is finalized. In Ferrite a region is kept alive by
/// every `Arc` that points to it: its container's subregion list, aliases
/// that target it, FlatViews that render it (and therefore any reader that
/// still holds such a FlatView), and handles held by device code. A region
/// therefore never disappears under a concurrent reader. To make a region
/// *leave the graph* — the job `object_unparent` does — its owner calls
/// [`MemoryRegion::unparent`] (or drops a [`RegionOwner`] that tracks the
/// region, the normal way for a device being unplugged): that detaches the
/// region from its container and detaches its subregions, in one
/// transaction. Its memory (RAM block, device state reached through the
/// ops) is freed when the last FlatView and handle referring to it are
/// gone — the equivalent of QEMU's RCU-deferred `flatview_destroy` →
/// `memory_region_unref`.
#[derive(Clone)]
pub struct MemoryRegion(pub(crate) Arc<MrInner>);

impl PartialEq for MemoryRegion {
    fn eq(&self, other: &MemoryRegion) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for MemoryRegion {}

impl std::hash::Hash for MemoryRegion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl std::fmt::Debug for MemoryRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryRegion({:?} #{})", self.0.name, self.0.id)
    }
}

/// Tracks the regions a device (QEMU: the owner object) created, so that
/// dropping the owner takes them all out of the graph at once.
#[derive(Default)]
pub struct RegionOwner {
    name: String,
    regions: Mutex<Vec<MemoryRegion>>,
}

impl RegionOwner {
    /// Creates an owner; `name` is used by `info mtree -o`: either a plain
    /// path (printed as `owner:{dev path=<name>}`) or a full QOM-style
    /// descriptor such as `dev id=platform-bus-device` or
    /// `obj path=/objects/ram` (printed as `owner:{<name>}`).
    pub fn new(name: &str) -> RegionOwner {
        RegionOwner {
            name: name.to_owned(),
            regions: Mutex::new(Vec::new()),
        }
    }
    /// The owner's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    fn track(&self, mr: &MemoryRegion) {
        self.regions.lock().push(mr.clone());
    }
}

impl Drop for RegionOwner {
    fn drop(&mut self) {
        let regions = std::mem::take(&mut *self.regions.lock());
        if regions.is_empty() {
            return;
        }
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            for mr in &regions {
                mr.unparent();
            }
        });
    }
}

/// Builder-style parameters shared by the constructors.
struct NewRegion {
    name: String,
    kind: RegionKind,
    size: u128,
    ops: Option<Arc<dyn MemoryRegionOps>>,
    desc: OpsDesc,
    ram_block: Option<Arc<RamBlock>>,
    iommu: Option<IommuState>,
    alias: Option<(Arc<MrInner>, HwAddr)>,
    readonly: bool,
    nomigrate: bool,
    resized: Option<ResizedFn>,
}

impl NewRegion {
    fn new(name: &str, kind: RegionKind, size: u128) -> NewRegion {
        NewRegion {
            name: name.to_owned(),
            kind,
            size,
            ops: None,
            desc: OpsDesc::new(),
            ram_block: None,
            iommu: None,
            alias: None,
            readonly: false,
            nomigrate: false,
            resized: None,
        }
    }

    fn build(self) -> MemoryRegion {
        assert!(
            self.size <= SIZE_2_64,
            "memory region {:?}: size {:#x} exceeds 2^64",
            self.name,
            self.size
        );
        assert!(
            !self.desc.impl_.unaligned || self.desc.valid.unaligned,
            "memory region {:?}: impl.unaligned requires valid.unaligned",
            self.name
        );
        let terminates = !matches!(self.kind, RegionKind::Container | RegionKind::Alias);
        let ram = matches!(self.kind, RegionKind::Ram | RegionKind::RamDevice);
        let (alias, alias_offset) = match self.alias {
            Some((a, o)) => (Some(a), o),
            None => (None, 0),
        };
        let ops = self.ops.unwrap_or_else(|| Arc::new(UnassignedMemOps));
        MemoryRegion(Arc::new(MrInner {
            id: NEXT_MR_ID.fetch_add(1, Ordering::Relaxed),
            name: self.name,
            kind: self.kind,
            terminates,
            ram,
            nomigrate: self.nomigrate,
            ops,
            desc: self.desc,
            ram_block: self.ram_block,
            iommu: self.iommu,
            alias,
            state: Mutex::new(MrState {
                size: self.size,
                addr: 0,
                priority: 0,
                container: None,
                subregions: Vec::new(),
                enabled: true,
                readonly: self.readonly,
                nonvolatile: false,
                unmergeable: false,
                romd_mode: true,
                alias_offset,
                dirty_log_mask: 0,
                vga_logging_count: 0,
                mapped_via_alias: 0,
                coalesced: Vec::new(),
                owner: None,
            }),
            lockless_io: AtomicBool::new(false),
            flush_coalesced: AtomicBool::new(false),
            ioeventfds: ArcSwap::from_pointee(Vec::new()),
            resized: self.resized,
        }))
    }
}

fn size_of_u64(size: u64) -> u128 {
    // QEMU: a u64 size of UINT64_MAX means exactly 2^64.
    if size == u64::MAX {
        SIZE_2_64
    } else {
        u128::from(size)
    }
}

impl MemoryRegion {
    /// A pure container (`memory_region_init`). `size == u64::MAX` means
    /// 2^64.
    pub fn new_container(name: &str, size: u64) -> MemoryRegion {
        NewRegion::new(name, RegionKind::Container, size_of_u64(size)).build()
    }

    /// An MMIO region served by `ops` (`memory_region_init_io`).
    pub fn new_io(
        name: &str,
        size: u64,
        ops: Arc<dyn MemoryRegionOps>,
        desc: OpsDesc,
    ) -> MemoryRegion {
        let mut n = NewRegion::new(name, RegionKind::Io, size_of_u64(size));
        n.ops = Some(ops);
        n.desc = desc;
        n.build()
    }

    /// A reservation: an MMIO region with no ops, which terminates (hides
    /// what is below it) but rejects every access
    /// (`memory_region_init_io(mr, owner, NULL, ...)`).
    pub fn new_reservation(name: &str, size: u64) -> MemoryRegion {
        NewRegion::new(name, RegionKind::Io, size_of_u64(size)).build()
    }

    /// An alias of `[offset, offset+size)` of `orig`
    /// (`memory_region_init_alias`). Chains of aliases are allowed.
    pub fn new_alias(name: &str, orig: &MemoryRegion, offset: HwAddr, size: u64) -> MemoryRegion {
        assert!(
            u128::from(offset) + size_of_u64(size) <= SIZE_2_64,
            "alias {name:?}: offset {offset:#x} + size {size:#x} overflows 2^64"
        );
        let mut n = NewRegion::new(name, RegionKind::Alias, size_of_u64(size));
        n.alias = Some((orig.0.clone(), offset));
        n.build()
    }

    /// An IOMMU region (`memory_region_init_iommu`).
    pub fn new_iommu(name: &str, size: u64, ops: Arc<dyn IommuMemoryRegionOps>) -> MemoryRegion {
        let mut n = NewRegion::new(name, RegionKind::Iommu, size_of_u64(size));
        n.iommu = Some(IommuState::new(ops));
        n.build()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_ram_kind(
        name: &str,
        kind: RegionKind,
        size: u64,
        block: Arc<RamBlock>,
        ops: Option<(Arc<dyn MemoryRegionOps>, OpsDesc)>,
        readonly: bool,
        nomigrate: bool,
        resized: Option<ResizedFn>,
    ) -> MemoryRegion {
        let mut n = NewRegion::new(name, kind, size_of_u64(size));
        n.ram_block = Some(block.clone());
        if let Some((o, d)) = ops {
            n.ops = Some(o);
            n.desc = d;
        }
        n.readonly = readonly;
        n.nomigrate = nomigrate;
        n.resized = resized;
        let mr = n.build();
        block.set_mr(&mr);
        mr
    }

    /// Records `owner` as this region's owner (for `info mtree -o`) and
    /// makes dropping `owner` unparent the region. Returns `self` for
    /// chaining.
    pub fn with_owner(self, owner: &RegionOwner) -> MemoryRegion {
        owner.track(&self);
        self.lock().owner = Some(owner.name.clone());
        self
    }

    pub(crate) fn from_inner(inner: &Arc<MrInner>) -> MemoryRegion {
        MemoryRegion(inner.clone())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MrState> {
        self.0.state.lock()
    }

    /// The region's name (`memory_region_name`).
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The region's kind.
    pub fn kind(&self) -> RegionKind {
        self.0.kind
    }
    /// Owner name given at creation, if any.
    pub fn owner(&self) -> Option<String> {
        self.lock().owner.clone()
    }
    /// Size in bytes as a 128-bit value (2^64 for a full-space region).
    pub fn size128(&self) -> u128 {
        self.lock().size
    }
    /// Size as u64, with 2^64 reported as `u64::MAX` (`memory_region_size`).
    pub fn size(&self) -> u64 {
        let s = self.size128();
        if s == SIZE_2_64 { u64::MAX } else { s as u64 }
    }
    /// Offset inside the container.
    pub fn addr(&self) -> HwAddr {
        self.lock().addr
    }
    /// Priority among siblings.
    pub fn priority(&self) -> i32 {
        self.lock().priority
    }
    /// Whether the region is enabled.
    pub fn is_enabled(&self) -> bool {
        self.lock().enabled
    }
    /// Whether the region itself is read-only.
    pub fn is_readonly(&self) -> bool {
        self.lock().readonly
    }
    /// `memory_region_is_ram`: RAM, ROM or RAM device.
    pub fn is_ram(&self) -> bool {
        self.0.ram
    }
    /// `memory_region_is_ram_device`.
    pub fn is_ram_device(&self) -> bool {
        self.0.kind == RegionKind::RamDevice
    }
    /// True for ROM devices.
    pub fn is_rom_device(&self) -> bool {
        self.0.kind == RegionKind::RomDevice
    }
    /// `memory_region_is_romd`: a ROM device currently in romd mode.
    pub fn is_romd(&self) -> bool {
        self.is_rom_device() && self.lock().romd_mode
    }
    /// `memory_region_is_iommu`.
    pub fn is_iommu(&self) -> bool {
        self.0.iommu.is_some()
    }
    /// Whether the region is rendered into FlatViews (has ops or memory).
    pub fn terminates(&self) -> bool {
        self.0.terminates
    }
    /// Whether the region was created `nomigrate`.
    pub fn is_nomigrate(&self) -> bool {
        self.0.nomigrate
    }
    /// Alias target, if this is an alias.
    pub fn alias(&self) -> Option<MemoryRegion> {
        self.0.alias.as_ref().map(MemoryRegion::from_inner)
    }
    /// Alias offset inside the target.
    pub fn alias_offset(&self) -> HwAddr {
        self.lock().alias_offset
    }
    /// The container this region is mapped into, if any.
    pub fn container(&self) -> Option<MemoryRegion> {
        self.lock()
            .container
            .as_ref()
            .and_then(Weak::upgrade)
            .map(MemoryRegion)
    }
    /// `memory_region_is_mapped`: in a container or targeted by a mapped alias.
    pub fn is_mapped(&self) -> bool {
        let st = self.lock();
        st.container.is_some() || st.mapped_via_alias > 0
    }
    /// Subregions in list order (priority descending, newest first among
    /// equal priorities).
    pub fn subregions(&self) -> Vec<MemoryRegion> {
        self.lock()
            .subregions
            .iter()
            .map(MemoryRegion::from_inner)
            .collect()
    }
    /// The RAM block backing this region (following aliases).
    pub fn ram_block(&self) -> Option<Arc<RamBlock>> {
        let mut mr = self.0.clone();
        loop {
            if let Some(b) = &mr.ram_block {
                return Some(b.clone());
            }
            match &mr.alias {
                Some(a) => mr = a.clone(),
                None => return None,
            }
        }
    }
    /// `memory_region_get_ram_addr`: the block's offset in ram_addr space,
    /// or `None` (QEMU `RAM_ADDR_INVALID`).
    pub fn ram_addr(&self) -> Option<u64> {
        self.0.ram_block.as_ref().map(|b| b.offset())
    }
    /// `memory_region_get_ram_ptr`: host pointer of the region's first
    /// byte, following aliases (adding their offsets).
    pub fn ram_ptr(&self) -> Option<*mut u8> {
        let mut mr = self.0.clone();
        let mut off = 0u64;
        loop {
            if let Some(b) = &mr.ram_block {
                // SAFETY: `off` stays inside the block: alias offsets are
                // offsets inside their targets.
                return Some(unsafe { b.host().add(off as usize) });
            }
            let a = mr.alias.clone()?;
            off += mr.state.lock().alias_offset;
            mr = a;
        }
    }
    /// Whether MMIO callbacks of this region run without the BQL.
    pub fn is_lockless_io(&self) -> bool {
        self.0.lockless_io.load(Ordering::Relaxed)
    }
    /// Lets this region's callbacks run without the BQL (QEMU
    /// `memory_region_enable_lockless_io`): the device does its own locking.
    pub fn enable_lockless_io(&self) {
        self.0.lockless_io.store(true, Ordering::Relaxed);
    }
    /// The device access descriptor.
    pub fn ops_desc(&self) -> OpsDesc {
        self.0.desc
    }

    // ---------------------------------------------------------------
    // Topology
    // ---------------------------------------------------------------

    /// `memory_region_add_subregion`: maps `sub` at `offset` with priority 0.
    ///
    /// # Panics
    /// If `sub` is already in a container, if `self` is an alias, or if
    /// the addition would make the graph cyclic.
    pub fn add_subregion(&self, offset: HwAddr, sub: &MemoryRegion) {
        self.add_subregion_common(offset, sub, 0);
    }

    /// `memory_region_add_subregion_overlap`: maps `sub` at `offset` with a
    /// signed priority; higher priorities hide lower ones, and among equal
    /// priorities the most recently added sibling wins.
    pub fn add_subregion_overlap(&self, offset: HwAddr, sub: &MemoryRegion, priority: i32) {
        self.add_subregion_common(offset, sub, priority);
    }

    fn add_subregion_common(&self, offset: HwAddr, sub: &MemoryRegion, priority: i32) {
        assert!(
            self.0.alias.is_none(),
            "add_subregion: {:?} is an alias; aliases cannot have subregions",
            self.name()
        );
        let sub_size = sub.size128();
        assert!(
            u128::from(offset) + sub_size <= SIZE_2_64,
            "add_subregion: {:?} at {offset:#x} with size {sub_size:#x} would extend past 2^64",
            sub.name()
        );
        assert!(
            !reaches(&sub.0, &self.0),
            "add_subregion: adding {:?} to {:?} would create a cycle",
            sub.name(),
            self.name()
        );
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            {
                let mut ss = sub.lock();
                assert!(
                    ss.container.is_none(),
                    "add_subregion: {:?} is already in a container",
                    sub.name()
                );
                ss.container = Some(Arc::downgrade(&self.0));
                ss.addr = offset;
                ss.priority = priority;
            }
            adjust_mapped_via_alias(&sub.0, 1);
            self.insert_sorted(sub);
            if self.lock().enabled && sub.lock().enabled {
                transaction::set_update_pending();
            }
        });
    }

    fn insert_sorted(&self, sub: &MemoryRegion) {
        let prio = sub.lock().priority;
        let mut st = self.lock();
        let pos = st
            .subregions
            .iter()
            .position(|o| prio >= o.state.lock().priority)
            .unwrap_or(st.subregions.len());
        st.subregions.insert(pos, sub.0.clone());
    }

    /// `memory_region_del_subregion`.
    ///
    /// # Panics
    /// If `sub` is not a subregion of `self`.
    pub fn del_subregion(&self, sub: &MemoryRegion) {
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            {
                let mut ss = sub.lock();
                let is_child = ss
                    .container
                    .as_ref()
                    .is_some_and(|c| std::ptr::eq(c.as_ptr(), Arc::as_ptr(&self.0)));
                assert!(
                    is_child,
                    "del_subregion: {:?} is not a subregion of {:?}",
                    sub.name(),
                    self.name()
                );
                ss.container = None;
            }
            adjust_mapped_via_alias(&sub.0, -1);
            self.lock().subregions.retain(|c| !Arc::ptr_eq(c, &sub.0));
            if self.lock().enabled && sub.lock().enabled {
                transaction::set_update_pending();
            }
        });
    }

    /// Takes the region out of the graph: removes it from its container and
    /// removes all its subregions (what QEMU's finalize does when the owner
    /// is unparented). See the type's documentation.
    pub fn unparent(&self) {
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            if let Some(c) = self.container() {
                c.del_subregion(self);
            }
            for s in self.subregions() {
                self.del_subregion(&s);
            }
        });
    }

    /// `memory_region_set_enabled`: a disabled region and its subtree act
    /// as if removed.
    pub fn set_enabled(&self, enabled: bool) {
        self.set_field(
            |st| std::mem::replace(&mut st.enabled, enabled) != enabled,
            true,
        );
    }

    /// `memory_region_set_readonly`.
    pub fn set_readonly(&self, readonly: bool) {
        self.set_field(
            |st| std::mem::replace(&mut st.readonly, readonly) != readonly,
            false,
        );
    }

    /// `memory_region_set_nonvolatile`.
    pub fn set_nonvolatile(&self, nv: bool) {
        self.set_field(|st| std::mem::replace(&mut st.nonvolatile, nv) != nv, false);
    }

    /// `memory_region_set_unmergeable`: keep this region's FlatRanges
    /// separate from their neighbours.
    pub fn set_unmergeable(&self, unmergeable: bool) {
        self.set_field(
            |st| std::mem::replace(&mut st.unmergeable, unmergeable) != unmergeable,
            false,
        );
    }

    /// `memory_region_rom_device_set_romd`: romd mode on (reads from RAM)
    /// or off (reads call the device).
    pub fn rom_device_set_romd(&self, romd: bool) {
        self.set_field(
            |st| std::mem::replace(&mut st.romd_mode, romd) != romd,
            false,
        );
    }

    /// `memory_region_set_alias_offset`.
    pub fn set_alias_offset(&self, offset: HwAddr) {
        assert!(
            self.0.alias.is_some(),
            "set_alias_offset on non-alias {:?}",
            self.name()
        );
        self.set_field(
            |st| std::mem::replace(&mut st.alias_offset, offset) != offset,
            false,
        );
    }

    /// `memory_region_set_size`; `u64::MAX` means 2^64.
    ///
    /// # Panics
    /// If the region has a RAM block and `size` exceeds the host memory
    /// reserved for it (accesses would otherwise reach beyond the mapping).
    pub fn set_size(&self, size: u64) {
        let s = size_of_u64(size);
        if let Some(b) = &self.0.ram_block {
            assert!(
                s <= u128::from(b.max_length()),
                "set_size: {:?} cannot grow to {size:#x} beyond its RAM block ({:#x} bytes reserved)",
                self.name(),
                b.max_length()
            );
        }
        self.set_field(|st| std::mem::replace(&mut st.size, s) != s, true);
    }

    /// Runs `f` on the state inside a transaction; marks an update pending
    /// when `f` reports a change and the region is enabled (or always for
    /// `always_if_changed` fields, which QEMU marks unconditionally).
    fn set_field(&self, f: impl FnOnce(&mut MrState) -> bool, always_if_changed: bool) {
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            let mut st = self.lock();
            let changed = f(&mut st);
            if changed && (always_if_changed || st.enabled) {
                transaction::set_update_pending();
            }
        });
    }

    /// `memory_region_set_address`: moves the region inside its container.
    /// Implemented as delete + re-add with the same priority, so the
    /// region moves to the front of its equal-priority group (QEMU quirk).
    pub fn set_address(&self, addr: HwAddr) {
        if addr == self.addr() {
            return;
        }
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            match self.container() {
                Some(c) => {
                    let prio = self.priority();
                    c.del_subregion(self);
                    c.add_subregion_common(addr, self, prio);
                }
                None => self.lock().addr = addr,
            }
        });
    }

    /// `memory_region_set_log` (VGA client only): reference-counted
    /// per-region dirty logging.
    ///
    /// # Panics
    /// If `client` is not [`DirtyClient::Vga`].
    pub fn set_log(&self, log: bool, client: DirtyClient) {
        assert_eq!(
            client,
            DirtyClient::Vga,
            "set_log supports only the VGA client"
        );
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            let mut st = self.lock();
            let old = st.vga_logging_count;
            if log {
                st.vga_logging_count += 1;
            } else {
                assert!(old > 0, "set_log(false) without matching set_log(true)");
                st.vga_logging_count -= 1;
            }
            if (old == 0) != (st.vga_logging_count == 0) {
                st.dirty_log_mask ^= DirtyClient::Vga.mask();
                if st.enabled {
                    transaction::set_update_pending();
                }
            }
        });
    }

    /// `memory_region_get_dirty_log_mask`: the clients currently logging
    /// this region (own VGA logging, MIGRATION while global dirty logging
    /// is on, CODE under TCG for RAM-backed regions).
    pub fn dirty_log_mask(&self) -> u8 {
        let own = self.lock().dirty_log_mask;
        self.dirty_log_mask_with(own)
    }

    /// [`dirty_log_mask`](Self::dirty_log_mask) given the region's own
    /// (VGA) mask, for callers already holding the state lock.
    pub(crate) fn dirty_log_mask_with(&self, own: u8) -> u8 {
        self.0.dirty_log_mask_with(own)
    }

    /// `memory_region_is_logging`.
    pub fn is_logging(&self, client: DirtyClient) -> bool {
        self.dirty_log_mask() & client.mask() != 0
    }
}

/// True if `to` is reachable from `from` through subregion or alias edges
/// (including `from == to`). Used to reject cycles.
fn reaches(from: &Arc<MrInner>, to: &Arc<MrInner>) -> bool {
    let mut stack = vec![from.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if Arc::ptr_eq(&n, to) {
            return true;
        }
        if !seen.insert(n.id) {
            continue;
        }
        if let Some(a) = &n.alias {
            stack.push(a.clone());
        }
        stack.extend(n.state.lock().subregions.iter().cloned());
    }
    false
}

fn adjust_mapped_via_alias(mr: &Arc<MrInner>, delta: i32) {
    let mut cur = mr.alias.clone();
    while let Some(a) = cur {
        {
            let mut st = a.state.lock();
            st.mapped_via_alias = st.mapped_via_alias.saturating_add_signed(delta);
        }
        cur = a.alias.clone();
    }
}

impl MrInner {
    /// See [`MemoryRegion::dirty_log_mask`].
    pub(crate) fn dirty_log_mask_with(&self, own: u8) -> u8 {
        let mut mask = own;
        let rb = self.ram_block.as_ref();
        if transaction::global_dirty_tracking() != 0
            && (rb.is_some_and(|_| !self.nomigrate) || self.iommu.is_some())
        {
            mask |= DirtyClient::Migration.mask();
        }
        if crate::ram::tcg_enabled() && rb.is_some() {
            mask |= DirtyClient::Code.mask();
        }
        mask
    }
}

impl Drop for MrInner {
    fn drop(&mut self) {
        if let Some(b) = &self.ram_block {
            crate::ram::ram_block_remove(b);
        }
    }
}
