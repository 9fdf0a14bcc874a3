//! Image formats a board loads into guest RAM: ELF64 for RISC-V and the Linux
//! RISC-V `Image` header.
//!
//! Image files come from the user, so every offset and size read from them is
//! checked against the file before it is used; a malformed file is a
//! [`LoadError`], never a panic.
//!
//! Like QEMU's `load_elf`, ELF segments are placed at their physical address
//! (`p_paddr`) and the entry point is translated from the virtual to the
//! physical address space through the segment that contains it. Symbols are
//! read from `.symtab` so that the `spike` board can find `tohost` and
//! `fromhost`, as QEMU's does.

use std::collections::HashMap;

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    /// The file is not an ELF file.
    #[error("not an ELF file")]
    NotElf,
    /// An ELF file for another class, byte order or machine.
    #[error("unsupported ELF file: {0}")]
    Unsupported(&'static str),
    /// Headers point outside the file or are inconsistent.
    #[error("malformed ELF file: {0}")]
    Malformed(&'static str),
}

/// One loadable segment: `data` goes to physical address `paddr`, followed
/// by `mem_size - data.len()` zero bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Physical load address (`p_paddr`).
    pub paddr: u64,
    /// Bytes from the file (`p_filesz`).
    pub data: Vec<u8>,
    /// Size in memory (`p_memsz`), at least `data.len()`.
    pub mem_size: u64,
}

/// A parsed ELF image.
#[derive(Clone, Debug, Default)]
pub struct ElfImage {
    /// Entry point, translated to a physical address.
    pub entry: u64,
    /// `PT_LOAD` segments with a non-zero memory size.
    pub segments: Vec<Segment>,
    /// Symbol name to value (as in the file, i.e. virtual addresses).
    pub symbols: HashMap<String, u64>,
}

impl ElfImage {
    /// Lowest physical address any segment occupies.
    pub fn low_addr(&self) -> Option<u64> {
        self.segments.iter().map(|s| s.paddr).min()
    }

    /// One past the highest physical address any segment occupies.
    pub fn high_addr(&self) -> Option<u64> {
        self.segments
            .iter()
            .map(|s| s.paddr.saturating_add(s.mem_size))
            .max()
    }
}

const EM_RISCV: u16 = 243;
const PT_LOAD: u32 = 1;
const SHT_SYMTAB: u32 = 2;

fn rd<const N: usize>(b: &[u8], off: usize) -> Result<[u8; N], LoadError> {
    b.get(
        off..off
            .checked_add(N)
            .ok_or(LoadError::Malformed("offset overflow"))?,
    )
    .map(|s| s.try_into().expect("slice has length N"))
    .ok_or(LoadError::Malformed("header outside the file"))
}
fn u16_at(b: &[u8], off: usize) -> Result<u16, LoadError> {
    Ok(u16::from_le_bytes(rd(b, off)?))
}
fn u32_at(b: &[u8], off: usize) -> Result<u32, LoadError> {
    Ok(u32::from_le_bytes(rd(b, off)?))
}
fn u64_at(b: &[u8], off: usize) -> Result<u64, LoadError> {
    Ok(u64::from_le_bytes(rd(b, off)?))
}
fn range(b: &[u8], off: u64, len: u64) -> Result<&[u8], LoadError> {
    let start = usize::try_from(off).map_err(|_| LoadError::Malformed("offset too large"))?;
    let len = usize::try_from(len).map_err(|_| LoadError::Malformed("size too large"))?;
    let end = start
        .checked_add(len)
        .ok_or(LoadError::Malformed("offset overflow"))?;
    b.get(start..end)
        .ok_or(LoadError::Malformed("segment or section outside the file"))
}

