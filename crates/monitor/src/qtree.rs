//! The device tree `info qtree` prints (QEMU: `softmmu/qdev-monitor.c`
//! `qbus_print()`/`qdev_print()`, `hw/core/sysbus.c` `sysbus_dev_print()`).
//!
//! Ferrite has no QOM, so a board describes its devices with these plain
//! structs: buses holding devices, each device with its GPIO lists, its
//! qdev properties (in QEMU's order, values already typed), the lines its
//! bus adds (`mmio ADDR/SIZE` on the system bus) and its child buses.
//! [`QtreeBus::print`] lays them out exactly as QEMU 7.2 does.

use std::fmt::Write;

/// A qdev property value, printed as QEMU's property getters print them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QtreeProp {
    /// An unsigned integer: `N (0xN)`.
    Uint(u64),
    /// `true` / `false`.
    Bool(bool),
    /// A string: `"text"`.
    Str(String),
    /// Already formatted (e.g. a PCI address `00.0`).
    Raw(String),
}

impl QtreeProp {
    fn format(&self) -> String {
        match self {
            QtreeProp::Uint(v) => format!("{v} (0x{v:x})"),
            QtreeProp::Bool(b) => b.to_string(),
            QtreeProp::Str(s) => format!("\"{s}\""),
            QtreeProp::Raw(s) => s.clone(),
        }
    }
}

/// One named GPIO list of a device (`NamedGPIOList`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QtreeGpio {
    /// The list's name (`""` for the unnamed one, `sysbus-irq` for a
    /// sysbus device's IRQs).
    pub name: String,
    /// Input lines.
    pub num_in: u32,
    /// Output lines.
    pub num_out: u32,
}

/// One device (`DeviceState`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QtreeDevice {
    /// The QOM type name (`riscv.sifive.plic`).
    pub type_name: String,
    /// The `id` given with `-device ...,id=`, empty for board devices.
    pub id: String,
    /// GPIO lists in QEMU's order.
    pub gpios: Vec<QtreeGpio>,
    /// Properties in the order QEMU prints them (the class's own first,
    /// then its parents').
    pub props: Vec<(String, QtreeProp)>,
    /// Lines the parent bus adds (`bus_print_dev`), e.g. `mmio
    /// 0000000010000000/0000000000000100`.
    pub bus_lines: Vec<String>,
    /// Buses this device provides.
    pub child_buses: Vec<QtreeBus>,
}

/// One bus (`BusState`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QtreeBus {
    /// The bus name (`main-system-bus`, `virtio-mmio-bus.0`).
    pub name: String,
    /// The QOM type name (`System`, `virtio-mmio-bus`).
    pub type_name: String,
    /// Devices, newest first: QEMU inserts a bus's children at the head
    /// of its list.
    pub children: Vec<QtreeDevice>,
}

impl QtreeDevice {
    /// A device of `type_name` without an id.
    pub fn new(type_name: &str) -> Self {
        QtreeDevice {
            type_name: type_name.to_owned(),
            ..Default::default()
        }
    }

    /// Adds a GPIO list.
    pub fn gpio(mut self, name: &str, num_in: u32, num_out: u32) -> Self {
        self.gpios.push(QtreeGpio {
            name: name.to_owned(),
            num_in,
            num_out,
        });
        self
    }

    /// Adds a property.
    pub fn prop(mut self, name: &str, value: QtreeProp) -> Self {
        self.props.push((name.to_owned(), value));
        self
    }

    /// Adds a sysbus MMIO region line: `addr` is where the board mapped
    /// it with `sysbus_mmio_map()`, `None` for a region mapped another
    /// way (QEMU then prints all ones).
    pub fn mmio(mut self, addr: Option<u64>, size: u64) -> Self {
        self.bus_lines.push(format!(
            "mmio {:016x}/{size:016x}",
            addr.unwrap_or(u64::MAX)
        ));
        self
    }

    /// Adds a child bus.
    pub fn bus(mut self, bus: QtreeBus) -> Self {
        self.child_buses.push(bus);
        self
    }

