//! QAPI-style argument checking (QEMU: the generated `qmp_marshal_*`
//! functions driving `qapi/qobject-input-visitor.c`).
//!
//! A command's arguments are described by a list of [`Member`]s in schema
//! order. Checking visits them in that order, exactly like the generated
//! visitor, so the first error reported is the one QEMU reports:
//! - a wrong type: `Invalid parameter type for 'NAME', expected: TYPE`
//!   (for `int`, a float or an integer beyond `int64_t` is a wrong type);
//! - a missing required member: `Parameter 'NAME' is missing`;
//! - a bad enum value: `Parameter 'NAME' does not accept value 'V'` (QEMU
//!   7.2 names list elements `null` here, and we match it);
//! - then, after all members, the first leftover key in the order of the
//!   visitor's GHashTable: `Parameter 'NAME' is unexpected`.
//!
//! List elements are named `NAME[i]` in type errors, as QEMU's
//! `full_name()` does.

use crate::error::QmpError;
use crate::qobject::{QDict, QObject};

/// A QAPI type as far as argument checking needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgType {
    /// `int` (`int64_t`).
    Int,
    /// `str`.
    Str,
    /// `bool`.
    Bool,
    /// `number` (any JSON number).
    Number,
    /// An enum: a string from the list.
    Enum(&'static [&'static str]),
    /// `[T]`.
    List(Box<ArgType>),
    /// An object whose members the command checks itself (the QAPI
    /// `any`-like escape hatch; used for union members).
    Object,
}

/// One member of a command's argument struct.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The member name.
    pub name: &'static str,
    /// Its type.
    pub ty: ArgType,
    /// Whether it is optional (`'*name'` in the schema).
    pub optional: bool,
}

impl Member {
    /// A required member.
    pub const fn required(name: &'static str, ty: ArgType) -> Self {
        Member {
            name,
            ty,
            optional: false,
        }
    }

    /// An optional member.
    pub const fn optional(name: &'static str, ty: ArgType) -> Self {
        Member {
            name,
            ty,
            optional: true,
        }
    }
}

fn type_error(full: &str, expected: &str) -> QmpError {
    QmpError::generic(format!(
        "Invalid parameter type for '{full}', expected: {expected}"
    ))
}

/// Check one value; `name` is the visitor's name (None for list
/// elements), `full` the `full_name()` used in type errors.
fn check_value(ty: &ArgType, name: Option<&str>, full: &str, v: &QObject) -> Result<(), QmpError> {
    match ty {
        ArgType::Int => match v.as_num().and_then(|n| n.as_i64()) {
            Some(_) => Ok(()),
            None => Err(type_error(full, "integer")),
        },
        ArgType::Number => match v {
            QObject::Num(_) => Ok(()),
            _ => Err(type_error(full, "number")),
        },
        ArgType::Str => match v {
            QObject::String(_) => Ok(()),
            _ => Err(type_error(full, "string")),
        },
        ArgType::Bool => match v {
            QObject::Bool(_) => Ok(()),
            _ => Err(type_error(full, "boolean")),
        },
        ArgType::Enum(values) => match v {
            QObject::String(s) if values.contains(&s.as_str()) => Ok(()),
            QObject::String(s) => Err(QmpError::generic(format!(
                "Parameter '{}' does not accept value '{s}'",
                name.unwrap_or("null")
            ))),
            _ => Err(type_error(full, "string")),
        },
        ArgType::List(elem) => match v {
            QObject::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_value(elem, None, &format!("{full}[{i}]"), item)?;
                }
                Ok(())
            }
            _ => Err(type_error(full, "array")),
        },
        ArgType::Object => match v {
            QObject::Dict(_) => Ok(()),
            _ => Err(type_error(full, "object")),
        },
    }
}

/// Check `args` against `members` as QEMU's marshaller would.
pub fn check_args(members: &[Member], args: &QDict) -> Result<(), QmpError> {
    check_args_at(members, args, "")
}

/// [`check_args`] for a struct nested in the arguments: `prefix` is its
/// path (e.g. `instances[0].`), used in "missing", "wrong type" and
/// "unexpected" messages as QEMU's `full_name()` does.
pub fn check_args_at(members: &[Member], args: &QDict, prefix: &str) -> Result<(), QmpError> {
    for m in members {
        let full = format!("{prefix}{}", m.name);
        match args.get(m.name) {
            Some(v) => check_value(&m.ty, Some(m.name), &full, v)?,
            None if m.optional => {}
            None => {
                return Err(QmpError::generic(format!("Parameter '{full}' is missing")));
            }
        }
    }
    let keys: Vec<&str> = args.keys().collect();
    let visited = |k: &str| members.iter().any(|m| m.name == k);
    if let Some(k) = first_unvisited(&keys, visited) {
        return Err(QmpError::generic(format!(
            "Parameter '{prefix}{k}' is unexpected"
        )));
    }
    Ok(())
}

