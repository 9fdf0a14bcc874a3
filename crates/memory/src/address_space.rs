//! Address spaces and the access paths through them (QEMU `AddressSpace`,
//! `system/physmem.c: flatview_translate`, `address_space_rw`,
//! `address_space_map/unmap`, `memory_ldst.c.inc`).
//!
//! Readers never lock: an access loads the AS's current `Arc<FlatView>`
//! with one atomic operation (`arc-swap`), and the view it got stays
//! valid, complete and unchanged for as long as the reader holds it, even
//! while the BQL holder publishes newer views.

use std::cmp::Ordering as CmpOrdering;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use ferrite_aio::EventNotifier;
use parking_lot::Mutex;

use crate::dispatch::{self, memory_access_size};
use crate::flatview::{FlatRange, FlatView};
use crate::iommu::IommuAccessFlags;
use crate::listener::{MemoryListener, MemoryRegionSection};
use crate::ram;
use crate::region::{MemoryRegion, RegionKind};
use crate::transaction::{self, ADDRESS_SPACES, Transaction};
use crate::types::*;

/// Per-AS limit of bounce-buffer bytes in use (`DEFAULT_MAX_BOUNCE_BUFFER_SIZE`).
pub const DEFAULT_MAX_BOUNCE_BUFFER_SIZE: usize = 4096;

/// An ioeventfd as seen in an address space (absolute address).
#[derive(Clone, Debug)]
pub(crate) struct AsIoeventfd {
    pub(crate) addr: u64,
    pub(crate) size: u32,
    pub(crate) match_data: bool,
    pub(crate) data: u64,
    pub(crate) e: Arc<EventNotifier>,
}

impl AsIoeventfd {
    pub(crate) fn cmp_key(&self, o: &AsIoeventfd) -> CmpOrdering {
        self.addr
            .cmp(&o.addr)
            .then(self.size.cmp(&o.size))
            .then(self.match_data.cmp(&o.match_data))
            .then(if self.match_data {
                self.data.cmp(&o.data)
            } else {
                CmpOrdering::Equal
            })
            .then((Arc::as_ptr(&self.e) as usize).cmp(&(Arc::as_ptr(&o.e) as usize)))
    }
    pub(crate) fn section(&self) -> MemoryRegionSection {
        MemoryRegionSection {
            mr: None,
            offset_within_region: 0,
            size: u128::from(self.size),
            offset_within_address_space: self.addr,
            readonly: false,
            nonvolatile: false,
            unmergeable: false,
        }
    }
}

pub(crate) struct AsInner {
    pub(crate) name: String,
    pub(crate) root: Mutex<Option<MemoryRegion>>,
    pub(crate) current_map: ArcSwap<FlatView>,
    pub(crate) listeners: Mutex<Vec<Arc<dyn MemoryListener>>>,
    pub(crate) ioeventfds: Mutex<Vec<AsIoeventfd>>,
    bounce_used: AtomicUsize,
    max_bounce: usize,
    map_clients: Mutex<Vec<MapClient>>,
}

/// Callback run when bounce-buffer space frees up (QEMU: the bottom half
/// passed to `address_space_register_map_client`).
pub type MapClient = Box<dyn FnOnce() + Send>;

/// A view of the region graph from one bus master (QEMU `AddressSpace`).
/// Cloning yields another handle to the same AS.
#[derive(Clone)]
pub struct AddressSpace(pub(crate) Arc<AsInner>);

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AddressSpace({:?})", self.0.name)
    }
}

impl PartialEq for AddressSpace {
    fn eq(&self, o: &AddressSpace) -> bool {
        Arc::ptr_eq(&self.0, &o.0)
    }
}
impl Eq for AddressSpace {}

/// Result of [`AddressSpace::translate`] (QEMU `flatview_translate`).
pub struct Translation {
    /// The FlatView the result lives in (after IOMMU translation this is
    /// the target AS's view).
    pub fv: Arc<FlatView>,
    /// Index of the range in `fv`, or `None` for unassigned memory.
    pub index: Option<usize>,
    /// Offset inside the range's leaf region (or the final address for
    /// unassigned memory).
    pub xlat: HwAddr,
    /// Bytes that may be accessed from `xlat` in one go: clamped to the
    /// range end for RAM, left as requested for MMIO (QEMU semantics) and
    /// clamped by IOMMU page boundaries.
    pub len: u64,
}

