//! Small value types shared by every part of the memory API: guest physical
//! addresses, transaction attributes and results, access descriptors and
//! endianness (QEMU: `include/exec/memattrs.h`, `include/exec/memop.h`,
//! `include/system/memory.h`).

use std::sync::atomic::{AtomicBool, Ordering};

/// A guest physical address or an offset inside a region (QEMU `hwaddr`).
pub type HwAddr = u64;

/// Target page size in bits (4 KiB pages, as for RISC-V and x86).
pub const TARGET_PAGE_BITS: u32 = 12;
/// Target page size in bytes.
pub const TARGET_PAGE_SIZE: u64 = 1 << TARGET_PAGE_BITS;
/// Mask that clears the offset inside a target page.
pub const TARGET_PAGE_MASK: u64 = !(TARGET_PAGE_SIZE - 1);

/// `2^64`: the size of a region that covers the whole 64-bit space.
pub const SIZE_2_64: u128 = 1 << 64;

/// Result of a memory transaction (QEMU `MemTxResult`): a bit set where
/// `OK` is the empty set, so results of several steps are OR'ed together.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MemTxResult(pub u32);

impl MemTxResult {
    /// The transaction succeeded (`MEMTX_OK`).
    pub const OK: MemTxResult = MemTxResult(0);
    /// The device returned an error (`MEMTX_ERROR`).
    pub const ERROR: MemTxResult = MemTxResult(1 << 0);
    /// Nothing decodes the address, or the access was rejected by the
    /// region's `valid` constraints (`MEMTX_DECODE_ERROR`).
    pub const DECODE_ERROR: MemTxResult = MemTxResult(1 << 1);
    /// The access was refused for policy reasons (`MEMTX_ACCESS_ERROR`).
    pub const ACCESS_ERROR: MemTxResult = MemTxResult(1 << 2);

    /// True if no error bit is set.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for MemTxResult {
    type Output = MemTxResult;
    fn bitor(self, rhs: MemTxResult) -> MemTxResult {
        MemTxResult(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for MemTxResult {
    fn bitor_assign(&mut self, rhs: MemTxResult) {
        self.0 |= rhs.0;
    }
}

/// Attributes of a memory transaction (QEMU `MemTxAttrs`), passed to
/// devices and IOMMUs untouched by the memory core.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MemTxAttrs {
    /// The issuer did not say anything (`MEMTXATTRS_UNSPECIFIED`).
    pub unspecified: bool,
    /// Secure (TrustZone-style) access.
    pub secure: bool,
    /// User-mode (unprivileged) access.
    pub user: bool,
    /// Debugger access (gdbstub, monitor).
    pub debug: bool,
    /// Requester ID (PCI BDF) for IOMMUs and MSI.
    pub requester_id: u16,
}

/// `MEMTXATTRS_UNSPECIFIED`.
pub const MEMTXATTRS_UNSPECIFIED: MemTxAttrs = MemTxAttrs {
    unspecified: true,
    secure: false,
    user: false,
    debug: false,
    requester_id: 0,
};

/// Byte order of a value passed through the memory API (the endianness
/// part of QEMU's `MemOp`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Endian {
    /// Least significant byte at the lowest address.
    Little,
    /// Most significant byte at the lowest address.
    Big,
}

impl Endian {
    /// The endianness of the host this code runs on.
    pub const fn host() -> Endian {
        if cfg!(target_endian = "big") {
            Endian::Big
        } else {
            Endian::Little
        }
    }

    /// The endianness of the emulated target (see [`set_target_big_endian`]).
    pub fn target() -> Endian {
        if TARGET_BIG_ENDIAN.load(Ordering::Relaxed) {
            Endian::Big
        } else {
            Endian::Little
        }
    }
}

/// Byte order a device model expects its `read`/`write` values in
/// (QEMU `enum device_endian`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum DeviceEndian {
    /// Same as the target (`DEVICE_NATIVE_ENDIAN`).
    #[default]
    Native,
    /// `DEVICE_BIG_ENDIAN`.
    Big,
    /// `DEVICE_LITTLE_ENDIAN`.
    Little,
}

impl DeviceEndian {
    /// Resolves `Native` to the current target endianness.
    pub fn resolve(self) -> Endian {
        match self {
            DeviceEndian::Native => Endian::target(),
            DeviceEndian::Big => Endian::Big,
            DeviceEndian::Little => Endian::Little,
        }
    }
}

static TARGET_BIG_ENDIAN: AtomicBool = AtomicBool::new(false);

/// Sets the target endianness that `DEVICE_NATIVE_ENDIAN` and the
/// unsuffixed `ld*`/`st*` helpers use. Ferrite's targets (RISC-V, x86) are
/// little-endian, which is the default; a board calls this once before
/// creating devices.
pub fn set_target_big_endian(big: bool) {
    TARGET_BIG_ENDIAN.store(big, Ordering::Relaxed);
}

