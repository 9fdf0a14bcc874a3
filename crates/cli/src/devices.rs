//! `-object iothread`, `-drive` and `-device` for the `virt` board (QEMU:
//! `qom/object_interfaces.c`, `blockdev.c:drive_new`, `system/qdev-monitor.c`).
//!
//! QEMU creates the `-object`s, then the drives, then the devices, each in
//! command-line order, and stops at the first error with its own wording;
//! [`plan`] makes the same checks in the same order and opens every image,
//! so that a bad command line fails with exit status 1 before anything
//! starts. [`DevicePlan::realize`] then starts the IOThreads and gives the
//! board its [`VirtioPlug`]s.
//!
//! Supported: `-object iothread,id=,poll-max-ns=,poll-grow=,poll-shrink=,
//! thread-pool-min=,thread-pool-max=`; `-drive file=,format=raw,
//! if=none|virtio,id=,readonly=on|off[,aio=threads][,media=disk]` (the
//! default interface of `virt` is `none`, as on QEMU 7.2); `-device
//! virtio-blk-device,drive=ID[,serial=S][,iothread=IO][,id=]` and `-device
//! virtio-rng-device[,id=]`. `if=virtio` makes a `virtio-blk-device` after
//! the `-device`s (QEMU makes a `virtio-blk-pci`; ferrite has no PCI, see
//! `docs/divergences.md`).

use std::sync::Arc;

use ferrite_aio::{IoThread, IoThreadParams};
use ferrite_hw::virtio::blk::{BlockBackend, RawFile};
use ferrite_machine::virt::{VirtioKind, VirtioPlug};
use ferrite_monitor::qtree::{QtreeDevice, QtreeProp};

use crate::CliError;
use crate::config::{DeviceConfig, VmConfig};
use crate::opts::parse_bool;

/// The devices `-device help` lists: (name, category, description).
pub const DEVICES: &[(&str, &str)] = &[
    ("virtio-blk-device", "Storage devices"),
    ("virtio-rng-device", "Misc devices"),
];

/// The virtio-mmio slots of `virt`.
const SLOTS: usize = 8;

/// `-drive` options QEMU has that ferrite does not implement.
const QEMU_DRIVE_OPTIONS: &[&str] = &[
    "bus",
    "unit",
    "index",
    "cyls",
    "heads",
    "secs",
    "trans",
    "snapshot",
    "cache",
    "discard",
    "detect-zeroes",
    "werror",
    "rerror",
    "copy-on-read",
    "throttling.iops-total",
    "throttling.bps-total",
    "file.locking",
    "auto-read-only",
    "force-share",
    "node-name",
    "addr",
    "serial",
];

/// QEMU's formats other than `raw` (refused with a ferrite message rather
/// than QEMU's "Unknown driver").
const QEMU_FORMATS: &[&str] = &[
    "qcow2",
    "qcow",
    "qed",
    "vmdk",
    "vdi",
    "vhdx",
    "vpc",
    "luks",
    "dmg",
    "parallels",
    "bochs",
    "cloop",
    "vvfat",
    "file",
    "host_device",
    "host_cdrom",
    "nbd",
    "iscsi",
    "blkdebug",
    "null-co",
    "null-aio",
    "compress",
    "copy-on-read",
    "preallocate",
    "quorum",
    "replication",
    "throttle",
];

/// An opened `-drive`.
#[derive(Clone)]
pub struct Drive {
    /// `id=` (or QEMU's generated `none0`, `virtio0`, ...).
    pub id: String,
    /// `file=`.
    pub file: String,
    /// `readonly=on`.
    pub read_only: bool,
    /// `if=virtio`: the board makes a device for it.
    pub if_virtio: bool,
    /// The open image.
    pub disk: Arc<RawFile>,
    /// The device using it, once attached, as `query-block`'s `qdev`
    /// names it: its `id`, or its QOM path.
    pub attached: Option<String>,
    /// The block node's name (QEMU generates `#blockNNN`).
    pub node_name: String,
}

