//! Debian `Packages` indices: parsing stanzas and picking packages.
//!
//! An index is a list of deb822 stanzas, one per binary package. Only the
//! fields the tool needs are kept: `Package`, `Version`, `Architecture`,
//! `Filename`, `Size` and `SHA256`. Stanzas lacking any of them, or with a
//! version dpkg would reject, are skipped rather than trusted.

use crate::version::Version;

/// One package entry of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: Version,
    /// Architecture (`riscv64`, `all`).
    pub architecture: String,
    /// Path of the `.deb` relative to the archive root.
    pub filename: String,
    /// Size of the `.deb` in bytes.
    pub size: u64,
    /// SHA-256 of the `.deb`, lowercase hex.
    pub sha256: String,
}

/// What to pick from an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// Exactly this package name.
    Exact(&'a str),
    /// A Debian kernel image for `arch`: `linux-image-<release>-<arch>`
    /// where `<release>` starts with a digit (this excludes the
    /// `linux-image-<arch>` meta package and `-dbg` packages).
    KernelImage(&'a str),
}

impl Wanted<'_> {
    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match *self {
            Wanted::Exact(n) => name == n,
            Wanted::KernelImage(arch) => name
                .strip_prefix("linux-image-")
                .and_then(|r| r.strip_suffix(arch))
                .and_then(|r| r.strip_suffix('-'))
                .is_some_and(|release| release.starts_with(|c: char| c.is_ascii_digit())),
        }
    }

    /// A human-readable description (for messages).
    pub fn describe(&self) -> String {
        match *self {
            Wanted::Exact(n) => n.to_string(),
            Wanted::KernelImage(arch) => format!("linux-image-*-{arch}"),
        }
    }
}

/// Parses a whole `Packages` index.
pub fn parse_packages(text: &str) -> Vec<PackageEntry> {
    text.split("\n\n").filter_map(parse_stanza).collect()
}

fn parse_stanza(stanza: &str) -> Option<PackageEntry> {
    let (mut name, mut version, mut arch, mut filename, mut size, mut sha) =
        (None, None, None, None, None, None);
    for line in stanza.lines() {
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line field we do not use
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Package" => name = Some(v),
            "Version" => version = Some(v),
            "Architecture" => arch = Some(v),
            "Filename" => filename = Some(v),
            "Size" => size = Some(v),
            "SHA256" => sha = Some(v),
            _ => {}
        }
    }
    let sha = sha?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let filename = filename?;
    if filename.split('/').any(|c| c == "..") || filename.starts_with('/') {
        return None;
    }
    Some(PackageEntry {
        name: name?.to_string(),
        version: Version::parse(version?).ok()?,
        architecture: arch?.to_string(),
        filename: filename.to_string(),
        size: size?.parse().ok()?,
        sha256: sha.to_ascii_lowercase(),
    })
}

/// The newest entry matching `wanted` (by dpkg version order; equal versions
/// are broken by name so the choice does not depend on index order).
pub fn select_newest<'a>(
    entries: &'a [PackageEntry],
    wanted: Wanted<'_>,
) -> Option<&'a PackageEntry> {
    entries
        .iter()
        .filter(|e| wanted.matches(&e.name))
        .max_by(|a, b| a.version.cmp(&b.version).then_with(|| a.name.cmp(&b.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(name: &str, version: &str, arch: &str) -> String {
        format!(
            "Package: {name}\nSource: linux (6.12)\nVersion: {version}\nInstalled-Size: 10\n\
             Maintainer: Someone <x@example.org>\nArchitecture: {arch}\n\
             Depends: kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool\n\
             Description: a package\n multi-line description\n .\n more\n\
             Filename: pool/main/x/{name}_{version}_{arch}.deb\nSize: 1234\n\
             SHA256: {}\n",
            "ab".repeat(32)
        )
    }

    #[test]
    fn parses_needed_fields_and_skips_the_rest() {
        let text = format!(
            "{}\n{}",
            stanza("busybox-static", "1:1.37.0-6+b9", "riscv64"),
            stanza("opensbi", "1.6-1", "all")
        );
        let e = parse_packages(&text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "busybox-static");
        assert_eq!(e[0].version.as_str(), "1:1.37.0-6+b9");
        assert_eq!(e[0].architecture, "riscv64");
        assert_eq!(
            e[0].filename,
            "pool/main/x/busybox-static_1:1.37.0-6+b9_riscv64.deb"
        );
        assert_eq!(e[0].size, 1234);
        assert_eq!(e[0].sha256, "ab".repeat(32));
        assert_eq!(e[1].name, "opensbi");
    }

    #[test]
    fn malformed_stanzas_are_skipped() {
        let good = stanza("a", "1.0", "all");
        let bad_sha = good.replace(&"ab".repeat(32), "xyz");
        let bad_version = good.replace("Version: 1.0", "Version: x.y");
        let no_size = good.replace("Size: 1234\n", "");
        let escaping = good.replace("Filename: pool", "Filename: ../pool");
        let text = [good.as_str(), &bad_sha, &bad_version, &no_size, &escaping].join("\n");
        assert_eq!(parse_packages(&text).len(), 1);
    }

    #[test]
    fn kernel_pattern() {
        let k = Wanted::KernelImage("riscv64");
        assert!(k.matches("linux-image-6.12.117+deb13-riscv64"));
        assert!(!k.matches("linux-image-riscv64"));
        assert!(!k.matches("linux-image-6.12.117+deb13-riscv64-dbg"));
        assert!(!k.matches("linux-image-rt-riscv64"));
        assert!(!k.matches("linux-headers-6.12.117+deb13-riscv64"));
        assert!(!k.matches("linux-image-6.12.117+deb13-amd64"));
    }

    #[test]
    fn newest_kernel_wins_by_dpkg_order() {
        let text = [
            stanza("linux-image-6.12.9+deb13-riscv64", "6.12.9-1", "riscv64"),
            stanza(
                "linux-image-6.12.117+deb13-riscv64",
                "6.12.117-1",
                "riscv64",
            ),
            stanza(
                "linux-image-6.12.107+deb13-riscv64",
                "6.12.107-1",
                "riscv64",
            ),
            stanza(
                "linux-image-6.12.117+deb13-riscv64-dbg",
                "6.12.200-1",
                "riscv64",
            ),
            stanza("linux-image-riscv64", "6.12.300-1", "riscv64"),
        ]
        .join("\n");
        let e = parse_packages(&text);
        let k = select_newest(&e, Wanted::KernelImage("riscv64")).unwrap();
        assert_eq!(k.name, "linux-image-6.12.117+deb13-riscv64");
        // A plain string comparison would have picked 6.12.9.
        assert!("6.12.9-1" > "6.12.117-1");
    }

    #[test]
    fn newest_of_one_name_and_missing_package() {
        let text = [
            stanza("busybox-static", "1:1.37.0-6+b9", "riscv64"),
            stanza("busybox-static", "1:1.37.0-6+b10", "riscv64"),
            stanza("busybox-static", "1.99-1", "riscv64"),
        ]
        .join("\n");
        let e = parse_packages(&text);
        let b = select_newest(&e, Wanted::Exact("busybox-static")).unwrap();
        assert_eq!(b.version.as_str(), "1:1.37.0-6+b10");
        assert!(select_newest(&e, Wanted::Exact("opensbi")).is_none());
    }
}
