//! RAM blocks, the ram_addr space and dirty memory tracking
//! (`system/physmem.c: qemu_ram_alloc_*`, `ram_block_add`,
//! `find_ram_offset`, `qemu_ram_resize`, `physical_memory_*dirty*`,
//! `invalidate_and_set_dirty`; `system/memory.c: memory_region_*dirty*`).
//!
//! Every RAM-backed region owns a [`RamBlock`]: host memory (anonymous
//! `mmap`, a file, an fd such as a memfd, or a caller-provided pointer)
//! placed at an offset in the *ram_addr* space. Dirty bitmaps, one per
//! client (VGA, CODE, MIGRATION), are indexed by ram_addr page and made of
//! fixed-size blocks of atomic words so they can grow without stopping
//! readers.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use rustix::mm::{MapFlags, ProtFlags};

use crate::listener::MemoryRegionSection;
use crate::region::{MemoryRegion, MemoryRegionOps, MrInner, RegionKind, ResizedFn};
use crate::types::*;

/// Pages per dirty-bitmap block (`DIRTY_MEMORY_BLOCK_SIZE`).
pub const DIRTY_MEMORY_BLOCK_SIZE: u64 = 256 * 1024 * 8;
const WORDS_PER_BLOCK: usize = (DIRTY_MEMORY_BLOCK_SIZE / 64) as usize;
/// ram_addr alignment of blocks: one bitmap word of pages.
const RAM_ADDR_ALIGN: u64 = 64 << TARGET_PAGE_BITS;

enum Backing {
    /// We mapped it and unmap it on drop.
    Mmap { len: usize },
    /// Caller-owned memory.
    HostPtr,
}

/// A block of guest RAM (QEMU `RAMBlock`).
pub struct RamBlock {
    idstr: String,
    offset: AtomicU64,
    used_length: AtomicU64,
    max_length: u64,
    host: usize,
    resizeable: bool,
    backing: Backing,
    mr: Mutex<Weak<MrInner>>,
    _fd: Option<OwnedFd>,
}

// SAFETY: `host` is a plain address of memory that stays mapped for the
// block's lifetime; guest memory is shared between threads by design.
unsafe impl Send for RamBlock {}
// SAFETY: see above; all other fields are thread-safe.
unsafe impl Sync for RamBlock {}

impl std::fmt::Debug for RamBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RamBlock({:?} @{:#x} used {:#x} max {:#x})",
            self.idstr,
            self.offset(),
            self.used_length(),
            self.max_length
        )
    }
}

impl RamBlock {
    /// Identifier (`idstr`), the region name.
    pub fn idstr(&self) -> &str {
        &self.idstr
    }
    /// Start in ram_addr space.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Relaxed)
    }
    /// Bytes currently in use.
    pub fn used_length(&self) -> u64 {
        self.used_length.load(Ordering::Relaxed)
    }
    /// Bytes reserved.
    pub fn max_length(&self) -> u64 {
        self.max_length
    }
    /// Host address of the block's first byte.
    pub fn host(&self) -> *mut u8 {
        self.host as *mut u8
    }
    /// Whether the block can be resized.
    pub fn is_resizeable(&self) -> bool {
        self.resizeable
    }
    pub(crate) fn set_mr(&self, mr: &MemoryRegion) {
        *self.mr.lock() = Arc::downgrade(&mr.0);
    }
    /// The region owning this block, while it exists.
    pub fn mr(&self) -> Option<MemoryRegion> {
        self.mr.lock().upgrade().map(MemoryRegion)
    }
}

impl Drop for RamBlock {
    fn drop(&mut self) {
        if let Backing::Mmap { len } = self.backing {
            // SAFETY: we mapped exactly `len` bytes at `host` in `alloc`
            // and nothing references them any more.
            let _ = unsafe { rustix::mm::munmap(self.host as *mut _, len) };
        }
    }
}

fn page_align(v: u64) -> u64 {
    v.div_ceil(TARGET_PAGE_SIZE) * TARGET_PAGE_SIZE
}

// -------------------------------------------------------------------
// ram_list
// -------------------------------------------------------------------

