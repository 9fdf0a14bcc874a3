//! `info mtree` in QEMU 7.2's text format (`system/memory.c: mtree_info`,
//! `mtree_print_mr`, `mtree_print_flatview`; with `-f -d`,
//! `system/physmem.c: mtree_print_dispatch` of each view's phys map).
//!
//! QEMU orders address-space groups and FlatViews by pointer hash, i.e.
//! unpredictably; Ferrite prints them in AS creation order (first AS of
//! each group). Everything else — indentation, sorting of children, the
//! alias-target blocks, sharing of FlatViews — follows QEMU.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::address_space::AddressSpace;
use crate::flatview::FlatView;
use crate::region::MemoryRegion;
use crate::transaction::live_address_spaces;

/// Options of `info mtree`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MtreeOptions {
    /// `-f`: print FlatViews instead of the region trees.
    pub flatview: bool,
    /// `-o`: print region owners.
    pub owner: bool,
    /// `-D`: also print disabled regions.
    pub disabled: bool,
    /// `-d` (with `-f` only): after each view's ranges, dump its dispatch
    /// table (the phys map, see [`FlatView::dispatch_dump`]).
    pub dispatch: bool,
}

fn mr_size(size: u128) -> u64 {
    if size == 0 { 0 } else { (size - 1) as u64 }
}

/// `memory_region_type` (7.2: no "container" type).
pub fn memory_region_type(mr: &MemoryRegion) -> &'static str {
    let mut m = mr.clone();
    while let Some(a) = m.alias() {
        m = a;
    }
    if m.is_ram_device() {
        "ramd"
    } else if m.is_romd() {
        "romd"
    } else if m.is_ram() && m.is_readonly() {
        "rom"
    } else if m.is_ram() {
        "ram"
    } else {
        "i/o"
    }
}

fn owner_suffix(mr: &MemoryRegion, opts: MtreeOptions) -> String {
    if !opts.owner {
        return String::new();
    }
    match mr.owner() {
        // A full QOM-style descriptor ("dev path=/machine/fw_cfg",
        // "obj path=/objects/ram", "dev id=foo") is printed as given.
        Some(o) if o.contains('=') => format!(" owner:{{{o}}}"),
        Some(o) => format!(" owner:{{dev path={o}}}"),
        // QEMU parents owner-less regions to /machine/unattached.
        None => " parent:{obj path=/machine/unattached}".to_owned(),
    }
}

fn print_mr(
    out: &mut String,
    mr: &MemoryRegion,
    level: usize,
    base: u64,
    queue: &mut Vec<MemoryRegion>,
    opts: MtreeOptions,
) {
    let (addr, size, prio, enabled, nv) = {
        let st = mr.lock();
        (st.addr, st.size, st.priority, st.enabled, st.nonvolatile)
    };
    let start = base.wrapping_add(addr);
    let end = start.wrapping_add(mr_size(size));
    let overflow = if start < base || end < start {
        "[DETECTED OVERFLOW!] "
    } else {
        ""
    };
    let indent = "  ".repeat(level);
    let nvs = if nv { "nv-" } else { "" };
    let dis = if enabled { "" } else { " [disabled]" };
    if let Some(target) = mr.alias() {
        if !queue.contains(&target) {
            queue.push(target.clone());
        }
        if enabled || opts.disabled {
            let off = mr.alias_offset();
            let _ = writeln!(
                out,
                "{overflow}{indent}{start:016x}-{end:016x} (prio {prio}, {nvs}{}): alias {} @{} {off:016x}-{:016x}{dis}{}",
                memory_region_type(mr),
                mr.name(),
                target.name(),
                off.wrapping_add(mr_size(size)),
                owner_suffix(mr, opts),
            );
        }
        return;
    }
    if enabled || opts.disabled {
        let _ = writeln!(
            out,
            "{overflow}{indent}{start:016x}-{end:016x} (prio {prio}, {nvs}{}): {}{dis}{}",
            memory_region_type(mr),
            mr.name(),
            owner_suffix(mr, opts),
        );
    }
    // Children sorted by address, then priority descending, then list order.
    let mut subs: Vec<(u64, i32, usize, MemoryRegion)> = mr
        .subregions()
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s.addr(), s.priority(), i, s))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    for (_, _, _, s) in subs {
        print_mr(out, &s, level + 1, start, queue, opts);
    }
}