impl std::fmt::Debug for Drive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drive")
            .field("id", &self.id)
            .field("file", &self.file)
            .field("read_only", &self.read_only)
            .field("if_virtio", &self.if_virtio)
            .field("size", &self.disk.size())
            .field("attached", &self.attached)
            .field("node_name", &self.node_name)
            .finish()
    }
}

/// A checked `-device` for a virtio-mmio slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedDevice {
    /// QEMU's type name.
    pub driver: String,
    /// `id=`.
    pub id: Option<String>,
    /// What it is.
    pub kind: PlannedKind,
}

/// The device-specific part of a [`PlannedDevice`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedKind {
    /// virtio-blk on drive number `drive` of [`DevicePlan::drives`].
    Blk {
        /// Index into [`DevicePlan::drives`].
        drive: usize,
        /// `serial=`.
        serial: String,
        /// `iothread=`.
        iothread: Option<String>,
    },
    /// virtio-rng.
    Rng,
}

/// The checked `-object iothread`s, drives and devices.
#[derive(Debug, Default)]
pub struct DevicePlan {
    /// IOThreads to create: (id, parameters).
    pub iothreads: Vec<(String, IoThreadParams)>,
    /// The drives, in command-line order.
    pub drives: Vec<Drive>,
    /// The devices, in the order they take slots (first = highest slot).
    pub devices: Vec<PlannedDevice>,
}

/// What `-device help`, `-device DRIVER,help`, `-object help` or
/// `-object iothread,help` asks to print, if any of them is given.
pub fn help_request(cfg: &VmConfig) -> Option<String> {
    for d in &cfg.devices {
        if d.driver == "help" || d.driver == "?" {
            let mut out = String::new();
            let mut last = "";
            for (name, cat) in DEVICES {
                if *cat != last {
                    if !last.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&format!("{cat}:\n"));
                    last = cat;
                }
                out.push_str(&format!("name \"{name}\", bus virtio-bus\n"));
            }
            return Some(out);
        }
        if d.props.iter().any(|(k, _)| k == "help" || k == "?") {
            return Some(match d.driver.as_str() {
                "virtio-blk-device" => "virtio-blk-device options:\n  drive=<str>            - Node name or ID of a block device to use as a backend\n  iothread=<link<iothread>>\n  serial=<str>\n".to_string(),
                "virtio-rng-device" => "virtio-rng-device options:\n".to_string(),
                _ => return None,
            });
        }
    }
    for o in &cfg.objects {
        match o.get("qom-type") {
            Some("help" | "?") => {
                return Some("List of user creatable objects:\n  iothread\n".into());
            }
            Some("iothread") if o.params.iter().any(|(k, _)| k == "help") => {
                return Some(
                    "iothread options:\n  poll-grow=<int>\n  poll-max-ns=<int>\n  poll-shrink=<int>\n  thread-pool-max=<int>\n  thread-pool-min=<int>\n"
                        .into(),
                );
            }
            _ => {}
        }
    }
    None
}

fn parse_iothread(o: &crate::config::OptsConfig) -> Result<(String, IoThreadParams), CliError> {
    let at = |m: String| CliError::at(o.location.clone(), m);
    let mut p = IoThreadParams::default();
    let mut id = String::new();
    for (k, v) in &o.params {
        let int = || {
            v.parse::<i64>()
                .map_err(|_| at(format!("Parameter '{k}' expects an int64 value")))
        };
        let nonneg = |n: i64| {
            if n < 0 {
                Err(CliError::plain(format!(
                    "{k} value must be in range [0, 9223372036854775807]"
                )))
            } else {
                Ok(n)
            }
        };
        match k.as_str() {
            "qom-type" => {}
            "id" => id = v.clone(),
            "poll-max-ns" => p.poll_max_ns = nonneg(int()?)?,
            "poll-grow" => p.poll_grow = nonneg(int()?)?,
            "poll-shrink" => p.poll_shrink = nonneg(int()?)?,
            "thread-pool-min" => p.thread_pool_min = int()?.max(0) as usize,
            "thread-pool-max" => p.thread_pool_max = int()?.max(0) as usize,
            "aio-max-batch" => {
                return Err(at(
                    "property 'aio-max-batch' of iothread is not supported by ferrite".into(),
                ));
            }
            _ => return Err(at(format!("Invalid parameter '{k}'"))),
        }
    }
    if p.thread_pool_min > p.thread_pool_max || p.thread_pool_max == 0 {
        return Err(at(format!(
            "thread-pool-min ({}) must be <= thread-pool-max ({}), and max > 0",
            p.thread_pool_min, p.thread_pool_max
        )));
    }
    Ok((id, p))
}