/// Told about RAM blocks appearing, disappearing and changing size
/// (QEMU `RAMBlockNotifier`, used by vhost/xen-style backends that map
/// guest RAM themselves). Registration replays existing blocks as adds.
#[allow(unused_variables)]
pub trait RamBlockNotifier: Send + Sync {
    /// A block with `size` used and `max_size` reserved bytes at `host`.
    fn ram_block_added(&self, host: *mut u8, size: u64, max_size: u64) {}
    /// A block is going away.
    fn ram_block_removed(&self, host: *mut u8, size: u64, max_size: u64) {}
    /// A resizeable block changed its used size.
    fn ram_block_resized(&self, host: *mut u8, old_size: u64, new_size: u64) {}
}

static RAM_NOTIFIERS: Mutex<Vec<Arc<dyn RamBlockNotifier>>> = Mutex::new(Vec::new());

fn ram_notifiers() -> Vec<Arc<dyn RamBlockNotifier>> {
    RAM_NOTIFIERS.lock().clone()
}

/// `ram_block_notifier_add`: registers `n` and replays every existing
/// block to it as `ram_block_added`.
pub fn ram_block_notifier_add(n: Arc<dyn RamBlockNotifier>) {
    RAM_NOTIFIERS.lock().push(n.clone());
    for b in ram_blocks() {
        n.ram_block_added(b.host(), b.used_length(), b.max_length);
    }
}

/// `ram_block_notifier_remove`.
pub fn ram_block_notifier_remove(n: &Arc<dyn RamBlockNotifier>) {
    RAM_NOTIFIERS.lock().retain(|o| !Arc::ptr_eq(o, n));
}

/// Blocks sorted by `max_length` descending (QEMU's `ram_list.blocks`).
static RAM_LIST: Mutex<Vec<Arc<RamBlock>>> = Mutex::new(Vec::new());

/// `find_ram_offset`: best-fit gap after 64-page-aligned block ends.
fn find_ram_offset(blocks: &[Arc<RamBlock>], size: u64) -> u64 {
    if blocks.is_empty() {
        return 0;
    }
    let mut best: Option<(u64, u64)> = None; // (offset, gap)
    for b in blocks {
        let end = b.offset() + b.max_length;
        let candidate = end.div_ceil(RAM_ADDR_ALIGN) * RAM_ADDR_ALIGN;
        let next = blocks
            .iter()
            .map(|n| n.offset())
            .filter(|&o| o >= candidate)
            .min()
            .unwrap_or(u64::MAX);
        let gap = next - candidate;
        if gap >= size && best.is_none_or(|(_, g)| gap < g) {
            best = Some((candidate, gap));
        }
    }
    best.map(|(o, _)| o)
        .unwrap_or_else(|| panic!("ram_addr space exhausted allocating {size:#x} bytes"))
}

fn ram_block_add(mut block: RamBlock) -> Arc<RamBlock> {
    // QEMU aborts on a duplicate idstr ("<qdev path>/<name>", migration
    // ABI). Ferrite's idstr is the bare region name, so two devices of one
    // type legitimately share it; uniqueness is not enforced until
    // migration exists (docs/divergences.md).
    let mut list = RAM_LIST.lock();
    let off = find_ram_offset(&list, block.max_length);
    block.offset = AtomicU64::new(off);
    let block = Arc::new(block);
    let pos = list
        .iter()
        .position(|b| b.max_length < block.max_length)
        .unwrap_or(list.len());
    list.insert(pos, block.clone());
    drop(list);
    for n in ram_notifiers() {
        n.ram_block_added(block.host(), block.used_length(), block.max_length);
    }
    dirty_memory_extend(off + block.max_length);
    // A new block starts out dirty for every client.
    set_dirty_range(off, block.used_length(), DIRTY_CLIENTS_ALL);
    block
}

pub(crate) fn ram_block_remove(b: &Arc<RamBlock>) {
    RAM_LIST.lock().retain(|o| !Arc::ptr_eq(o, b));
    for n in ram_notifiers() {
        n.ram_block_removed(b.host(), b.used_length(), b.max_length);
    }
}

/// All RAM blocks, sorted as `info ramblock` prints them.
pub fn ram_blocks() -> Vec<Arc<RamBlock>> {
    RAM_LIST.lock().clone()
}

