//! QEMU's QObject value model: `QNull`, `QBool`, `QNum`, `QString`, `QDict`
//! and `QList` (QEMU: `qobject/`).
//!
//! The one property that makes this more than a JSON value type is
//! [`QDict`]'s iteration order. QEMU's `QDict` is a 512-bucket hash table
//! keyed by `tdb_hash()`, each bucket a list with the newest entry first, and
//! everything that walks a dictionary — the JSON writer, `qmp_dispatch()`'s
//! check of the request members, the input visitor's "unexpected parameter"
//! check — sees entries in that order. QEMU 7.2 answers `query-status` with
//! `{"status": ..., "singlestep": ..., "running": ...}` because of it, and
//! which of two bad request members gets reported depends on it, so Ferrite
//! reproduces it exactly rather than using insertion or sorted order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

/// Number of hash buckets in a QEMU `QDict` (`QDICT_BUCKET_MAX`).
pub const QDICT_BUCKET_MAX: u32 = 512;

/// QEMU's `tdb_hash()` (from Samba's TDB), used to place `QDict` keys in
/// buckets. Arithmetic is on 32-bit unsigned values, wrapping as in C.
pub fn tdb_hash(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let mut value: u32 = 0x238F_13AFu32.wrapping_mul(bytes.len() as u32);
    for (i, &b) in bytes.iter().enumerate() {
        // `i*5 % 24` is computed in C `unsigned`; the shift is below 32.
        let shift = ((i as u32).wrapping_mul(5)) % 24;
        value = value.wrapping_add((b as u32) << shift);
    }
    1_103_515_243u32.wrapping_mul(value).wrapping_add(12345)
}

/// A QEMU `QNum`: integers keep their signedness, everything else is a
/// double, exactly as the JSON parser classifies number tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QNum {
    /// `QNUM_I64`: any integer that fits `int64_t`.
    I64(i64),
    /// `QNUM_U64`: a non-negative integer beyond `INT64_MAX`.
    U64(u64),
    /// `QNUM_DOUBLE`: a float, or an integer too large for 64 bits.
    Double(f64),
}

impl QNum {
    /// `qnum_get_try_int()`: the value as `int64_t` if representable
    /// exactly (doubles never are, as in QEMU).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            QNum::I64(v) => Some(v),
            QNum::U64(v) => i64::try_from(v).ok(),
            QNum::Double(_) => None,
        }
    }

    /// `qnum_get_try_uint()`.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            QNum::I64(v) => u64::try_from(v).ok(),
            QNum::U64(v) => Some(v),
            QNum::Double(_) => None,
        }
    }

    /// `qnum_get_double()`: every number converts.
    pub fn as_f64(&self) -> f64 {
        match *self {
            QNum::I64(v) => v as f64,
            QNum::U64(v) => v as f64,
            QNum::Double(v) => v,
        }
    }
}

/// A QEMU QObject.
#[derive(Clone, Debug, PartialEq)]
pub enum QObject {
    /// `QNull` (JSON `null`).
    Null,
    /// `QBool`.
    Bool(bool),
    /// `QNum`.
    Num(QNum),
    /// `QString`. QEMU's strings are modified UTF-8 (NUL as `C0 80`);
    /// a Rust `String` holds the same code points, including U+0000.
    String(String),
    /// `QDict`.
    Dict(QDict),
    /// `QList`.
    List(Vec<QObject>),
}

