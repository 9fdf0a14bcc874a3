//! Access dispatch to one region (`system/memory.c:
//! memory_region_access_valid`, `access_with_adjusted_size`,
//! `adjust_endianness`, `memory_region_dispatch_read/write`;
//! `system/physmem.c: memory_access_size`).

use std::sync::atomic::Ordering;

use ferrite_aio::log::LogMask;
use ferrite_aio::qemu_log_mask;

use crate::coalesced;
use crate::region::{MemoryRegion, MemoryRegionOps};
use crate::types::*;

/// `memory_region_access_valid`: `addr` is the offset inside `mr`.
pub fn access_valid(
    mr: &MemoryRegion,
    addr: HwAddr,
    size: u32,
    is_write: bool,
    attrs: MemTxAttrs,
) -> bool {
    let desc = mr.0.desc;
    let kind = if is_write { "write" } else { "read" };
    if !mr.0.ops.accepts(addr, size, is_write, attrs) {
        qemu_log_mask!(
            LogMask::GUEST_ERROR,
            "Invalid {} at addr 0x{:X}, size {}, region '{}', reason: rejected\n",
            kind,
            addr,
            size,
            mr.name()
        );
        return false;
    }
    if !desc.valid.unaligned && size != 0 && addr & (u64::from(size) - 1) != 0 {
        qemu_log_mask!(
            LogMask::GUEST_ERROR,
            "Invalid {} at addr 0x{:X}, size {}, region '{}', reason: unaligned\n",
            kind,
            addr,
            size,
            mr.name()
        );
        return false;
    }
    if desc.valid.max == 0 {
        return true;
    }
    if size > desc.valid.max || size < desc.valid.min {
        qemu_log_mask!(
            LogMask::GUEST_ERROR,
            "Invalid {} at addr 0x{:X}, size {}, region '{}', reason: invalid size (min:{} max:{})\n",
            kind,
            addr,
            size,
            mr.name(),
            desc.valid.min,
            desc.valid.max
        );
        return false;
    }
    true
}

/// Which way a value has to be swapped between the access's byte order
/// and the device's (`adjust_endianness`).
fn adjust_endianness(mr: &MemoryRegion, v: u64, size: u32, op: Endian) -> u64 {
    if size > 1 && op != mr.0.desc.endianness.resolve() {
        bswap(v, size)
    } else {
        v
    }
}

fn shifted(tmp: u64, shift: i32) -> u64 {
    if shift >= 0 {
        tmp << shift
    } else {
        tmp >> -shift
    }
}

fn unshifted(v: u64, shift: i32) -> u64 {
    if shift >= 0 { v >> shift } else { v << -shift }
}

/// The `(min, max)` pair after QEMU's defaults (0 → 1 and 0 → 4).
fn impl_bounds(mr: &MemoryRegion) -> (u32, u32) {
    let d = mr.0.desc.impl_;
    (
        if d.min == 0 { 1 } else { d.min },
        if d.max == 0 { 4 } else { d.max },
    )
}

/// `access_with_adjusted_size` for reads: one guest access of `size`
/// bytes becomes device calls of the implemented width.
fn read_adjusted(
    mr: &MemoryRegion,
    addr: HwAddr,
    size: u32,
    attrs: MemTxAttrs,
) -> (u64, MemTxResult) {
    let (min, max) = impl_bounds(mr);
    let access = size.min(max).max(min);
    let mask = size_mask(access);
    let big = mr.0.desc.endianness.resolve() == Endian::Big;
    let ops: &dyn MemoryRegionOps = &*mr.0.ops;
    let mut value = 0u64;
    let mut r = MemTxResult::OK;
    let mut i = 0u32;
    while i < size {
        let (tmp, ri) = ops.read_with_attrs(addr.wrapping_add(u64::from(i)), access, attrs);
        let shift = if big {
            (size as i32 - access as i32 - i as i32) * 8
        } else {
            i as i32 * 8
        };
        value |= shifted(tmp & mask, shift);
        r |= ri;
        i += access;
    }
    (value, r)
}

/// `access_with_adjusted_size` for writes. A write narrower than
/// `impl.min` becomes one wide write of the zero-extended value.
fn write_adjusted(
    mr: &MemoryRegion,
    addr: HwAddr,
    value: u64,
    size: u32,
    attrs: MemTxAttrs,
) -> MemTxResult {
    let (min, max) = impl_bounds(mr);
    let access = size.min(max).max(min);
    let mask = size_mask(access);
    let big = mr.0.desc.endianness.resolve() == Endian::Big;
    let ops: &dyn MemoryRegionOps = &*mr.0.ops;
    let mut r = MemTxResult::OK;
    let mut i = 0u32;
    while i < size {
        let shift = if big {
            (size as i32 - access as i32 - i as i32) * 8
        } else {
            i as i32 * 8
        };
        let tmp = unshifted(value, shift) & mask;
        r |= ops.write_with_attrs(addr.wrapping_add(u64::from(i)), tmp, access, attrs);
        i += access;
    }
    r
}

