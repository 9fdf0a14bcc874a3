//! Finding the Debian mirror: `--mirror`, `FERRITE_DEBIAN_MIRROR`, or the
//! host's APT configuration.
//!
//! APT reads `/etc/apt/sources.list` (one-line format, sources.list(5)) and
//! the files in `/etc/apt/sources.list.d/`: `*.list` in the one-line format and
//! `*.sources` in the deb822 format. The first enabled binary (`deb`) source
//! with an `http://` URI whose suites are plain release names (not
//! `-security`, `-updates`, `-backports`, which live in other archives or are
//! partial) is taken as the Debian archive mirror. No host name is built in.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{GuestError, Result};

/// The environment variable that overrides the APT configuration.
pub const MIRROR_ENV: &str = "FERRITE_DEBIAN_MIRROR";

/// One binary package source from the APT configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// Archive root URI, e.g. `http://host/debian`.
    pub uri: String,
    /// Suites (`trixie`, `bookworm-updates`, ...).
    pub suites: Vec<String>,
    /// Components (`main`, ...).
    pub components: Vec<String>,
    /// The `Signed-By` / `signed-by=` keyring file, if one is named.
    pub signed_by: Option<PathBuf>,
    /// The file it came from.
    pub file: PathBuf,
}

/// Where the mirror URL came from (for messages and `list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorOrigin {
    /// `--mirror` on the command line.
    CommandLine,
    /// The `FERRITE_DEBIAN_MIRROR` environment variable.
    Environment,
    /// An APT configuration file.
    AptConfig(PathBuf),
}

/// A Debian archive mirror to fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Archive root, without a trailing slash (`http://host/debian`).
    pub url: String,
    /// Where the URL came from.
    pub origin: MirrorOrigin,
    /// The keyring the APT source names for checking the archive's
    /// signature (`Signed-By`), if any.
    pub keyring: Option<PathBuf>,
}

impl Mirror {
    /// A mirror from an explicit URL, checked for a usable scheme.
    pub fn new(url: &str, origin: MirrorOrigin) -> Result<Mirror> {
        let url = url.trim().trim_end_matches('/');
        let bad = |reason: &str| GuestError::BadMirrorUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some(rest) = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        else {
            return Err(bad("it is not an http:// or https:// URL"));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("it has no host"));
        }
        Ok(Mirror {
            url: url.to_string(),
            origin,
            keyring: None,
        })
    }

    /// The URL of `path` (relative to the archive root) on this mirror.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.url, path.trim_start_matches('/'))
    }
}

/// Picks the mirror: `explicit` (from `--mirror`) first, then
/// `FERRITE_DEBIAN_MIRROR`, then the APT configuration under `apt_root`
/// (normally `/`).
pub fn discover_mirror(explicit: Option<&str>, apt_root: &Path) -> Result<Mirror> {
    discover_mirror_with(
        explicit,
        std::env::var(MIRROR_ENV).ok().as_deref(),
        apt_root,
    )
}

/// [`discover_mirror`] with the environment variable's value passed in.
pub fn discover_mirror_with(
    explicit: Option<&str>,
    env_value: Option<&str>,
    apt_root: &Path,
) -> Result<Mirror> {
    if let Some(url) = explicit {
        return Mirror::new(url, MirrorOrigin::CommandLine);
    }
    if let Some(url) = env_value
        && !url.trim().is_empty()
    {
        return Mirror::new(url, MirrorOrigin::Environment);
    }
    mirror_from_apt(apt_root)
}

