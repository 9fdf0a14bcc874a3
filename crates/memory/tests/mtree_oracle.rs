//! `info mtree` against QEMU 7.2's output for the riscv `virt` and x86
//! `pc` machines (`spec/oracles/mtree-*.txt`).
//!
//! The region trees are rebuilt from the `-D` oracle (which shows every
//! region, including disabled ones) plus the one fact the text does not
//! carry: which `i/o` regions are pure containers rather than MMIO. Then
//! Ferrite renders and prints them, and every block of the tree view
//! (with and without `-D`) and of the flat view (`-f`) must match QEMU's
//! exactly. Flat views are computed by Ferrite's renderer from the tree,
//! so this checks flattening, sharing, type names and formatting; the
//! `-f -d` dispatch dumps check the phys map built from each view.

use std::collections::HashMap;
use std::sync::Arc;

use ferrite_memory::mtree::{MtreeOptions, mtree_info_for};
use ferrite_memory::*;

/// Copies of `spec/oracles/` (QEMU 7.2.22 output, captured as described
/// in spec/memory-api.md section c.4).
const ORACLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracles");

fn oracle(name: &str) -> Option<String> {
    std::fs::read_to_string(std::path::Path::new(ORACLES).join(name)).ok()
}

/// `i/o` regions of the two machines that are containers
/// (`memory_region_init`) rather than MMIO (`memory_region_init_io`).
const CONTAINERS: &[&str] = &[
    "system",
    "platform bus",
    "bus master container",
    "gpex_ioport",
    "gpex_mmio",
    "pci",
    "memory",
    "smram",
    "piix4-pm",
];

#[derive(Debug, Clone)]
struct Node {
    level: usize,
    start: u64,
    end: u64,
    prio: i32,
    ty: String,
    name: String,
    alias: Option<(String, u64)>,
    disabled: bool,
    children: Vec<usize>,
}

fn parse_line(l: &str) -> Node {
    let level = (l.len() - l.trim_start().len()) / 2;
    let l = l.trim_start();
    let (range, rest) = l.split_once(' ').unwrap();
    let (s, e) = range.split_once('-').unwrap();
    let rest = rest.strip_prefix("(prio ").unwrap();
    let (prio, rest) = rest.split_once(", ").unwrap();
    let (ty, rest) = rest.split_once("): ").unwrap();
    let (rest, disabled) = match rest.strip_suffix(" [disabled]") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (name, alias) = if let Some(a) = rest.strip_prefix("alias ") {
        let (name, tail) = a.rsplit_once(" @").unwrap();
        let (target, offs) = tail.rsplit_once(' ').unwrap();
        let off = u64::from_str_radix(offs.split_once('-').unwrap().0, 16).unwrap();
        (name.to_owned(), Some((target.to_owned(), off)))
    } else {
        (rest.to_owned(), None)
    };
    Node {
        level,
        start: u64::from_str_radix(s, 16).unwrap(),
        end: u64::from_str_radix(e, 16).unwrap(),
        prio: prio.parse().unwrap(),
        ty: ty.to_owned(),
        name,
        alias,
        disabled,
        children: Vec::new(),
    }
}

fn size_of(n: &Node) -> u64 {
    if n.start == 0 && n.end == u64::MAX {
        u64::MAX
    } else {
        n.end - n.start + 1
    }
}

struct Machine {
    spaces: Vec<AddressSpace>,
    _keep: Vec<MemoryRegion>,
    _owners: Vec<RegionOwner>,
}

