//! Unpacking Debian packages: the `ar` container, the compressed `data.tar`
//! member, and the tar stream inside it.
//!
//! A `.deb` is an `ar` archive holding `debian-binary`, `control.tar.*` and
//! `data.tar.*` (deb(5)). The data member is decompressed as a stream (xz via
//! `lzma-rs`, zstd via `ruzstd`, gzip via `flate2`, or uncompressed) into a
//! push-style tar parser, so a 100 MB kernel package is never held in memory
//! whole: only the entries the caller selects are kept.

use std::io::{self, BufReader, Read, Write};

/// An entry kept from a package's data tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Path with any leading `./` or `/` removed.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Contents (empty for non-regular entries).
    pub data: Vec<u8>,
}

/// Why a package could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// Not an ar archive, or an ar header is malformed.
    #[error("not a Debian package: {0}")]
    NotDeb(String),
    /// The archive ends early.
    #[error("the archive is truncated ({0})")]
    Truncated(String),
    /// No `data.tar*` member.
    #[error("no data.tar member")]
    NoData,
    /// The data member uses a compression this tool does not read.
    #[error("unsupported data member compression {0:?}")]
    UnsupportedCompression(String),
    /// The decompressor rejected the stream.
    #[error("cannot decompress {member}: {reason}")]
    Decompress {
        /// Which member.
        member: String,
        /// The decompressor's message.
        reason: String,
    },
    /// The tar stream is malformed.
    #[error("bad tar stream: {0}")]
    BadTar(String),
    /// Reading the package failed.
    #[error("cannot read the package: {0}")]
    Io(#[from] io::Error),
}

const AR_MAGIC: &[u8; 8] = b"!<arch>\n";