/// The mirror named by the APT configuration under `apt_root`.
pub fn mirror_from_apt(apt_root: &Path) -> Result<Mirror> {
    let sources = read_apt_sources(apt_root)?;
    let etc = apt_root.join("etc/apt");
    if sources.is_empty() {
        return Err(GuestError::NoMirror {
            detail: format!(
                "{} and {} name no binary (deb) sources",
                etc.join("sources.list").display(),
                etc.join("sources.list.d").display()
            ),
        });
    }
    let is_release_suite = |s: &str| !s.contains('-') && !s.contains('/');
    let usable = sources.iter().find(|s| {
        (s.uri.starts_with("http://") || s.uri.starts_with("https://"))
            && s.suites.iter().any(|x| is_release_suite(x))
    });
    match usable {
        Some(s) => Ok(Mirror {
            keyring: s.signed_by.clone(),
            ..Mirror::new(&s.uri, MirrorOrigin::AptConfig(s.file.clone()))?
        }),
        None => Err(GuestError::NoMirror {
            detail: format!(
                "none of the APT sources ({}) is an http:// or https:// Debian archive with a release suite",
                sources
                    .iter()
                    .map(|s| s.uri.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// All enabled `deb` sources under `apt_root`, in APT's reading order.
pub fn read_apt_sources(apt_root: &Path) -> Result<Vec<AptSource>> {
    let etc = apt_root.join("etc/apt");
    let mut out = Vec::new();
    let main = etc.join("sources.list");
    if let Some(text) = read_optional(&main)? {
        out.extend(parse_one_line(&text, &main));
    }
    let dir = etc.join("sources.list.d");
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(GuestError::io("cannot read", &dir, e)),
    };
    files.sort();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(text) = (if name.ends_with(".list") || name.ends_with(".sources") {
            read_optional(&f)?
        } else {
            None
        }) else {
            continue;
        };
        if name.ends_with(".list") {
            out.extend(parse_one_line(&text, &f));
        } else {
            out.extend(parse_deb822(&text, &f));
        }
    }
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(GuestError::io("cannot read", path, e)),
    }
}

/// Parses the one-line format: `deb [options] uri suite [component...]`.
pub fn parse_one_line(text: &str, file: &Path) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb") else {
            continue;
        };
        // `deb-src` and other types are not binary sources.
        if !rest.starts_with([' ', '\t']) {
            continue;
        }
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some(end) = opts.find(']') else { continue };
            signed_by = opts[..end]
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .filter(|v| v.starts_with('/'))
                .map(PathBuf::from);
            rest = opts[end + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptSource {
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
            signed_by,
            file: file.to_path_buf(),
        });
    }
    out
}

