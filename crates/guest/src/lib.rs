//! Ferrite's guest image tool: the logic behind `ferrite guest fetch`,
//! `ferrite guest path` and `ferrite guest list`.
//!
//! [`fetch`] builds a bootable riscv64 Linux guest from Debian 13 (trixie,
//! `main`) packages:
//!
//! 1. It finds the Debian mirror ([`apt`]): `--mirror`, the
//!    `FERRITE_DEBIAN_MIRROR` environment variable, or the host's APT
//!    configuration (no host name is built in).
//! 2. It reads `dists/trixie/main/binary-riscv64/Packages.xz` and
//!    `binary-all/Packages.xz` ([`index`]) and picks the newest
//!    `linux-image-*-riscv64`, `busybox-static` and `opensbi` by dpkg's
//!    version ordering ([`version`]).
//! 3. It downloads each `.deb` ([`http`]), checks its size and SHA-256
//!    against the index, and unpacks it in Rust ([`deb`]: ar, then the
//!    tar.xz / tar.zst data member), keeping the kernel `Image`
//!    (`boot/vmlinux-*`), the virtio / ext4 modules with their dependencies
//!    from the modules' own `depends=` ([`modinfo`]), busybox, and OpenSBI's
//!    `fw_dynamic.bin`.
//! 4. It builds a deterministic initramfs ([`initramfs`]) with the project's
//!    init files, and commits everything atomically to the cache ([`cache`]),
//!    `$XDG_CACHE_HOME/ferrite/guests/riscv64` by default.
//!
//! A second [`fetch`] finds the cache intact and does not touch the network.
//! [`path`] and [`list`] read the cache only; [`seed_from_dir`] fills it from
//! a directory laid out like `shared/guests/riscv64`.
//!
//! ```no_run
//! use ferrite_guest::{FetchOptions, fetch, progress};
//!
//! // `ferrite guest fetch --mirror http://deb.debian.org/debian`
//! let opts = FetchOptions {
//!     mirror: Some("http://deb.debian.org/debian".into()),
//!     ..FetchOptions::default()
//! };
//! match fetch(&opts, &mut *progress::auto()) {
//!     // -bios, -kernel and -initrd for the default run.
//!     Ok(r) => println!("{}", r.paths),
//!     // One line naming the problem and what to do.
//!     Err(e) => eprintln!("ferrite guest: {e}"),
//! }
//! ```
//!
//! Integrity: every `.deb` is checked against the size and SHA-256 in the
//! index, each index against the suite's `InRelease`, and `InRelease`'s
//! OpenPGP signature with `gpgv` and the Debian archive keyring when both are
//! installed ([`release`]; otherwise the fetch says that the signature was
//! not checked).

pub mod apt;
pub mod cache;
pub mod deb;
pub mod error;
pub mod http;
pub mod index;
pub mod initramfs;
pub mod modinfo;
pub mod progress;
pub mod release;
pub mod version;

#[cfg(test)]
mod fetch_tests;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use apt::{Mirror, MirrorOrigin};
pub use cache::{GuestPaths, Listing, Manifest, PackageRecord};
pub use error::{GuestError, Result};
pub use progress::Progress;

use index::{PackageEntry, Wanted};

/// The Debian suite the guest comes from.
pub const SUITE: &str = "trixie";
/// The archive component.
pub const COMPONENT: &str = "main";
/// The guest architecture (Debian's name).
pub const ARCH: &str = "riscv64";
/// The OpenSBI firmware inside the `opensbi` package.
pub const FW_DYNAMIC: &str = "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";

/// Options for [`fetch`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// `--mirror URL`; overrides the environment and APT.
    pub mirror: Option<String>,
    /// The cache directory; `None` for [`cache::default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Root under which `etc/apt` is read (normally `/`).
    pub apt_root: PathBuf,
    /// Ask the mirror for newer packages even if the cache is intact.
    pub refresh: bool,
    /// Module roots to include (dependencies are added).
    pub modules: Vec<String>,
    /// Check `InRelease`'s signature with `gpgv` when it and a keyring are
    /// installed (the hashes in it are checked either way).
    pub check_signature: bool,
    /// Fail when an index does not match `InRelease` (as APT does) instead
    /// of warning and using it.
    pub strict_index: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirror: None,
            cache_dir: None,
            apt_root: PathBuf::from("/"),
            refresh: false,
            modules: modinfo::DEFAULT_MODULES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            check_signature: true,
            strict_index: false,
        }
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The cache was intact and used as is (no network access).
    Cached,
    /// The mirror has nothing newer than the cache.
    UpToDate,
    /// New packages were downloaded and the cache updated.
    Fetched,
}