/// Returns true if `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// Parses an ELF64 little-endian RISC-V executable.
pub fn parse_elf(data: &[u8]) -> Result<ElfImage, LoadError> {
    if !is_elf(data) {
        return Err(LoadError::NotElf);
    }
    if rd::<1>(data, 4)?[0] != 2 {
        return Err(LoadError::Unsupported("not a 64-bit ELF file"));
    }
    if rd::<1>(data, 5)?[0] != 1 {
        return Err(LoadError::Unsupported("not little-endian"));
    }
    if u16_at(data, 18)? != EM_RISCV {
        return Err(LoadError::Unsupported("not a RISC-V executable"));
    }
    let entry = u64_at(data, 24)?;
    let phoff = u64_at(data, 32)?;
    let shoff = u64_at(data, 40)?;
    let phentsize = u16_at(data, 54)? as u64;
    let phnum = u16_at(data, 56)? as u64;
    let shentsize = u16_at(data, 58)? as u64;
    let shnum = u16_at(data, 60)? as u64;

    let mut img = ElfImage::default();
    let mut entry_phys = None;
    if phnum > 0 && phentsize < 56 {
        return Err(LoadError::Malformed("program header entries too small"));
    }
    for i in 0..phnum {
        let ph = range(data, phoff.saturating_add(i * phentsize), 56)?;
        if u32_at(ph, 0)? != PT_LOAD {
            continue;
        }
        let offset = u64_at(ph, 8)?;
        let vaddr = u64_at(ph, 16)?;
        let paddr = u64_at(ph, 24)?;
        let filesz = u64_at(ph, 32)?;
        let memsz = u64_at(ph, 40)?;
        if filesz > memsz {
            return Err(LoadError::Malformed(
                "segment file size exceeds its memory size",
            ));
        }
        if paddr.checked_add(memsz).is_none() {
            return Err(LoadError::Malformed("segment wraps the address space"));
        }
        if memsz == 0 {
            continue;
        }
        let bytes = range(data, offset, filesz)?.to_vec();
        if entry >= vaddr && entry - vaddr < memsz {
            entry_phys = Some(paddr + (entry - vaddr));
        }
        img.segments.push(Segment {
            paddr,
            data: bytes,
            mem_size: memsz,
        });
    }
    if img.segments.is_empty() {
        return Err(LoadError::Malformed("no loadable segments"));
    }
    img.entry = entry_phys.unwrap_or(entry);

    if shnum > 0 && shentsize >= 64 {
        for i in 0..shnum {
            let Ok(sh) = range(data, shoff.saturating_add(i * shentsize), 64) else {
                return Err(LoadError::Malformed("section header outside the file"));
            };
            if u32_at(sh, 4)? != SHT_SYMTAB {
                continue;
            }
            let sym_off = u64_at(sh, 24)?;
            let sym_size = u64_at(sh, 32)?;
            let link = u32_at(sh, 40)? as u64;
            let entsize = u64_at(sh, 56)?.max(24);
            if link >= shnum {
                return Err(LoadError::Malformed(
                    "symbol table links to no string table",
                ));
            }
            let strh = range(data, shoff.saturating_add(link * shentsize), 64)?;
            let strtab = range(data, u64_at(strh, 24)?, u64_at(strh, 32)?)?;
            let syms = range(data, sym_off, sym_size)?;
            for s in syms.chunks_exact(entsize as usize) {
                let name_off = u32_at(s, 0)? as usize;
                let value = u64_at(s, 8)?;
                if name_off == 0 {
                    continue;
                }
                let Some(tail) = strtab.get(name_off..) else {
                    continue;
                };
                let len = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
                if let Ok(name) = std::str::from_utf8(&tail[..len]) {
                    img.symbols.insert(name.to_string(), value);
                }
            }
        }
    }
    Ok(img)
}

/// The fields of a Linux RISC-V `Image` header
/// (`Documentation/arch/riscv/boot-image-header.rst`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset from a 2 MiB-aligned RAM base at which the image wants to run.
    pub text_offset: u64,
    /// Bytes the image occupies in memory, including BSS; 0 = unknown.
    pub image_size: u64,
    /// Header flags (bit 0: big-endian kernel).
    pub flags: u64,
    /// Header version (major << 16 | minor).
    pub version: u32,
}