impl Translation {
    /// The range, if any.
    pub fn range(&self) -> Option<&FlatRange> {
        self.index.map(|i| &self.fv.ranges()[i])
    }
}

/// Borrowed translation result used by the internal access paths (no
/// reference counting: the view is pinned by an arc-swap guard).
struct Tx<'a> {
    fv: &'a FlatView,
    index: Option<usize>,
    xlat: HwAddr,
    len: u64,
}

impl Tx<'_> {
    fn range(&self) -> Option<&FlatRange> {
        self.index.map(|i| &self.fv.ranges()[i])
    }
}

/// `flatview_do_translate` on a borrowed view, following IOMMUs.
fn translate_in<R>(
    fv: &FlatView,
    addr: HwAddr,
    len: u64,
    is_write: bool,
    attrs: MemTxAttrs,
    f: impl FnOnce(Tx<'_>) -> R,
) -> R {
    translate_hops(fv, addr, len, is_write, attrs, 0, f)
}

/// Most IOMMU hops one access may take; a translation loop (an IOMMU
/// mapping back into itself, which guest page tables could set up) ends
/// as unassigned instead of recursing forever.
pub(crate) const MAX_IOMMU_HOPS: u32 = 16;

fn translate_hops<R>(
    fv: &FlatView,
    addr: HwAddr,
    len: u64,
    is_write: bool,
    attrs: MemTxAttrs,
    hops: u32,
    f: impl FnOnce(Tx<'_>) -> R,
) -> R {
    let Some(i) = fv.lookup_index(addr) else {
        return f(Tx {
            fv,
            index: None,
            xlat: addr,
            len,
        });
    };
    let fr = &fv.ranges()[i];
    let xlat = addr - fr.start + fr.offset_in_region;
    if let Some(ops) = fr.mr.iommu_ops() {
        let idx = ops.attrs_to_index(attrs);
        let need = IommuAccessFlags::for_access(is_write);
        let e = ops.translate(xlat, need, idx);
        let Some(target) = e.target_as.filter(|_| e.perm.contains(need)) else {
            let empty = transaction::EMPTY_VIEW.clone();
            return f(Tx {
                fv: &empty,
                index: None,
                xlat: addr,
                len,
            });
        };
        let addr = (e.translated_addr & !e.addr_mask) | (xlat & e.addr_mask);
        let len = len.min(((addr | e.addr_mask) - addr).saturating_add(1));
        let g = target.0.current_map.load();
        if hops >= MAX_IOMMU_HOPS {
            let empty = transaction::EMPTY_VIEW.clone();
            return f(Tx {
                fv: &empty,
                index: None,
                xlat: addr,
                len,
            });
        }
        return translate_hops(&g, addr, len, is_write, attrs, hops + 1, f);
    }
    let mut len = len;
    if fr.mr.0.ram || fr.is_direct(false) {
        let avail = fr.end() - u128::from(addr);
        len = u64::try_from(avail.min(u128::from(len))).unwrap_or(len);
    }
    f(Tx {
        fv,
        index: Some(i),
        xlat,
        len,
    })
}

/// A mapping returned by [`AddressSpace::map`].
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    is_write: bool,
    kind: MappingKind,
}

enum MappingKind {
    Direct {
        /// Keeps the RAM alive while mapped.
        _mr: MemoryRegion,
        ram_addr: u64,
        dirty_log_mask: u8,
    },
    Bounce {
        buf: Vec<u8>,
        addr: HwAddr,
        attrs: MemTxAttrs,
    },
}

// SAFETY: the pointer refers either to guest RAM kept alive by `_mr` (RAM
// blocks are never unmapped while a region refers to them) or to `buf`
// owned by the mapping itself; both may be used from any thread.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Host pointer of the first mapped byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    /// Mapped length (may be shorter than requested).
    pub fn len(&self) -> usize {
        self.len
    }
    /// True if zero bytes were mapped.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// True for a bounce buffer (non-RAM target).
    pub fn is_bounce(&self) -> bool {
        matches!(self.kind, MappingKind::Bounce { .. })
    }
    /// Copies mapped bytes at `offset` into `out`.
    ///
    /// # Panics
    /// If the range is outside the mapping.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(
            offset.checked_add(out.len()).is_some_and(|e| e <= self.len),
            "Mapping::read out of bounds"
        );
        // SAFETY: bounds checked above; the mapping is valid for `len` bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(offset), out.as_mut_ptr(), out.len()) };
    }
    /// Copies `data` into the mapping at `offset`.
    ///
    /// # Panics
    /// If the range is outside the mapping or the mapping is read-only.
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        assert!(self.is_write, "Mapping::write on a read mapping");
        assert!(
            offset
                .checked_add(data.len())
                .is_some_and(|e| e <= self.len),
            "Mapping::write out of bounds"
        );
        // SAFETY: bounds checked above; the mapping is valid and writable.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(offset), data.len()) };
    }
}