/// Reads the `data.tar*` member of the `.deb` in `input` and returns the
/// entries for which `keep(path)` is true, in archive order.
pub fn extract_data<R: Read>(
    input: R,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<Vec<TarEntry>, DebError> {
    let mut input = BufReader::new(input);
    let mut magic = [0u8; 8];
    read_full(&mut input, &mut magic, "ar magic")?;
    if &magic != AR_MAGIC {
        return Err(DebError::NotDeb("no ar magic".into()));
    }
    loop {
        let mut hdr = [0u8; 60];
        let n = read_upto(&mut input, &mut hdr)?;
        if n == 0 {
            return Err(DebError::NoData);
        }
        if n < 60 {
            return Err(DebError::Truncated("in an ar member header".into()));
        }
        if &hdr[58..60] != b"`\n" {
            return Err(DebError::NotDeb("bad ar member header".into()));
        }
        let name = String::from_utf8_lossy(&hdr[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = String::from_utf8_lossy(&hdr[48..58])
            .trim()
            .parse()
            .map_err(|_| DebError::NotDeb(format!("bad size in ar header of {name}")))?;
        if let Some(comp) = name.strip_prefix("data.tar") {
            let mut member = CountingReader {
                inner: (&mut input).take(size),
                count: 0,
            };
            let mut sink = TarSink::new(&mut keep);
            let res = decompress(comp, &name, &mut member, &mut sink);
            // A short member shows up as a decompressor error; report the
            // truncation, which is the real cause. Decompressors may stop
            // before the member's end, so drain it before counting.
            io::copy(&mut member, &mut io::sink())?;
            if member.count < size {
                return Err(DebError::Truncated(format!(
                    "{name} has {} of {size} bytes",
                    member.count
                )));
            }
            res?;
            return sink.finish();
        }
        // Skip this member and its padding byte.
        let skip = size + (size & 1);
        let copied = io::copy(&mut (&mut input).take(skip), &mut io::sink())?;
        if copied < size {
            return Err(DebError::Truncated(format!("in ar member {name}")));
        }
    }
}

fn decompress<R: Read>(
    comp: &str,
    name: &str,
    member: &mut R,
    sink: &mut TarSink<'_>,
) -> Result<(), DebError> {
    let derr = |e: &dyn std::fmt::Display| DebError::Decompress {
        member: name.to_string(),
        reason: e.to_string(),
    };
    let tar_err = |sink: &mut TarSink<'_>| sink.error.take();
    let res = match comp {
        ".xz" => lzma_rs::xz_decompress(&mut BufReader::new(member), sink).map_err(|e| derr(&e)),
        ".zst" => {
            let mut dec = ruzstd::decoding::StreamingDecoder::new(member).map_err(|e| derr(&e))?;
            io::copy(&mut dec, sink).map(drop).map_err(|e| derr(&e))
        }
        ".gz" => io::copy(&mut flate2::read::GzDecoder::new(member), sink)
            .map(drop)
            .map_err(|e| derr(&e)),
        "" => io::copy(member, sink).map(drop).map_err(|e| derr(&e)),
        other => return Err(DebError::UnsupportedCompression(other.to_string())),
    };
    // A tar error surfaces through the decompressor as an I/O error; prefer
    // the tar parser's own description.
    match (res, tar_err(sink)) {
        (_, Some(e)) => Err(e),
        (r, None) => r,
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn read_upto<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<(), DebError> {
    if read_upto(r, buf)? < buf.len() {
        return Err(DebError::Truncated(format!("in the {what}")));
    }
    Ok(())
}

/// What the tar parser is in the middle of.
enum TarState {
    /// Collecting a 512-byte header block.
    Header,
    /// Inside an entry's data (plus padding to 512 bytes).
    Data {
        remaining: u64,
        padding: u64,
        kind: DataKind,
    },
    /// Seen the end-of-archive marker; the rest is ignored.
    End,
}

enum DataKind {
    Skip,
    Keep(TarEntry),
    LongName,
    LongLink,
    Pax,
}

/// A push parser for ustar/GNU/pax tar streams, fed through `Write`.
struct TarSink<'k> {
    keep: &'k mut dyn FnMut(&str) -> bool,
    state: TarState,
    header: Vec<u8>,
    meta: Vec<u8>,
    long_name: Option<String>,
    pax_path: Option<String>,
    zero_blocks: u32,
    out: Vec<TarEntry>,
    error: Option<DebError>,
}

impl<'k> TarSink<'k> {
    fn new(keep: &'k mut dyn FnMut(&str) -> bool) -> Self {
        TarSink {
            keep,
            state: TarState::Header,
            header: Vec::with_capacity(512),
            meta: Vec::new(),
            long_name: None,
            pax_path: None,
            zero_blocks: 0,
            out: Vec::new(),
            error: None,
        }
    }

    fn finish(self) -> Result<Vec<TarEntry>, DebError> {
        match self.state {
            TarState::Header if self.header.is_empty() => Ok(self.out),
            TarState::End => Ok(self.out),
            _ => Err(DebError::Truncated(
                "the tar stream ends inside an entry".into(),
            )),
        }
    }

    fn fail(&mut self, e: DebError) -> io::Error {
        let msg = e.to_string();
        self.error = Some(e);
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    fn on_header(&mut self) -> Result<(), DebError> {
        let h = std::mem::take(&mut self.header);
        if h.iter().all(|&b| b == 0) {
            self.zero_blocks += 1;
            if self.zero_blocks == 2 {
                self.state = TarState::End;
            }
            return Ok(());
        }
        self.zero_blocks = 0;
        let stored = parse_octal(&h[148..156])
            .ok_or_else(|| DebError::BadTar("bad checksum field".into()))?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(DebError::BadTar("header checksum mismatch".into()));
        }
        let size =
            parse_number(&h[124..136]).ok_or_else(|| DebError::BadTar("bad size field".into()))?;
        let mode = parse_number(&h[100..108]).unwrap_or(0o644) as u32 & 0o7777;
        let typeflag = h[156];
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() && &h[257..265] == b"ustar\x0000" {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(n) = self.pax_path.take() {
            name = n;
        }
        if let Some(n) = self.long_name.take() {
            name = n;
        }
        let kind = match typeflag {
            b'L' => DataKind::LongName,
            b'K' => DataKind::LongLink,
            b'x' => DataKind::Pax,
            b'0' | 0 | b'7' => {
                let path = normalize(&name);
                if (self.keep)(&path) {
                    DataKind::Keep(TarEntry {
                        path,
                        mode,
                        data: Vec::with_capacity(size.min(64 << 20) as usize),
                    })
                } else {
                    DataKind::Skip
                }
            }
            // Directories, links, devices, global pax headers: nothing to keep.
            _ => DataKind::Skip,
        };
        // Links and directories carry no data even if size is set oddly.
        let size = if matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
            0
        } else {
            size
        };
        self.meta.clear();
        self.state = TarState::Data {
            remaining: size,
            padding: (512 - size % 512) % 512,
            kind,
        };
        self.maybe_end_entry();
        Ok(())
    }

    /// Completes the current entry once its data and padding are consumed.
    fn maybe_end_entry(&mut self) {
        let TarState::Data {
            remaining: 0,
            padding: 0,
            ..
        } = self.state
        else {
            return;
        };
        let TarState::Data { kind, .. } = std::mem::replace(&mut self.state, TarState::Header)
        else {
            unreachable!()
        };
        match kind {
            DataKind::Keep(e) => self.out.push(e),
            DataKind::LongName => self.long_name = Some(cstr(&self.meta)),
            DataKind::Pax => self.pax_path = pax_field(&self.meta, "path"),
            DataKind::LongLink | DataKind::Skip => {}
        }
    }
}

impl Write for TarSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "tar parse failed",
            ));
        }
        let mut rest = buf;
        while !rest.is_empty() {
            match &mut self.state {
                TarState::End => break,
                TarState::Header => {
                    let take = (512 - self.header.len()).min(rest.len());
                    self.header.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.header.len() == 512
                        && let Err(e) = self.on_header()
                    {
                        return Err(self.fail(e));
                    }
                }
                TarState::Data {
                    remaining,
                    padding,
                    kind,
                } => {
                    if *remaining > 0 {
                        let take = (*remaining).min(rest.len() as u64) as usize;
                        match kind {
                            DataKind::Keep(e) => e.data.extend_from_slice(&rest[..take]),
                            DataKind::LongName | DataKind::LongLink | DataKind::Pax => {
                                if self.meta.len() + take > 1 << 20 {
                                    let e = DebError::BadTar("oversized metadata entry".into());
                                    return Err(self.fail(e));
                                }
                                self.meta.extend_from_slice(&rest[..take]);
                            }
                            DataKind::Skip => {}
                        }
                        *remaining -= take as u64;
                        rest = &rest[take..];
                    } else {
                        let take = (*padding).min(rest.len() as u64) as usize;
                        *padding -= take as u64;
                        rest = &rest[take..];
                    }
                    self.maybe_end_entry();
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn normalize(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    p.trim_end_matches('/').to_string()
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s = cstr(field);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// Octal, or GNU base-256 when the top bit of the first byte is set.
fn parse_number(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    parse_octal(field)
}

/// Finds `key` in pax extended-header records (`<len> <key>=<value>\n`).
fn pax_field(data: &[u8], key: &str) -> Option<String> {
    let mut rest = data;
    let mut found = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            return found;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=')
            && &record[..eq] == key.as_bytes()
        {
            found = Some(String::from_utf8_lossy(&record[eq + 1..]).into_owned());
        }
        rest = &rest[len..];
    }
    found
}

/// Builders for test fixtures: tar and ar writers and whole `.deb`s.
#[cfg(test)]
pub(crate) mod fixture {
    /// A regular file, directory or symlink in a fixture tarball.
    pub(crate) enum Node<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
    }

    fn header(name: &str, size: usize, typeflag: u8, link: &str, mode: u32) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..265].copy_from_slice(b"ustar  \0");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn push_data(out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    /// A GNU-format tarball (long names use `L` entries, as dpkg-deb writes).
    pub(crate) fn tar(nodes: &[Node<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in nodes {
            let (name, data, tf, link, mode): (&str, &[u8], u8, &str, u32) = match *n {
                Node::File(p, d) => (p, d, b'0', "", 0o755),
                Node::Dir(p) => (p, b"", b'5', "", 0o755),
                Node::Symlink(p, t) => (p, b"", b'2', t, 0o777),
            };
            if name.len() > 99 {
                let long = format!("{name}\0");
                out.extend_from_slice(&header("././@LongLink", long.len(), b'L', "", 0));
                push_data(&mut out, long.as_bytes());
            }
            let short = &name[..name.len().min(99)];
            out.extend_from_slice(&header(short, data.len(), tf, link, mode));
            push_data(&mut out, data);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    /// An ar archive of `(name, data)` members.
    pub(crate) fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            let h = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                "100644",
                data.len()
            );
            assert_eq!(h.len(), 60);
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    pub(crate) fn xz(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
        out
    }

    pub(crate) fn zst(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    /// A `.deb` whose data member is `data.tar<ext>` holding `nodes`.
    pub(crate) fn deb(ext: &str, nodes: &[Node<'_>]) -> Vec<u8> {
        let tar = tar(nodes);
        let data = match ext {
            ".xz" => xz(&tar),
            ".zst" => zst(&tar),
            ".gz" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut e, &tar).unwrap();
                e.finish().unwrap()
            }
            "" => tar,
            _ => panic!("fixture compression {ext}"),
        };
        let control = xz(&self::tar(&[Node::File("./control", b"Package: x\n")]));
        ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", &control),
            (&format!("data.tar{ext}"), &data),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{Node, deb, tar};
    use super::*;

    fn sample() -> Vec<Node<'static>> {
        vec![
            Node::Dir("./"),
            Node::Dir("./boot/"),
            Node::File("./boot/vmlinux-6.12.1-riscv64", b"kernel image"),
            Node::Symlink("./boot/link", "vmlinux-6.12.1-riscv64"),
            Node::File("./usr/share/doc/x", b"doc"),
            Node::File(
                "./usr/lib/modules/6.12.1-riscv64/kernel/drivers/some/very/deeply/nested/directory/that/is/longer/than/one/hundred/bytes/virtio_mmio.ko.xz",
                b"module",
            ),
        ]
    }

    fn keep_boot_and_modules(p: &str) -> bool {
        p.starts_with("boot/") || p.ends_with(".ko.xz")
    }

    #[test]
    fn tar_xz_member() {
        let got = extract_data(&deb(".xz", &sample())[..], keep_boot_and_modules).unwrap();
        let paths: Vec<_> = got.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert_eq!(paths[0], "boot/vmlinux-6.12.1-riscv64");
        assert!(
            paths[1].ends_with("/bytes/virtio_mmio.ko.xz"),
            "long GNU name: {}",
            paths[1]
        );
        assert_eq!(got[0].data, b"kernel image");
        assert_eq!(got[1].data, b"module");
        assert_eq!(got[0].mode, 0o755);
    }

    #[test]
    fn tar_zst_member() {
        let got = extract_data(&deb(".zst", &sample())[..], |p| p == "usr/share/doc/x").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, b"doc");
    }

    #[test]
    fn tar_gz_and_plain_tar_members() {
        for ext in [".gz", ""] {
            let got =
                extract_data(&deb(ext, &sample())[..], |p| p.starts_with("boot/vmlinux")).unwrap();
            assert_eq!(got.len(), 1, "{ext}");
            assert_eq!(got[0].data, b"kernel image", "{ext}");
        }
    }

    #[test]
    fn large_entry_spanning_many_writes() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let nodes = [
            Node::File("./usr/bin/busybox", &big),
            Node::File("./z", b"z"),
        ];
        let got = extract_data(&deb(".xz", &nodes)[..], |_| true).unwrap();
        assert_eq!(got[0].data, big);
        assert_eq!(got[1].data, b"z");
    }

    #[test]
    fn truncated_packages_are_detected() {
        let d = deb(".xz", &sample());
        for cut in [4, 30, 100, d.len() / 2, d.len() - 10] {
            let e = extract_data(&d[..cut], |_| true).unwrap_err();
            assert!(
                matches!(e, DebError::Truncated(_)),
                "cut at {cut} of {}: {e:?}",
                d.len()
            );
        }
    }

    #[test]
    fn truncated_tar_inside_a_complete_member_is_detected() {
        let t = tar(&sample());
        let cut = &t[..t.len() - 1024 - 512 + 3];
        let d = fixture::ar(&[("debian-binary", b"2.0\n"), ("data.tar", cut)]);
        let e = extract_data(&d[..], |_| true).unwrap_err();
        assert!(matches!(e, DebError::Truncated(_)), "{e:?}");
    }

    #[test]
    fn corrupted_data_is_an_error_not_a_panic() {
        let mut d = deb(".xz", &sample());
        let n = d.len();
        for i in (n - 200..n - 20).step_by(7) {
            d[i] ^= 0x55;
        }
        assert!(extract_data(&d[..], |_| true).is_err());
        let mut t = tar(&sample());
        t[600] ^= 1; // inside the second header: checksum mismatch
        let d = fixture::ar(&[("data.tar", &t)]);
        assert!(matches!(
            extract_data(&d[..], |_| true),
            Err(DebError::BadTar(_))
        ));
    }

    #[test]
    fn not_a_deb_and_no_data() {
        assert!(matches!(
            extract_data(&b"hello world, not an archive"[..], |_| true),
            Err(DebError::NotDeb(_))
        ));
        let d = fixture::ar(&[("debian-binary", b"2.0\n")]);
        assert!(matches!(
            extract_data(&d[..], |_| true),
            Err(DebError::NoData)
        ));
        let d = fixture::ar(&[("data.tar.bz2", b"BZh")]);
        assert!(matches!(
            extract_data(&d[..], |_| true),
            Err(DebError::UnsupportedCompression(_))
        ));
    }

    /// Damaged packages (random byte flips, cuts) give errors, never panics.
    #[test]
    fn mutated_packages_never_panic() {
        let mut x = 0x9e37_79b9u32;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as usize
        };
        for ext in ["", ".xz", ".zst", ".gz"] {
            let good = deb(ext, &sample());
            for _ in 0..150 {
                let mut d = good.clone();
                for _ in 0..1 + rand() % 4 {
                    let i = rand() % d.len();
                    d[i] ^= 1 << (rand() % 8);
                }
                let cut = if rand() % 4 == 0 {
                    rand() % d.len()
                } else {
                    d.len()
                };
                let _ = extract_data(&d[..cut], |_| true);
            }
        }
    }

    #[test]
    fn pax_path_and_base256_size() {
        assert_eq!(
            pax_field(b"26 path=usr/lib/long/name\n11 a=bcdef\n", "path").as_deref(),
            Some("usr/lib/long/name")
        );
        assert_eq!(pax_field(b"99 path=x\n", "path"), None);
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[10] = 0x01;
        f[11] = 0x02;
        assert_eq!(parse_number(&f), Some(0x0102));
    }
}