/// Owner descriptors of the `-o` oracle, paired with the `-D` oracle's
/// lines: per block, the `-o` lines are the `-D` lines minus disabled
/// regions, in the same order. Maps (block index, line index) of the `-D`
/// oracle to the owner descriptor, for regions that have an owner.
fn owners_by_line(disabled_tree: &str, owner_tree: &str) -> HashMap<(usize, usize), String> {
    let blocks_d: Vec<&str> = disabled_tree
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let blocks_o: Vec<&str> = owner_tree
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(blocks_d.len(), blocks_o.len());
    let header = |b: &str| {
        b.lines()
            .take_while(|l| !l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = HashMap::new();
    for (bi, bd) in blocks_d.iter().enumerate() {
        let bo = blocks_o
            .iter()
            .find(|bo| header(bo) == header(bd))
            .expect("same block headers");
        let mut lo = bo.lines().filter(|l| l.starts_with(' '));
        for (li, l) in bd.lines().filter(|l| l.starts_with(' ')).enumerate() {
            if l.ends_with(" [disabled]") {
                continue;
            }
            let o = lo.next().expect("owner line");
            assert!(o.starts_with(l), "line mismatch: {o} vs {l}");
            if let Some(d) = o[l.len()..]
                .strip_prefix(" owner:{")
                .and_then(|x| x.strip_suffix('}'))
            {
                out.insert((bi, li), d.to_owned());
            }
        }
    }
    out
}

/// Builds the machine described by a `-D` tree oracle; ASes are created
/// in the order they appear in the flat oracle.
fn build(disabled_tree: &str, flat: &str, owner_tree: Option<&str>) -> Machine {
    let owner_of = owner_tree
        .map(|o| owners_by_line(disabled_tree, o))
        .unwrap_or_default();
    let mut node_pos: Vec<(usize, usize)> = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut as_roots: Vec<(Vec<String>, usize)> = Vec::new();
    let mut mr_blocks: Vec<usize> = Vec::new();
    for (bi, blk) in disabled_tree
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .enumerate()
    {
        let mut li = 0usize;
        let mut names = Vec::new();
        let mut is_mr_block = false;
        let mut stack: Vec<usize> = Vec::new();
        let mut root = None;
        for l in blk.lines() {
            if let Some(n) = l.strip_prefix("address-space: ") {
                names.push(n.to_owned());
                continue;
            }
            if l.starts_with("memory-region: ") {
                is_mr_block = true;
                continue;
            }
            let n = parse_line(l);
            let lvl = n.level;
            let idx = nodes.len();
            nodes.push(n);
            node_pos.push((bi, li));
            li += 1;
            while stack.last().is_some_and(|&p| nodes[p].level >= lvl) {
                stack.pop();
            }
            match stack.last() {
                Some(&p) => nodes[p].children.push(idx),
                None => root = Some(idx),
            }
            stack.push(idx);
        }
        let root = root.unwrap();
        if is_mr_block {
            mr_blocks.push(root);
        } else {
            as_roots.push((names, root));
        }
    }
    // Which nodes to instantiate: AS trees, plus memory-region blocks whose
    // root is not already a region of an AS tree (same name).
    let mut built: Vec<usize> = Vec::new();
    fn collect(nodes: &[Node], i: usize, out: &mut Vec<usize>) {
        out.push(i);
        for &c in &nodes[i].children {
            collect(nodes, c, out);
        }
    }
    for (_, r) in &as_roots {
        collect(&nodes, *r, &mut built);
    }
    let mut extra_roots = Vec::new();
    for &r in &mr_blocks {
        if !built
            .iter()
            .any(|&b| nodes[b].name == nodes[r].name && nodes[b].alias.is_none())
        {
            collect(&nodes, r, &mut built);
            extra_roots.push(r);
        }
    }
    // Phase 1: non-alias regions.
    let mut mrs: HashMap<usize, MemoryRegion> = HashMap::new();
    let mut by_name: HashMap<String, MemoryRegion> = HashMap::new();
    for &i in &built {
        let n = &nodes[i];
        if n.alias.is_some() {
            continue;
        }
        let size = size_of(n);
        let mr = match n.ty.as_str() {
            "ram" => MemoryRegion::new_ram(&n.name, size).unwrap(),
            "rom" => MemoryRegion::new_rom(&n.name, size).unwrap(),
            "romd" => MemoryRegion::new_rom_device(
                &n.name,
                size,
                Arc::new(UnassignedIoOps),
                OpsDesc::new(),
            )
            .unwrap(),
            "i/o" if CONTAINERS.contains(&n.name.as_str()) => {
                MemoryRegion::new_container(&n.name, size)
            }
            "i/o" => {
                MemoryRegion::new_io(&n.name, size, Arc::new(UnassignedIoOps), UNASSIGNED_IO_DESC)
            }
            t => panic!("unknown type {t}"),
        };
        by_name.entry(n.name.clone()).or_insert_with(|| mr.clone());
        mrs.insert(i, mr);
    }
    // Phase 2: aliases.
    for &i in &built {
        let n = &nodes[i];
        if let Some((target, off)) = &n.alias {
            let t = by_name
                .get(target)
                .unwrap_or_else(|| panic!("alias target {target}"));
            mrs.insert(i, MemoryRegion::new_alias(&n.name, t, *off, size_of(n)));
        }
    }
    // Phase 3: topology. Children are added in reverse print order so that
    // equal-priority siblings end up in the printed (list) order.
    for &i in &built {
        let n = &nodes[i];
        for &c in n.children.iter().rev() {
            let cn = &nodes[c];
            mrs[&i].add_subregion_overlap(cn.start - n.start, &mrs[&c], cn.prio);
        }
    }
    for &i in &built {
        if nodes[i].disabled {
            mrs[&i].set_enabled(false);
        }
    }
    // Owners (for -o), one RegionOwner per descriptor. A region printed in
    // several blocks (e.g. `system`) is built once; any of its lines may
    // carry the owner, so match skipped memory-region blocks by name.
    let mut owners: HashMap<String, RegionOwner> = HashMap::new();
    for (&pos, d) in &owner_of {
        let i = node_pos.iter().position(|p| *p == pos).unwrap();
        let mr = match mrs.get(&i) {
            Some(m) => m.clone(),
            // Lines of a memory-region block that was not built: only its
            // root needs an owner (its children are the AS tree's nodes).
            None if nodes[i].level == 1 => {
                match mrs
                    .values()
                    .find(|m| m.name() == nodes[i].name && m.alias().is_none())
                {
                    Some(m) => m.clone(),
                    None => continue,
                }
            }
            None => continue,
        };
        if mr.owner().is_none() {
            let o = owners
                .entry(d.clone())
                .or_insert_with(|| RegionOwner::new(d));
            let _ = mr.with_owner(o);
        }
    }
    // Address spaces, in the flat oracle's order.
    let mut order: Vec<String> = Vec::new();
    for l in flat.lines() {
        if let Some(r) = l.strip_prefix(" AS \"") {
            order.push(r.split_once('"').unwrap().0.to_owned());
        }
    }
    let mut spaces = Vec::new();
    for name in order {
        let (_, r) = as_roots
            .iter()
            .find(|(names, _)| names.contains(&name))
            .unwrap();
        spaces.push(AddressSpace::new(&mrs[r], &name));
    }
    Machine {
        spaces,
        _keep: mrs.into_values().collect(),
        _owners: owners.into_values().collect(),
    }
}

/// Splits into blank-line separated blocks, sorted, for order-free compare.
fn blocks(s: &str, drop_flatview_numbers: bool) -> Vec<String> {
    let mut v: Vec<String> = s
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            b.lines()
                .filter(|l| !(drop_flatview_numbers && l.starts_with("FlatView #")))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    v.sort();
    v
}

fn check(machine: &str) {
    let (Some(tree), Some(dis), Some(flat)) = (
        oracle(&format!("mtree-{machine}.txt")),
        oracle(&format!("mtree-disabled-{machine}.txt")),
        oracle(&format!("mtree-flat-{machine}.txt")),
    ) else {
        panic!("oracle files for {machine} not found under {ORACLES}");
    };
    let owner = oracle(&format!("mtree-owner-{machine}.txt")).expect("owner oracle");
    let _bql = ferrite_aio::bql::bql_lock();
    let m = build(&dis, &flat, Some(&owner));
    let got_dis = mtree_info_for(
        &m.spaces,
        MtreeOptions {
            disabled: true,
            ..Default::default()
        },
    );
    assert_eq!(
        blocks(&got_dis, false),
        blocks(&dis, false),
        "info mtree -D ({machine})\n{got_dis}"
    );
    let got_tree = mtree_info_for(&m.spaces, MtreeOptions::default());
    assert_eq!(
        blocks(&got_tree, false),
        blocks(&tree, false),
        "info mtree ({machine})\n{got_tree}"
    );
    let got_owner = mtree_info_for(
        &m.spaces,
        MtreeOptions {
            owner: true,
            ..Default::default()
        },
    );
    assert_eq!(
        blocks(&got_owner, false),
        blocks(&owner, false),
        "info mtree -o ({machine})\n{got_owner}"
    );
    let got_flat = mtree_info_for(
        &m.spaces,
        MtreeOptions {
            flatview: true,
            ..Default::default()
        },
    );
    assert_eq!(
        blocks(&got_flat, true),
        blocks(&flat, true),
        "info mtree -f ({machine})\n{got_flat}"
    );
    // `-f -d`: the dispatch tables. QEMU marks the section its shared MRU
    // cache last hit with ` [MRU]` (run-time state: the last lookup before
    // the capture); Ferrite has no shared MRU, so the marker is removed
    // from the oracle and nothing else is changed.
    let dispatch = oracle(&format!("mtree-flat-dispatch-{machine}.txt"))
        .expect("dispatch oracle")
        .replace(" [MRU]", "");
    let got_dispatch = mtree_info_for(
        &m.spaces,
        MtreeOptions {
            flatview: true,
            dispatch: true,
            ..Default::default()
        },
    );
    let (got, want) = (blocks(&got_dispatch, true), blocks(&dispatch, true));
    assert_eq!(
        got.len(),
        want.len(),
        "info mtree -f -d ({machine})\n{got_dispatch}"
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "info mtree -f -d ({machine}): block differs");
    }
}

#[test]
fn riscv_virt_matches_qemu_72() {
    check("riscv-virt");
}

#[test]
fn x86_pc_matches_qemu_72() {
    check("x86-pc");
}