fn host_copy_in(fr: &FlatRange, xlat: u64, buf: &mut [u8]) {
    let off = (xlat - fr.offset_in_region) as usize;
    // SAFETY: the caller clamped `buf.len()` to the range end, and the
    // range lies inside the RAM block `fr.host` points into.
    unsafe {
        std::ptr::copy_nonoverlapping((fr.host + off) as *const u8, buf.as_mut_ptr(), buf.len())
    };
}

fn host_copy_out(fr: &FlatRange, xlat: u64, buf: &[u8]) {
    let off = (xlat - fr.offset_in_region) as usize;
    // SAFETY: as in `host_copy_in`; the range is writable RAM.
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), (fr.host + off) as *mut u8, buf.len()) };
}

fn bytes_to_u64(b: &[u8], endian: Endian) -> u64 {
    let mut v = 0u64;
    match endian {
        Endian::Little => {
            for (i, &x) in b.iter().enumerate() {
                v |= u64::from(x) << (8 * i);
            }
        }
        Endian::Big => {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        }
    }
    v
}

fn u64_to_bytes(v: u64, b: &mut [u8], endian: Endian) {
    let n = b.len();
    for (i, x) in b.iter_mut().enumerate() {
        let shift = match endian {
            Endian::Little => 8 * i,
            Endian::Big => 8 * (n - 1 - i),
        };
        *x = (v >> shift) as u8;
    }
}

impl AddressSpace {
    /// `address_space_init`: creates an AS rooted at `root` and renders
    /// (or shares) its FlatView immediately.
    pub fn new(root: &MemoryRegion, name: &str) -> AddressSpace {
        ferrite_aio::bql::with_bql(|| {
            let fv = transaction::initial_view(root);
            let inner = Arc::new(AsInner {
                name: name.to_owned(),
                root: Mutex::new(Some(root.clone())),
                current_map: ArcSwap::new(fv),
                listeners: Mutex::new(Vec::new()),
                ioeventfds: Mutex::new(Vec::new()),
                bounce_used: AtomicUsize::new(0),
                max_bounce: DEFAULT_MAX_BOUNCE_BUFFER_SIZE,
                map_clients: Mutex::new(Vec::new()),
            });
            ADDRESS_SPACES.lock().push(Arc::downgrade(&inner));
            transaction::update_ioeventfds(&inner);
            AddressSpace(inner)
        })
    }

    /// `address_space_destroy`: listeners see every range deleted, then
    /// the AS leaves the global list.
    pub fn destroy(&self) {
        ferrite_aio::bql::with_bql(|| {
            {
                let _t = Transaction::begin();
                *self.0.root.lock() = None;
                transaction::set_update_pending();
            }
            ADDRESS_SPACES
                .lock()
                .retain(|w| w.upgrade().is_some_and(|a| !Arc::ptr_eq(&a, &self.0)));
        });
    }

    /// The AS's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The root region (`None` after [`destroy`](Self::destroy)).
    pub fn root(&self) -> Option<MemoryRegion> {
        self.0.root.lock().clone()
    }

