//! QEMU's `key=value,...` option syntax in its two dialects, and its number,
//! size and boolean syntax.
//!
//! **QemuOpts** (`util/qemu-option.c`; used by `-m`, `-smp`, `-drive`,
//! `-accel`, `-chardev`, `-device`, `-serial`-style options): parameters are
//! separated by `,`; `,,` is a literal comma inside a value; the first
//! parameter may omit its key when the option has an *implied* key
//! (`-m 1G` is `-m size=1G`); a bare `flag` means `flag=on` and `noflag`
//! means `flag=off` (both deprecated in QEMU 7.2, which warns).
//!
//! **keyval** (`util/keyval.c`; used by `-machine` and `-object`): the same
//! separators, but a bare key other than the implied first one is an error
//! (`Expected '=' after parameter 'aclint'`), keys are dotted QAPI names, and
//! the implied value ends at the first comma.
//!
//! Both return the parameters in order as `(key, value)` pairs; later
//! duplicates win when the caller folds them, as in QEMU.

/// One parsed parameter list, in command-line order.
pub type Params = Vec<(String, String)>;

/// Warnings QEMU prints while still accepting the input.
pub type Warnings = Vec<String>;

/// Splits off one value starting at `s`, honouring `,,` escapes; returns the
/// value and the rest after the terminating single comma (if any).
fn take_value(s: &str) -> (String, &str) {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b',' {
            if i + 1 < b.len() && b[i + 1] == b',' {
                out.push_str(&s[start..=i]);
                i += 2;
                start = i;
                continue;
            }
            out.push_str(&s[start..i]);
            return (out, &s[i + 1..]);
        }
        i += 1;
    }
    out.push_str(&s[start..]);
    (out, "")
}

/// Parses with QemuOpts rules (see the module documentation). Returns the
/// parameters and the deprecation warnings QEMU would print.
pub fn parse_qemu_opts(s: &str, implied_key: Option<&str>) -> Result<(Params, Warnings), String> {
    let mut params = Vec::new();
    let mut warnings = Vec::new();
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() {
        // A key ends at '=' or ','; `,,` inside a key is not an escape.
        let key_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let has_eq = rest.as_bytes().get(key_end) == Some(&b'=');
        if !has_eq && first && implied_key.is_some() {
            let (val, r) = take_value(rest);
            params.push((implied_key.unwrap_or_default().to_string(), val));
            rest = r;
        } else if has_eq {
            let key = rest[..key_end].to_string();
            let (val, r) = take_value(&rest[key_end + 1..]);
            params.push((key, val));
            rest = r;
        } else {
            let word = &rest[..key_end];
            rest = rest.get(key_end + 1..).unwrap_or("");
            if word.is_empty() {
                // `a=1,,b` style leftovers and trailing commas are ignored
                // by QemuOpts.
                first = false;
                continue;
            }
            let (key, val) = match word.strip_prefix("no") {
                Some(k) if !k.is_empty() && word != "none" => (k, "off"),
                _ => (word, "on"),
            };
            warnings.push(format!(
                "short-form boolean option '{word}' deprecated\nPlease use {key}={val} instead"
            ));
            params.push((key.to_string(), val.to_string()));
        }
        first = false;
    }
    Ok((params, warnings))
}

/// Parses with keyval rules (see the module documentation).
pub fn parse_keyval(s: &str, implied_key: Option<&str>) -> Result<Params, String> {
    let mut params = Vec::new();
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() {
        let key_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let key = &rest[..key_end];
        let has_eq = rest.as_bytes().get(key_end) == Some(&b'=');
        if !has_eq {
            match implied_key {
                Some(ik) if first && !key.is_empty() => {
                    params.push((ik.to_string(), key.to_string()));
                    rest = rest.get(key_end + 1..).unwrap_or("");
                    first = false;
                    continue;
                }
                _ => {}
            }
        }
        if !valid_key(key) {
            return Err(format!("Invalid parameter '{key}'"));
        }
        if !has_eq {
            return Err(format!("Expected '=' after parameter '{key}'"));
        }
        let (val, r) = take_value(&rest[key_end + 1..]);
        params.push((key.to_string(), val));
        rest = r;
        first = false;
    }
    Ok(params)
}