/// `qemu_get_ram_block` + `qemu_map_ram_ptr`: host pointer of a ram_addr.
pub fn ram_ptr(ram_addr: u64) -> Option<*mut u8> {
    let list = RAM_LIST.lock();
    let b = list
        .iter()
        .find(|b| ram_addr >= b.offset() && ram_addr - b.offset() < b.used_length())?;
    Some((b.host + (ram_addr - b.offset()) as usize) as *mut u8)
}

/// `qemu_ram_addr_from_host`: the ram_addr of a host pointer into guest RAM.
pub fn ram_addr_from_host(ptr: *const u8) -> Option<u64> {
    let p = ptr as usize;
    let list = RAM_LIST.lock();
    let b = list
        .iter()
        .find(|b| p >= b.host && ((p - b.host) as u64) < b.used_length())?;
    Some(b.offset() + (p - b.host) as u64)
}

/// `info ramblock` text (QEMU 7.2 format).
pub fn info_ramblock() -> String {
    let mut s = format!(
        "{:>24} {:>8}  {:>18} {:>18} {:>18}\n",
        "Block Name", "PSize", "Offset", "Used", "Total"
    );
    for b in ram_blocks() {
        s += &format!(
            "{:>24} {:>8}  0x{:016x} 0x{:016x} 0x{:016x}\n",
            b.idstr,
            "4 KiB",
            b.offset(),
            b.used_length(),
            b.max_length
        );
    }
    s
}

// -------------------------------------------------------------------
// Allocation
// -------------------------------------------------------------------

fn mmap_anon(len: usize) -> io::Result<usize> {
    // SAFETY: anonymous private mapping chosen by the kernel; no existing
    // memory is affected.
    let p = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }?;
    Ok(p as usize)
}

fn mmap_fd(fd: impl AsFd, len: usize, shared: bool) -> io::Result<usize> {
    let flags = if shared {
        MapFlags::SHARED
    } else {
        MapFlags::PRIVATE
    };
    // SAFETY: a new mapping of a file chosen by the kernel; it does not
    // overlap existing memory.
    let p = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            flags,
            fd,
            0,
        )
    }?;
    Ok(p as usize)
}

fn new_block(
    idstr: &str,
    used: u64,
    max: u64,
    host: usize,
    backing: Backing,
    resizeable: bool,
    fd: Option<OwnedFd>,
) -> RamBlock {
    RamBlock {
        idstr: idstr.to_owned(),
        offset: AtomicU64::new(0),
        used_length: AtomicU64::new(used),
        max_length: max,
        host,
        resizeable,
        backing,
        mr: Mutex::new(Weak::new()),
        _fd: fd,
    }
}

fn check_size(name: &str, size: u64) {
    assert!(size != 0, "RAM region {name:?}: size must not be zero");
    assert!(
        size <= (1 << 62),
        "RAM region {name:?}: size {size:#x} too large"
    );
}

fn anon_block(name: &str, size: u64, max: u64, resizeable: bool) -> io::Result<Arc<RamBlock>> {
    check_size(name, max);
    let used = page_align(size);
    let max = page_align(max);
    let host = mmap_anon(max as usize)?;
    Ok(ram_block_add(new_block(
        name,
        used,
        max,
        host,
        Backing::Mmap { len: max as usize },
        resizeable,
        None,
    )))
}

fn fd_block(name: &str, size: u64, fd: OwnedFd, shared: bool) -> io::Result<Arc<RamBlock>> {
    check_size(name, size);
    let len = page_align(size);
    let st = rustix::fs::fstat(&fd)?;
    if (st.st_size as u64) < len {
        rustix::fs::ftruncate(&fd, len)?;
    }
    let host = mmap_fd(&fd, len as usize, shared)?;
    Ok(ram_block_add(new_block(
        name,
        len,
        len,
        host,
        Backing::Mmap { len: len as usize },
        false,
        Some(fd),
    )))
}

/// How a RAM device region's accesses reach host memory
/// (`ram_device_mem_ops`): one load/store of exactly the access width.
struct RamDeviceOps {
    host: usize,
    size: u64,
}