    /// The current FlatView (`address_space_to_flatview`): one atomic
    /// load plus a reference count. Cheap enough for a vCPU to take per
    /// TLB fill; compare [`FlatView::generation`] to detect changes.
    #[inline]
    pub fn flatview(&self) -> Arc<FlatView> {
        self.0.current_map.load_full()
    }

    /// Runs `f` on the current FlatView without touching its reference
    /// count (arc-swap's guard), for the shortest read paths.
    #[inline]
    pub fn with_flatview<R>(&self, f: impl FnOnce(&FlatView) -> R) -> R {
        let g = self.0.current_map.load();
        f(&g)
    }

    /// Registers a listener (`memory_listener_register`); it immediately
    /// receives the current state as additions.
    pub fn register_listener(&self, l: Arc<dyn MemoryListener>) {
        transaction::register_listener(self, l);
    }

    /// `memory_listener_unregister`: the listener receives deletions for
    /// the current state, then is removed.
    pub fn unregister_listener(&self, l: &Arc<dyn MemoryListener>) {
        transaction::unregister_listener(self, l);
    }

    /// `flatview_translate`: resolves `addr` through this AS and any IOMMUs
    /// for an access of `len` bytes.
    pub fn translate(
        &self,
        addr: HwAddr,
        len: u64,
        is_write: bool,
        attrs: MemTxAttrs,
    ) -> Translation {
        let mut fv = self.flatview();
        let mut addr = addr;
        let mut plen = len;
        let mut hops = 0;
        loop {
            let Some(i) = fv.lookup_index(addr).filter(|_| hops <= MAX_IOMMU_HOPS) else {
                return Translation {
                    fv,
                    index: None,
                    xlat: addr,
                    len: plen,
                };
            };
            let fr = &fv.ranges()[i];
            let xlat = addr - fr.start + fr.offset_in_region;
            if let Some(ops) = fr.mr.iommu_ops() {
                hops += 1;
                let idx = ops.attrs_to_index(attrs);
                let e = ops.translate(xlat, IommuAccessFlags::for_access(is_write), idx);
                let need = IommuAccessFlags::for_access(is_write);
                let Some(target) = e.target_as.filter(|_| e.perm.contains(need)) else {
                    return Translation {
                        fv: transaction::EMPTY_VIEW.clone(),
                        index: None,
                        xlat: addr,
                        len: plen,
                    };
                };
                addr = (e.translated_addr & !e.addr_mask) | (xlat & e.addr_mask);
                plen = plen.min(((addr | e.addr_mask) - addr).saturating_add(1));
                fv = target.flatview();
                continue;
            }
            if fr.mr.0.ram || fr.is_direct(false) {
                let avail = fr.end() - u128::from(addr);
                plen = u64::try_from(avail.min(u128::from(plen))).unwrap_or(plen);
            }
            return Translation {
                fv,
                index: Some(i),
                xlat,
                len: plen,
            };
        }
    }

    /// `address_space_read_full`: reads `buf.len()` bytes at `addr` using
    /// the current FlatView (see [`FlatView::read`]).
    pub fn read(&self, addr: HwAddr, attrs: MemTxAttrs, buf: &mut [u8]) -> MemTxResult {
        self.with_flatview(|fv| fv.read(addr, attrs, buf))
    }

    /// `address_space_write` (see [`FlatView::write`]).
    pub fn write(&self, addr: HwAddr, attrs: MemTxAttrs, buf: &[u8]) -> MemTxResult {
        self.with_flatview(|fv| fv.write(addr, attrs, buf))
    }

    /// `address_space_rw`.
    pub fn rw(
        &self,
        addr: HwAddr,
        attrs: MemTxAttrs,
        buf: &mut [u8],
        is_write: bool,
    ) -> MemTxResult {
        self.with_flatview(|fv| fv.rw(addr, attrs, buf, is_write))
    }

    /// `address_space_write_rom` (see [`FlatView::write_rom`]).
    pub fn write_rom(&self, addr: HwAddr, attrs: MemTxAttrs, buf: &[u8]) -> MemTxResult {
        self.with_flatview(|fv| fv.write_rom(addr, attrs, buf))
    }