/// The result of [`fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// What happened.
    pub outcome: FetchOutcome,
    /// The cached files.
    pub paths: GuestPaths,
    /// The cache manifest (versions and hashes).
    pub manifest: Manifest,
    /// How the suite's signature was checked (`None` if the mirror was not
    /// asked: the cache was used).
    pub signature: Option<release::Signature>,
    /// Problems that did not stop the fetch (unchecked signature, an index
    /// out of sync with `InRelease`), also reported through the progress.
    pub warnings: Vec<String>,
}

fn resolve_cache_dir(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => cache::default_cache_dir(),
    }
}

/// `ferrite guest path`: the cached guest's files (quick check: existence
/// and sizes).
pub fn path(cache_dir: Option<&Path>) -> Result<GuestPaths> {
    let dir = resolve_cache_dir(cache_dir)?;
    let m = cache::read_manifest(&dir)?.ok_or(GuestError::NotCached { dir: dir.clone() })?;
    cache::check(&dir, &m, false)
}

/// `ferrite guest list`: what is cached, with package versions.
pub fn list(cache_dir: Option<&Path>) -> Result<Listing> {
    let dir = resolve_cache_dir(cache_dir)?;
    let manifest = cache::read_manifest(&dir)?.ok_or(GuestError::NotCached { dir: dir.clone() })?;
    cache::check(&dir, &manifest, false)?;
    Ok(Listing {
        cache_dir: dir,
        manifest,
    })
}