impl MemoryRegionOps for RamDeviceOps {
    fn read(&self, addr: HwAddr, size: u32) -> u64 {
        if addr
            .checked_add(u64::from(size))
            .is_none_or(|e| e > self.size)
        {
            return 0;
        }
        let p = self.host + addr as usize;
        // SAFETY: bounds checked above against the device memory size;
        // unaligned-safe reads of the exact width.
        unsafe {
            match size {
                1 => u64::from(std::ptr::read_volatile(p as *const u8)),
                2 => u64::from(std::ptr::read_unaligned(p as *const u16)),
                4 => u64::from(std::ptr::read_unaligned(p as *const u32)),
                _ => std::ptr::read_unaligned(p as *const u64),
            }
        }
    }
    fn write(&self, addr: HwAddr, value: u64, size: u32) {
        if addr
            .checked_add(u64::from(size))
            .is_none_or(|e| e > self.size)
        {
            return;
        }
        let p = self.host + addr as usize;
        // SAFETY: as in `read`.
        unsafe {
            match size {
                1 => std::ptr::write_volatile(p as *mut u8, value as u8),
                2 => std::ptr::write_unaligned(p as *mut u16, value as u16),
                4 => std::ptr::write_unaligned(p as *mut u32, value as u32),
                _ => std::ptr::write_unaligned(p as *mut u64, value),
            }
        }
    }
}

