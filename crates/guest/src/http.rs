//! HTTP downloads from the mirror, with progress, size and SHA-256 checks.
//!
//! Files go to a temporary file in the cache directory (so a later rename
//! stays on one file system) that is deleted unless the caller keeps it: a
//! failed, short or corrupted download leaves nothing behind.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::cache::hex;
use crate::error::{GuestError, Result};
use crate::progress::Progress;

/// Largest index file accepted (Packages.xz is about 10 MB).
const MAX_INDEX: u64 = 256 << 20;

/// An HTTP client configured for mirror downloads.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with connect/response/read timeouts; proxies are taken from
    /// the usual environment variables (`http_proxy`, `no_proxy`, ...).
    /// `https://` servers are verified against the host's trust store (as
    /// APT does), so a site-local CA the host trusts works here too.
    pub fn new() -> Client {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("ferrite-guest/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: config.into(),
        }
    }

    fn get(&self, url: &str) -> Result<ureq::http::Response<ureq::Body>> {
        self.agent.get(url).call().map_err(|e| match e {
            ureq::Error::StatusCode(status) => GuestError::HttpStatus {
                url: url.to_string(),
                status,
            },
            other => GuestError::MirrorUnreachable {
                url: url.to_string(),
                reason: other.to_string(),
            },
        })
    }

    /// Fetches a (small) file into memory.
    pub fn get_bytes(&self, url: &str, what: &str, progress: &mut dyn Progress) -> Result<Vec<u8>> {
        let mut resp = self.get(url)?;
        let len = resp.body().content_length();
        if len.is_some_and(|l| l > MAX_INDEX) {
            return Err(GuestError::BadArchive {
                what: url.to_string(),
                reason: format!("{} bytes is implausibly large", len.unwrap_or(0)),
            });
        }
        let mut out = Vec::new();
        let mut reader = resp.body_mut().with_config().limit(MAX_INDEX).reader();
        progress.start(&format!("downloading {what}"), len);
        let r = copy_counted(
            &mut reader,
            &mut out,
            Path::new(what),
            url,
            len,
            progress,
            None,
        );
        progress.finish();
        r?;
        Ok(out)
    }

    /// Downloads `url` into an anonymous temporary file in `dir`, checking
    /// the size and SHA-256 the index gives; returns the file rewound.
    pub fn download_verified(
        &self,
        url: &str,
        what: &str,
        size: u64,
        sha256: &str,
        dir: &Path,
        progress: &mut dyn Progress,
    ) -> Result<std::fs::File> {
        let mut resp = self.get(url)?;
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".tmp-{}-", std::process::id()))
            .tempfile_in(dir)
            .map_err(|e| GuestError::io("cannot create a temporary file in", dir, e))?;
        // The index's size is authoritative; Content-Length is checked by ureq.
        let mut reader = resp
            .body_mut()
            .with_config()
            .limit(size.saturating_add(1))
            .reader();
        let mut hasher = Sha256::new();
        progress.start(&format!("downloading {what}"), Some(size));
        let path = file.path().to_path_buf();
        let r = copy_counted(
            &mut reader,
            file.as_file_mut(),
            &path,
            url,
            Some(size),
            progress,
            Some(&mut hasher),
        );
        progress.finish();
        let got = r?;
        if got != size {
            return Err(GuestError::Truncated {
                url: url.to_string(),
                got,
                expected: size,
            });
        }
        let actual = hex(&hasher.finalize());
        if !actual.eq_ignore_ascii_case(sha256) {
            return Err(GuestError::ChecksumMismatch {
                what: url.to_string(),
                expected: sha256.to_string(),
                actual,
            });
        }
        let mut f = file.into_file(); // unlinked: disappears when closed
        f.flush().ok();
        f.seek(SeekFrom::Start(0))
            .map_err(|e| GuestError::io("cannot read", dir, e))?;
        Ok(f)
    }
}

/// Copies `reader` to `out`, reporting progress and hashing; maps a body
/// that ends early (or a read error before `expected` bytes) to
/// [`GuestError::Truncated`]; `out_path` names `out` in write errors.
fn copy_counted(
    reader: &mut dyn Read,
    out: &mut dyn Write,
    out_path: &Path,
    url: &str,
    expected: Option<u64>,
    progress: &mut dyn Progress,
    mut hasher: Option<&mut Sha256>,
) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match expected {
                    Some(exp) if got < exp => GuestError::Truncated {
                        url: url.to_string(),
                        got,
                        expected: exp,
                    },
                    Some(exp) => GuestError::BadArchive {
                        what: url.to_string(),
                        reason: format!("the mirror sent more than the expected {exp} bytes"),
                    },
                    _ => GuestError::MirrorUnreachable {
                        url: url.to_string(),
                        reason: e.to_string(),
                    },
                });
            }
        };
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&buf[..n]);
        }
        out.write_all(&buf[..n])
            .map_err(|e| GuestError::io("cannot write", out_path, e))?;
        got += n as u64;
        progress.advance(n as u64);
    }
    if let Some(exp) = expected
        && got < exp
    {
        return Err(GuestError::Truncated {
            url: url.to_string(),
            got,
            expected: exp,
        });
    }
    Ok(got)
}