/// `ferrite guest fetch`: makes sure an intact guest is cached, downloading
/// it from the Debian mirror if needed (see the crate docs).
pub fn fetch(opts: &FetchOptions, progress: &mut dyn Progress) -> Result<FetchReport> {
    let dir = resolve_cache_dir(opts.cache_dir.as_deref())?;
    let current = cache::read_manifest(&dir).ok().flatten();
    let intact = current
        .as_ref()
        .and_then(|m| cache::check(&dir, m, true).ok().map(|p| (m.clone(), p)));
    if let (Some((manifest, paths)), false) = (&intact, opts.refresh) {
        return Ok(FetchReport {
            outcome: FetchOutcome::Cached,
            paths: paths.clone(),
            manifest: manifest.clone(),
            signature: None,
            warnings: Vec::new(),
        });
    }
    let mirror = apt::discover_mirror(opts.mirror.as_deref(), &opts.apt_root)?;
    let client = http::Client::new();
    progress.note(&format!("using the Debian mirror {}", mirror.url));

    let release_url = mirror.join(&format!("dists/{SUITE}/InRelease"));
    let inrelease = client.get_bytes(&release_url, &format!("{SUITE} InRelease"), progress)?;
    let (release_text, signature) = if opts.check_signature {
        release::verify(&inrelease, mirror.keyring.as_deref(), &release_url)?
    } else {
        let text = String::from_utf8_lossy(&inrelease).into_owned();
        let why = "checking was turned off".to_string();
        (text, release::Signature::NotChecked(why))
    };
    match &signature {
        release::Signature::Verified(k) => progress.note(&format!(
            "{SUITE} InRelease: good signature ({})",
            k.display()
        )),
        release::Signature::NotChecked(why) => progress.note(&format!(
            "warning: the signature of {SUITE} InRelease was not checked ({why}); \
             the indices are still checked against its hashes"
        )),
    }
    let release = ReleaseInfo {
        hashes: release::parse_sha256_table(&release_text),
        by_hash: release_text
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("Acquire-By-Hash: yes")),
        url: release_url,
    };
    let mut warnings = Vec::new();
    if let release::Signature::NotChecked(why) = &signature {
        warnings.push(format!("the InRelease signature was not checked: {why}"));
    }
    let strict = opts.strict_index;
    let arch_index = fetch_index(
        &client,
        &mirror,
        ARCH,
        &release,
        strict,
        &mut warnings,
        progress,
    )?;
    let all_index = fetch_index(
        &client,
        &mirror,
        "all",
        &release,
        strict,
        &mut warnings,
        progress,
    )?;
    let pick = |entries: &[PackageEntry], arch: &str, wanted: Wanted<'_>| {
        index::select_newest(entries, wanted)
            .cloned()
            .ok_or_else(|| GuestError::PackageMissing {
                wanted: wanted.describe(),
                index: mirror.join(&index_path(arch)),
            })
    };
    let kernel = pick(&arch_index, ARCH, Wanted::KernelImage(ARCH))?;
    let busybox = pick(&arch_index, ARCH, Wanted::Exact("busybox-static"))?;
    let opensbi = pick(&all_index, "all", Wanted::Exact("opensbi"))?;
    let records: Vec<PackageRecord> = [&kernel, &busybox, &opensbi]
        .iter()
        .map(|e| PackageRecord {
            name: e.name.clone(),
            version: e.version.to_string(),
            architecture: e.architecture.clone(),
            deb_sha256: e.sha256.clone(),
        })
        .collect();
    let up_to_date = |intact: &Option<(Manifest, GuestPaths)>| {
        intact
            .as_ref()
            .filter(|(m, _)| m.packages == records)
            .cloned()
    };
    if let Some((manifest, paths)) = up_to_date(&intact) {
        progress.note("the cached guest is up to date");
        return Ok(FetchReport {
            outcome: FetchOutcome::UpToDate,
            paths,
            manifest,
            signature: Some(signature),
            warnings,
        });
    }

    fs::create_dir_all(&dir).map_err(|e| GuestError::io("cannot create", &dir, e))?;
    // One fetch at a time per cache: the lock (on the directory itself, so
    // no lock file is left behind) is released when `_lock` is dropped.
    let _lock = cache::lock(&dir, progress)?;
    // Another fetch may have finished while this one waited.
    let now = cache::read_manifest(&dir)
        .ok()
        .flatten()
        .and_then(|m| cache::check(&dir, &m, true).ok().map(|p| (m, p)));
    if let Some((manifest, paths)) = up_to_date(&now) {
        return Ok(FetchReport {
            outcome: FetchOutcome::UpToDate,
            paths,
            manifest,
            signature: Some(signature),
            warnings,
        });
    }
    cache::clean_stale(&dir);

    // Kernel: the Image and every module (compressed, ~100 MB) so that the
    // dependency walk can look any of them up.
    let kernel_files = download_and_extract(&client, &mirror, &kernel, &dir, progress, |p| {
        (p.starts_with("boot/vmlinux-")) || (is_module_path(p))
    })?;
    let mut image = None;
    let mut modules: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    for e in kernel_files {
        if e.path.starts_with("boot/vmlinux-") {
            if image.is_some() {
                return Err(bad(&kernel, "it has more than one boot/vmlinux-* file"));
            }
            image = Some(e.data);
        } else if let Some(name) = modinfo::module_name_from_file(&e.path) {
            let file = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
            modules.insert(name, (file, e.data));
        }
    }
    let image = image.ok_or_else(|| bad(&kernel, "it has no boot/vmlinux-* kernel image"))?;
    let roots: Vec<&str> = opts.modules.iter().map(String::as_str).collect();
    let order = modinfo::load_order(
        &roots,
        &mut |name| match modules.get(name) {
            Some((file, data)) => modinfo::read_modinfo(file, data).map(Some),
            None => Ok(None),
        },
        &kernel.name,
    )?;
    let module_files: Vec<(String, Vec<u8>)> =
        order.iter().filter_map(|n| modules.remove(n)).collect();
    drop(modules);

    let bb = download_and_extract(&client, &mirror, &busybox, &dir, progress, |p| {
        p == "usr/bin/busybox" || p == "bin/busybox"
    })?;
    let bb = bb
        .into_iter()
        .next()
        .ok_or_else(|| bad(&busybox, "it has no usr/bin/busybox"))?
        .data;
    let sbi = download_and_extract(&client, &mirror, &opensbi, &dir, progress, |p| {
        p == FW_DYNAMIC
    })?;
    let sbi = sbi
        .into_iter()
        .next()
        .ok_or_else(|| bad(&opensbi, &format!("it has no {FW_DYNAMIC}")))?
        .data;

    progress.note("building the initramfs");
    let manifest = commit_guest(
        &dir,
        &format!("mirror {}", mirror.url),
        records,
        image,
        bb,
        sbi,
        module_files,
    )?;
    let paths = cache::check(&dir, &manifest, false)?;
    progress.note(&format!("the guest is cached in {}", paths.dir.display()));
    Ok(FetchReport {
        outcome: FetchOutcome::Fetched,
        paths,
        manifest,
        signature: Some(signature),
        warnings,
    })
}