impl MemoryRegion {
    /// `memory_region_init_ram`: anonymous host memory, migratable.
    pub fn new_ram(name: &str, size: u64) -> io::Result<MemoryRegion> {
        let b = anon_block(name, size, size, false)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            false,
            false,
            None,
        ))
    }

    /// `memory_region_init_ram_nomigrate`.
    pub fn new_ram_nomigrate(name: &str, size: u64) -> io::Result<MemoryRegion> {
        let b = anon_block(name, size, size, false)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            false,
            true,
            None,
        ))
    }

    /// `memory_region_init_rom`: read-only RAM (writes through the memory
    /// API are dropped; loaders use [`crate::AddressSpace::write_rom`]).
    pub fn new_rom(name: &str, size: u64) -> io::Result<MemoryRegion> {
        let b = anon_block(name, size, size, false)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            true,
            false,
            None,
        ))
    }

    /// `memory_region_init_rom_nomigrate`.
    pub fn new_rom_nomigrate(name: &str, size: u64) -> io::Result<MemoryRegion> {
        let b = anon_block(name, size, size, false)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            true,
            true,
            None,
        ))
    }

    /// `memory_region_init_ram_from_file`: maps `path` (created/extended
    /// to `size`); `shared` selects `MAP_SHARED` (`RAM_SHARED`).
    pub fn new_ram_from_file(
        name: &str,
        size: u64,
        path: &Path,
        shared: bool,
    ) -> io::Result<MemoryRegion> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let b = fd_block(name, size, OwnedFd::from(f), shared)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            false,
            false,
            None,
        ))
    }

    /// `memory_region_init_ram_from_fd`: maps an fd (e.g. a memfd) shared.
    pub fn new_ram_from_fd(name: &str, size: u64, fd: OwnedFd) -> io::Result<MemoryRegion> {
        let b = fd_block(name, size, fd, true)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            false,
            false,
            None,
        ))
    }

    /// RAM backed by a fresh memfd (`-object memory-backend-memfd`).
    pub fn new_ram_memfd(name: &str, size: u64) -> io::Result<MemoryRegion> {
        let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)?;
        Self::new_ram_from_fd(name, size, fd)
    }

    /// `memory_region_init_ram_ptr`: RAM at caller-provided host memory.
    ///
    /// # Safety
    /// `ptr` must point to `size` bytes (rounded up to the page size)
    /// readable and writable for as long as the region exists.
    pub unsafe fn new_ram_ptr(name: &str, size: u64, ptr: *mut u8) -> MemoryRegion {
        check_size(name, size);
        let len = page_align(size);
        let b = ram_block_add(new_block(
            name,
            len,
            len,
            ptr as usize,
            Backing::HostPtr,
            false,
            None,
        ));
        MemoryRegion::new_ram_kind(name, RegionKind::Ram, size, b, None, false, false, None)
    }

    /// `memory_region_init_ram_device_ptr`: host memory of a device
    /// (e.g. a VFIO BAR), always accessed with exact widths, never memcpy.
    ///
    /// # Safety
    /// As for [`new_ram_ptr`](Self::new_ram_ptr).
    pub unsafe fn new_ram_device_ptr(name: &str, size: u64, ptr: *mut u8) -> MemoryRegion {
        check_size(name, size);
        let len = page_align(size);
        let b = ram_block_add(new_block(
            name,
            len,
            len,
            ptr as usize,
            Backing::HostPtr,
            false,
            None,
        ));
        let ops: Arc<dyn MemoryRegionOps> = Arc::new(RamDeviceOps {
            host: ptr as usize,
            size,
        });
        let desc = OpsDesc::new()
            .valid_sizes(1, 8)
            .impl_sizes(1, 8)
            .valid_unaligned()
            .impl_unaligned();
        let desc = if Endian::host() == Endian::Big {
            desc.big_endian()
        } else {
            desc.little_endian()
        };
        MemoryRegion::new_ram_kind(
            name,
            RegionKind::RamDevice,
            size,
            b,
            Some((ops, desc)),
            false,
            false,
            None,
        )
    }

    /// `memory_region_init_resizeable_ram`: ram_addr space and host memory
    /// are reserved for `max_size`; [`ram_resize`](Self::ram_resize)
    /// changes the used size and calls `resized(idstr, new_size)`.
    pub fn new_resizeable_ram(
        name: &str,
        size: u64,
        max_size: u64,
        resized: Option<ResizedFn>,
    ) -> io::Result<MemoryRegion> {
        assert!(
            size <= max_size,
            "resizeable RAM {name:?}: size above max_size"
        );
        let b = anon_block(name, size, max_size, true)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::Ram,
            size,
            b,
            None,
            false,
            false,
            resized,
        ))
    }

    /// `memory_region_init_rom_device`: reads come from RAM while in romd
    /// mode (the default); writes always call `ops`.
    pub fn new_rom_device(
        name: &str,
        size: u64,
        ops: Arc<dyn MemoryRegionOps>,
        desc: OpsDesc,
    ) -> io::Result<MemoryRegion> {
        let b = anon_block(name, size, size, false)?;
        Ok(MemoryRegion::new_ram_kind(
            name,
            RegionKind::RomDevice,
            size,
            b,
            Some((ops, desc)),
            false,
            false,
            None,
        ))
    }

    /// `memory_region_ram_resize` / `qemu_ram_resize`.
    pub fn ram_resize(&self, new_size: u64) -> Result<(), String> {
        let b = self
            .0
            .ram_block
            .clone()
            .ok_or_else(|| format!("{:?} has no RAM block", self.name()))?;
        let aligned = page_align(new_size);
        if aligned == b.used_length() {
            if new_size != self.size() {
                self.set_size(new_size);
                if let Some(cb) = &self.0.resized {
                    cb(&b.idstr, new_size);
                }
            }
            return Ok(());
        }
        if !b.resizeable {
            return Err(format!(
                "Size mismatch: {}: 0x{:x} != 0x{:x}: Invalid argument",
                b.idstr,
                aligned,
                b.used_length()
            ));
        }
        if aligned > b.max_length {
            return Err(format!(
                "Size too large: {}: 0x{:x} > 0x{:x}: Invalid argument",
                b.idstr, aligned, b.max_length
            ));
        }
        for n in ram_notifiers() {
            n.ram_block_resized(b.host(), b.used_length(), aligned);
        }
        reset_dirty_range(b.offset(), b.used_length(), DIRTY_CLIENTS_ALL);
        b.used_length.store(aligned, Ordering::Relaxed);
        set_dirty_range(b.offset(), aligned, DIRTY_CLIENTS_ALL);
        self.set_size(new_size);
        if let Some(cb) = &self.0.resized {
            cb(&b.idstr, new_size);
        }
        Ok(())
    }
}

// -------------------------------------------------------------------
// Dirty bitmaps
// -------------------------------------------------------------------

type DirtyBlocks = Vec<Arc<[AtomicU64]>>;

static DIRTY: LazyLock<[ArcSwap<DirtyBlocks>; DIRTY_MEMORY_NUM]> =
    LazyLock::new(|| std::array::from_fn(|_| ArcSwap::from_pointee(Vec::new())));
static DIRTY_GROW: Mutex<()> = Mutex::new(());

fn dirty_memory_extend(end_ram_addr: u64) {
    let _g = DIRTY_GROW.lock();
    let pages = end_ram_addr.div_ceil(TARGET_PAGE_SIZE);
    let need = pages.div_ceil(DIRTY_MEMORY_BLOCK_SIZE) as usize;
    for c in DIRTY.iter() {
        let cur = c.load_full();
        if cur.len() >= need {
            continue;
        }
        let mut v: DirtyBlocks = (*cur).clone();
        while v.len() < need {
            v.push((0..WORDS_PER_BLOCK).map(|_| AtomicU64::new(0)).collect());
        }
        c.store(Arc::new(v));
    }
}