    /// `address_space_access_valid` (see [`FlatView::access_valid`]).
    pub fn access_valid(&self, addr: HwAddr, len: u64, is_write: bool, attrs: MemTxAttrs) -> bool {
        self.with_flatview(|fv| fv.access_valid(addr, len, is_write, attrs))
    }

    /// Generic load (see [`FlatView::ld`]).
    pub fn ld(
        &self,
        addr: HwAddr,
        size: u32,
        endian: Endian,
        attrs: MemTxAttrs,
    ) -> (u64, MemTxResult) {
        self.with_flatview(|fv| fv.ld(addr, size, endian, attrs))
    }

    /// Generic store (see [`FlatView::st`]).
    pub fn st(
        &self,
        addr: HwAddr,
        value: u64,
        size: u32,
        endian: Endian,
        attrs: MemTxAttrs,
    ) -> MemTxResult {
        self.with_flatview(|fv| fv.st(addr, value, size, endian, attrs))
    }

    /// `address_space_map`: a host pointer for up to `len` bytes at `addr`
    /// — directly into RAM, or a bounce buffer (filled now for reads) for
    /// anything else, limited by the AS's bounce budget. Returns `None`
    /// when nothing can be mapped.
    pub fn map(
        &self,
        addr: HwAddr,
        len: u64,
        is_write: bool,
        attrs: MemTxAttrs,
    ) -> Option<Mapping> {
        if len == 0 {
            return None;
        }
        let t = self.translate(addr, len, is_write, attrs);
        let fr = t.range()?;
        if fr.is_direct(is_write) && fr.host != 0 {
            // Extend while the next translation continues the same region.
            let mut total = t.len.min(len);
            let (mr, xlat0) = (fr.mr.clone(), t.xlat);
            while total < len {
                let Some(next) = addr.checked_add(total) else {
                    break;
                };
                let t2 = self.translate(next, len - total, is_write, attrs);
                match t2.range() {
                    Some(f2)
                        if f2.mr == mr
                            && t2.xlat == xlat0.wrapping_add(total)
                            && f2.is_direct(is_write) =>
                    {
                        total += t2.len.min(len - total);
                    }
                    _ => break,
                }
            }
            let ptr = fr
                .host_ptr(fr.start + (t.xlat - fr.offset_in_region))
                .expect("host");
            return Some(Mapping {
                ptr,
                len: total as usize,
                is_write,
                kind: MappingKind::Direct {
                    _mr: mr,
                    ram_addr: fr.ram_addr + (t.xlat - fr.offset_in_region),
                    dirty_log_mask: fr.dirty_log_mask,
                },
            });
        }
        // Bounce buffer: reserve from the AS budget.
        let want = len.min(self.0.max_bounce as u64) as usize;
        let mut used = self.0.bounce_used.load(Ordering::Relaxed);
        let l = loop {
            let l = want.min(self.0.max_bounce - used);
            if l == 0 {
                return None;
            }
            match self.0.bounce_used.compare_exchange_weak(
                used,
                used + l,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break l,
                Err(u) => used = u,
            }
        };
        let mut buf = vec![0u8; l];
        if !is_write {
            let _ = self.read(addr, attrs, &mut buf);
        }
        let ptr = buf.as_mut_ptr();
        Some(Mapping {
            ptr,
            len: l,
            is_write,
            kind: MappingKind::Bounce { buf, addr, attrs },
        })
    }

    /// `address_space_unmap`: for writes, marks the first `access_len`
    /// bytes dirty (RAM) or writes them back (bounce buffer).
    pub fn unmap(&self, m: Mapping, access_len: usize) {
        let access_len = access_len.min(m.len);
        match m.kind {
            MappingKind::Direct {
                ram_addr,
                dirty_log_mask,
                ..
            } => {
                if m.is_write && access_len > 0 {
                    ram::invalidate_and_set_dirty(dirty_log_mask, ram_addr, access_len as u64);
                }
            }
            MappingKind::Bounce { buf, addr, attrs } => {
                if m.is_write {
                    let _ = self.write(addr, attrs, &buf[..access_len]);
                }
                self.0.bounce_used.fetch_sub(buf.len(), Ordering::AcqRel);
                // Wake everyone waiting for bounce space (QEMU schedules
                // and drops every registered map client).
                let clients = std::mem::take(&mut *self.0.map_clients.lock());
                for c in clients {
                    c();
                }
            }
        }
    }

