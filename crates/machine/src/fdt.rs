//! Flattened device tree: building, serialising (DTB v17) and parsing.
//!
//! QEMU builds a board's device tree with libfdt's read-write functions
//! (`qemu_fdt_add_subnode`, `qemu_fdt_setprop_*`). Two properties of that API
//! are visible to anyone who decompiles the blob with `dtc`, and so to anyone
//! comparing our tree with QEMU's:
//!
//! - `fdt_setprop` of a *new* property inserts it directly after the node's
//!   name, i.e. before the properties added earlier; setting an existing
//!   property replaces its value in place.
//! - `fdt_add_subnode` inserts the new node after the parent's properties,
//!   i.e. before the subnodes added earlier.
//!
//! [`Fdt`] keeps nodes and properties in creation order and emits both in
//! reverse, which reproduces that order exactly. Phandles are allocated from 1
//! upwards like QEMU's `qemu_fdt_alloc_phandle`.
//!
//! The serialiser writes the header, an empty memory-reservation map, the
//! structure block and a strings block in which a name that is a suffix of an
//! already-stored name shares its bytes (libfdt's `fdt_find_string_` does the
//! same). [`Fdt::to_dtb`] can pad the blob to a minimum `totalsize`, the way
//! QEMU hands the firmware its whole 1 MiB creation buffer so that OpenSBI can
//! edit the tree in place.

use std::fmt;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_SIZE: usize = 40;
const VERSION: u32 = 17;
const LAST_COMP_VERSION: u32 = 16;

/// Handle to a node inside an [`Fdt`] under construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(usize);

/// One property: a name and its raw big-endian value bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// Property name, e.g. `compatible`.
    pub name: String,
    /// Value exactly as stored in the blob.
    pub value: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Node {
    name: String,
    /// In creation order; emitted in reverse (libfdt prepends).
    props: Vec<Property>,
    /// In creation order; emitted in reverse (libfdt prepends).
    children: Vec<usize>,
}

/// Errors from building or parsing a device tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FdtError {
    /// A path named a node that does not exist.
    #[error("device tree node '{0}' not found")]
    NoSuchNode(String),
    /// A node with this name already exists under the same parent.
    #[error("device tree node '{0}' already exists")]
    NodeExists(String),
    /// The blob is not a valid flattened device tree.
    #[error("invalid device tree blob: {0}")]
    Invalid(&'static str),
}

/// A device tree under construction (or parsed from a blob).
#[derive(Clone, Debug)]
pub struct Fdt {
    nodes: Vec<Node>,
    next_phandle: u32,
}

impl Default for Fdt {
    fn default() -> Self {
        Self::new()
    }
}

impl Fdt {
    /// An empty tree with just the root node `/`.
    pub fn new() -> Self {
        Fdt {
            nodes: vec![Node {
                name: String::new(),
                props: Vec::new(),
                children: Vec::new(),
            }],
            next_phandle: 1,
        }
    }

    /// The root node.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// Allocates the next phandle value (1, 2, 3, ... as QEMU does).
    pub fn alloc_phandle(&mut self) -> u32 {
        let p = self.next_phandle;
        self.next_phandle += 1;
        p
    }

