//! The guest cache: `$XDG_CACHE_HOME/ferrite/guests/riscv64` (or
//! `~/.cache/ferrite/guests/riscv64`).
//!
//! Layout: a *set* directory per fetched guest (`guest-<hash>/` holding
//! `Image`, `fw_dynamic.bin`, `busybox`, `initramfs.cpio.gz`, `modules/`) and a
//! `manifest` file naming the current set with package versions and the
//! SHA-256 of every file. Updates are atomic: a new set is written into a
//! `.tmp-<pid>-*` directory, every file and directory is fsynced, the
//! directory is renamed into place, and only then is the manifest replaced
//! (written to a temporary file, fsynced, renamed). A crash or error at any
//! point leaves the previous manifest and its set untouched; leftovers of
//! dead processes are removed by the next run.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{GuestError, Result};

/// The manifest's file name inside the cache directory.
pub const MANIFEST: &str = "manifest";

/// Manifest format version written and understood.
const FORMAT: u32 = 1;

/// The default cache directory for riscv64 guests.
pub fn default_cache_dir() -> Result<PathBuf> {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// [`default_cache_dir`] with the environment passed in.
pub fn cache_dir_from(
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf> {
    // The XDG spec says relative values are invalid and must be ignored.
    let base = match xdg.map(PathBuf::from) {
        Some(x) if x.is_absolute() => x,
        _ => match home.map(PathBuf::from) {
            Some(h) if !h.as_os_str().is_empty() => h.join(".cache"),
            _ => return Err(GuestError::NoCacheDir),
        },
    };
    Ok(base.join("ferrite/guests/riscv64"))
}

/// One Debian package a cached guest came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// SHA-256 of the `.deb` (`-` if unknown, e.g. when seeded).
    pub deb_sha256: String,
}

/// One cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// What it is: `kernel`, `bios`, `busybox`, `initrd` or `module`.
    pub role: String,
    /// Path relative to the set directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// The cache manifest: what the current guest is and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The set directory's name.
    pub set: String,
    /// Where it came from: a mirror URL or `seed <dir>`.
    pub source: String,
    /// The Debian packages.
    pub packages: Vec<PackageRecord>,
    /// The files (modules in load order).
    pub files: Vec<FileRecord>,
}

impl Manifest {
    /// The manifest's text form.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "# ferrite guest cache manifest: written last, after every file it names\n\
             format {FORMAT}\nset {}\nsource {}\n",
            self.set, self.source
        );
        for p in &self.packages {
            s += &format!(
                "package {} {} {} {}\n",
                p.name, p.version, p.architecture, p.deb_sha256
            );
        }
        for f in &self.files {
            s += &format!("file {} {} {} {}\n", f.role, f.path, f.size, f.sha256);
        }
        s
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> std::result::Result<Manifest, String> {
        let (mut set, mut source, mut format) = (None, None, None);
        let (mut packages, mut files) = (Vec::new(), Vec::new());
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let w: Vec<&str> = rest.split_whitespace().collect();
            match (key, w.as_slice()) {
                ("format", [v]) => format = v.parse::<u32>().ok(),
                ("set", [v]) => set = Some(v.to_string()),
                ("source", _) => source = Some(rest.to_string()),
                ("package", [n, v, a, h]) => packages.push(PackageRecord {
                    name: n.to_string(),
                    version: v.to_string(),
                    architecture: a.to_string(),
                    deb_sha256: h.to_string(),
                }),
                ("file", [r, p, n, h]) => {
                    if p.starts_with('/') || p.split('/').any(|c| c == ".." || c.is_empty()) {
                        return Err(format!("bad file path {p:?}"));
                    }
                    files.push(FileRecord {
                        role: r.to_string(),
                        path: p.to_string(),
                        size: n.parse().map_err(|_| format!("bad size {n:?}"))?,
                        sha256: h.to_string(),
                    });
                }
                _ => return Err(format!("unexpected line {line:?}")),
            }
        }
        if format != Some(FORMAT) {
            return Err(format!(
                "unknown manifest format (this tool reads format {FORMAT})"
            ));
        }
        let set = set.ok_or("no set line")?;
        if set.contains('/') || set.starts_with('.') {
            return Err(format!("bad set name {set:?}"));
        }
        Ok(Manifest {
            set,
            source: source.ok_or("no source line")?,
            packages,
            files,
        })
    }

    fn file(&self, role: &str) -> Option<&FileRecord> {
        self.files.iter().find(|f| f.role == role)
    }
}