    /// `address_space_register_map_client`: runs `client` once bounce
    /// space is available — now if some is free, else after the next
    /// bounce-buffer unmap. Use after [`map`](Self::map) returned `None`.
    pub fn register_map_client(&self, client: MapClient) {
        if self.0.bounce_used.load(Ordering::Acquire) < self.0.max_bounce {
            client();
        } else {
            self.0.map_clients.lock().push(client);
        }
    }
}

/// Length of an unassigned step: up to the next mapped range.
fn unassigned_step(fv: &FlatView, addr: u64, len: u64) -> u64 {
    let i = fv.ranges().partition_point(|r| r.start <= addr);
    match fv.ranges().get(i) {
        Some(next) => (next.start - addr).min(len),
        None => len,
    }
}

/// Access paths on a FlatView snapshot: what `address_space_*` do once
/// they have loaded the AS's current view. A vCPU that keeps an
/// `Arc<FlatView>` (see [`AddressSpace::flatview`]) can use these directly
/// and skip the per-access atomic load; IOMMU hops still use the target
/// AS's current view.
impl FlatView {
    /// `address_space_read_full`: reads `buf.len()` bytes at `addr`. Holes
    /// read as zero and report `MEMTX_DECODE_ERROR`; a failing piece does
    /// not stop the rest.
    pub fn read(&self, addr: HwAddr, attrs: MemTxAttrs, buf: &mut [u8]) -> MemTxResult {
        let mut r = MemTxResult::OK;
        let mut done = 0usize;
        let mut addr = addr;
        while done < buf.len() {
            let len = (buf.len() - done) as u64;
            let l = translate_in(self, addr, len, false, attrs, |t| match t.range() {
                None => {
                    let l = unassigned_step(t.fv, addr, len);
                    buf[done..done + l as usize].fill(0);
                    r |= MemTxResult::DECODE_ERROR;
                    l
                }
                Some(fr) if fr.is_direct(false) && fr.host != 0 => {
                    let l = t.len.min(len);
                    host_copy_in(fr, t.xlat, &mut buf[done..done + l as usize]);
                    l
                }
                Some(fr) => {
                    let l = memory_access_size(&fr.mr, t.len.min(len), t.xlat).max(1);
                    let (v, ri) =
                        dispatch::dispatch_read(&fr.mr, t.xlat, l as u32, Endian::host(), attrs);
                    u64_to_bytes(v, &mut buf[done..done + l as usize], Endian::host());
                    r |= ri;
                    l
                }
            });
            done += l as usize;
            addr = addr.wrapping_add(l);
        }
        r
    }

    /// `address_space_write`: writes `buf` at `addr`. Writes to ROM and
    /// holes are dropped with `MEMTX_DECODE_ERROR`; RAM writes update the
    /// dirty bitmaps and invalidate translated code.
    pub fn write(&self, addr: HwAddr, attrs: MemTxAttrs, buf: &[u8]) -> MemTxResult {
        let mut r = MemTxResult::OK;
        let mut done = 0usize;
        let mut addr = addr;
        while done < buf.len() {
            let len = (buf.len() - done) as u64;
            let l = translate_in(self, addr, len, true, attrs, |t| match t.range() {
                None => {
                    r |= MemTxResult::DECODE_ERROR;
                    unassigned_step(t.fv, addr, len)
                }
                Some(fr) if fr.is_direct(true) && fr.host != 0 => {
                    let l = t.len.min(len);
                    host_copy_out(fr, t.xlat, &buf[done..done + l as usize]);
                    ram::invalidate_and_set_dirty(
                        fr.dirty_log_mask,
                        fr.ram_addr + (t.xlat - fr.offset_in_region),
                        l,
                    );
                    l
                }
                Some(fr) => {
                    let l = memory_access_size(&fr.mr, t.len.min(len), t.xlat).max(1);
                    let v = bytes_to_u64(&buf[done..done + l as usize], Endian::host());
                    r |= dispatch::dispatch_write(
                        &fr.mr,
                        t.xlat,
                        v,
                        l as u32,
                        Endian::host(),
                        attrs,
                    );
                    l
                }
            });
            done += l as usize;
            addr = addr.wrapping_add(l);
        }
        r
    }