    /// Finds a node by absolute path (`/soc/serial@10000000`).
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let mut cur = 0usize;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            cur = *self.nodes[cur]
                .children
                .iter()
                .find(|&&c| self.nodes[c].name == comp)?;
        }
        Some(NodeId(cur))
    }

    /// Adds a subnode named `name` under `parent` (libfdt: placed before the
    /// parent's existing subnodes).
    pub fn add_subnode(&mut self, parent: NodeId, name: &str) -> Result<NodeId, FdtError> {
        if self.nodes[parent.0]
            .children
            .iter()
            .any(|&c| self.nodes[c].name == name)
        {
            return Err(FdtError::NodeExists(name.to_string()));
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_string(),
            props: Vec::new(),
            children: Vec::new(),
        });
        self.nodes[parent.0].children.push(id);
        Ok(NodeId(id))
    }

    /// Adds the node at absolute `path`; its parent must exist
    /// (QEMU's `qemu_fdt_add_subnode`).
    pub fn add_path(&mut self, path: &str) -> Result<NodeId, FdtError> {
        let (parent, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => return Err(FdtError::NoSuchNode(path.to_string())),
        };
        let parent = self
            .lookup(parent)
            .ok_or_else(|| FdtError::NoSuchNode(parent.to_string()))?;
        self.add_subnode(parent, name)
    }

    /// Sets a property to raw bytes: a new property goes before the older
    /// ones, an existing one keeps its place.
    pub fn set_prop(&mut self, node: NodeId, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        let props = &mut self.nodes[node.0].props;
        if let Some(p) = props.iter_mut().find(|p| p.name == name) {
            p.value = value;
        } else {
            props.push(Property {
                name: name.to_string(),
                value,
            });
        }
    }

    /// Sets an empty (boolean) property such as `interrupt-controller`.
    pub fn set_prop_empty(&mut self, node: NodeId, name: &str) {
        self.set_prop(node, name, Vec::new());
    }

    /// Sets a single 32-bit cell.
    pub fn set_prop_u32(&mut self, node: NodeId, name: &str, v: u32) {
        self.set_prop(node, name, v.to_be_bytes().to_vec());
    }

    /// Sets a 64-bit value as two cells.
    pub fn set_prop_u64(&mut self, node: NodeId, name: &str, v: u64) {
        self.set_prop(node, name, v.to_be_bytes().to_vec());
    }

    /// Sets a list of 32-bit cells.
    pub fn set_prop_cells(&mut self, node: NodeId, name: &str, cells: &[u32]) {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.set_prop(node, name, bytes);
    }

    /// Sets a list of 64-bit values, each as two cells
    /// (QEMU's `qemu_fdt_setprop_sized_cells` with size 2 for `reg`).
    pub fn set_prop_u64s(&mut self, node: NodeId, name: &str, vals: &[u64]) {
        let bytes: Vec<u8> = vals.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.set_prop(node, name, bytes);
    }

    /// Sets a NUL-terminated string.
    pub fn set_prop_str(&mut self, node: NodeId, name: &str, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.set_prop(node, name, v);
    }

    /// Sets a string list (each string NUL-terminated, concatenated).
    pub fn set_prop_strings(&mut self, node: NodeId, name: &str, list: &[&str]) {
        let mut v = Vec::new();
        for s in list {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        self.set_prop(node, name, v);
    }

    /// Returns a property's value, if set.
    pub fn prop(&self, node: NodeId, name: &str) -> Option<&[u8]> {
        self.nodes[node.0]
            .props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_slice())
    }

    /// The node's name (`""` for the root).
    pub fn name(&self, node: NodeId) -> &str {
        &self.nodes[node.0].name
    }

    /// Properties in the order they appear in the blob.
    pub fn props(&self, node: NodeId) -> impl Iterator<Item = &Property> {
        self.nodes[node.0].props.iter().rev()
    }

    /// Subnodes in the order they appear in the blob.
    pub fn children(&self, node: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes[node.0].children.iter().rev().map(|&c| NodeId(c))
    }

    /// Serialises to a DTB (version 17) of at least `min_total_size` bytes;
    /// the padding is free space after the strings block.
    pub fn to_dtb(&self, min_total_size: usize) -> Vec<u8> {
        let mut strings: Vec<u8> = Vec::new();
        let mut structure: Vec<u8> = Vec::new();
        self.emit(0, &mut structure, &mut strings);
        push_u32(&mut structure, FDT_END);

        let off_rsvmap = HEADER_SIZE;
        let rsvmap_len = 16; // only the terminating (0, 0) entry
        let off_struct = off_rsvmap + rsvmap_len;
        let off_strings = off_struct + structure.len();
        let used = off_strings + strings.len();
        let total = used.max(min_total_size);

        let mut out = Vec::with_capacity(total);
        for v in [
            FDT_MAGIC,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsvmap as u32,
            VERSION,
            LAST_COMP_VERSION,
            0, // boot_cpuid_phys
            strings.len() as u32,
            structure.len() as u32,
        ] {
            push_u32(&mut out, v);
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&structure);
        out.extend_from_slice(&strings);
        out.resize(total, 0);
        out
    }

    fn emit(&self, idx: usize, out: &mut Vec<u8>, strings: &mut Vec<u8>) {
        let node = &self.nodes[idx];
        push_u32(out, FDT_BEGIN_NODE);
        out.extend_from_slice(node.name.as_bytes());
        out.push(0);
        pad4(out);
        for p in node.props.iter().rev() {
            push_u32(out, FDT_PROP);
            push_u32(out, p.value.len() as u32);
            push_u32(out, string_offset(strings, &p.name));
            out.extend_from_slice(&p.value);
            pad4(out);
        }
        for &c in node.children.iter().rev() {
            self.emit(c, out, strings);
        }
        push_u32(out, FDT_END_NODE);
    }

    /// Parses a DTB. Every offset is checked against the blob, so a corrupt
    /// or hostile file gives an error rather than a panic.
    pub fn from_dtb(blob: &[u8]) -> Result<Fdt, FdtError> {
        let rd = |off: usize| -> Result<u32, FdtError> {
            blob.get(off..off + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(FdtError::Invalid("truncated"))
        };
        if rd(0)? != FDT_MAGIC {
            return Err(FdtError::Invalid("bad magic"));
        }
        let total = rd(4)? as usize;
        if total > blob.len() {
            return Err(FdtError::Invalid("totalsize exceeds the blob"));
        }
        let blob = &blob[..total];
        let off_struct = rd(8)? as usize;
        let off_strings = rd(12)? as usize;
        let version = rd(20)?;
        if version < 16 {
            return Err(FdtError::Invalid("unsupported version"));
        }
        let size_strings = rd(32)? as usize;
        let strings = blob
            .get(off_strings..off_strings.saturating_add(size_strings))
            .ok_or(FdtError::Invalid("strings block out of range"))?;

        let mut fdt = Fdt::new();
        fdt.nodes.clear();
        let mut stack: Vec<usize> = Vec::new();
        let mut pos = off_struct;
        loop {
            let tag = rd(pos)?;
            pos += 4;
            match tag {
                FDT_BEGIN_NODE => {
                    let rest = blob.get(pos..).ok_or(FdtError::Invalid("truncated"))?;
                    let len = rest
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or(FdtError::Invalid("unterminated node name"))?;
                    let name = String::from_utf8_lossy(&rest[..len]).into_owned();
                    pos = align4(pos + len + 1);
                    let id = fdt.nodes.len();
                    if stack.is_empty() && id != 0 {
                        return Err(FdtError::Invalid("more than one root node"));
                    }
                    fdt.nodes.push(Node {
                        name,
                        props: Vec::new(),
                        children: Vec::new(),
                    });
                    if let Some(&parent) = stack.last() {
                        // Stored in creation order, i.e. reversed blob order;
                        // fixed up below.
                        fdt.nodes[parent].children.push(id);
                    }
                    stack.push(id);
                }
                FDT_END_NODE => {
                    stack
                        .pop()
                        .ok_or(FdtError::Invalid("unbalanced END_NODE"))?;
                }
                FDT_PROP => {
                    let len = rd(pos)? as usize;
                    let nameoff = rd(pos + 4)? as usize;
                    pos += 8;
                    let value = blob
                        .get(pos..pos.saturating_add(len))
                        .ok_or(FdtError::Invalid("property value out of range"))?
                        .to_vec();
                    pos = align4(pos + len);
                    let name_bytes = strings
                        .get(nameoff..)
                        .ok_or(FdtError::Invalid("property name out of range"))?;
                    let nlen = name_bytes
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or(FdtError::Invalid("unterminated property name"))?;
                    let name = String::from_utf8_lossy(&name_bytes[..nlen]).into_owned();
                    let &cur = stack
                        .last()
                        .ok_or(FdtError::Invalid("property outside a node"))?;
                    fdt.nodes[cur].props.push(Property { name, value });
                }
                FDT_NOP => {}
                FDT_END => break,
                _ => return Err(FdtError::Invalid("unknown structure tag")),
            }
        }
        if !stack.is_empty() || fdt.nodes.is_empty() {
            return Err(FdtError::Invalid("unbalanced structure block"));
        }
        for n in &mut fdt.nodes {
            n.props.reverse();
            n.children.reverse();
        }
        fdt.next_phandle = 1 + fdt
            .nodes
            .iter()
            .filter_map(|n| n.props.iter().find(|p| p.name == "phandle"))
            .filter_map(|p| {
                p.value
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            })
            .max()
            .unwrap_or(0);
        Ok(fdt)
    }

    /// Renders the tree in `dtc -O dts` style (used by tests and
    /// `dumpdtb`-style debugging); phandle references are printed as numbers.
    pub fn to_dts(&self) -> String {
        let mut s = String::from("/dts-v1/;\n\n");
        self.dts_node(0, 0, &mut s);
        s
    }

    fn dts_node(&self, idx: usize, depth: usize, s: &mut String) {
        let node = &self.nodes[idx];
        let ind = "\t".repeat(depth);
        let name = if idx == 0 { "/" } else { node.name.as_str() };
        s.push_str(&format!("{ind}{name} {{\n"));
        for p in node.props.iter().rev() {
            s.push_str(&format!("{ind}\t{}", p.name));
            if !p.value.is_empty() {
                s.push_str(" = ");
                s.push_str(&format_value(&p.value));
            }
            s.push_str(";\n");
        }
        for &c in node.children.iter().rev() {
            s.push('\n');
            self.dts_node(c, depth + 1, s);
        }
        s.push_str(&format!("{ind}}};\n"));
    }
}