/// The paths of a cached guest, for `-bios`, `-kernel` and `-initrd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPaths {
    /// The set directory.
    pub dir: PathBuf,
    /// The kernel `Image` (`-kernel`).
    pub kernel: PathBuf,
    /// The initramfs (`-initrd`).
    pub initrd: PathBuf,
    /// OpenSBI's `fw_dynamic.bin` (`-bios`).
    pub bios: PathBuf,
    /// The static busybox binary.
    pub busybox: PathBuf,
    /// The kernel modules, in load order.
    pub modules: Vec<PathBuf>,
}

impl fmt::Display for GuestPaths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel  {}", self.kernel.display())?;
        writeln!(f, "initrd  {}", self.initrd.display())?;
        writeln!(f, "bios    {}", self.bios.display())?;
        writeln!(f, "busybox {}", self.busybox.display())?;
        for m in &self.modules {
            writeln!(f, "module  {}", m.display())?;
        }
        Ok(())
    }
}

/// A cached guest as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(
            f,
            "riscv64 guest in {}",
            self.cache_dir.join(&m.set).display()
        )?;
        writeln!(f, "  from {}", m.source)?;
        for p in &m.packages {
            writeln!(f, "  {} {} ({})", p.name, p.version, p.architecture)?;
        }
        let total: u64 = m.files.iter().map(|x| x.size).sum();
        let modules: Vec<&str> = m
            .files
            .iter()
            .filter(|x| x.role == "module")
            .map(|x| x.path.trim_start_matches("modules/"))
            .collect();
        writeln!(f, "  modules (load order): {}", modules.join(" "))?;
        writeln!(
            f,
            "  {} files, {}",
            m.files.len(),
            crate::progress::human(total)
        )
    }
}

/// Reads the manifest, or `None` if there is none.
pub fn read_manifest(cache_dir: &Path) -> Result<Option<Manifest>> {
    let p = cache_dir.join(MANIFEST);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(GuestError::io("cannot read", &p, e)),
    };
    Manifest::parse(&text)
        .map(Some)
        .map_err(|reason| GuestError::CacheDamaged {
            dir: cache_dir.to_path_buf(),
            reason: format!("{}: {reason}", p.display()),
        })
}