/// A keyval key: dot-separated fragments, each a QAPI name
/// (`[A-Za-z][A-Za-z0-9_-]*`, optionally `__vendor.`-prefixed) or an index.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|frag| {
            let b = frag.as_bytes();
            if b.is_empty() {
                return false;
            }
            if b.iter().all(u8::is_ascii_digit) {
                return true;
            }
            b[0].is_ascii_alphabetic()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        })
}

/// QEMU's message for a malformed size (`qemu_strtosz` failing).
pub fn size_error(param: &str) -> String {
    format!(
        "Parameter '{param}' expects a non-negative number below 2^64\n\
         Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n\
         and exabytes, respectively."
    )
}

/// Parses a size as `qemu_strtosz_*` does: a decimal number (a fraction is
/// allowed with a suffix) or a hex number, with an optional suffix
/// `B`, `k`/`K`, `M`, `G`, `T`, `P`, `E` (powers of 1024); without a suffix
/// `default_unit` applies (1 for bytes, 1 MiB for `-m`). Returns the value
/// and a deprecation warning for hex with a suffix.
pub fn parse_size(s: &str, default_unit: u64) -> Option<(u64, Option<String>)> {
    let t = s.trim_start();
    if t.starts_with('-') || t.is_empty() {
        return None;
    }
    let (digits_end, is_hex) = if t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) {
        let n = t[2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(t.len(), |i| i + 2);
        (n, true)
    } else {
        let n = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        (n, false)
    };
    let (num, suffix) = t.split_at(digits_end);
    let mult = match suffix {
        "" => default_unit,
        "B" | "b" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        "P" | "p" => 1 << 50,
        "E" | "e" => 1 << 60,
        _ => return None,
    };
    let mut warning = None;
    let value = if is_hex {
        let v = u64::from_str_radix(&num[2..], 16).ok()?;
        if !suffix.is_empty() || default_unit != 1 {
            let shown = if suffix.is_empty() {
                format!("{num}M")
            } else {
                format!("{num}{suffix}")
            };
            warning = Some(format!(
                "Using a multiplier suffix on hex numbers is deprecated: {shown}"
            ));
        }
        v.checked_mul(mult)?
    } else if let Some((int, frac)) = num.split_once('.') {
        if int.is_empty() || frac.contains('.') || frac.is_empty() {
            return None;
        }
        let ip: u64 = int.parse().ok()?;
        // A fraction only makes sense with a multiplier; QEMU rounds the
        // fractional part of the product down to whole bytes.
        if mult == 1 {
            return None;
        }
        let fp: f64 = format!("0.{frac}").parse().ok()?;
        let whole = ip.checked_mul(mult)?;
        whole.checked_add((fp * mult as f64) as u64)?
    } else {
        let v: u64 = num.parse().ok()?;
        v.checked_mul(mult)?
    };
    Some((value, warning))
}