impl fmt::Display for Fdt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_dts())
    }
}

/// dtc's heuristics: a printable NUL-terminated string list is shown as
/// strings, a multiple of 4 bytes as cells, anything else as bytes.
fn format_value(v: &[u8]) -> String {
    let printable = v.last() == Some(&0)
        && v[0] != 0
        && !v.windows(2).any(|w| w == [0, 0])
        && v.iter().all(|&b| b == 0 || (0x20..0x7f).contains(&b));
    if printable {
        let parts: Vec<String> = v[..v.len() - 1]
            .split(|&b| b == 0)
            .map(|p| format!("\"{}\"", String::from_utf8_lossy(p)))
            .collect();
        return parts.join(", ");
    }
    if v.len().is_multiple_of(4) {
        let cells: Vec<String> = v
            .chunks(4)
            .map(|c| format!("{:#04x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        return format!("<{}>", cells.join(" "));
    }
    let bytes: Vec<String> = v.iter().map(|b| format!("{b:02x}")).collect();
    format!("[{}]", bytes.join(" "))
}

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn align4(v: usize) -> usize {
    (v + 3) & !3
}

/// Offset of `name` in the strings block, adding it if needed. Like libfdt, an
/// existing occurrence (also as the tail of a longer name) is reused.
fn string_offset(strings: &mut Vec<u8>, name: &str) -> u32 {
    let mut needle = name.as_bytes().to_vec();
    needle.push(0);
    if let Some(pos) = strings
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
    {
        return pos as u32;
    }
    let off = strings.len();
    strings.extend_from_slice(&needle);
    off as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfdt_prepend_order() {
        let mut f = Fdt::new();
        let root = f.root();
        f.set_prop_cells(root, "#address-cells", &[2]);
        f.set_prop_str(root, "compatible", "riscv-virtio");
        let a = f.add_subnode(root, "a").unwrap();
        let _b = f.add_subnode(root, "b").unwrap();
        f.set_prop_u32(a, "x", 1);
        f.set_prop_u32(a, "y", 2);
        // Replacing keeps the place.
        f.set_prop_u32(a, "x", 3);
        let names: Vec<_> = f.props(root).map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["compatible", "#address-cells"]);
        let kids: Vec<_> = f.children(root).map(|c| f.name(c).to_string()).collect();
        assert_eq!(kids, ["b", "a"]);
        let names: Vec<_> = f.props(a).map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["y", "x"]);
        assert_eq!(f.prop(a, "x"), Some(&[0, 0, 0, 3][..]));
        assert_eq!(
            f.add_subnode(root, "a"),
            Err(FdtError::NodeExists("a".into()))
        );
    }

    #[test]
    fn round_trip_and_padding() {
        let mut f = Fdt::new();
        let root = f.root();
        f.set_prop_strings(root, "compatible", &["sifive,test1", "sifive,test0"]);
        let soc = f.add_path("/soc").unwrap();
        let ser = f.add_path("/soc/serial@10000000").unwrap();
        f.set_prop_u64s(ser, "reg", &[0x1000_0000, 0x100]);
        f.set_prop_empty(soc, "ranges");
        let ph = f.alloc_phandle();
        f.set_prop_u32(ser, "phandle", ph);
        let blob = f.to_dtb(0x10_0000);
        assert_eq!(blob.len(), 0x10_0000);
        assert_eq!(&blob[..4], &FDT_MAGIC.to_be_bytes());
        let g = Fdt::from_dtb(&blob).unwrap();
        assert_eq!(g.to_dts(), f.to_dts());
        let ser2 = g.lookup("/soc/serial@10000000").unwrap();
        assert_eq!(g.prop(ser2, "reg").unwrap().len(), 16);
        // Round trip through the blob is byte-identical.
        assert_eq!(g.to_dtb(0), f.to_dtb(0));
        assert_eq!(g.clone().alloc_phandle(), 2);
    }

    #[test]
    fn strings_share_suffixes() {
        let mut strings = Vec::new();
        let a = string_offset(&mut strings, "#interrupt-cells");
        let b = string_offset(&mut strings, "interrupt-cells");
        let c = string_offset(&mut strings, "#interrupt-cells");
        assert_eq!(a, 0);
        assert_eq!(b, 1);
        assert_eq!(c, 0);
        assert_eq!(strings.len(), "#interrupt-cells".len() + 1);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let mut f = Fdt::new();
        let root = f.root();
        f.set_prop_str(root, "model", "riscv-virtio,qemu");
        let blob = f.to_dtb(0);
        for cut in 0..blob.len() {
            let _ = Fdt::from_dtb(&blob[..cut]);
        }
        let mut bad = blob.clone();
        bad[0] = 0;
        assert!(Fdt::from_dtb(&bad).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let mut blob = FDT_MAGIC.to_be_bytes().to_vec();
            blob.extend_from_slice(&bytes);
            let _ = Fdt::from_dtb(&blob);
        }
    }

    /// The oracle blob (QEMU 7.2's tree, packed by dtc) parses, and
    /// serialising it again gives a tree that `dtc` would print identically.
    #[test]
    fn parses_qemu_oracle_dtb() {
        let dir = crate::test_util::shared_dir();
        let blob =
            std::fs::read(dir.join("spec/oracles/riscv-virt-512m-kernel-initrd.dtb")).unwrap();
        let f = Fdt::from_dtb(&blob).unwrap();
        let cpu = f.lookup("/cpus/cpu@0").unwrap();
        assert_eq!(
            f.prop(cpu, "riscv,isa").unwrap(),
            b"rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc\0"
        );
        let chosen = f.lookup("/chosen").unwrap();
        assert_eq!(
            f.prop(chosen, "linux,initrd-start").unwrap(),
            &0x8820_0000u32.to_be_bytes()
        );
        let again = Fdt::from_dtb(&f.to_dtb(0)).unwrap();
        assert_eq!(again.to_dts(), f.to_dts());
    }

    /// Our serialiser, checked by the reference decompiler: the oracle tree
    /// parsed and written again decompiles (with `dtc`) to exactly the text
    /// QEMU's own blob decompiles to.
    #[test]
    fn dtc_reads_our_blob_like_qemus() {
        let dir = crate::test_util::shared_dir();
        let oracle = dir.join("spec/oracles/riscv-virt-512m-kernel-initrd.dts");
        let blob =
            std::fs::read(dir.join("spec/oracles/riscv-virt-512m-kernel-initrd.dtb")).unwrap();
        let ours = Fdt::from_dtb(&blob).unwrap().to_dtb(FDT_TEST_PAD);
        let tmp = std::env::temp_dir().join(format!("ferrite-fdt-{}.dtb", std::process::id()));
        std::fs::write(&tmp, &ours).unwrap();
        let out = std::process::Command::new("dtc")
            .args(["-q", "-I", "dtb", "-O", "dts"])
            .arg(&tmp)
            .output()
            .expect("dtc (Debian package device-tree-compiler) must be installed");
        let _ = std::fs::remove_file(&tmp);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expect = std::fs::read_to_string(oracle).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expect);
    }

    const FDT_TEST_PAD: usize = 1 << 16;
}