fn bad(pkg: &PackageEntry, reason: &str) -> GuestError {
    GuestError::BadArchive {
        what: format!("{} {}", pkg.name, pkg.version),
        reason: reason.to_string(),
    }
}

fn is_module_path(p: &str) -> bool {
    (p.starts_with("usr/lib/modules/") || p.starts_with("lib/modules/"))
        && (p.ends_with(".ko.xz") || p.ends_with(".ko"))
}

/// The index path (relative to the archive root) for `arch`.
pub fn index_path(arch: &str) -> String {
    format!("dists/{SUITE}/{COMPONENT}/binary-{arch}/Packages.xz")
}

/// What `InRelease` says about the indices.
struct ReleaseInfo {
    /// `path → (sha256, size)` from its `SHA256:` table.
    hashes: std::collections::HashMap<String, (String, u64)>,
    /// `Acquire-By-Hash: yes`: indices are also at `by-hash/SHA256/<hash>`.
    by_hash: bool,
    /// The InRelease URL (for messages).
    url: String,
}

fn fetch_index(
    client: &http::Client,
    mirror: &Mirror,
    arch: &str,
    release: &ReleaseInfo,
    strict: bool,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
) -> Result<Vec<PackageEntry>> {
    let url = mirror.join(&index_path(arch));
    let key = format!("{COMPONENT}/binary-{arch}/Packages.xz");
    let (sha, size) = release
        .hashes
        .get(&key)
        .ok_or_else(|| GuestError::BadArchive {
            what: release.url.clone(),
            reason: format!("it does not list {key}"),
        })?;
    let what = format!("{SUITE} {arch} index");
    // By-hash names never change, so they cannot be caught mid-update the
    // way the plain name can (APT prefers them for the same reason).
    let by_hash = release.by_hash.then(|| {
        mirror.join(&format!(
            "dists/{SUITE}/{COMPONENT}/binary-{arch}/by-hash/SHA256/{sha}"
        ))
    });
    let xz = match by_hash.map(|u| client.get_bytes(&u, &what, progress)) {
        Some(Ok(data)) => data,
        Some(Err(GuestError::HttpStatus { .. })) | None => {
            client.get_bytes(&url, &what, progress)?
        }
        Some(Err(e)) => return Err(e),
    };
    let actual = cache::sha256_hex(&xz);
    if &actual != sha || xz.len() as u64 != *size {
        let mismatch = GuestError::ChecksumMismatch {
            what: format!("{url} (against {})", release.url),
            expected: format!("{sha} ({size} bytes)"),
            actual: format!("{actual} ({} bytes)", xz.len()),
        };
        if strict {
            return Err(mismatch);
        }
        // An out-of-sync mirror: the packages are still checked against
        // this index, but the index is not covered by the signature.
        let w = format!(
            "warning: {url} does not match {}, so the mirror is out of sync; using it \
             anyway (packages are still checked against it, but it is not covered by \
             the signature)",
            release.url
        );
        progress.note(&w);
        warnings.push(w);
    }
    let mut text = Vec::new();
    lzma_rs::xz_decompress(&mut &xz[..], &mut text).map_err(|e| GuestError::BadArchive {
        what: url.clone(),
        reason: format!("cannot decompress: {e}"),
    })?;
    Ok(index::parse_packages(&String::from_utf8_lossy(&text)))
}

fn download_and_extract(
    client: &http::Client,
    mirror: &Mirror,
    pkg: &PackageEntry,
    dir: &Path,
    progress: &mut dyn Progress,
    keep: impl FnMut(&str) -> bool,
) -> Result<Vec<deb::TarEntry>> {
    let url = mirror.join(&pkg.filename);
    let what = format!("{} {}", pkg.name, pkg.version);
    let file = client.download_verified(&url, &what, pkg.size, &pkg.sha256, dir, progress)?;
    // Unpacking the kernel's xz data takes longer than downloading it on a
    // fast link, so it gets a progress bar too (bytes of the .deb read).
    progress.start(&format!("unpacking {what}"), Some(pkg.size));
    let reader = progress::ProgressReader::new(file, progress);
    let r = deb::extract_data(reader, keep);
    progress.finish();
    r.map_err(|e| GuestError::BadArchive {
        what,
        reason: e.to_string(),
    })
}