/// Checks that every file the manifest names exists with its size and (if
/// `hash` is set) its SHA-256, and returns the paths.
pub fn check(cache_dir: &Path, m: &Manifest, hash: bool) -> Result<GuestPaths> {
    let dir = cache_dir.join(&m.set);
    let damaged = |reason: String| GuestError::CacheDamaged {
        dir: cache_dir.to_path_buf(),
        reason,
    };
    for f in &m.files {
        let p = dir.join(&f.path);
        let meta = fs::metadata(&p).map_err(|e| damaged(format!("{}: {e}", p.display())))?;
        if meta.len() != f.size {
            return Err(damaged(format!(
                "{} has {} bytes, expected {}",
                p.display(),
                meta.len(),
                f.size
            )));
        }
        if hash {
            let got = sha256_file(&p)?;
            if got != f.sha256 {
                return Err(damaged(format!(
                    "{} has SHA-256 {got}, expected {}",
                    p.display(),
                    f.sha256
                )));
            }
        }
    }
    let need = |role: &str| {
        m.file(role)
            .map(|f| dir.join(&f.path))
            .ok_or_else(|| damaged(format!("the manifest names no {role} file")))
    };
    Ok(GuestPaths {
        kernel: need("kernel")?,
        initrd: need("initrd")?,
        bios: need("bios")?,
        busybox: need("busybox")?,
        modules: m
            .files
            .iter()
            .filter(|f| f.role == "module")
            .map(|f| dir.join(&f.path))
            .collect(),
        dir,
    })
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| GuestError::io("cannot open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| GuestError::io("cannot read", path, e))?;
        if n == 0 {
            return Ok(hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A file of a new set: role, path relative to the set, contents.
pub type NewFile = (&'static str, String, Vec<u8>);

/// Writes a new set and then the manifest naming it (see the module docs),
/// and removes sets no longer named. Returns the new manifest.
pub fn commit(
    cache_dir: &Path,
    source: &str,
    packages: Vec<PackageRecord>,
    files: Vec<NewFile>,
) -> Result<Manifest> {
    fs::create_dir_all(cache_dir).map_err(|e| GuestError::io("cannot create", cache_dir, e))?;
    let records: Vec<FileRecord> = files
        .iter()
        .map(|(role, path, data)| FileRecord {
            role: role.to_string(),
            path: path.clone(),
            size: data.len() as u64,
            sha256: sha256_hex(data),
        })
        .collect();
    // The set's name is a hash of its contents, so re-fetching the same
    // guest reuses the same directory.
    let mut h = Sha256::new();
    for r in &records {
        h.update(format!("{} {} {}\n", r.role, r.path, r.sha256));
    }
    let set = format!("guest-{}", &hex(&h.finalize())[..16]);
    let final_dir = cache_dir.join(&set);
    let manifest = Manifest {
        set: set.clone(),
        source: source.to_string(),
        packages,
        files: records,
    };
    let intact = read_manifest(cache_dir)
        .ok()
        .flatten()
        .is_some_and(|old| old.set == set && check(cache_dir, &old, true).is_ok())
        || (final_dir.is_dir() && check(cache_dir, &manifest, true).is_ok());
    if !intact {
        let staging = TempDir::new(cache_dir)?;
        for (_, path, data) in &files {
            write_synced(&staging.path.join(path), data)?;
        }
        sync_dir(&staging.path.join("modules")).ok();
        sync_dir(&staging.path)?;
        if final_dir.exists() {
            // A damaged copy of this set: replace it.
            fs::remove_dir_all(&final_dir)
                .map_err(|e| GuestError::io("cannot remove", &final_dir, e))?;
        }
        staging.persist(&final_dir)?;
    }
    sync_dir(cache_dir)?;
    write_atomic(&cache_dir.join(MANIFEST), manifest.to_text().as_bytes())?;
    remove_unused(cache_dir, &set);
    Ok(manifest)
}

/// Removes other sets and leftovers of dead processes (best effort: a
/// failure here never fails the fetch).
fn remove_unused(cache_dir: &Path, keep: &str) {
    let Ok(rd) = fs::read_dir(cache_dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale_tmp = name
            .strip_prefix(".tmp-")
            .and_then(|r| r.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            });
        let old_set = name.starts_with("guest-") && name != keep;
        if stale_tmp || old_set {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// Takes the cache's exclusive lock (an advisory `flock` on the directory),
/// saying so through `progress` if another fetch holds it.
pub fn lock(cache_dir: &Path, progress: &mut dyn crate::Progress) -> Result<File> {
    let f = File::open(cache_dir).map_err(|e| GuestError::io("cannot open", cache_dir, e))?;
    match f.try_lock() {
        Ok(()) => return Ok(f),
        Err(fs::TryLockError::WouldBlock) => {
            progress.note("waiting for another `ferrite guest fetch` to finish");
        }
        Err(fs::TryLockError::Error(e)) => return Err(GuestError::io("cannot lock", cache_dir, e)),
    }
    f.lock()
        .map_err(|e| GuestError::io("cannot lock", cache_dir, e))?;
    Ok(f)
}

/// Removes leftovers of dead processes (before starting a fetch).
pub fn clean_stale(cache_dir: &Path) {
    if let Ok(Some(m)) = read_manifest(cache_dir) {
        // Keep the current set; only stale temporaries and orphans go.
        remove_unused(cache_dir, &m.set);
    } else {
        let Ok(rd) = fs::read_dir(cache_dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(".tmp-").and_then(|r| r.split('-').next())
                && pid.parse::<u32>().is_ok_and(|p| {
                    p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists()
                })
            {
                let p = e.path();
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

/// A `.tmp-<pid>-<n>` directory in the cache, removed on drop unless persisted.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn new(parent: &Path) -> Result<TempDir> {
        for n in 0u32.. {
            let path = parent.join(format!(".tmp-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(GuestError::io("cannot create", &path, e)),
            }
        }
        unreachable!("u32 range exhausted")
    }

    fn persist(mut self, to: &Path) -> Result<()> {
        fs::rename(&self.path, to).map_err(|e| GuestError::io("cannot rename into", to, e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Creates `path` (and its parent directories) with `data`, fsynced.
fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| GuestError::io("cannot create", parent, e))?;
    }
    let mut f = File::create(path).map_err(|e| GuestError::io("cannot create", path, e))?;
    f.write_all(data)
        .map_err(|e| GuestError::io("cannot write", path, e))?;
    f.sync_all()
        .map_err(|e| GuestError::io("cannot write", path, e))
}

/// Replaces `path` atomically: temporary file in the same directory,
/// fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| GuestError::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(data)
        .map_err(|e| GuestError::io("cannot write", tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| GuestError::io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| GuestError::io("cannot rename into", path, e.error))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| GuestError::io("cannot sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(kernel: &[u8]) -> Vec<NewFile> {
        vec![
            ("kernel", "Image".into(), kernel.to_vec()),
            ("bios", "fw_dynamic.bin".into(), b"sbi".to_vec()),
            ("busybox", "busybox".into(), b"bb".to_vec()),
            ("module", "modules/b.ko.xz".into(), b"b".to_vec()),
            ("module", "modules/a.ko.xz".into(), b"a".to_vec()),
            ("initrd", "initramfs.cpio.gz".into(), b"rd".to_vec()),
        ]
    }

    fn pkgs() -> Vec<PackageRecord> {
        vec![PackageRecord {
            name: "linux-image-6.12.1-riscv64".into(),
            version: "6.12.1-1".into(),
            architecture: "riscv64".into(),
            deb_sha256: "ab".repeat(32),
        }]
    }

    #[test]
    fn cache_dir_rules() {
        let d = cache_dir_from(Some("/x/cache".into()), Some("/home/u".into())).unwrap();
        assert_eq!(d, Path::new("/x/cache/ferrite/guests/riscv64"));
        let d = cache_dir_from(Some("relative".into()), Some("/home/u".into())).unwrap();
        assert_eq!(d, Path::new("/home/u/.cache/ferrite/guests/riscv64"));
        assert!(matches!(
            cache_dir_from(None, None),
            Err(GuestError::NoCacheDir)
        ));
    }

    #[test]
    fn manifest_round_trip_and_rejects_escapes() {
        let m = Manifest {
            set: "guest-1".into(),
            source: "http://m.example/debian".into(),
            packages: pkgs(),
            files: vec![FileRecord {
                role: "kernel".into(),
                path: "Image".into(),
                size: 3,
                sha256: "cd".repeat(32),
            }],
        };
        assert_eq!(Manifest::parse(&m.to_text()).unwrap(), m);
        let evil = m
            .to_text()
            .replace("file kernel Image", "file kernel ../../etc/passwd");
        assert!(Manifest::parse(&evil).is_err());
        assert!(Manifest::parse("format 99\nset a\nsource b\n").is_err());
    }

    #[test]
    fn commit_then_check_then_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let m1 = commit(&dir, "src", pkgs(), files(b"k1")).unwrap();
        let p = check(&dir, &read_manifest(&dir).unwrap().unwrap(), true).unwrap();
        assert_eq!(fs::read(&p.kernel).unwrap(), b"k1");
        assert_eq!(p.modules.len(), 2);
        assert!(p.modules[0].ends_with("modules/b.ko.xz"), "load order kept");
        // Same content: same set; different content: new set, old one removed.
        assert_eq!(
            commit(&dir, "src", pkgs(), files(b"k1")).unwrap().set,
            m1.set
        );
        let m2 = commit(&dir, "src", pkgs(), files(b"k2")).unwrap();
        assert_ne!(m2.set, m1.set);
        assert!(!dir.join(&m1.set).exists());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "only the set and the manifest: {names:?}");
    }

    #[test]
    fn damage_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let m = commit(tmp.path(), "src", pkgs(), files(b"kernel")).unwrap();
        fs::write(tmp.path().join(&m.set).join("Image"), b"kernex").unwrap();
        assert!(
            check(tmp.path(), &m, false).is_ok(),
            "same size passes the quick check"
        );
        let e = check(tmp.path(), &m, true).unwrap_err();
        assert!(matches!(e, GuestError::CacheDamaged { .. }), "{e:?}");
        fs::remove_file(tmp.path().join(&m.set).join("busybox")).unwrap();
        assert!(check(tmp.path(), &m, false).is_err());
        // Re-committing repairs it.
        commit(tmp.path(), "src", pkgs(), files(b"kernel")).unwrap();
        check(tmp.path(), &m, true).unwrap();
    }

    #[test]
    fn lock_is_exclusive() {
        let tmp = tempfile::tempdir().unwrap();
        let held = lock(tmp.path(), &mut crate::progress::Silent).unwrap();
        let other = File::open(tmp.path()).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // pid 0 never names a live user process; /proc/0 does not exist.
        let stale = tmp.path().join(".tmp-999999999-0");
        fs::create_dir(&stale).unwrap();
        let mine = tmp.path().join(format!(".tmp-{}-x", std::process::id()));
        fs::write(&mine, b"in use").unwrap();
        clean_stale(tmp.path());
        assert!(!stale.exists());
        assert!(mine.exists());
    }
}