/// Calls `f(word, mask)` for every bitmap word covering pages `[first, last]`.
fn for_words(client: usize, first: u64, last: u64, mut f: impl FnMut(&AtomicU64, u64)) {
    let blocks = DIRTY[client].load();
    let mut page = first;
    while page <= last {
        let blk = (page / DIRTY_MEMORY_BLOCK_SIZE) as usize;
        let in_blk = page % DIRTY_MEMORY_BLOCK_SIZE;
        let word = (in_blk / 64) as usize;
        let bit = in_blk % 64;
        let n = (64 - bit).min(last - page + 1);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << bit
        };
        if let Some(b) = blocks.get(blk) {
            f(&b[word], mask);
        }
        page += n;
    }
}

fn page_span(start: u64, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    Some((
        start >> TARGET_PAGE_BITS,
        start.saturating_add(len - 1) >> TARGET_PAGE_BITS,
    ))
}

/// `physical_memory_set_dirty_range`: marks every page touching
/// `[start, start+len)` dirty for the clients in `mask`.
pub fn set_dirty_range(start: u64, len: u64, mask: u8) {
    let Some((f, l)) = page_span(start, len) else {
        return;
    };
    for c in 0..DIRTY_MEMORY_NUM {
        if mask & (1 << c) != 0 {
            for_words(c, f, l, |w, m| {
                if w.load(Ordering::Relaxed) & m != m {
                    w.fetch_or(m, Ordering::Relaxed);
                }
            });
        }
    }
}

/// `physical_memory_set_dirty_flag`: one page, one client (TCG calls this
/// for CODE once a page holds no more translated code).
pub fn set_dirty_flag(addr: u64, client: DirtyClient) {
    set_dirty_range(addr, 1, client.mask());
}

/// `physical_memory_get_dirty`: is any page of the range dirty?
pub fn get_dirty(start: u64, len: u64, client: DirtyClient) -> bool {
    let Some((f, l)) = page_span(start, len) else {
        return false;
    };
    let mut any = false;
    for_words(client as usize, f, l, |w, m| {
        any |= w.load(Ordering::Relaxed) & m != 0
    });
    any
}

/// `physical_memory_all_dirty`: are all pages of the range dirty?
pub fn all_dirty(start: u64, len: u64, client: DirtyClient) -> bool {
    let Some((f, l)) = page_span(start, len) else {
        return true;
    };
    let mut all = true;
    for_words(client as usize, f, l, |w, m| {
        all &= w.load(Ordering::Relaxed) & m == m
    });
    all
}

/// `physical_memory_range_includes_clean`: the clients of `mask` for
/// which some page of the range is clean.
pub fn range_includes_clean(start: u64, len: u64, mask: u8) -> u8 {
    let mut out = 0;
    for c in DirtyClient::ALL {
        if mask & c.mask() != 0 && !all_dirty(start, len, c) {
            out |= c.mask();
        }
    }
    out
}

/// `physical_memory_test_and_clear_dirty`: clears the range for `client`
/// and reports whether any page was dirty.
pub fn test_and_clear_dirty(start: u64, len: u64, client: DirtyClient) -> bool {
    let Some((f, l)) = page_span(start, len) else {
        return false;
    };
    let mut any = false;
    for_words(client as usize, f, l, |w, m| {
        any |= w.fetch_and(!m, Ordering::Relaxed) & m != 0
    });
    any
}

/// Clears the range for every client in `mask` (`physical_memory_reset_dirty`;
/// TCG uses it with CODE to write-protect pages holding code).
pub fn reset_dirty_range(start: u64, len: u64, mask: u8) {
    for c in DirtyClient::ALL {
        if mask & c.mask() != 0 {
            test_and_clear_dirty(start, len, c);
        }
    }
}

/// A copy of part of a dirty bitmap (QEMU `DirtyBitmapSnapshot`).
#[derive(Clone, Debug)]
pub struct DirtyBitmapSnapshot {
    /// First ram_addr covered (64-page aligned).
    pub start: u64,
    /// One past the last ram_addr covered.
    pub end: u64,
    dirty: Vec<u64>,
}