/// Builds the initramfs and commits a complete guest to the cache.
fn commit_guest(
    dir: &Path,
    source: &str,
    records: Vec<PackageRecord>,
    image: Vec<u8>,
    busybox: Vec<u8>,
    fw_dynamic: Vec<u8>,
    modules: Vec<(String, Vec<u8>)>,
) -> Result<Manifest> {
    let initrd = initramfs::build_initramfs(&busybox, &modules);
    let mut files: Vec<cache::NewFile> = vec![
        ("kernel", "Image".to_string(), image),
        ("bios", "fw_dynamic.bin".to_string(), fw_dynamic),
        ("busybox", "busybox".to_string(), busybox),
        ("initrd", "initramfs.cpio.gz".to_string(), initrd),
    ];
    files.extend(
        modules
            .into_iter()
            .map(|(name, data)| ("module", format!("modules/{name}"), data)),
    );
    cache::commit(dir, source, records, files)
}

/// Fills the cache from a directory laid out like `shared/guests/riscv64`:
/// `Image`, `busybox`, `fw_dynamic.bin` and `modules/*.ko.xz` (package
/// versions are read from its `MANIFEST.md` table when present). The
/// modules' load order is worked out from their `depends=`, and the
/// initramfs is built by this crate (the directory's own is not used).
pub fn seed_from_dir(from: &Path, cache_dir: Option<&Path>) -> Result<GuestPaths> {
    let dir = resolve_cache_dir(cache_dir)?;
    let read = |name: &str| {
        let p = from.join(name);
        fs::read(&p).map_err(|e| GuestError::BadSeedDir {
            dir: from.to_path_buf(),
            reason: format!("cannot read {}: {e}", p.display()),
        })
    };
    let image = read("Image")?;
    let busybox = read("busybox")?;
    let fw = read("fw_dynamic.bin")?;
    let mdir = from.join("modules");
    let rd = fs::read_dir(&mdir).map_err(|e| GuestError::BadSeedDir {
        dir: from.to_path_buf(),
        reason: format!("cannot read {}: {e}", mdir.display()),
    })?;
    let mut modules = BTreeMap::new();
    for e in rd {
        let e = e.map_err(|e| GuestError::io("cannot read", &mdir, e))?;
        let file = e.file_name().to_string_lossy().into_owned();
        if let Some(name) = modinfo::module_name_from_file(&file) {
            modules.insert(name, (file.clone(), read(&format!("modules/{file}"))?));
        }
    }
    let order = modinfo::load_order(
        modinfo::DEFAULT_MODULES,
        &mut |name| match modules.get(name) {
            Some((file, data)) => modinfo::read_modinfo(file, data).map(Some),
            None => Ok(None),
        },
        &mdir.display().to_string(),
    )?;
    let module_files: Vec<(String, Vec<u8>)> =
        order.iter().filter_map(|n| modules.remove(n)).collect();
    let notes = fs::read_to_string(from.join("MANIFEST.md")).unwrap_or_default();
    let records = ["Image", "busybox", "fw_dynamic.bin"]
        .iter()
        .filter_map(|f| seed_package_record(&notes, f))
        .collect();
    let source = format!("seed {}", from.display());
    let manifest = commit_guest(&dir, &source, records, image, busybox, fw, module_files)?;
    cache::check(&dir, &manifest, false)
}

/// Reads `| file | package version (suite, arch) | ...` from a MANIFEST.md.
fn seed_package_record(notes: &str, file: &str) -> Option<PackageRecord> {
    let row = notes
        .lines()
        .find(|l| l.split('|').nth(1).is_some_and(|c| c.trim() == file))?;
    let cell = row.split('|').nth(2)?.trim();
    let mut words = cell.split_whitespace();
    let (name, version) = (words.next()?, words.next()?);
    version::Version::parse(version).ok()?;
    let arch = cell
        .rsplit_once(',')
        .map(|(_, a)| a.trim().trim_end_matches(')').to_string())
        .unwrap_or_else(|| "-".to_string());
    Some(PackageRecord {
        name: name.to_string(),
        version: version.to_string(),
        architecture: arch,
        deb_sha256: "-".to_string(),
    })
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::PathBuf;

    /// `shared/guests/riscv64` next to the repository, if present
    /// (`FERRITE_REFERENCE_GUEST` overrides).
    pub(crate) fn reference_dir() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("FERRITE_REFERENCE_GUEST") {
            return Some(PathBuf::from(p));
        }
        // The repository's clone has `shared/` beside it (or above it).
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared/guests/riscv64"))
            .find(|p| p.join("Image").is_file())
    }
}