    fn print(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        let _ = writeln!(out, "{pad}dev: {}, id \"{}\"", self.type_name, self.id);
        let pad = " ".repeat(indent + 2);
        for g in &self.gpios {
            if g.num_in > 0 {
                let _ = writeln!(out, "{pad}gpio-in \"{}\" {}", g.name, g.num_in);
            }
            if g.num_out > 0 {
                let _ = writeln!(out, "{pad}gpio-out \"{}\" {}", g.name, g.num_out);
            }
        }
        for (name, v) in &self.props {
            let _ = writeln!(out, "{pad}{name} = {}", v.format());
        }
        for l in &self.bus_lines {
            let _ = writeln!(out, "{pad}{l}");
        }
        for b in &self.child_buses {
            b.print_at(out, indent + 2);
        }
    }
}

impl QtreeBus {
    /// A bus without devices.
    pub fn new(name: &str, type_name: &str) -> Self {
        QtreeBus {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            children: Vec::new(),
        }
    }

    /// QEMU's `sysbus_get_default()`: `main-system-bus` of type `System`.
    pub fn main_system_bus() -> Self {
        Self::new("main-system-bus", "System")
    }

    /// Plugs a device in: it becomes the first child, as in QEMU
    /// (`bus_add_child()` inserts at the head).
    pub fn plug(&mut self, dev: QtreeDevice) {
        self.children.insert(0, dev);
    }

    /// The `info qtree` text for this bus and everything below it.
    pub fn print(&self) -> String {
        let mut out = String::new();
        self.print_at(&mut out, 0);
        out
    }

    fn print_at(&self, out: &mut String, indent: usize) {
        let _ = writeln!(out, "{}bus: {}", " ".repeat(indent), self.name);
        let pad = " ".repeat(indent + 2);
        let _ = writeln!(out, "{pad}type {}", self.type_name);
        for d in &self.children {
            d.print(out, indent + 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Part of QEMU 7.2's `info qtree` for `-M virt` (the RTC and the last
    /// virtio-mmio transport), built in creation order.
    #[test]
    fn layout_matches_qemu() {
        let mut root = QtreeBus::main_system_bus();
        root.plug(
            QtreeDevice::new("virtio-mmio")
                .gpio("sysbus-irq", 0, 1)
                .prop("format_transport_address", QtreeProp::Bool(true))
                .prop("force-legacy", QtreeProp::Bool(true))
                .prop("ioeventfd", QtreeProp::Bool(false))
                .mmio(Some(0x1000_8000), 0x200)
                .bus(QtreeBus::new("virtio-mmio-bus.7", "virtio-mmio-bus")),
        );
        root.plug(
            QtreeDevice::new("goldfish_rtc")
                .gpio("sysbus-irq", 0, 1)
                .prop("big-endian", QtreeProp::Bool(false))
                .mmio(Some(0x10_1000), 0x24),
        );
        root.plug(
            QtreeDevice::new("serial-mm")
                .gpio("sysbus-irq", 0, 1)
                .prop("regshift", QtreeProp::Uint(0))
                .prop("endianness", QtreeProp::Uint(2))
                .mmio(None, 8),
        );
        root.plug(
            QtreeDevice::new("riscv.sifive.plic")
                .gpio("", 96, 2)
                .prop("hart-config", QtreeProp::Str("MS".into())),
        );
        let want = r#"bus: main-system-bus
  type System
  dev: riscv.sifive.plic, id ""
    gpio-in "" 96
    gpio-out "" 2
    hart-config = "MS"
  dev: serial-mm, id ""
    gpio-out "sysbus-irq" 1
    regshift = 0 (0x0)
    endianness = 2 (0x2)
    mmio ffffffffffffffff/0000000000000008
  dev: goldfish_rtc, id ""
    gpio-out "sysbus-irq" 1
    big-endian = false
    mmio 0000000000101000/0000000000000024
  dev: virtio-mmio, id ""
    gpio-out "sysbus-irq" 1
    format_transport_address = true
    force-legacy = true
    ioeventfd = false
    mmio 0000000010008000/0000000000000200
    bus: virtio-mmio-bus.7
      type virtio-mmio-bus
"#;
        assert_eq!(root.print(), want);
    }
}
