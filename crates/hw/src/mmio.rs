//! The MMIO seam: how the memory API reaches a device's registers
//! (QEMU: `MemoryRegionOps` in `include/exec/memory.h`).
//!
//! A device implements [`MmioDevice`]; the board wraps it in a memory region
//! whose ops call `read`/`write` with the offset inside the region. The
//! device's [`AccessRules`] say, as data, what QEMU's `.valid` and `.impl`
//! fields say: which access sizes the guest may use (others are rejected by the
//! memory core, QEMU's `memory_region_access_valid`) and which sizes the
//! callbacks themselves handle (the memory core splits or widens other valid
//! accesses, QEMU's `access_with_adjusted_size`). The callbacks therefore only
//! ever see sizes inside `impl_sizes`, naturally aligned unless `unaligned` is set.

/// A range of access sizes in bytes (QEMU: `min_access_size`/`max_access_size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeRange {
    /// Smallest access size in bytes (1, 2, 4 or 8).
    pub min: u32,
    /// Largest access size in bytes (1, 2, 4 or 8).
    pub max: u32,
}

impl SizeRange {
    /// Whether `size` lies within the range.
    pub fn contains(&self, size: u32) -> bool {
        (self.min..=self.max).contains(&size)
    }
}

/// A device's access-size rules (QEMU: the `.valid` and `.impl` members of
/// `MemoryRegionOps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRules {
    /// Sizes the guest may use; other accesses fail (`.valid`).
    pub valid: SizeRange,
    /// Whether unaligned accesses are valid (`.valid.unaligned`).
    pub unaligned: bool,
    /// Sizes the device callbacks implement; the memory core adapts the rest (`.impl`).
    pub impl_sizes: SizeRange,
}

impl AccessRules {
    /// Rules for a device accepting and implementing exactly the sizes `min..=max`.
    pub const fn sizes(min: u32, max: u32) -> Self {
        Self {
            valid: SizeRange { min, max },
            unaligned: false,
            impl_sizes: SizeRange { min, max },
        }
    }

    /// Whether a guest access of `size` bytes at `offset` is valid under these rules.
    pub fn is_valid(&self, offset: u64, size: u32) -> bool {
        self.valid.contains(size) && (self.unaligned || offset.is_multiple_of(u64::from(size)))
    }
}

/// A device's register interface (QEMU: the `read`/`write` callbacks of
/// `MemoryRegionOps`).
///
/// `offset` is relative to the start of the device's region, `size` is in
/// bytes and lies within the device's [`AccessRules::impl_sizes`]. Values are
/// little-endian register values, zero-extended to 64 bits. Guest-controlled
/// offsets and values never make these methods panic: unknown registers read
/// as 0 and ignore writes, and are logged as guest errors.
pub trait MmioDevice {
    /// The access-size rules the memory core applies before calling the device.
    fn access_rules(&self) -> AccessRules;
    /// A guest load of `size` bytes at `offset`.
    fn read(&mut self, offset: u64, size: u32) -> u64;
    /// A guest store of `size` bytes of `value` at `offset`.
    fn write(&mut self, offset: u64, size: u32, value: u64);
}

/// The log target used for guest errors (QEMU's `LOG_GUEST_ERROR`).
pub const GUEST_ERROR: &str = "guest_errors";

/// The log target used for unimplemented features (QEMU's `LOG_UNIMP`).
pub const UNIMP: &str = "unimp";

/// Writes `value` into bits `[shift, shift + len)` of `dst` (QEMU: `deposit64`).
pub(crate) fn deposit64(dst: u64, shift: u32, len: u32, value: u64) -> u64 {
    debug_assert!(shift + len <= 64 && len > 0);
    let mask = if len == 64 {
        u64::MAX
    } else {
        ((1u64 << len) - 1) << shift
    };
    (dst & !mask) | ((value << shift) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_replaces_only_the_field() {
        assert_eq!(
            deposit64(0x1111_2222_3333_4444, 0, 32, 0xabcd),
            0x1111_2222_0000_abcd
        );
        assert_eq!(
            deposit64(0x1111_2222_3333_4444, 32, 32, 0xabcd_0000_0001),
            0x0000_0001_3333_4444
        );
        assert_eq!(deposit64(5, 0, 64, 7), 7);
    }

    #[test]
    fn validity_checks_size_and_alignment() {
        let r = AccessRules::sizes(4, 8);
        assert!(r.is_valid(0, 4));
        assert!(r.is_valid(8, 8));
        assert!(!r.is_valid(4, 8));
        assert!(!r.is_valid(0, 2));
        assert!(!r.is_valid(2, 4));
    }
}
