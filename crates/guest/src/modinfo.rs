//! Kernel modules: reading `.modinfo` from `.ko` / `.ko.xz` files and
//! ordering the modules so that each loads after the modules it depends on.
//!
//! `modinfo` data lives in the ELF section `.modinfo` as NUL-separated
//! `key=value` strings; `depends=` lists the modules (by module name, with
//! `_` where file names may have `-`) that must be loaded first. This is what
//! `depmod` reads to build `modules.dep`, which Debian generates at install
//! time and so is not in the package.

use std::collections::HashSet;

use crate::error::{GuestError, Result};

/// The module roots the guest wants, in the order they should load (each is
/// preceded by its dependencies): virtio transport, block, network, entropy,
/// and the ext4 file system. A root written `?name` is optional: it is
/// taken when the kernel package has it and skipped otherwise.
///
/// `crc32c_generic` is not in ext4's `depends=`: Linux 6.12's ext4 asks the
/// crypto API for "crc32c" when it mounts a file system ("Cannot load
/// crc32c driver" without it), so it is listed here, before ext4. The
/// reference guest in `shared/guests/riscv64` does not have it, hence
/// optional.
pub const DEFAULT_MODULES: &[&str] = &[
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    "virtio_rng",
    "?crc32c_generic",
    "ext4",
];

/// The information the tool needs from one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModInfo {
    /// The module's name (`name=`), normalized to underscores.
    pub name: String,
    /// Names of the modules it depends on (`depends=`), normalized.
    pub depends: Vec<String>,
}

/// Normalizes a module name: `-` and `_` are the same to the kernel.
pub fn module_name(s: &str) -> String {
    s.replace('-', "_")
}

/// The module name implied by a file name (`virtio-rng.ko.xz` → `virtio_rng`).
pub fn module_name_from_file(file: &str) -> Option<String> {
    let base = file.rsplit('/').next()?;
    let stem = base
        .strip_suffix(".ko.xz")
        .or_else(|| base.strip_suffix(".ko"))?;
    Some(module_name(stem))
}

/// Decompresses a module file if it is `.ko.xz` (by content), else returns it.
pub fn decompress_module(what: &str, data: &[u8]) -> Result<Vec<u8>> {
    if data.starts_with(b"\xfd7zXZ\0") {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut &data[..], &mut out).map_err(|e| GuestError::BadArchive {
            what: what.to_string(),
            reason: format!("cannot decompress: {e}"),
        })?;
        Ok(out)
    } else {
        Ok(data.to_vec())
    }
}

/// Reads `name=` and `depends=` from a module (compressed or not).
pub fn read_modinfo(what: &str, data: &[u8]) -> Result<ModInfo> {
    let elf = decompress_module(what, data)?;
    let bad = |reason: &str| GuestError::BadArchive {
        what: what.to_string(),
        reason: reason.to_string(),
    };
    let section =
        elf_section(&elf, ".modinfo").ok_or_else(|| bad("no .modinfo section in the ELF file"))?;
    let mut name = None;
    let mut depends = Vec::new();
    for field in section.split(|&b| b == 0) {
        let field = String::from_utf8_lossy(field);
        if let Some(v) = field.strip_prefix("name=") {
            name = Some(module_name(v));
        } else if let Some(v) = field.strip_prefix("depends=") {
            depends.extend(v.split(',').filter(|d| !d.is_empty()).map(module_name));
        }
    }
    let name = name
        .or_else(|| module_name_from_file(what))
        .ok_or_else(|| bad("no name= in .modinfo"))?;
    Ok(ModInfo { name, depends })
}