fn open_drive(
    d: &crate::config::OptsConfig,
    index: &mut [usize; 2],
    drives: &[Drive],
) -> Result<Drive, CliError> {
    let at = |m: String| CliError::at(d.location.clone(), m);
    let mut file = None;
    let mut format = None;
    let mut iface = "none".to_string();
    let mut id = None;
    let mut read_only = false;
    for (k, v) in &d.params {
        match k.as_str() {
            "file" => file = Some(v.clone()),
            "format" => format = Some(v.clone()),
            "if" => iface = v.clone(),
            "id" => id = Some(v.clone()),
            "readonly" => read_only = parse_bool("read-only", v).map_err(at)?,
            "media" if v == "disk" => {}
            "media" => {
                return Err(at(format!(
                    "media={v} is not supported by ferrite (only media=disk)"
                )));
            }
            "aio" if v == "threads" => {}
            "aio" => {
                return Err(at(format!(
                    "aio={v} is not supported by ferrite (only aio=threads)"
                )));
            }
            k if QEMU_DRIVE_OPTIONS.contains(&k) => {
                return Err(at(format!(
                    "-drive option '{k}' is not supported by ferrite"
                )));
            }
            _ => {
                // QEMU passes unknown options to the format driver.
                let f = format.as_deref().unwrap_or("raw");
                return Err(at(format!(
                    "Block format '{f}' does not support the option '{k}'"
                )));
            }
        }
    }
    let if_virtio = match iface.as_str() {
        "none" => false,
        "virtio" => true,
        "ide" | "scsi" | "floppy" | "pflash" | "mtd" | "sd" | "xen" => {
            return Err(at(format!(
                "machine type does not support if={iface},bus=0,unit=0"
            )));
        }
        other => return Err(at(format!("unsupported bus type '{other}'"))),
    };
    // The drive's index on its interface: the next free one, as QEMU
    // assigns it to a -drive without index=; the generated id uses it.
    let n = &mut index[usize::from(if_virtio)];
    let auto_id = format!("{iface}{n}");
    *n += 1;
    let id = match id {
        Some(id) => {
            if drives.iter().any(|x| x.id == id) {
                return Err(at(format!("Duplicate ID '{id}' for drive")));
            }
            id
        }
        None => auto_id,
    };
    match format.as_deref() {
        None | Some("raw") => {}
        Some(f) if QEMU_FORMATS.contains(&f) => {
            return Err(at(format!(
                "image format '{f}' is not supported by ferrite; only format=raw is"
            )));
        }
        Some(f) => return Err(at(format!("Unknown driver '{f}'"))),
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return Err(at("A block device must be specified for \"file\"".into()));
    };
    let path = std::path::Path::new(&file);
    let disk = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(std::io::Error::from_raw_os_error(libc::EISDIR)),
        _ => RawFile::open(path, read_only),
    }
    .map_err(|e| at(format!("Could not open '{file}': {}", io_text(&e))))?;
    if format.is_none() {
        // QEMU's probe would find raw (ferrite knows no other format) and
        // warns in these words; ferrite does not restrict block 0.
        eprintln!(
            "WARNING: Image format was not specified for '{file}' and probing guessed raw.\n         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n         Specify the 'raw' format explicitly to remove the restrictions."
        );
    }
    Ok(Drive {
        id,
        file,
        read_only,
        if_virtio,
        disk: Arc::new(disk),
        attached: None,
        // QEMU numbers its generated node names from a global counter;
        // ferrite keeps the form with its own numbers.
        node_name: format!("#block{}", 100 + 2 * drives.len()),
    })
}

