//! The guest tool's errors.
//!
//! Every failure the issue names (no mirror configured, unreachable mirror,
//! package missing from the index, checksum mismatch, truncated download, full
//! disk) has its own variant, and each message names the problem and what the
//! user can do about it, in one sentence that the `ferrite` binary prints as is.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong in `ferrite guest fetch`, `path`, `list` or seeding.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// Neither `--mirror`, `FERRITE_DEBIAN_MIRROR` nor the APT configuration
    /// names a usable Debian archive mirror.
    #[error(
        "no Debian mirror is configured: {detail}; pass --mirror http://<mirror>/debian \
         or set FERRITE_DEBIAN_MIRROR to a Debian archive URL"
    )]
    NoMirror {
        /// What was looked at and why nothing was usable.
        detail: String,
    },

    /// The mirror URL cannot be used by this tool (e.g. `ftp:`).
    #[error(
        "the mirror URL {url} cannot be used: {reason}; pass --mirror http://<mirror>/debian \
         or set FERRITE_DEBIAN_MIRROR"
    )]
    BadMirrorUrl {
        /// The URL as given.
        url: String,
        /// Why it is rejected.
        reason: String,
    },

    /// Connecting to or talking to the mirror failed.
    #[error(
        "cannot reach the Debian mirror for {url}: {reason}; check the network connection \
         (and http_proxy, if one is needed), or pass --mirror with another mirror"
    )]
    MirrorUnreachable {
        /// The URL being fetched.
        url: String,
        /// The transport error.
        reason: String,
    },

    /// The mirror answered with an HTTP error status.
    #[error(
        "the mirror answered HTTP {status} for {url}; if this is an index file, the mirror \
         does not carry Debian trixie for this architecture: pass --mirror with a full \
         Debian mirror; otherwise the mirror is out of date: try again later or use another mirror"
    )]
    HttpStatus {
        /// The URL being fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// No package in the index matches what the guest needs.
    #[error(
        "no package {wanted} in {index}; the mirror does not carry it (or the index is \
         incomplete): pass --mirror with a full Debian trixie mirror"
    )]
    PackageMissing {
        /// The package name or pattern.
        wanted: String,
        /// The index URL that was searched.
        index: String,
    },

    /// `gpgv` rejected the suite's `InRelease` signature.
    #[error(
        "the signature of {url} does not verify with {keyring}: {reason}; the mirror (or \
         something between it and you) serves a forged or stale index: pass --mirror with \
         another mirror, or update the debian-archive-keyring package"
    )]
    BadSignature {
        /// The InRelease URL.
        url: String,
        /// The keyring used.
        keyring: PathBuf,
        /// gpgv's last message.
        reason: String,
    },

    /// A downloaded file's SHA-256 is not the one the index names.
    #[error(
        "checksum mismatch for {what}: the index says SHA-256 {expected}, the download has \
         {actual}; the download was corrupted or the mirror is out of sync: run \
         `ferrite guest fetch` again, or pass --mirror with another mirror"
    )]
    ChecksumMismatch {
        /// The file (URL) that failed verification.
        what: String,
        /// The expected hex digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },

    /// A download ended before all bytes arrived.
    #[error(
        "the download of {url} stopped after {got} of {expected} bytes; the connection was \
         cut: run `ferrite guest fetch` again"
    )]
    Truncated {
        /// The URL being fetched.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes expected (from the index or `Content-Length`).
        expected: u64,
    },

    /// The disk holding the cache is full.
    #[error(
        "no space left on the disk holding {path}; free some space (a fetch needs about \
         250 MB while it runs and keeps about 40 MB) or point XDG_CACHE_HOME at another disk"
    )]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },

    /// A package or archive is malformed, truncated or lacks a needed file.
    #[error("{what} is unusable: {reason}; run `ferrite guest fetch` again or use another mirror")]
    BadArchive {
        /// The package or file.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A kernel module needed by the guest is not in the kernel package.
    #[error(
        "kernel module {module} (needed by {needed_by}) is not in {package}; the kernel \
         package does not match what the guest expects: pass --mirror with another mirror"
    )]
    ModuleMissing {
        /// Module name.
        module: String,
        /// Which module (or "the guest") needs it.
        needed_by: String,
        /// Where it was looked for.
        package: String,
    },

    /// Nothing is cached yet.
    #[error("no guest is cached in {dir}; run `ferrite guest fetch` first")]
    NotCached {
        /// The cache directory.
        dir: PathBuf,
    },

    /// The cache exists but does not match its manifest.
    #[error(
        "the guest cache in {dir} is damaged ({reason}); run `ferrite guest fetch` to fetch it again"
    )]
    CacheDamaged {
        /// The cache directory.
        dir: PathBuf,
        /// What does not match.
        reason: String,
    },

    /// Neither `XDG_CACHE_HOME` nor `HOME` is set.
    #[error(
        "cannot find a cache directory: neither XDG_CACHE_HOME nor HOME is set; set one of them"
    )]
    NoCacheDir,

    /// A directory to seed from lacks a file.
    #[error("cannot seed the guest cache from {dir}: {reason}")]
    BadSeedDir {
        /// The directory given.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },

    /// Any other I/O failure, with what was being done.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot write", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = GuestError> = std::result::Result<T, E>;

impl GuestError {
    /// Wraps an I/O error on `path`, turning "no space left on device" (and
    /// "disk quota exceeded") into [`GuestError::DiskFull`].
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> GuestError {
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => GuestError::DiskFull {
                path: path.to_path_buf(),
            },
            _ if source.kind() == io::ErrorKind::StorageFull => GuestError::DiskFull {
                path: path.to_path_buf(),
            },
            _ => GuestError::Io {
                action,
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn enospc_becomes_disk_full() {
        let e = GuestError::io(
            "cannot write",
            Path::new("/x/y"),
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(matches!(e, GuestError::DiskFull { .. }), "{e:?}");
        assert!(e.to_string().contains("no space left"), "{e}");
    }

    #[test]
    fn dev_full_write_is_reported_as_disk_full() {
        // /dev/full fails every write with ENOSPC: the same path real writes take.
        let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("skipped: /dev/full is not available");
            return;
        };
        let err = f.write_all(b"x").and_then(|()| f.flush()).unwrap_err();
        let e = GuestError::io("cannot write", Path::new("/dev/full"), err);
        assert!(matches!(e, GuestError::DiskFull { .. }), "{e:?}");
    }

    #[test]
    fn other_errors_keep_their_context() {
        let e = GuestError::io(
            "cannot open",
            Path::new("/nope"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert!(e.to_string().starts_with("cannot open /nope: "), "{e}");
    }
}