/// Parses the deb822 format (stanzas of `Field: value`, continuation lines
/// start with white space, `#` lines are comments).
pub fn parse_deb822(text: &str, file: &Path) -> Vec<AptSource> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut flush = |fields: &mut Vec<(String, String)>| {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let words = |k: &str| -> Vec<String> {
            get(k)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        let enabled = get("Enabled").is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"));
        if enabled && words("Types").iter().any(|t| t == "deb") {
            for uri in words("URIs") {
                out.push(AptSource {
                    uri,
                    suites: words("Suites"),
                    components: words("Components"),
                    // A path; an inline key block is not used.
                    signed_by: get("Signed-By")
                        .map(str::trim)
                        .filter(|v| v.starts_with('/') && !v.contains(' '))
                        .map(PathBuf::from),
                    file: file.to_path_buf(),
                });
            }
        }
        fields.clear();
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut fields);
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    flush(&mut fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
";

    #[test]
    fn deb822_stanzas() {
        let s = parse_deb822(DEB822, Path::new("x.sources"));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://mirror.example/debian");
        assert_eq!(s[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(s[0].components, ["main"]);
        assert_eq!(
            s[0].signed_by.as_deref(),
            Some(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg"))
        );
        assert_eq!(s[1].suites, ["bookworm-security"]);
        assert_eq!(s[1].signed_by, None);
    }

    #[test]
    fn deb822_disabled_src_and_continuations() {
        let text = "Types: deb-src\nURIs: http://a/debian\nSuites: trixie\n\n\
                    Types: deb\nEnabled: no\nURIs: http://b/debian\nSuites: trixie\n\n\
                    Types: deb deb-src\nURIs: http://c/debian\n  http://d/debian\nSuites: trixie\nComponents: main contrib\n";
        let s = parse_deb822(text, Path::new("x.sources"));
        let uris: Vec<_> = s.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["http://c/debian", "http://d/debian"]);
        assert_eq!(s[1].components, ["main", "contrib"]);
    }

    #[test]
    fn one_line_format() {
        let text = "# comment\n\
                    deb-src http://src/debian trixie main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://one/debian trixie main contrib # tail\n\
                    deb http://two/debian-security trixie-security main\n\
                    debx http://bad/ trixie main\n";
        let s = parse_one_line(text, Path::new("sources.list"));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://one/debian");
        assert_eq!(s[0].suites, ["trixie"]);
        assert_eq!(s[0].components, ["main", "contrib"]);
        assert_eq!(s[0].signed_by.as_deref(), Some(Path::new("/k.gpg")));
        assert_eq!(s[1].suites, ["trixie-security"]);
    }

    fn apt_root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/apt/sources.list.d")).unwrap();
        for (name, text) in files {
            fs::write(root.path().join("etc/apt").join(name), text).unwrap();
        }
        root
    }

    #[test]
    fn mirror_from_deb822_skips_security_archive() {
        let root = apt_root(&[("sources.list.d/debian.sources", DEB822)]);
        let m = mirror_from_apt(root.path()).unwrap();
        assert_eq!(m.url, "http://mirror.example/debian");
        assert!(matches!(m.origin, MirrorOrigin::AptConfig(_)));
    }

    #[test]
    fn mirror_from_one_line_sources_list() {
        let root = apt_root(&[(
            "sources.list",
            "deb http://sec.example/debian-security bookworm-security main\n\
             deb http://one.example/debian/ bookworm main\n",
        )]);
        assert_eq!(
            mirror_from_apt(root.path()).unwrap().url,
            "http://one.example/debian"
        );
    }

    #[test]
    fn no_apt_config_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let e = mirror_from_apt(root.path()).unwrap_err();
        assert!(matches!(e, GuestError::NoMirror { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("--mirror") && msg.contains(MIRROR_ENV),
            "{msg}"
        );
    }

    #[test]
    fn only_security_or_non_http_sources_is_a_clear_error() {
        let root = apt_root(&[(
            "sources.list",
            "deb ftp://old.example/debian trixie main\n\
             deb http://sec.example/debian-security trixie-security main\n",
        )]);
        let e = mirror_from_apt(root.path()).unwrap_err();
        assert!(matches!(e, GuestError::NoMirror { .. }), "{e:?}");
        assert!(e.to_string().contains("ftp://old.example/debian"));
    }

    #[test]
    fn https_sources_are_used() {
        let root = apt_root(&[(
            "sources.list",
            "deb http://sec.example/debian-security trixie-security main\n\
             deb https://secure.example/debian trixie main\n",
        )]);
        let m = mirror_from_apt(root.path()).unwrap();
        assert_eq!(m.url, "https://secure.example/debian");
    }

    #[test]
    fn environment_overrides_apt_and_command_line_overrides_environment() {
        let root = apt_root(&[(
            "sources.list",
            "deb http://apt.example/debian trixie main\n",
        )]);
        let m = discover_mirror_with(None, Some("http://env.example/debian"), root.path()).unwrap();
        assert_eq!(
            (m.url.as_str(), &m.origin),
            ("http://env.example/debian", &MirrorOrigin::Environment)
        );
        let m = discover_mirror_with(
            Some("http://cli.example/d"),
            Some("http://env.example/debian"),
            root.path(),
        )
        .unwrap();
        assert_eq!(m.url, "http://cli.example/d");
        let m = discover_mirror_with(None, Some(" "), root.path()).unwrap();
        assert_eq!(m.url, "http://apt.example/debian");
    }

    #[test]
    fn explicit_mirror_wins_and_is_checked() {
        let root = tempfile::tempdir().unwrap();
        let m = discover_mirror(Some("http://x.example/debian/"), root.path()).unwrap();
        assert_eq!(m.url, "http://x.example/debian");
        assert_eq!(m.origin, MirrorOrigin::CommandLine);
        assert_eq!(
            m.join("/dists/trixie"),
            "http://x.example/debian/dists/trixie"
        );
        let m = discover_mirror(Some("https://x.example/debian"), root.path()).unwrap();
        assert_eq!(m.url, "https://x.example/debian");
        for bad in ["ftp://x/debian", "http://", "https://", "x.example"] {
            let e = discover_mirror(Some(bad), root.path()).unwrap_err();
            assert!(matches!(e, GuestError::BadMirrorUrl { .. }), "{bad}: {e:?}");
        }
    }
}