/// An I/O error as C's `strerror` words it.
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn plan_device(
    d: &DeviceConfig,
    plan: &mut DevicePlan,
    anon: &mut usize,
) -> Result<PlannedDevice, CliError> {
    let at = |m: String| CliError::at(d.location.clone(), m);
    let driver = d.driver.as_str();
    if !DEVICES.iter().any(|(n, _)| *n == driver) {
        return Err(at(format!("'{driver}' is not a valid device model name")));
    }
    let mut id = None;
    let mut drive = None;
    let mut serial = String::new();
    let mut iothread = None;
    for (k, v) in &d.props {
        match (driver, k.as_str()) {
            (_, "id") => {
                if plan.devices.iter().any(|x| x.id.as_deref() == Some(v)) {
                    return Err(at(format!("Duplicate ID '{v}' for device")));
                }
                id = Some(v.clone());
            }
            ("virtio-blk-device", "drive") => {
                let Some(i) = plan.drives.iter().position(|x| x.id == *v) else {
                    return Err(at(format!(
                        "Property '{driver}.drive' can't find value '{v}'"
                    )));
                };
                if plan.drives[i].attached.is_some() {
                    return Err(at(format!(
                        "Drive '{v}' is already in use by another device"
                    )));
                }
                drive = Some(i);
            }
            ("virtio-blk-device", "serial") => serial = v.clone(),
            ("virtio-blk-device", "iothread") => {
                if !plan.iothreads.iter().any(|(i, _)| i == v) {
                    return Err(at(format!("Device '{v}' not found")));
                }
                iothread = Some(v.clone());
            }
            _ => return Err(at(format!("Property '{driver}.{k}' not found"))),
        }
    }
    if plan.devices.len() >= SLOTS {
        return Err(at(format!(
            "No 'virtio-bus' bus found for device '{driver}'"
        )));
    }
    let kind = match driver {
        "virtio-blk-device" => {
            let Some(drive) = drive else {
                return Err(at("drive property not set".into()));
            };
            PlannedKind::Blk {
                drive,
                serial,
                iothread,
            }
        }
        _ => PlannedKind::Rng,
    };
    // query-block's `qdev`: the id, or the QOM path of an anonymous device.
    let qdev = match &id {
        Some(id) => id.clone(),
        None => {
            *anon += 1;
            format!("/machine/peripheral-anon/device[{}]", *anon - 1)
        }
    };
    if let PlannedKind::Blk { drive, .. } = &kind {
        plan.drives[*drive].attached = Some(qdev);
    }
    Ok(PlannedDevice {
        driver: driver.to_string(),
        id,
        kind,
    })
}

/// Checks the `-object`s, `-drive`s and `-device`s in QEMU's order and
/// opens the images. Nothing is started.
pub fn plan(cfg: &VmConfig) -> Result<DevicePlan, CliError> {
    let mut plan = DevicePlan::default();
    for o in &cfg.objects {
        match o.get("qom-type") {
            Some("iothread") => {
                let (id, p) = parse_iothread(o)?;
                if plan.iothreads.iter().any(|(i, _)| *i == id) {
                    return Err(CliError::at(
                        o.location.clone(),
                        format!("Duplicate ID '{id}' for object"),
                    ));
                }
                plan.iothreads.push((id, p));
            }
            Some(t) => {
                return Err(CliError::at(
                    o.location.clone(),
                    format!("Parameter 'qom-type' does not accept value '{t}'"),
                ));
            }
            None => {
                return Err(CliError::at(
                    o.location.clone(),
                    "Parameter 'qom-type' is missing",
                ));
            }
        }
    }
    let mut index = [0usize; 2];
    for d in &cfg.drives {
        let drive = open_drive(d, &mut index, &plan.drives)?;
        plan.drives.push(drive);
    }
    let mut anon = 0;
    for d in &cfg.devices {
        let dev = plan_device(d, &mut plan, &mut anon)?;
        plan.devices.push(dev);
    }
    // if=virtio drives get their device after the -device ones (QEMU adds
    // it to the -device list when it creates the drive, after parsing).
    for i in 0..plan.drives.len() {
        if plan.drives[i].if_virtio {
            let loc = cfg
                .drives
                .get(i)
                .map(|d| d.location.clone())
                .unwrap_or_default();
            let dc = DeviceConfig {
                driver: "virtio-blk-device".into(),
                props: vec![("drive".into(), plan.drives[i].id.clone())],
                location: loc,
            };
            let dev = plan_device(&dc, &mut plan, &mut anon)?;
            plan.devices.push(dev);
        }
    }
    Ok(plan)
}