    /// `address_space_rw`.
    pub fn rw(
        &self,
        addr: HwAddr,
        attrs: MemTxAttrs,
        buf: &mut [u8],
        is_write: bool,
    ) -> MemTxResult {
        if is_write {
            self.write(addr, attrs, buf)
        } else {
            self.read(addr, attrs, buf)
        }
    }

    /// `address_space_write_rom`: stores into RAM, ROM and ROM devices
    /// directly (loaders, debuggers); MMIO is skipped silently.
    pub fn write_rom(&self, addr: HwAddr, attrs: MemTxAttrs, buf: &[u8]) -> MemTxResult {
        let mut done = 0usize;
        let mut addr = addr;
        while done < buf.len() {
            let len = (buf.len() - done) as u64;
            let l = translate_in(self, addr, len, true, attrs, |t| match t.range() {
                Some(fr)
                    if fr.host != 0
                        && matches!(fr.mr.kind(), RegionKind::Ram | RegionKind::RomDevice) =>
                {
                    let avail = u64::try_from(fr.end() - u128::from(addr)).unwrap_or(u64::MAX);
                    let l = avail.min(len);
                    host_copy_out(fr, t.xlat, &buf[done..done + l as usize]);
                    ram::invalidate_and_set_dirty(
                        fr.dirty_log_mask,
                        fr.ram_addr + (t.xlat - fr.offset_in_region),
                        l,
                    );
                    l
                }
                Some(fr) => u64::try_from(fr.end() - u128::from(addr))
                    .unwrap_or(u64::MAX)
                    .min(len),
                None => unassigned_step(t.fv, addr, len),
            });
            done += l as usize;
            addr = addr.wrapping_add(l);
        }
        MemTxResult::OK
    }

    /// `address_space_access_valid`: would an access of `len` bytes at
    /// `addr` be accepted?
    pub fn access_valid(&self, addr: HwAddr, len: u64, is_write: bool, attrs: MemTxAttrs) -> bool {
        let mut addr = addr;
        let mut len = len;
        while len > 0 {
            let step = translate_in(self, addr, len, is_write, attrs, |t| match t.range() {
                None => None,
                Some(fr) if fr.is_direct(is_write) && fr.host != 0 => Some(t.len.min(len)),
                Some(fr) => {
                    let l = memory_access_size(&fr.mr, t.len.min(len), t.xlat).max(1);
                    dispatch::access_valid(&fr.mr, t.xlat, l as u32, is_write, attrs).then_some(l)
                }
            });
            let Some(l) = step else { return false };
            len -= l;
            addr = addr.wrapping_add(l);
        }
        true
    }

    /// Generic load of `size` (1, 2, 4, 8) bytes in byte order `endian`
    /// (`address_space_ld*_internal`): one direct load if the whole value
    /// is in RAM, else one dispatch of the full width to the first region.
    pub fn ld(
        &self,
        addr: HwAddr,
        size: u32,
        endian: Endian,
        attrs: MemTxAttrs,
    ) -> (u64, MemTxResult) {
        assert!(
            matches!(size, 1 | 2 | 4 | 8),
            "ld: access size {size} is not 1, 2, 4 or 8"
        );
        translate_in(self, addr, u64::from(size), false, attrs, |t| {
            match t.range() {
                None => (0, MemTxResult::DECODE_ERROR),
                Some(fr) if fr.is_direct(false) && fr.host != 0 && t.len >= u64::from(size) => {
                    let mut b = [0u8; 8];
                    host_copy_in(fr, t.xlat, &mut b[..size as usize]);
                    (bytes_to_u64(&b[..size as usize], endian), MemTxResult::OK)
                }
                Some(fr) => {
                    let (v, r) = dispatch::dispatch_read(&fr.mr, t.xlat, size, endian, attrs);
                    (v & size_mask(size), r)
                }
            }
        })
    }