/// Minimum/maximum access size in bytes and whether unaligned accesses are
/// allowed (QEMU's `MemoryRegionOps.valid` / `.impl` sub-structures).
/// A zero `max` means "unset" (see the dispatch rules).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct AccessSizes {
    /// Smallest access size in bytes (0 = unset).
    pub min: u32,
    /// Largest access size in bytes (0 = unset).
    pub max: u32,
    /// Whether accesses not aligned to their size are allowed / supported.
    pub unaligned: bool,
}

/// Static description of how a device wants to be accessed: the part of
/// QEMU's `MemoryRegionOps` that is data, not callbacks. Build it with the
/// `const` builder methods:
///
/// ```
/// use ferrite_memory::OpsDesc;
/// const DESC: OpsDesc = OpsDesc::new().little_endian().valid_sizes(1, 8).impl_sizes(4, 4);
/// assert_eq!(DESC.impl_.min, 4);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct OpsDesc {
    /// Byte order the device's `read`/`write` values are in.
    pub endianness: DeviceEndian,
    /// Which guest accesses are accepted at all (else `MEMTX_DECODE_ERROR`).
    pub valid: AccessSizes,
    /// Which access sizes the callbacks implement; other sizes are split
    /// or widened by the core.
    pub impl_: AccessSizes,
}

impl OpsDesc {
    /// Native endian, no size constraints (QEMU's zero-initialised ops).
    pub const fn new() -> OpsDesc {
        OpsDesc {
            endianness: DeviceEndian::Native,
            valid: AccessSizes {
                min: 0,
                max: 0,
                unaligned: false,
            },
            impl_: AccessSizes {
                min: 0,
                max: 0,
                unaligned: false,
            },
        }
    }
    /// `DEVICE_LITTLE_ENDIAN`.
    #[must_use]
    pub const fn little_endian(mut self) -> OpsDesc {
        self.endianness = DeviceEndian::Little;
        self
    }
    /// `DEVICE_BIG_ENDIAN`.
    #[must_use]
    pub const fn big_endian(mut self) -> OpsDesc {
        self.endianness = DeviceEndian::Big;
        self
    }
    /// `DEVICE_NATIVE_ENDIAN`.
    #[must_use]
    pub const fn native_endian(mut self) -> OpsDesc {
        self.endianness = DeviceEndian::Native;
        self
    }
    /// Sets `valid.min_access_size` / `valid.max_access_size`.
    #[must_use]
    pub const fn valid_sizes(mut self, min: u32, max: u32) -> OpsDesc {
        self.valid.min = min;
        self.valid.max = max;
        self
    }
    /// Sets `valid.unaligned`.
    #[must_use]
    pub const fn valid_unaligned(mut self) -> OpsDesc {
        self.valid.unaligned = true;
        self
    }
    /// Sets `impl.min_access_size` / `impl.max_access_size`.
    #[must_use]
    pub const fn impl_sizes(mut self, min: u32, max: u32) -> OpsDesc {
        self.impl_.min = min;
        self.impl_.max = max;
        self
    }
    /// Sets `impl.unaligned` (requires `valid.unaligned`, checked when the
    /// region is created).
    #[must_use]
    pub const fn impl_unaligned(mut self) -> OpsDesc {
        self.impl_.unaligned = true;
        self
    }
}

/// Dirty memory clients (QEMU `DIRTY_MEMORY_*`), used as bit indices in
/// dirty-log masks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DirtyClient {
    /// Display refresh (`DIRTY_MEMORY_VGA`, 0).
    Vga = 0,
    /// Translated-code invalidation (`DIRTY_MEMORY_CODE`, 1).
    Code = 1,
    /// Live migration (`DIRTY_MEMORY_MIGRATION`, 2).
    Migration = 2,
}

impl DirtyClient {
    /// All clients in index order.
    pub const ALL: [DirtyClient; 3] = [DirtyClient::Vga, DirtyClient::Code, DirtyClient::Migration];
    /// The client's bit in a dirty-log mask.
    pub const fn mask(self) -> u8 {
        1 << self as u8
    }
}

/// Number of dirty memory clients (`DIRTY_MEMORY_NUM`).
pub const DIRTY_MEMORY_NUM: usize = 3;
/// Mask with every client bit set.
pub const DIRTY_CLIENTS_ALL: u8 = (1 << DIRTY_MEMORY_NUM) - 1;
/// Mask with every client except CODE (`DIRTY_CLIENTS_NOCODE`).
pub const DIRTY_CLIENTS_NOCODE: u8 = DIRTY_CLIENTS_ALL & !DirtyClient::Code.mask();

/// Byte-swaps the low `size` bytes of `v` (QEMU's bswap16/32/64; 1-byte
/// values are never swapped).
pub(crate) fn bswap(v: u64, size: u32) -> u64 {
    match size {
        1 => v,
        2 => u64::from((v as u16).swap_bytes()),
        4 => u64::from((v as u32).swap_bytes()),
        8 => v.swap_bytes(),
        // Sizes are validated before we get here; any other width is a
        // programming error in the core.
        _ => panic!("bswap: unsupported access size {size}"),
    }
}

/// Low `size` bytes mask.
pub(crate) fn size_mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}
