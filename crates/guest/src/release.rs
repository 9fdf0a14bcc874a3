//! The suite's `InRelease` file: the signed list of index files and their
//! SHA-256, which ties the `Packages.xz` indices to the archive's signature.
//!
//! The OpenPGP signature is checked with `gpgv` (Debian's `gpgv` package)
//! against the keyring the APT source names (`Signed-By`) or Debian's archive
//! keyring, as APT does. When `gpgv` or a keyring is not installed (e.g. on a
//! non-Debian host with `--mirror`), the hashes are still checked but the
//! signature is not, and the caller is told so. A signature that `gpgv`
//! rejects is always an error.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{GuestError, Result};

/// The keyring Debian's `debian-archive-keyring` package installs.
pub const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Whether and how the signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// `gpgv` accepted it with this keyring.
    Verified(PathBuf),
    /// Not checked, and why.
    NotChecked(String),
}

/// The `SHA256:` table of a Release file: path → (sha256, size).
pub fn parse_sha256_table(text: &str) -> HashMap<String, (String, u64)> {
    let mut out = HashMap::new();
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with([' ', '\t']) {
            in_table = line.trim_end() == "SHA256:";
            continue;
        }
        if !in_table {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        if let [hash, size, path] = w.as_slice()
            && hash.len() == 64
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(size) = size.parse()
        {
            out.insert(path.to_string(), (hash.to_ascii_lowercase(), size));
        }
    }
    out
}

/// The first of the source's keyring and the default one that exists.
fn pick_keyring(named: Option<&Path>, default: &Path) -> Option<PathBuf> {
    named
        .into_iter()
        .chain([default])
        .find(|k| k.is_file())
        .map(Path::to_path_buf)
}

/// Finds `gpgv` on `PATH`.
fn find_gpgv() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join("gpgv"))
        .find(|p| p.is_file())
}

/// Checks the signature of `inrelease` (clear-signed) and returns the signed
/// text and how it was checked. `keyring` is the APT source's `Signed-By`,
/// if any; `url` names the file in messages.
pub fn verify(inrelease: &[u8], keyring: Option<&Path>, url: &str) -> Result<(String, Signature)> {
    let keyring = pick_keyring(keyring, Path::new(DEFAULT_KEYRING));
    let unsigned_text = || String::from_utf8_lossy(inrelease).into_owned();
    let Some(keyring) = keyring else {
        return Ok((
            unsigned_text(),
            Signature::NotChecked(format!(
                "no Debian archive keyring ({DEFAULT_KEYRING}) is installed"
            )),
        ));
    };
    let Some(gpgv) = find_gpgv() else {
        return Ok((
            unsigned_text(),
            Signature::NotChecked("gpgv is not installed".to_string()),
        ));
    };
    // gpgv reads the signed file from a path; a temporary file it is.
    let mut input = tempfile::NamedTempFile::new().map_err(|e| {
        GuestError::io(
            "cannot create a temporary file in",
            &std::env::temp_dir(),
            e,
        )
    })?;
    input
        .write_all(inrelease)
        .and_then(|()| input.flush())
        .map_err(|e| GuestError::io("cannot write", input.path(), e))?;
    let out = Command::new(&gpgv)
        .arg("--keyring")
        .arg(&keyring)
        .args(["--output", "-"])
        .arg(input.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GuestError::io("cannot run", &gpgv, e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("gpgv failed")
            .to_string();
        return Err(GuestError::BadSignature {
            url: url.to_string(),
            keyring: keyring.clone(),
            reason,
        });
    }
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        Signature::Verified(keyring),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_table() {
        let text = "Origin: Debian\nMD5Sum:\n 0123 10 main/binary-all/Packages.xz\nSHA256:\n \
                    bb4c324e01a19614b1731a55799c16919babb3f3bca0b472feffdbfb35f20526  4534476 main/binary-all/Packages.xz\n \
                    junk\n \
                    F60294DC64D700AFA90C1833CDA096D8B8DE1F033E99AB2969A99FB9EA4AFF1B  9387120 main/binary-riscv64/Packages.xz\n\
                    Other: x\n 1111111111111111111111111111111111111111111111111111111111111111 1 not/in/table\n";
        let t = parse_sha256_table(text);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t["main/binary-all/Packages.xz"].1, 4534476);
        assert!(
            t["main/binary-riscv64/Packages.xz"]
                .0
                .starts_with("f60294dc")
        );
    }

    #[test]
    fn unsigned_data_is_rejected_when_gpgv_and_a_keyring_exist() {
        let keyring = Path::new(DEFAULT_KEYRING);
        if find_gpgv().is_none() || !keyring.is_file() {
            // Then the signature cannot be checked, and says so.
            let (_, sig) = verify(b"SHA256:\n", None, "u").unwrap();
            assert!(matches!(sig, Signature::NotChecked(_)), "{sig:?}");
            eprintln!("skipped the gpgv half: gpgv or {DEFAULT_KEYRING} is not installed");
            return;
        }
        let e = verify(b"Origin: Debian\nSHA256:\n", None, "http://m/InRelease").unwrap_err();
        assert!(matches!(e, GuestError::BadSignature { .. }), "{e:?}");
        assert!(e.to_string().contains("http://m/InRelease"), "{e}");
    }

    #[test]
    fn keyring_choice() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a.gpg"), tmp.path().join("b.gpg"));
        std::fs::write(&b, b"k").unwrap();
        assert_eq!(
            pick_keyring(Some(&a), &b),
            Some(b.clone()),
            "missing named keyring"
        );
        std::fs::write(&a, b"k").unwrap();
        assert_eq!(pick_keyring(Some(&a), &b), Some(a.clone()));
        assert_eq!(pick_keyring(None, &b), Some(b.clone()));
        assert_eq!(pick_keyring(None, &tmp.path().join("none")), None);
    }
}