/// Parses the 64-byte `Image` header if `data` has one (`magic2` is
/// `"RSC\x05"`); returns `None` for anything else, which is then loaded raw.
pub fn parse_image_header(data: &[u8]) -> Option<ImageHeader> {
    let h = data.get(..64)?;
    if &h[0x38..0x3c] != b"RSC\x05" {
        return None;
    }
    let q = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
    Some(ImageHeader {
        text_offset: q(0x08),
        image_size: q(0x10),
        flags: q(0x18),
        version: u32::from_le_bytes(h[0x20..0x24].try_into().expect("4 bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal ELF64 RISC-V file: one PT_LOAD segment with
    /// vaddr != paddr, and a symbol table with `tohost`.
    fn tiny_elf() -> Vec<u8> {
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&EM_RISCV.to_le_bytes());
        f[24..32].copy_from_slice(&0xffff_ffff_8000_0010u64.to_le_bytes()); // entry
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        f[40..48].copy_from_slice(&0x100u64.to_le_bytes()); // shoff
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&3u16.to_le_bytes());
        // Program header at 64.
        let ph = 64;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[ph + 8..ph + 16].copy_from_slice(&0xc0u64.to_le_bytes()); // offset
        f[ph + 16..ph + 24].copy_from_slice(&0xffff_ffff_8000_0000u64.to_le_bytes());
        f[ph + 24..ph + 32].copy_from_slice(&0x8000_0000u64.to_le_bytes());
        f[ph + 32..ph + 40].copy_from_slice(&0x20u64.to_le_bytes());
        f[ph + 40..ph + 48].copy_from_slice(&0x1000u64.to_le_bytes());
        for (i, b) in f[0xc0..0xe0].iter_mut().enumerate() {
            *b = i as u8;
        }
        // Strings at 0xe0: "\0tohost\0"; symbols at 0xf0 (2 entries * 24 = 48).
        f[0xe0..0xe8].copy_from_slice(b"\0tohost\0");
        // Section headers at 0x100: [0] null, [1] symtab, [2] strtab -> 3*64 = 0x1c0.
        let symoff = 0x1c0usize;
        f.resize(symoff + 48, 0);
        // symbol 1: name 1, value 0x80001000
        f[symoff + 24..symoff + 28].copy_from_slice(&1u32.to_le_bytes());
        f[symoff + 32..symoff + 40].copy_from_slice(&0x8000_1000u64.to_le_bytes());
        let sh1 = 0x100 + 64;
        f[sh1 + 4..sh1 + 8].copy_from_slice(&SHT_SYMTAB.to_le_bytes());
        f[sh1 + 24..sh1 + 32].copy_from_slice(&(symoff as u64).to_le_bytes());
        f[sh1 + 32..sh1 + 40].copy_from_slice(&48u64.to_le_bytes());
        f[sh1 + 40..sh1 + 44].copy_from_slice(&2u32.to_le_bytes());
        f[sh1 + 56..sh1 + 64].copy_from_slice(&24u64.to_le_bytes());
        let sh2 = 0x100 + 128;
        f[sh2 + 4..sh2 + 8].copy_from_slice(&3u32.to_le_bytes());
        f[sh2 + 24..sh2 + 32].copy_from_slice(&0xe0u64.to_le_bytes());
        f[sh2 + 32..sh2 + 40].copy_from_slice(&8u64.to_le_bytes());
        f
    }

    #[test]
    fn elf_segments_entry_and_symbols() {
        let img = parse_elf(&tiny_elf()).unwrap();
        assert_eq!(img.segments.len(), 1);
        assert_eq!(img.segments[0].paddr, 0x8000_0000);
        assert_eq!(img.segments[0].data.len(), 0x20);
        assert_eq!(img.segments[0].data[5], 5);
        assert_eq!(img.segments[0].mem_size, 0x1000);
        assert_eq!(img.entry, 0x8000_0010, "entry translated to physical");
        assert_eq!(img.symbols.get("tohost"), Some(&0x8000_1000));
        assert_eq!(img.low_addr(), Some(0x8000_0000));
        assert_eq!(img.high_addr(), Some(0x8000_1000));
    }

    #[test]
    fn elf_rejections() {
        assert_eq!(parse_elf(b"hello").unwrap_err(), LoadError::NotElf);
        let mut e = tiny_elf();
        e[18] = 62; // x86-64
        assert_eq!(
            parse_elf(&e).unwrap_err(),
            LoadError::Unsupported("not a RISC-V executable")
        );
        let mut e = tiny_elf();
        e[4] = 1;
        assert!(matches!(parse_elf(&e), Err(LoadError::Unsupported(_))));
        // filesz beyond the end of the file
        let mut e = tiny_elf();
        e[64 + 32..64 + 40].copy_from_slice(&0x10_0000u64.to_le_bytes());
        e[64 + 40..64 + 48].copy_from_slice(&0x10_0000u64.to_le_bytes());
        assert!(matches!(parse_elf(&e), Err(LoadError::Malformed(_))));
    }

    #[test]
    fn truncated_elf_never_panics() {
        let e = tiny_elf();
        for cut in 0..e.len() {
            let _ = parse_elf(&e[..cut]);
        }
    }

    proptest::proptest! {
        #[test]
        fn corrupted_elf_never_panics(idx in 0usize..0x1f0, val in proptest::prelude::any::<u8>()) {
            let mut e = tiny_elf();
            e[idx] = val;
            let _ = parse_elf(&e);
        }
    }

    #[test]
    fn reference_kernel_image_header() {
        let dir = crate::test_util::shared_dir();
        let mut f = std::fs::File::open(dir.join("guests/riscv64/Image")).unwrap();
        let mut head = [0u8; 64];
        std::io::Read::read_exact(&mut f, &mut head).unwrap();
        let h = parse_image_header(&head).unwrap();
        assert_eq!(h.text_offset, 0x20_0000);
        assert_eq!(h.image_size, 0x1e6_b000);
        assert_eq!(h.flags, 0);
        assert_eq!(h.version, 2);
        assert!(parse_image_header(&[0u8; 64]).is_none());
        assert!(parse_image_header(&head[..63]).is_none());
    }
}