/// The contents of the named section of a little-endian ELF64 file.
fn elf_section<'a>(elf: &'a [u8], wanted: &str) -> Option<&'a [u8]> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let shentsize = usize::from(u16_at(0x3a)?);
    let shnum = usize::from(u16_at(0x3c)?);
    let shstrndx = usize::from(u16_at(0x3e)?);
    if shentsize < 64 {
        return None;
    }
    let section = |i: usize| -> Option<(u32, &'a [u8])> {
        let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let name = u32_at(h)?;
        let off = usize::try_from(u64_at(h + 0x18)?).ok()?;
        let size = usize::try_from(u64_at(h + 0x20)?).ok()?;
        Some((name, elf.get(off..off.checked_add(size)?)?))
    };
    let (_, strtab) = section(shstrndx)?;
    (0..shnum).find_map(|i| {
        let (name_off, data) = section(i)?;
        let name = strtab.get(name_off as usize..)?;
        let end = name.iter().position(|&b| b == 0)?;
        (&name[..end] == wanted.as_bytes()).then_some(data)
    })
}

/// Orders the modules needed for `roots`: a depth-first walk of `depends=`
/// that emits each module after its dependencies, roots in the given order.
///
/// `lookup` gives a module's info by name (`None` if the package lacks it);
/// it is called once per needed module, so callers can decompress lazily.
/// `package` names where modules come from (for the error when one is
/// missing). Dependency cycles are broken (each module appears once).
pub fn load_order(
    roots: &[&str],
    lookup: &mut dyn FnMut(&str) -> Result<Option<ModInfo>>,
    package: &str,
) -> Result<Vec<String>> {
    fn visit(
        name: &str,
        needed_by: &str,
        lookup: &mut dyn FnMut(&str) -> Result<Option<ModInfo>>,
        package: &str,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) -> Result<()> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let info = lookup(name)?.ok_or_else(|| GuestError::ModuleMissing {
            module: name.to_string(),
            needed_by: needed_by.to_string(),
            package: package.to_string(),
        })?;
        for d in &info.depends {
            visit(d, name, lookup, package, seen, out)?;
        }
        out.push(name.to_string());
        Ok(())
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in roots {
        let r = match r.strip_prefix('?') {
            Some(optional) if lookup(&module_name(optional))?.is_none() => continue,
            Some(optional) => optional,
            None => r,
        };
        visit(
            &module_name(r),
            "the guest",
            lookup,
            package,
            &mut seen,
            &mut out,
        )?;
    }
    Ok(out)
}