impl QObject {
    /// The dictionary, if this is one (`qobject_to(QDict, ...)`).
    pub fn as_dict(&self) -> Option<&QDict> {
        match self {
            QObject::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            QObject::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_num(&self) -> Option<QNum> {
        match self {
            QObject::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            QObject::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[QObject]> {
        match self {
            QObject::List(l) => Some(l),
            _ => None,
        }
    }

    /// Serialise in QEMU's compact form (see [`crate::json::to_json`]).
    pub fn to_json(&self) -> String {
        crate::json::to_json(self)
    }
}

impl From<bool> for QObject {
    fn from(v: bool) -> Self {
        QObject::Bool(v)
    }
}
impl From<i64> for QObject {
    fn from(v: i64) -> Self {
        QObject::Num(QNum::I64(v))
    }
}
impl From<u64> for QObject {
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(i) => QObject::Num(QNum::I64(i)),
            Err(_) => QObject::Num(QNum::U64(v)),
        }
    }
}
impl From<f64> for QObject {
    fn from(v: f64) -> Self {
        QObject::Num(QNum::Double(v))
    }
}
impl From<&str> for QObject {
    fn from(v: &str) -> Self {
        QObject::String(v.to_owned())
    }
}
impl From<String> for QObject {
    fn from(v: String) -> Self {
        QObject::String(v)
    }
}
impl From<QDict> for QObject {
    fn from(v: QDict) -> Self {
        QObject::Dict(v)
    }
}
impl From<Vec<QObject>> for QObject {
    fn from(v: Vec<QObject>) -> Self {
        QObject::List(v)
    }
}

/// Position of an entry in iteration order: bucket ascending, then newest
/// first within the bucket.
type Slot = (u32, Reverse<u64>);

/// QEMU's `QDict`: a string-keyed dictionary iterated in QEMU's hash order
/// (bucket ascending, newest first within a bucket).
///
/// Entries live in a B-tree keyed by their iteration position and are found
/// by key through a hash index, so inserting, looking up and removing stay
/// logarithmic even for the largest dictionaries a client can send.
#[derive(Clone, Debug, Default)]
pub struct QDict {
    entries: BTreeMap<Slot, (String, QObject)>,
    index: HashMap<String, Slot>,
    next_seq: u64,
}

impl PartialEq for QDict {
    /// Dictionaries are equal when they hold the same keys and values;
    /// iteration order is a function of the insertion history only.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|o| o == v))
    }
}

impl QDict {
    /// An empty dictionary (`qdict_new()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries (`qdict_size()`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `qdict_put_obj()`: a new key goes to the head of its bucket; an
    /// existing key has its value replaced in place.
    pub fn put(&mut self, key: &str, value: impl Into<QObject>) {
        let value = value.into();
        if let Some(slot) = self.index.get(key) {
            if let Some(e) = self.entries.get_mut(slot) {
                e.1 = value;
            }
            return;
        }
        let slot = (tdb_hash(key) % QDICT_BUCKET_MAX, Reverse(self.next_seq));
        self.next_seq += 1;
        self.index.insert(key.to_owned(), slot);
        self.entries.insert(slot, (key.to_owned(), value));
    }

    /// Builder form of [`QDict::put`].
    pub fn with(mut self, key: &str, value: impl Into<QObject>) -> Self {
        self.put(key, value);
        self
    }

    /// `qdict_get()`.
    pub fn get(&self, key: &str) -> Option<&QObject> {
        let slot = self.index.get(key)?;
        self.entries.get(slot).map(|e| &e.1)
    }

    /// `qdict_haskey()`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// `qdict_del()`; returns the removed value.
    pub fn remove(&mut self, key: &str) -> Option<QObject> {
        let slot = self.index.remove(key)?;
        self.entries.remove(&slot).map(|e| e.1)
    }

    /// Entries in QEMU's iteration order (`qdict_first()`/`qdict_next()`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &QObject)> {
        self.entries.values().map(|(k, v)| (k.as_str(), v))
    }

    /// Keys in iteration order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.values().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_order_matches_qemu_7_2() {
        // Keys inserted in this order; QEMU 7.2 echoed the `id` back in the
        // order asserted below (recorded from qemu-system-riscv64 7.2.22).
        let mut d = QDict::new();
        for (i, k) in [
            "b",
            "a",
            "c",
            "arguments",
            "execute",
            "id",
            "timestamp",
            "event",
            "data",
            "return",
            "error",
            "class",
            "desc",
        ]
        .iter()
        .enumerate()
        {
            d.put(k, i as i64 + 1);
        }
        let keys: Vec<_> = d.keys().collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "class",
                "a",
                "execute",
                "b",
                "event",
                "desc",
                "return",
                "arguments",
                "c",
                "id",
                "error",
                "data"
            ]
        );
    }

    #[test]
    fn query_status_and_version_order() {
        let d = QDict::new()
            .with("running", false)
            .with("singlestep", false)
            .with("status", "prelaunch");
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            ["status", "singlestep", "running"]
        );
        let v = QDict::new()
            .with("major", 7i64)
            .with("minor", 2i64)
            .with("micro", 22i64);
        assert_eq!(v.keys().collect::<Vec<_>>(), ["micro", "minor", "major"]);
    }

    #[test]
    fn many_keys_stay_fast() {
        // Half a million keys (about what fits in QEMU's token limit) must
        // not take quadratic time.
        let mut d = QDict::new();
        for i in 0..500_000 {
            d.put(&format!("k{i}"), i as i64);
        }
        assert_eq!(d.len(), 500_000);
        assert_eq!(d.get("k4242"), Some(&QObject::from(4242i64)));
    }

    #[test]
    fn replace_keeps_position_and_remove_works() {
        let mut d = QDict::new().with("x", 1i64).with("y", 2i64);
        let before: Vec<String> = d.keys().map(str::to_owned).collect();
        d.put("x", 5i64);
        assert_eq!(d.keys().collect::<Vec<_>>(), before);
        assert_eq!(d.get("x"), Some(&QObject::from(5i64)));
        assert_eq!(d.remove("x"), Some(QObject::from(5i64)));
        assert!(!d.contains_key("x"));
        assert_eq!(d.len(), 1);
    }
}