/// Parses a boolean as QAPI does (`on`/`yes`/`true`/`y`, `off`/`no`/
/// `false`/`n`); the error is QEMU's message for `param`.
pub fn parse_bool(param: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" | "yes" | "true" | "y" => Ok(true),
        "off" | "no" | "false" | "n" => Ok(false),
        _ => Err(format!("Parameter '{param}' expects 'on' or 'off'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(v: &[(&str, &str)]) -> Params {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn qemu_opts_implied_escapes_and_flags() {
        let (p, w) = parse_qemu_opts("1G", Some("size")).unwrap();
        assert_eq!(p, kv(&[("size", "1G")]));
        assert!(w.is_empty());
        let (p, _) = parse_qemu_opts("file=a,,b.img,if=virtio", None).unwrap();
        assert_eq!(p, kv(&[("file", "a,b.img"), ("if", "virtio")]));
        let (p, w) = parse_qemu_opts("file=x,readonly", None).unwrap();
        assert_eq!(p, kv(&[("file", "x"), ("readonly", "on")]));
        assert_eq!(
            w,
            vec!["short-form boolean option 'readonly' deprecated\nPlease use readonly=on instead"]
        );
        let (p, _) = parse_qemu_opts("tcg,nothread", Some("accel")).unwrap();
        assert_eq!(p, kv(&[("accel", "tcg"), ("thread", "off")]));
        let (p, _) = parse_qemu_opts("socket,id=c,path=/tmp/a,,b", Some("backend")).unwrap();
        assert_eq!(
            p,
            kv(&[("backend", "socket"), ("id", "c"), ("path", "/tmp/a,b")])
        );
        let (p, _) = parse_qemu_opts("size=", Some("size")).unwrap();
        assert_eq!(p, kv(&[("size", "")]));
    }

    /// Messages observed from `qemu-system-riscv64` 7.2 for `-machine`.
    #[test]
    fn keyval_matches_qemu() {
        assert_eq!(
            parse_keyval("virt,aclint=on", Some("type")).unwrap(),
            kv(&[("type", "virt"), ("aclint", "on")])
        );
        assert_eq!(
            parse_keyval("type=virt,dumpdtb=/tmp/x.dtb", Some("type")).unwrap(),
            kv(&[("type", "virt"), ("dumpdtb", "/tmp/x.dtb")])
        );
        assert_eq!(
            parse_keyval("virt,aclint", Some("type")).unwrap_err(),
            "Expected '=' after parameter 'aclint'"
        );
        assert_eq!(
            parse_keyval("virt,,x", Some("type")).unwrap_err(),
            "Invalid parameter ''"
        );
        assert_eq!(
            parse_keyval("virt,mem.x=1", Some("type")).unwrap(),
            kv(&[("type", "virt"), ("mem.x", "1")])
        );
        assert_eq!(
            parse_keyval("iothread", Some("qom-type")).unwrap(),
            kv(&[("qom-type", "iothread")])
        );
        assert_eq!(
            parse_keyval("a=1,b=x,,y", None).unwrap(),
            kv(&[("a", "1"), ("b", "x,y")])
        );
    }

    #[test]
    fn sizes_like_qemu_strtosz() {
        let mib = 1 << 20;
        assert_eq!(parse_size("1G", mib).unwrap().0, 1 << 30);
        assert_eq!(parse_size("100", mib).unwrap().0, 100 << 20);
        assert_eq!(parse_size("512M", mib).unwrap().0, 512 << 20);
        assert_eq!(parse_size("1.5G", mib).unwrap().0, 3 << 29);
        assert_eq!(parse_size("4096B", mib).unwrap().0, 4096);
        assert_eq!(parse_size("1k", 1).unwrap().0, 1024);
        let (v, w) = parse_size("0x10", mib).unwrap();
        assert_eq!(v, 16 << 20);
        assert_eq!(
            w.unwrap(),
            "Using a multiplier suffix on hex numbers is deprecated: 0x10M"
        );
        for bad in [
            "12x",
            "-1",
            "1e3",
            "",
            "1.",
            ".5G",
            "1.2.3G",
            "99999999999999999999",
        ] {
            assert!(parse_size(bad, mib).is_none(), "{bad}");
        }
        assert!(parse_size("16E", 1).is_none(), "2^64 overflows");
        assert_eq!(
            size_error("size"),
            "Parameter 'size' expects a non-negative number below 2^64\n\
             Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n\
             and exabytes, respectively."
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("aclint", "on"), Ok(true));
        assert_eq!(parse_bool("aclint", "off"), Ok(false));
        assert_eq!(
            parse_bool("aclint", "maybe").unwrap_err(),
            "Parameter 'aclint' expects 'on' or 'off'"
        );
    }

    proptest::proptest! {
        /// Escaping any value with `,,` and parsing it back is the identity.
        #[test]
        fn comma_escaping_round_trips(v in "[a-z,=./]{0,20}") {
            let escaped = v.replace(',', ",,");
            let (p, _) = parse_qemu_opts(&format!("k={escaped},z=1"), None).unwrap();
            proptest::prop_assert_eq!(&p[0].1, &v);
            proptest::prop_assert_eq!(&p[1], &("z".to_string(), "1".to_string()));
            let p = parse_keyval(&format!("k={escaped},z=1"), None).unwrap();
            proptest::prop_assert_eq!(&p[0].1, &v);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_qemu_opts(&s, Some("type"));
            let _ = parse_keyval(&s, Some("type"));
            let _ = parse_size(&s, 1 << 20);
        }
    }
}