impl DirtyBitmapSnapshot {
    /// `physical_memory_snapshot_get_dirty`: any page of
    /// `[start, start+len)` (ram_addr) dirty in the snapshot?
    ///
    /// # Panics
    /// If the range is not inside the snapshot.
    pub fn get_dirty(&self, start: u64, len: u64) -> bool {
        assert!(
            start >= self.start && start + len <= self.end,
            "range outside the dirty snapshot"
        );
        let Some((f, l)) = page_span(start, len) else {
            return false;
        };
        let base = self.start >> TARGET_PAGE_BITS;
        (f..=l).any(|p| {
            let i = p - base;
            self.dirty[(i / 64) as usize] & (1 << (i % 64)) != 0
        })
    }
}

/// `physical_memory_snapshot_and_clear_dirty`: atomically copies and
/// clears the bitmap of `client` over the range widened to 64-page
/// boundaries (vector V13).
pub fn snapshot_and_clear_dirty(start: u64, len: u64, client: DirtyClient) -> DirtyBitmapSnapshot {
    let start_al = start & !(RAM_ADDR_ALIGN - 1);
    let end_al = start
        .saturating_add(len)
        .div_ceil(RAM_ADDR_ALIGN)
        .saturating_mul(RAM_ADDR_ALIGN);
    let mut dirty = Vec::with_capacity(((end_al - start_al) / RAM_ADDR_ALIGN) as usize);
    if end_al > start_al {
        let f = start_al >> TARGET_PAGE_BITS;
        let l = (end_al >> TARGET_PAGE_BITS) - 1;
        let blocks = DIRTY[client as usize].load();
        let mut page = f;
        while page <= l {
            let blk = (page / DIRTY_MEMORY_BLOCK_SIZE) as usize;
            let word = ((page % DIRTY_MEMORY_BLOCK_SIZE) / 64) as usize;
            dirty.push(
                blocks
                    .get(blk)
                    .map_or(0, |b| b[word].swap(0, Ordering::Relaxed)),
            );
            page += 64;
        }
    }
    DirtyBitmapSnapshot {
        start: start_al,
        end: end_al,
        dirty,
    }
}

// -------------------------------------------------------------------
// TCG hooks
// -------------------------------------------------------------------

static TCG_ENABLED: AtomicBool = AtomicBool::new(false);

/// Hook called with `(ram_addr, len)` when a write through the memory API
/// hits a page whose CODE dirty bit is clear (it may hold translated code).
pub type CodeWriteHook = Arc<dyn Fn(u64, u64) + Send + Sync>;
static CODE_WRITE_HOOK: RwLock<Option<CodeWriteHook>> = RwLock::new(None);

/// Declares that TCG runs: RAM-backed ranges then carry the CODE client
/// in their dirty-log mask. Call before building the machine.
pub fn set_tcg_enabled(on: bool) {
    TCG_ENABLED.store(on, Ordering::Relaxed);
}

/// `tcg_enabled()`.
pub fn tcg_enabled() -> bool {
    TCG_ENABLED.load(Ordering::Relaxed)
}

/// Installs the translator's invalidation hook (QEMU calls
/// `tb_invalidate_phys_range` from `invalidate_and_set_dirty`).
pub fn set_code_write_hook(hook: Option<CodeWriteHook>) {
    *CODE_WRITE_HOOK.write() = hook;
}

/// `invalidate_and_set_dirty`: after a write of `len` bytes at `ram_addr`
/// to RAM logged by `mask`: pages that may hold code (CODE bit clean) go
/// to the code-write hook; the other clients' bits are set.
pub fn invalidate_and_set_dirty(mask: u8, ram_addr: u64, len: u64) {
    if mask == 0 || len == 0 {
        return;
    }
    let mut mask = range_includes_clean(ram_addr, len, mask);
    if mask & DirtyClient::Code.mask() != 0 {
        let hook = CODE_WRITE_HOOK.read().clone();
        if let Some(h) = hook {
            h(ram_addr, len);
        }
        mask &= !DirtyClient::Code.mask();
    }
    set_dirty_range(ram_addr, len, mask);
}

// -------------------------------------------------------------------
// Region-level dirty API
// -------------------------------------------------------------------