/// Builds a minimal little-endian ELF64 relocatable file with a `.modinfo`
/// section (test fixture).
#[cfg(test)]
pub(crate) fn fixture_module(name: &str, depends: &[&str]) -> Vec<u8> {
    let modinfo = format!(
        "license=GPL\0depends={}\0name={name}\0vermagic=6.12.1 SMP\0",
        depends.join(",")
    );
    let shstrtab = b"\0.modinfo\0.shstrtab\0";
    let mut elf = vec![0u8; 64];
    elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    let modinfo_off = elf.len();
    elf.extend_from_slice(modinfo.as_bytes());
    let shstr_off = elf.len();
    elf.extend_from_slice(shstrtab);
    while !elf.len().is_multiple_of(8) {
        elf.push(0);
    }
    let shoff = elf.len();
    let mut sh = |name: u32, off: usize, size: usize| {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name.to_le_bytes());
        h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
        h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
        elf.extend_from_slice(&h);
    };
    sh(0, 0, 0);
    sh(1, modinfo_off, modinfo.len());
    sh(10, shstr_off, shstrtab.len());
    elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
    elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
    elf[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
    elf
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn order(roots: &[&str], i: &BTreeMap<String, ModInfo>, package: &str) -> Result<Vec<String>> {
        load_order(roots, &mut |n| Ok(i.get(n).cloned()), package)
    }

    fn infos(list: &[(&str, &[&str])]) -> BTreeMap<String, ModInfo> {
        list.iter()
            .map(|(n, d)| {
                let elf = fixture_module(n, d);
                let xz = crate::deb::fixture::xz(&elf);
                let info = read_modinfo(&format!("{n}.ko.xz"), &xz).unwrap();
                (info.name.clone(), info)
            })
            .collect()
    }

    #[test]
    fn reads_name_and_depends_from_compressed_module() {
        let i = infos(&[("ext4", &["jbd2", "mbcache", "crc16"])]);
        assert_eq!(i["ext4"].depends, ["jbd2", "mbcache", "crc16"]);
        let i = read_modinfo("virtio-rng.ko", &fixture_module("virtio-rng", &[])).unwrap();
        assert_eq!(i.name, "virtio_rng");
        assert!(i.depends.is_empty());
    }

    #[test]
    fn order_puts_dependencies_first() {
        let i = infos(&[
            ("virtio_mmio", &[]),
            ("virtio_blk", &[]),
            ("failover", &[]),
            ("net_failover", &["failover"]),
            ("virtio_net", &["net_failover"]),
            ("virtio_rng", &[]),
            ("crc16", &[]),
            ("mbcache", &[]),
            ("jbd2", &[]),
            ("ext4", &["jbd2", "mbcache", "crc16"]),
            ("unrelated", &["ext4"]),
        ]);
        let order = order(DEFAULT_MODULES, &i, "pkg").unwrap();
        assert_eq!(
            order,
            [
                "virtio_mmio",
                "virtio_blk",
                "failover",
                "net_failover",
                "virtio_net",
                "virtio_rng",
                "jbd2",
                "mbcache",
                "crc16",
                "ext4"
            ]
        );
    }

    #[test]
    fn optional_roots_are_taken_when_present() {
        let mut i = infos(&[
            ("virtio_mmio", &[]),
            ("virtio_blk", &[]),
            ("failover", &[]),
            ("net_failover", &["failover"]),
            ("virtio_net", &["net_failover"]),
            ("virtio_rng", &[]),
            ("crc16", &[]),
            ("mbcache", &[]),
            ("jbd2", &[]),
            ("ext4", &["jbd2", "mbcache", "crc16"]),
        ]);
        let without = order(DEFAULT_MODULES, &i, "pkg").unwrap();
        assert!(!without.iter().any(|m| m == "crc32c_generic"));
        i.extend(infos(&[("crc32c_generic", &[])]));
        let with = order(DEFAULT_MODULES, &i, "pkg").unwrap();
        assert_eq!(
            with[6..],
            ["crc32c_generic", "jbd2", "mbcache", "crc16", "ext4"]
        );
        // A missing mandatory root is still an error.
        assert!(order(&["?crc32c_generic", "nope"], &i, "pkg").is_err());
    }

    #[test]
    fn missing_dependency_is_named() {
        let i = infos(&[("virtio_net", &["net_failover"])]);
        let e = order(&["virtio_net"], &i, "linux-image-x").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("net_failover") && msg.contains("needed by virtio_net"),
            "{msg}"
        );
    }

    #[test]
    fn cycles_terminate() {
        let i = infos(&[("a", &["b"]), ("b", &["a"])]);
        assert_eq!(order(&["a"], &i, "p").unwrap(), ["b", "a"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &b""[..],
            b"\x7fELF\x02\x01",
            b"\xfd7zXZ\0garbage",
            &[0xffu8; 100],
        ] {
            assert!(read_modinfo("x.ko", junk).is_err());
        }
        let mut elf = fixture_module("a", &[]);
        elf[0x28] = 0xff; // section headers out of range
        assert!(read_modinfo("a.ko", &elf).is_err());
    }

    /// The reference modules in shared/guests/riscv64 (the same Debian
    /// kernel), when present next to the repository.
    #[test]
    fn reference_modules_resolve_like_the_manifest() {
        let Some(dir) = crate::tests_support::reference_dir() else {
            eprintln!("skipped: the reference guest directory is not present");
            return;
        };
        let mut i = BTreeMap::new();
        for e in std::fs::read_dir(dir.join("modules")).unwrap() {
            let p = e.unwrap().path();
            let info = read_modinfo(&p.display().to_string(), &std::fs::read(&p).unwrap()).unwrap();
            i.insert(info.name.clone(), info);
        }
        let order = order(DEFAULT_MODULES, &i, "reference").unwrap();
        assert_eq!(
            order,
            [
                "virtio_mmio",
                "virtio_blk",
                "failover",
                "net_failover",
                "virtio_net",
                "virtio_rng",
                "jbd2",
                "mbcache",
                "crc16",
                "ext4"
            ]
        );
    }
}
