//! Debian version numbers and their ordering, as dpkg defines them.
//!
//! A version is `[epoch:]upstream[-revision]` (deb-version(7)). Epochs compare
//! numerically; upstream and revision compare with dpkg's `verrevcmp`: the
//! strings are walked as alternating non-digit and digit runs; non-digit runs
//! compare character by character where `~` sorts before everything (even the
//! end of the string), letters sort before other characters, and the end of
//! the string sorts before letters; digit runs compare as numbers. A missing
//! revision is the same as an empty one, so `1.0` equals `1.0-0`.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Debian package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    epoch: u64,
    upstream: String,
    revision: String,
    text: String,
}

/// Why a version string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Debian version {text:?}: {reason}")]
pub struct VersionError {
    text: String,
    reason: &'static str,
}

impl Version {
    /// Parses `[epoch:]upstream[-revision]`.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let err = |reason| VersionError {
            text: text.to_string(),
            reason,
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        if t.chars().any(char::is_whitespace) {
            return Err(err("contains white space"));
        }
        let (epoch, rest) = match t.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch is not a number"));
                }
                (e.parse().map_err(|_| err("epoch is too large"))?, rest)
            }
            None => (0, t),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(err("empty upstream version"));
        }
        if !upstream.as_bytes()[0].is_ascii_digit() {
            return Err(err("upstream version does not start with a digit"));
        }
        let ok = |c: char, extra: &str| c.is_ascii_alphanumeric() || extra.contains(c);
        if !upstream.chars().all(|c| ok(c, ".+~-:")) {
            return Err(err("invalid character in upstream version"));
        }
        if !revision.chars().all(|c| ok(c, ".+~")) {
            return Err(err("invalid character in revision"));
        }
        Ok(Version {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
            text: t.to_string(),
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two version strings with dpkg's ordering (see the module docs).
///
/// Returns `None` if either is not a valid Debian version.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    Some(Version::parse(a).ok()?.cmp(&Version::parse(b).ok()?))
}

/// The weight of one character in a non-digit run; `None` is the end.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on upstream versions or revisions.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // Non-digit run: character by character.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run: numerically, without leading zeros, longer is larger.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare_versions(a, b).unwrap_or_else(|| panic!("{a} or {b} is invalid"))
    }

    /// Pairs with their dpkg ordering (from deb-version(7) and
    /// `dpkg --compare-versions`).
    const CASES: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Equal),
        ("1.0", "1.0-0", Equal),
        ("1.0", "1.0-1", Less),
        ("1.0-1", "1.0-2", Less),
        ("1.0-9", "1.0-10", Less),
        ("1.0~rc1", "1.0", Less),
        ("1.0~rc1", "1.0~rc2", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0~~a", "1.0~", Less),
        ("1.0~~", "1.0~~a", Less),
        ("1.0", "1.0a", Less),
        ("1.0a", "1.0+", Less),
        ("1.0+b1", "1.0", Greater),
        ("1:0.1", "2.0", Greater),
        ("0:2.0", "2.0", Equal),
        ("6.12.117-1", "6.12.107-1", Greater),
        ("6.12.9-1", "6.12.10-1", Less),
        ("6.12.107-1", "6.12.107-1+b1", Less),
        ("1:1.37.0-6+b9", "1:1.37.0-6", Greater),
        ("1:1.37.0-6+b9", "1:1.37.0-6+b10", Less),
        ("1.01", "1.1", Equal),
        ("1.001-1", "1.1-1", Equal),
        ("2.30-1", "2.3-1", Greater),
        ("1.2-3-4", "1.2-3-5", Less),
        ("10:1", "9:2", Greater),
        ("1.6-1", "1.1-2", Greater),
        ("2021.01-8", "1.6-1", Greater),
        ("a", "a", Equal),
    ];

    #[test]
    fn dpkg_ordering_examples() {
        for &(a, b, want) in CASES {
            // "a" is not a valid upstream version; the ordering itself still applies.
            let got = if a.as_bytes()[0].is_ascii_digit() {
                cmp(a, b)
            } else {
                verrevcmp(a, b)
            };
            assert_eq!(got, want, "{a} vs {b}");
        }
    }

    #[test]
    fn ordering_is_antisymmetric_and_transitive_on_examples() {
        let mut all: Vec<Version> = CASES
            .iter()
            .flat_map(|&(a, b, _)| [a, b])
            .filter_map(|v| Version::parse(v).ok())
            .collect();
        for x in &all {
            for y in &all {
                assert_eq!(x.cmp(y), y.cmp(x).reverse(), "{x} vs {y}");
                for z in &all {
                    if x <= y && y <= z {
                        assert!(x <= z, "{x} <= {y} <= {z}");
                    }
                }
            }
        }
        all.sort();
        for w in all.windows(2) {
            assert!(w[0] <= w[1]);
        }
    }

    #[test]
    fn tilde_sorts_before_the_end() {
        assert_eq!(verrevcmp("~", ""), Less);
        assert_eq!(verrevcmp("", "a"), Less);
        assert_eq!(verrevcmp("a", "+"), Less);
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for bad in ["", "x1.0", "a:1.0", ":1.0", "1.0 1", "1:", "1.0-a_b", "-1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} accepted");
        }
        let v = Version::parse("1:1.37.0-6+b9").unwrap();
        assert_eq!(v.epoch, 1);
        assert_eq!(v.upstream, "1.37.0");
        assert_eq!(v.revision, "6+b9");
        assert_eq!(v.to_string(), "1:1.37.0-6+b9");
    }
}