/// The empty drives QEMU 7.2 creates on `virt` unless `-nodefaults` (the
/// default CD-ROM on the board's default interface, `if=none` index 2, the
/// default floppy and SD card): they exist in `query-block` though no
/// device uses them. The CD-ROM is left out when a `-drive` already has
/// `if=none` index 2 (the third `if=none` drive).
pub const QEMU_DEFAULT_DRIVES: &[&str] = &["none2", "floppy0", "sd0"];

/// The virtio devices of `plan` as `info qtree` shows them, per
/// virtio-mmio transport (index 0 at the lowest address; the first
/// `-device` sits on the highest). Only the properties Ferrite implements
/// are listed, with QEMU 7.2's names and values; QEMU's many tuning
/// properties that Ferrite does not have are left out rather than shown
/// with values that mean nothing here (docs/divergences.md).
pub fn qtree_virtio(plan: &DevicePlan, slots: usize) -> Vec<Option<QtreeDevice>> {
    let mut out = vec![None; slots];
    for (i, d) in plan.devices.iter().enumerate() {
        let Some(slot) = slots.checked_sub(i + 1) else {
            break;
        };
        let dev = QtreeDevice {
            id: d.id.clone().unwrap_or_default(),
            ..QtreeDevice::new(&d.driver)
        };
        let dev = match &d.kind {
            PlannedKind::Blk {
                drive,
                serial,
                iothread,
            } => {
                let mut dev = dev.prop(
                    "drive",
                    QtreeProp::Str(
                        plan.drives
                            .get(*drive)
                            .map(|d| d.id.clone())
                            .unwrap_or_default(),
                    ),
                );
                if let Some(io) = iothread {
                    dev = dev.prop("iothread", QtreeProp::Str(io.clone()));
                }
                dev.prop("serial", QtreeProp::Str(serial.clone()))
                    .prop("num-queues", QtreeProp::Uint(1))
                    .prop("queue-size", QtreeProp::Uint(256))
            }
            PlannedKind::Rng => dev,
        };
        out[slot] = Some(
            dev.prop("indirect_desc", QtreeProp::Bool(true))
                .prop("event_idx", QtreeProp::Bool(true)),
        );
    }
    out
}

/// `query-block` for `drives` (QEMU 7.2's `qmp_query_block` for a raw
/// image on `file-posix`, cache mode writeback, no throttling), followed by
/// [`QEMU_DEFAULT_DRIVES`].
pub fn query_block(drives: &[Drive]) -> Vec<ferrite_monitor::machine::BlockInfo> {
    use ferrite_monitor::qobject::QDict;
    let if_none = drives.iter().filter(|d| !d.if_virtio).count();
    let empty = QEMU_DEFAULT_DRIVES
        .iter()
        .filter(move |name| **name != "none2" || if_none < 3)
        .map(|name| ferrite_monitor::machine::BlockInfo {
            device: name.to_string(),
            qdev: None,
            ty: "unknown".into(),
            removable: true,
            locked: false,
            tray_open: None,
            inserted: None,
            io_status: None,
        });
    drives
        .iter()
        .map(|d| {
            // The raw driver rounds the image size up to whole sectors.
            let size = d.disk.size().div_ceil(512) * 512;
            let actual = d.disk.allocated_bytes().unwrap_or(0);
            let image = QDict::new()
                .with("filename", d.file.as_str())
                .with("format", "raw")
                .with("dirty-flag", false)
                .with("actual-size", actual)
                .with("virtual-size", size);
            let cache = QDict::new()
                .with("writeback", true)
                .with("direct", false)
                .with("no-flush", false);
            let inserted = QDict::new()
                .with("file", d.file.as_str())
                .with("node-name", d.node_name.as_str())
                .with("ro", d.read_only)
                .with("drv", "raw")
                .with("backing_file_depth", 0i64)
                .with("encrypted", false)
                .with("detect_zeroes", "off")
                .with("bps", 0i64)
                .with("bps_rd", 0i64)
                .with("bps_wr", 0i64)
                .with("iops", 0i64)
                .with("iops_rd", 0i64)
                .with("iops_wr", 0i64)
                .with("image", image)
                .with("cache", cache)
                .with("write_threshold", 0i64);
            ferrite_monitor::machine::BlockInfo {
                device: d.id.clone(),
                qdev: d.attached.clone(),
                ty: "unknown".into(),
                // A drive without a device is QEMU's removable, empty-slot kind.
                removable: d.attached.is_none(),
                locked: false,
                tray_open: None,
                inserted: Some(inserted),
                io_status: d.attached.as_ref().map(|_| "ok".to_string()),
            }
        })
        .chain(empty)
        .collect()
}