/// glib's `g_str_hash()` (djb2 over `signed char`).
fn g_str_hash(s: &str) -> u32 {
    s.bytes().fold(5381u32, |h, b| {
        h.wrapping_mul(33).wrapping_add(b as i8 as i32 as u32)
    })
}

/// The first key that the input visitor did not consume, in the order
/// QEMU's `qobject_input_check_struct()` finds it: the visitor keeps the
/// keys in a GHashTable (filled in QDict order, visited keys removed) and
/// reports the first one `g_hash_table_iter_next()` returns.
///
/// The GHashTable is reproduced exactly while it has its initial 8 slots
/// (up to 7 keys: glib grows the table at the 8th); beyond that the first
/// unvisited key in QDict order is reported (docs/divergences.md).
fn first_unvisited<'a>(keys: &[&'a str], visited: impl Fn(&str) -> bool) -> Option<&'a str> {
    const SIZE: usize = 8;
    const MOD: u32 = 7; // glib's prime_mod[3]
    if keys.len() >= SIZE {
        return keys.iter().copied().find(|k| !visited(k));
    }
    let mut slots: [Option<&'a str>; SIZE] = [None; SIZE];
    for &k in keys {
        // Hash values 0 and 1 mark unused and tombstone slots in glib.
        let mut h = g_str_hash(k);
        if h < 2 {
            h = 2;
        }
        let mut idx = (h.wrapping_mul(11) % MOD) as usize;
        let mut step = 0;
        while slots[idx].is_some() {
            step += 1;
            idx = (idx + step) & (SIZE - 1);
        }
        slots[idx] = Some(k);
    }
    // Removing visited keys leaves tombstones, which iteration skips.
    slots.into_iter().flatten().find(|k| !visited(k))
}

/// Typed access to checked arguments. Panics only on a mismatch between a
/// command's schema and its handler, which is a programming error.
pub trait ArgsExt {
    /// A checked `int` member.
    fn int(&self, name: &str) -> Option<i64>;
    /// A checked `str` member.
    fn str(&self, name: &str) -> Option<&str>;
    /// A checked `bool` member.
    fn bool(&self, name: &str) -> Option<bool>;
}

impl ArgsExt for QDict {
    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|v| {
            v.as_num()
                .and_then(|n| n.as_i64())
                .unwrap_or_else(|| panic!("argument '{name}' not checked as int"))
        })
    }
    fn str(&self, name: &str) -> Option<&str> {
        self.get(name).map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("argument '{name}' not checked as str"))
        })
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| {
            v.as_bool()
                .unwrap_or_else(|| panic!("argument '{name}' not checked as bool"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unexpected(members: &[Member], keys: &[&str]) -> String {
        let mut d = QDict::new();
        for k in keys {
            d.put(k, 1i64);
        }
        check_args(members, &d).unwrap_err().desc
    }

    #[test]
    fn several_unexpected_arguments_in_ghashtable_order() {
        // Recorded from QEMU 7.2 (`stop` takes no arguments).
        for (keys, first) in [
            (&["b", "a"][..], "b"),
            (&["x", "y", "z"][..], "z"),
            (&["foo", "bar"][..], "bar"),
            (&["id2", "zz", "aa", "qq", "mm"][..], "aa"),
            (
                &["val", "size", "filename", "cpu-index", "extra", "zz", "a"][..],
                "zz",
            ),
        ] {
            assert_eq!(
                unexpected(&[], keys),
                format!("Parameter '{first}' is unexpected"),
                "{keys:?}"
            );
        }
        // memsave with three extra keys: visited keys leave tombstones.
        let memsave = [
            Member::required("val", ArgType::Int),
            Member::required("size", ArgType::Int),
            Member::required("filename", ArgType::Str),
            Member::optional("cpu-index", ArgType::Int),
        ];
        let mut d = QDict::new()
            .with("val", 1i64)
            .with("size", 0i64)
            .with("filename", "/dev/null");
        for k in ["zz", "a", "qq"] {
            d.put(k, 1i64);
        }
        assert_eq!(
            check_args(&memsave, &d).unwrap_err().desc,
            "Parameter 'zz' is unexpected"
        );
    }
}
