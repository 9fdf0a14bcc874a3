//! Property test: FlatView lookups agree, for every address, with a direct
//! implementation of the recursive visibility rule of QEMU's
//! `docs/devel/memory.rst` ("Visibility"), on random trees of containers,
//! MMIO regions with and without children, aliases (also of aliases),
//! priorities, disabled and read-only regions.

use std::sync::Arc;

use ferrite_memory::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    kind: u8, // 0 container, 1 terminating MMIO, 2 alias
    size: u64,
    target: usize,
    alias_off: u64,
    parent: usize,
    addr: u64,
    prio: i32,
    enabled: bool,
    readonly: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..3,
        1u64..=64,
        any::<usize>(),
        0u64..48,
        any::<usize>(),
        0u64..64,
        -2i32..=2,
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(kind, size, target, alias_off, parent, addr, prio, enabled, readonly)| Spec {
                kind,
                size: size * 0x10,
                target,
                alias_off: alias_off * 0x10,
                parent,
                addr: addr * 0x10,
                prio,
                enabled,
                readonly,
            },
        )
}

/// The reference model: plain data, QEMU's list order.
struct Node {
    terminating: bool,
    size: u64,
    addr: u64,
    enabled: bool,
    readonly: bool,
    alias: Option<(usize, u64)>,
    children: Vec<(usize, i32)>,
}

/// `memory.rst` Visibility, written directly: returns (leaf, offset, readonly).
fn visible(m: &[Node], i: usize, a: u64, ro: bool) -> Option<(usize, u64, bool)> {
    let n = &m[i];
    if !n.enabled || a >= n.size {
        return None;
    }
    let ro = ro || n.readonly;
    if let Some((t, off)) = n.alias {
        return visible(m, t, a + off, ro);
    }
    for &(c, _) in &n.children {
        let cn = &m[c];
        if cn.enabled
            && a >= cn.addr
            && a < cn.addr + cn.size
            && let Some(hit) = visible(m, c, a - cn.addr, ro)
        {
            return Some(hit);
        }
    }
    if n.terminating {
        Some((i, a, ro))
    } else {
        None
    }
}

fn reaches(m: &[Node], from: usize, to: usize) -> bool {
    if from == to {
        return true;
    }
    let n = &m[from];
    n.alias.is_some_and(|(t, _)| reaches(m, t, to))
        || n.children.iter().any(|&(c, _)| reaches(m, c, to))
}

fn check(specs: Vec<Spec>) -> Result<(), TestCaseError> {
    let mut model: Vec<Node> = Vec::new();
    let mut mrs: Vec<MemoryRegion> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let name = format!("n{i}");
        let (kind, size) = if i == 0 {
            (s.kind.min(1), 0x1000)
        } else {
            (s.kind, s.size)
        };
        let alias = (kind == 2).then(|| (s.target % i, s.alias_off));
        let mr = match (kind, alias) {
            (2, Some((t, off))) => MemoryRegion::new_alias(&name, &mrs[t], off, size),
            (1, _) => MemoryRegion::new_io(&name, size, Arc::new(UnassignedIoOps), OpsDesc::new()),
            _ => MemoryRegion::new_container(&name, size),
        };
        model.push(Node {
            terminating: kind == 1,
            size,
            addr: 0,
            enabled: true,
            readonly: false,
            alias,
            children: Vec::new(),
        });
        mrs.push(mr);
        if i == 0 {
            continue;
        }
        let p = s.parent % (i + 1);
        if p == i || model[p].alias.is_some() || reaches(&model, i, p) {
            continue; // stays detached
        }
        mrs[p].add_subregion_overlap(s.addr, &mrs[i], s.prio);
        model[i].addr = s.addr;
        let list = &mut model[p].children;
        let pos = list
            .iter()
            .position(|&(_, q)| s.prio >= q)
            .unwrap_or(list.len());
        list.insert(pos, (i, s.prio));
    }
    for (i, s) in specs.iter().enumerate() {
        if !s.enabled && i != 0 {
            mrs[i].set_enabled(false);
            model[i].enabled = false;
        }
        if s.readonly {
            mrs[i].set_readonly(true);
            model[i].readonly = true;
        }
    }
    let fv = FlatView::render(&mrs[0]);
    // Ranges are sorted, disjoint and merged where QEMU would merge.
    for w in fv.ranges().windows(2) {
        prop_assert!(w[0].end() <= u128::from(w[1].start()));
    }
    for a in (0..0x1000u64).step_by(8) {
        let want = visible(&model, 0, a, false);
        let got = fv.lookup(a).map(|fr| {
            let leaf: usize = fr.mr().name()[1..].parse().unwrap();
            (leaf, a - fr.start() + fr.offset_in_region(), fr.readonly())
        });
        prop_assert_eq!(got, want, "address {:#x}", a);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn flatview_matches_visibility_model(specs in prop::collection::vec(spec(), 1..14)) {
        check(specs)?;
    }
}