/// For a board without virtio-mmio slots (`spike`): the same checks as
/// [`plan`], then QEMU's error for the first device, which finds no bus.
pub fn check_no_devices(cfg: &VmConfig) -> Result<(), CliError> {
    let p = plan(cfg)?;
    if let Some(d) = cfg.devices.first() {
        return Err(CliError::at(
            d.location.clone(),
            format!("No 'virtio-bus' bus found for device '{}'", d.driver),
        ));
    }
    if let Some(i) = p.drives.iter().position(|d| d.if_virtio) {
        return Err(CliError::at(
            cfg.drives[i].location.clone(),
            "No 'virtio-bus' bus found for device 'virtio-blk-device'",
        ));
    }
    Ok(())
}

impl DevicePlan {
    /// Starts the IOThreads and builds the board's virtio plugs. Call after
    /// the main loop exists. The returned IOThreads must live as long as the
    /// machine.
    pub fn realize(&self) -> Result<(Vec<VirtioPlug>, Vec<Arc<IoThread>>), CliError> {
        let mut threads = Vec::new();
        for (id, p) in &self.iothreads {
            let t = IoThread::with_params(id, *p)
                .map_err(|e| CliError::plain(format!("cannot create iothread '{id}': {e}")))?;
            threads.push(t);
        }
        let main = ferrite_aio::main_loop::qemu_get_aio_context();
        let mut plugs = Vec::new();
        for d in &self.devices {
            let (kind, props) = match &d.kind {
                PlannedKind::Blk {
                    drive,
                    serial,
                    iothread,
                } => {
                    let drv = &self.drives[*drive];
                    let ctx = match iothread {
                        Some(io) => threads
                            .iter()
                            .find(|t| t.id() == io)
                            .map(|t| Arc::clone(t.ctx()))
                            .expect("iothread checked by plan()"),
                        None => Arc::clone(&main),
                    };
                    let disk: Arc<dyn BlockBackend> = drv.disk.clone();
                    let mut props = vec![
                        ("drive".to_string(), drv.id.clone()),
                        ("serial".to_string(), serial.clone()),
                    ];
                    if let Some(io) = iothread {
                        props.push(("iothread".to_string(), io.clone()));
                    }
                    (
                        VirtioKind::Blk {
                            disk,
                            read_only: drv.read_only,
                            serial: serial.clone(),
                            ctx,
                        },
                        props,
                    )
                }
                PlannedKind::Rng => (VirtioKind::Rng, Vec::new()),
            };
            plugs.push(VirtioPlug {
                driver: d.driver.clone(),
                id: d.id.clone(),
                props,
                kind,
            });
        }
        Ok((plugs, threads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Action, parse};

    fn cfg(args: &[&str]) -> VmConfig {
        let mut a: Vec<String> = vec!["-M".into(), "virt".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        match parse(&a).unwrap() {
            Action::Run(c) => *c,
            _ => panic!("not a run"),
        }
    }

    fn err(args: &[&str]) -> String {
        plan(&cfg(args)).unwrap_err().to_string()
    }

    #[test]
    fn qtree_puts_the_first_device_on_the_highest_transport() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("d.img");
        std::fs::write(&img, [0u8; 4096]).unwrap();
        let drive = format!("file={},format=raw,if=none,id=d0", img.display());
        let p = plan(&cfg(&[
            "-drive",
            &drive,
            "-object",
            "iothread,id=io0",
            "-device",
            "virtio-blk-device,drive=d0,iothread=io0",
            "-device",
            "virtio-rng-device,id=rng",
        ]))
        .unwrap();
        let q = qtree_virtio(&p, 8);
        assert!(q[..6].iter().all(Option::is_none));
        let blk = q[7].as_ref().unwrap();
        assert_eq!(
            (blk.type_name.as_str(), blk.id.as_str()),
            ("virtio-blk-device", "")
        );
        assert_eq!(blk.props[0], ("drive".into(), QtreeProp::Str("d0".into())));
        assert_eq!(
            blk.props[1],
            ("iothread".into(), QtreeProp::Str("io0".into()))
        );
        let rng = q[6].as_ref().unwrap();
        assert_eq!(
            (rng.type_name.as_str(), rng.id.as_str()),
            ("virtio-rng-device", "rng")
        );
    }

    #[test]
    fn errors_are_qemus() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("d.img");
        std::fs::write(&img, [0u8; 4096]).unwrap();
        let f = img.display().to_string();
        let drive = format!("file={f},format=raw,if=none,id=d");
        let cases: Vec<(Vec<String>, String)> = vec![
            (
                vec!["-device".into(), "foo".into()],
                "-device foo: 'foo' is not a valid device model name".into(),
            ),
            (
                vec!["-device".into(), "virtio-blk-device".into()],
                "-device virtio-blk-device: drive property not set".into(),
            ),
            (
                vec!["-device".into(), "virtio-blk-device,drive=x".into()],
                "-device virtio-blk-device,drive=x: Property 'virtio-blk-device.drive' can't find value 'x'".into(),
            ),
            (
                vec![
                    "-drive".into(),
                    drive.clone(),
                    "-device".into(),
                    "virtio-blk-device,drive=d".into(),
                    "-device".into(),
                    "virtio-blk-device,drive=d".into(),
                ],
                "-device virtio-blk-device,drive=d: Drive 'd' is already in use by another device".into(),
            ),
            (
                vec!["-drive".into(), "file=/nonexist/x,format=raw,if=none,id=d".into()],
                "-drive file=/nonexist/x,format=raw,if=none,id=d: Could not open '/nonexist/x': No such file or directory".into(),
            ),
            (
                vec!["-drive".into(), format!("file={f},format=xyz,if=none,id=d")],
                format!("-drive file={f},format=xyz,if=none,id=d: Unknown driver 'xyz'"),
            ),
            (
                vec!["-drive".into(), drive.clone(), "-drive".into(), drive.clone()],
                format!("-drive {drive}: Duplicate ID 'd' for drive"),
            ),
            (
                vec!["-drive".into(), format!("file={f},format=raw,if=sd")],
                format!("-drive file={f},format=raw,if=sd: machine type does not support if=sd,bus=0,unit=0"),
            ),
            (
                vec!["-drive".into(), "format=raw,if=none,id=d".into()],
                "-drive format=raw,if=none,id=d: A block device must be specified for \"file\"".into(),
            ),
            (
                vec!["-device".into(), "virtio-rng-device,foo=1".into()],
                "-device virtio-rng-device,foo=1: Property 'virtio-rng-device.foo' not found".into(),
            ),
            (
                vec![
                    "-drive".into(),
                    drive.clone(),
                    "-device".into(),
                    "virtio-blk-device,drive=d,iothread=x".into(),
                ],
                "-device virtio-blk-device,drive=d,iothread=x: Device 'x' not found".into(),
            ),
            (
                vec!["-drive".into(), format!("{drive},bogus=1")],
                format!("-drive {drive},bogus=1: Block format 'raw' does not support the option 'bogus'"),
            ),
            (
                vec!["-drive".into(), format!("{drive},readonly=maybe")],
                format!("-drive {drive},readonly=maybe: Parameter 'read-only' expects 'on' or 'off'"),
            ),
            (
                vec![
                    "-object".into(),
                    "iothread,id=io".into(),
                    "-object".into(),
                    "iothread,id=io".into(),
                ],
                "-object iothread,id=io: Duplicate ID 'io' for object".into(),
            ),
            (
                vec!["-object".into(), "foo,id=x".into()],
                "-object foo,id=x: Parameter 'qom-type' does not accept value 'foo'".into(),
            ),
            (
                vec!["-object".into(), "iothread,id=io,poll-max-ns=abc".into()],
                "-object iothread,id=io,poll-max-ns=abc: Parameter 'poll-max-ns' expects an int64 value".into(),
            ),
            (
                vec!["-object".into(), "iothread,id=io,bogus=1".into()],
                "-object iothread,id=io,bogus=1: Invalid parameter 'bogus'".into(),
            ),
            (
                vec!["-device".into(), "virtio-rng-device,iothread=x".into()],
                "-device virtio-rng-device,iothread=x: Property 'virtio-rng-device.iothread' not found".into(),
            ),
        ];
        for (args, want) in cases {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(err(&a), want, "{args:?}");
        }
        let mut nine = Vec::new();
        for _ in 0..9 {
            nine.extend(["-device", "virtio-rng-device"]);
        }
        assert_eq!(
            err(&nine),
            "-device virtio-rng-device: No 'virtio-bus' bus found for device 'virtio-rng-device'"
        );
    }

    #[test]
    fn drives_devices_and_iothreads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("d.img");
        std::fs::write(&img, [0u8; 4096]).unwrap();
        let f = img.display().to_string();
        let p = plan(&cfg(&[
            "-object",
            "iothread,id=io0,poll-max-ns=0",
            "-drive",
            &format!("file={f},format=raw,if=virtio"),
            "-drive",
            &format!("file={f},format=raw,id=ro,readonly=on"),
            "-device",
            "virtio-rng-device",
            "-device",
            "virtio-blk-device,drive=ro,serial=abc,iothread=io0,id=disk",
        ]))
        .unwrap();
        assert_eq!(p.iothreads.len(), 1);
        assert_eq!(p.iothreads[0].0, "io0");
        assert_eq!(p.iothreads[0].1.poll_max_ns, 0);
        assert_eq!(p.drives[0].id, "virtio0");
        assert_eq!(p.drives[1].id, "ro");
        assert!(p.drives[1].read_only && !p.drives[0].read_only);
        assert_eq!(p.drives[0].disk.size(), 4096);
        let names: Vec<_> = p.devices.iter().map(|d| d.driver.as_str()).collect();
        assert_eq!(
            names,
            [
                "virtio-rng-device",
                "virtio-blk-device",
                "virtio-blk-device"
            ]
        );
        assert_eq!(
            p.devices[1].kind,
            PlannedKind::Blk {
                drive: 1,
                serial: "abc".into(),
                iothread: Some("io0".into())
            }
        );
        assert_eq!(p.drives[1].attached.as_deref(), Some("disk"));
        assert_eq!(
            p.drives[0].attached.as_deref(),
            Some("/machine/peripheral-anon/device[1]")
        );
    }

    #[test]
    fn help_lists_the_supported_devices() {
        let h = help_request(&cfg(&["-device", "help"])).unwrap();
        assert!(
            h.contains("name \"virtio-blk-device\", bus virtio-bus"),
            "{h}"
        );
        assert!(
            h.contains("name \"virtio-rng-device\", bus virtio-bus"),
            "{h}"
        );
        let h = help_request(&cfg(&["-device", "virtio-blk-device,help"])).unwrap();
        assert!(h.starts_with("virtio-blk-device options:"), "{h}");
        assert!(help_request(&cfg(&["-device", "virtio-rng-device"])).is_none());
    }
}