impl MemoryRegion {
    fn block_or_panic(&self) -> Arc<RamBlock> {
        self.0
            .ram_block
            .clone()
            .unwrap_or_else(|| panic!("{:?} has no RAM block", self.name()))
    }

    /// `memory_region_set_dirty`: marks `[addr, addr+size)` dirty for the
    /// region's current clients.
    pub fn set_dirty(&self, addr: HwAddr, size: u64) {
        let b = self.block_or_panic();
        set_dirty_range(b.offset() + addr, size, self.dirty_log_mask());
    }

    /// Any page of the range dirty for `client` (the pre-2020
    /// `memory_region_get_dirty`, kept as a convenience).
    pub fn get_dirty(&self, addr: HwAddr, size: u64, client: DirtyClient) -> bool {
        let b = self.block_or_panic();
        get_dirty(b.offset() + addr, size, client)
    }

    /// `memory_region_reset_dirty`: clears the range for `client` and
    /// tells listeners (`log_clear`).
    pub fn reset_dirty(&self, addr: HwAddr, size: u64, client: DirtyClient) {
        let b = self.block_or_panic();
        test_and_clear_dirty(b.offset() + addr, size, client);
        self.log_clear(addr, size);
    }

    fn log_clear(&self, addr: HwAddr, size: u64) {
        for a in crate::transaction::live_address_spaces() {
            let ls = a.listeners.lock().clone();
            if ls.is_empty() {
                continue;
            }
            let fv = a.current_map.load_full();
            for fr in fv.ranges().iter().filter(|f| f.mr == *self) {
                let rs = u128::from(addr).max(u128::from(fr.offset_in_region));
                let re = (u128::from(addr) + u128::from(size))
                    .min(u128::from(fr.offset_in_region) + fr.size);
                if rs < re {
                    let s = MemoryRegionSection {
                        mr: Some(self.clone()),
                        offset_within_region: rs as u64,
                        size: re - rs,
                        offset_within_address_space: fr.start + (rs as u64 - fr.offset_in_region),
                        readonly: fr.readonly,
                        nonvolatile: fr.nonvolatile,
                        unmergeable: fr.unmergeable,
                    };
                    for l in &ls {
                        l.log_clear(&s);
                    }
                }
            }
        }
    }

    /// `memory_region_sync_dirty_bitmap`: asks listeners to push their
    /// dirty bits for every logged range of this region.
    pub fn sync_dirty_bitmap(&self) {
        for l in crate::transaction::global_listeners() {
            l.log_sync_global();
        }
        for a in crate::transaction::live_address_spaces() {
            let ls = a.listeners.lock().clone();
            let fv = a.current_map.load_full();
            for fr in fv
                .ranges()
                .iter()
                .filter(|f| f.mr == *self && f.dirty_log_mask != 0)
            {
                let s = MemoryRegionSection::from_fr(fr);
                for l in &ls {
                    l.log_sync(&s);
                }
            }
        }
    }

    /// `memory_region_snapshot_and_clear_dirty`: syncs, then copies and
    /// clears the bitmap of `client` over the range widened to 64 pages.
    pub fn snapshot_and_clear_dirty(
        &self,
        addr: HwAddr,
        size: u64,
        client: DirtyClient,
    ) -> DirtyBitmapSnapshot {
        let b = self.block_or_panic();
        self.sync_dirty_bitmap();
        let snap = snapshot_and_clear_dirty(b.offset() + addr, size, client);
        self.log_clear(addr, size);
        for l in crate::transaction::global_listeners() {
            l.log_global_after_sync();
        }
        snap
    }

    /// `memory_region_snapshot_get_dirty`: `addr` is relative to the region.
    pub fn snapshot_get_dirty(&self, snap: &DirtyBitmapSnapshot, addr: HwAddr, size: u64) -> bool {
        let b = self.block_or_panic();
        snap.get_dirty(b.offset() + addr, size)
    }

    /// `memory_region_flush_rom_device`: after a ROM device changed its
    /// backing bytes, mark them dirty and invalidate translated code.
    pub fn flush_rom_device(&self, addr: HwAddr, size: u64) {
        let b = self.block_or_panic();
        invalidate_and_set_dirty(self.dirty_log_mask(), b.offset() + addr, size);
    }
}