fn print_flatview(out: &mut String, fv: &FlatView, spaces: &[AddressSpace], opts: MtreeOptions) {
    for a in spaces {
        let root = a.root();
        let _ = write!(
            out,
            " AS \"{}\", root: {}",
            a.name(),
            root.as_ref().map_or("(none)", |r| r.name())
        );
        if let Some(t) = root.and_then(|r| r.alias()) {
            let _ = write!(out, ", alias {}", t.name());
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        " Root memory region: {}",
        fv.root().map_or("(none)", |r| r.name())
    );
    if fv.ranges().is_empty() {
        out.push_str("  No rendered FlatView\n\n");
        return;
    }
    out.push_str(&flatview_lines(fv, opts));
    if opts.dispatch {
        out.push_str(&fv.dispatch_dump());
    }
    out.push('\n');
}

/// The range lines of one FlatView as `info mtree -f` prints them.
pub fn flatview_lines(fv: &FlatView, opts: MtreeOptions) -> String {
    let mut out = String::new();
    for fr in fv.ranges() {
        let end = fr.start().wrapping_add(mr_size(fr.size()));
        let ty = if fr.readonly() {
            "rom"
        } else {
            memory_region_type(fr.mr())
        };
        let nv = if fr.nonvolatile() { "nv-" } else { "" };
        let _ = write!(
            out,
            "  {:016x}-{:016x} (prio {}, {nv}{ty}): {}",
            fr.start(),
            end,
            fr.mr().priority(),
            fr.mr().name()
        );
        if fr.offset_in_region() != 0 {
            let _ = write!(out, " @{:016x}", fr.offset_in_region());
        }
        out.push_str(&owner_suffix(fr.mr(), opts));
        out.push('\n');
    }
    out
}

/// `info mtree [-f [-d]] [-o] [-D]` over every live address space.
pub fn mtree_info(opts: MtreeOptions) -> String {
    let spaces: Vec<AddressSpace> = live_address_spaces()
        .into_iter()
        .map(AddressSpace)
        .collect();
    mtree_info_for(&spaces, opts)
}

/// `info mtree` restricted to the given address spaces (in this order).
pub fn mtree_info_for(spaces: &[AddressSpace], opts: MtreeOptions) -> String {
    let mut out = String::new();
    if opts.flatview {
        let mut groups: Vec<(Arc<FlatView>, Vec<AddressSpace>)> = Vec::new();
        for a in spaces {
            let fv = a.flatview();
            match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, &fv)) {
                Some((_, v)) => v.push(a.clone()),
                None => groups.push((fv, vec![a.clone()])),
            }
        }
        for (n, (fv, list)) in groups.iter().enumerate() {
            let _ = writeln!(out, "FlatView #{n}");
            print_flatview(&mut out, fv, list, opts);
        }
        return out;
    }
    let mut groups: Vec<(MemoryRegion, Vec<String>)> = Vec::new();
    for a in spaces {
        let Some(root) = a.root() else { continue };
        match groups.iter_mut().find(|(r, _)| *r == root) {
            Some((_, v)) => v.push(a.name().to_owned()),
            None => groups.push((root, vec![a.name().to_owned()])),
        }
    }
    let mut queue = Vec::new();
    for (root, mut names) in groups {
        names.sort();
        for n in names {
            let _ = writeln!(out, "address-space: {n}");
        }
        print_mr(&mut out, &root, 1, 0, &mut queue, opts);
        out.push('\n');
    }
    let mut i = 0;
    while i < queue.len() {
        let mr = queue[i].clone();
        let _ = writeln!(out, "memory-region: {}", mr.name());
        print_mr(&mut out, &mr, 1, 0, &mut queue, opts);
        out.push('\n');
        i += 1;
    }
    out
}