    /// Generic store (`address_space_st*_internal`).
    pub fn st(
        &self,
        addr: HwAddr,
        value: u64,
        size: u32,
        endian: Endian,
        attrs: MemTxAttrs,
    ) -> MemTxResult {
        assert!(
            matches!(size, 1 | 2 | 4 | 8),
            "st: access size {size} is not 1, 2, 4 or 8"
        );
        translate_in(self, addr, u64::from(size), true, attrs, |t| {
            match t.range() {
                None => MemTxResult::DECODE_ERROR,
                Some(fr) if fr.is_direct(true) && fr.host != 0 && t.len >= u64::from(size) => {
                    let mut b = [0u8; 8];
                    u64_to_bytes(value, &mut b[..size as usize], endian);
                    host_copy_out(fr, t.xlat, &b[..size as usize]);
                    ram::invalidate_and_set_dirty(
                        fr.dirty_log_mask,
                        fr.ram_addr + (t.xlat - fr.offset_in_region),
                        u64::from(size),
                    );
                    MemTxResult::OK
                }
                Some(fr) => dispatch::dispatch_write(&fr.mr, t.xlat, value, size, endian, attrs),
            }
        })
    }
}

macro_rules! ldst {
    ($($ld:ident $st:ident $size:literal $endian:expr, $ty:ty;)*) => {
        impl AddressSpace {
            $(
                #[doc = concat!("`address_space_", stringify!($ld), "`: loads ", stringify!($size), " byte(s).")]
                pub fn $ld(&self, addr: HwAddr, attrs: MemTxAttrs) -> ($ty, MemTxResult) {
                    let (v, r) = self.ld(addr, $size, $endian, attrs);
                    (v as $ty, r)
                }
                #[doc = concat!("`address_space_", stringify!($st), "`: stores ", stringify!($size), " byte(s).")]
                pub fn $st(&self, addr: HwAddr, value: $ty, attrs: MemTxAttrs) -> MemTxResult {
                    self.st(addr, u64::from(value), $size, $endian, attrs)
                }
            )*
        }
    };
}

ldst! {
    ldub stb 1 Endian::Little, u8;
    lduw_le stw_le 2 Endian::Little, u16;
    lduw_be stw_be 2 Endian::Big, u16;
    lduw stw 2 Endian::target(), u16;
    ldl_le stl_le 4 Endian::Little, u32;
    ldl_be stl_be 4 Endian::Big, u32;
    ldl stl 4 Endian::target(), u32;
    ldq_le stq_le 8 Endian::Little, u64;
    ldq_be stq_be 8 Endian::Big, u64;
    ldq stq 8 Endian::target(), u64;
}

impl MemoryRegion {
    /// `memory_region_find`: the part of `[addr, addr+size)` (relative to
    /// this region) that is visible, in the first AS whose root is this
    /// region's top-level container.
    pub fn find(&self, addr: HwAddr, size: u64) -> Option<MemoryRegionSection> {
        let mut root = self.clone();
        let mut abs = u128::from(addr);
        while let Some(c) = root.container() {
            abs += u128::from(root.addr());
            root = c;
        }
        let abs = u64::try_from(abs).ok()?;
        let a = transaction::live_address_spaces()
            .into_iter()
            .find(|a| a.root.lock().as_ref() == Some(&root))?;
        let fv = a.current_map.load_full();
        let end = u128::from(abs) + u128::from(size.max(1));
        let fr = fv
            .ranges()
            .iter()
            .find(|r| u128::from(r.start) < end && r.end() > u128::from(abs))?;
        let s = abs.max(fr.start);
        let e = end.min(fr.end());
        Some(MemoryRegionSection {
            mr: Some(fr.mr.clone()),
            offset_within_region: fr.offset_in_region + (s - fr.start),
            size: e - u128::from(s),
            offset_within_address_space: s,
            readonly: fr.readonly,
            nonvolatile: fr.nonvolatile,
            unmergeable: fr.unmergeable,
        })
    }

    /// `memory_region_present`: is something other than `self` mapped at
    /// `addr` inside `self`?
    pub fn present(&self, addr: HwAddr) -> bool {
        self.find(addr, 1)
            .and_then(|s| s.mr)
            .is_some_and(|m| m != *self)
    }
}
