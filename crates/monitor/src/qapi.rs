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
//! - then, after all members, the first leftover key:
//!   `Parameter 'NAME' is unexpected`.
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
    for m in members {
        match args.get(m.name) {
            Some(v) => check_value(&m.ty, Some(m.name), m.name, v)?,
            None if m.optional => {}
            None => {
                return Err(QmpError::generic(format!(
                    "Parameter '{}' is missing",
                    m.name
                )));
            }
        }
    }
    // QEMU reports the first leftover key of a GHashTable; with a single
    // unexpected key (the common case) that is unambiguous. With several,
    // we report the first in QDict order (see docs/divergences.md).
    if let Some(k) = args.keys().find(|k| !members.iter().any(|m| m.name == *k)) {
        return Err(QmpError::generic(format!("Parameter '{k}' is unexpected")));
    }
    Ok(())
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