/// Runs a device callback with the BQL held unless the region is lockless
/// (`prepare_mmio_access`); callers that already hold the BQL keep it.
fn with_mmio_lock<R>(mr: &MemoryRegion, f: impl FnOnce() -> R) -> R {
    if mr.0.lockless_io.load(Ordering::Relaxed) {
        f()
    } else {
        ferrite_aio::bql::with_bql(f)
    }
}

/// Follows an alias chain, adding alias offsets.
fn resolve_alias(mr: &MemoryRegion, mut addr: HwAddr) -> (MemoryRegion, HwAddr) {
    let mut mr = mr.clone();
    while let Some(t) = mr.alias() {
        addr = addr.wrapping_add(mr.alias_offset());
        mr = t;
    }
    (mr, addr)
}

/// `memory_region_dispatch_read`: reads `size` bytes (1, 2, 4 or 8) at
/// offset `addr` of `mr`, returning the value in byte order `endian`.
/// Invalid accesses return `(0, MEMTX_DECODE_ERROR)`. As in QEMU, when a
/// device's `impl.min` is larger than `size` the value is not truncated:
/// callers keep the low `size` bytes.
pub fn dispatch_read(
    mr: &MemoryRegion,
    addr: HwAddr,
    size: u32,
    endian: Endian,
    attrs: MemTxAttrs,
) -> (u64, MemTxResult) {
    if mr.0.alias.is_some() {
        let (mr, addr) = resolve_alias(mr, addr);
        return dispatch_read(&mr, addr, size, endian, attrs);
    }
    if mr.0.flush_coalesced.load(Ordering::Relaxed) {
        coalesced::flush();
    }
    if !access_valid(mr, addr, size, false, attrs) {
        return (0, MemTxResult::DECODE_ERROR);
    }
    let (v, r) = with_mmio_lock(mr, || read_adjusted(mr, addr, size, attrs));
    (adjust_endianness(mr, v, size, endian), r)
}

/// `memory_region_dispatch_write`: writes the `size`-byte `value` (in
/// byte order `endian`) at offset `addr` of `mr`. Matching ioeventfds are
/// signalled instead of calling the device; writes inside coalesced
/// ranges are queued.
pub fn dispatch_write(
    mr: &MemoryRegion,
    addr: HwAddr,
    value: u64,
    size: u32,
    endian: Endian,
    attrs: MemTxAttrs,
) -> MemTxResult {
    if mr.0.alias.is_some() {
        let (mr, addr) = resolve_alias(mr, addr);
        return dispatch_write(&mr, addr, value, size, endian, attrs);
    }
    if !access_valid(mr, addr, size, true, attrs) {
        return MemTxResult::DECODE_ERROR;
    }
    let data = adjust_endianness(mr, value & size_mask(size), size, endian);
    if crate::ioeventfd::fire(mr, addr, size, data) {
        return MemTxResult::OK;
    }
    if coalesced::try_queue(mr, addr, data, size, attrs) {
        return MemTxResult::OK;
    }
    if mr.0.flush_coalesced.load(Ordering::Relaxed) {
        coalesced::flush();
    }
    with_mmio_lock(mr, || write_adjusted(mr, addr, data, size, attrs))
}

/// Delivers an already endian-adjusted write to the device (used when the
/// coalesced ring is flushed).
pub(crate) fn deliver_write(
    mr: &MemoryRegion,
    addr: HwAddr,
    data: u64,
    size: u32,
    attrs: MemTxAttrs,
) -> MemTxResult {
    with_mmio_lock(mr, || write_adjusted(mr, addr, data, size, attrs))
}

/// `memory_access_size`: how many bytes one MMIO step of
/// `address_space_rw` may cover at in-region offset `addr` when `l` bytes
/// remain (vector V9).
pub fn memory_access_size(mr: &MemoryRegion, l: u64, addr: HwAddr) -> u64 {
    let desc = mr.0.desc;
    // Capped at 8: the largest value one dispatch can carry.
    let mut max = u64::from(if desc.valid.max == 0 {
        4
    } else {
        desc.valid.max.min(8)
    });
    if !desc.impl_.unaligned {
        // Largest power of two dividing the offset; offset 0 imposes nothing.
        let align = addr & addr.wrapping_neg();
        if align != 0 {
            max = max.min(align);
        }
    }
    let l = l.min(max);
    // pow2floor
    if l == 0 {
        0
    } else {
        1u64 << (63 - l.leading_zeros())
    }
}
