//! QMP errors: QEMU's `ErrorClass` plus a description (QEMU:
//! `qapi/error.json`, `qapi/qmp-dispatch.c:qmp_error_response()`).

use crate::qobject::QDict;

/// QEMU's `QapiErrorClass`, the `class` member of an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Everything without a more specific class.
    GenericError,
    /// The command does not exist (or negotiation is not done).
    CommandNotFound,
    /// A device exists but is not active.
    DeviceNotActive,
    /// A named device does not exist.
    DeviceNotFound,
    /// KVM lacks a needed capability.
    KVMMissingCap,
}

impl ErrorClass {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
            ErrorClass::DeviceNotActive => "DeviceNotActive",
            ErrorClass::DeviceNotFound => "DeviceNotFound",
            ErrorClass::KVMMissingCap => "KVMMissingCap",
        }
    }
}

/// A QMP error: QEMU's `Error` reduced to what goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QmpError {
    /// The error class.
    pub class: ErrorClass,
    /// The human-readable description (`error_get_pretty()`).
    pub desc: String,
}

impl QmpError {
    /// `error_setg()`: a `GenericError`.
    pub fn generic(desc: impl Into<String>) -> Self {
        QmpError {
            class: ErrorClass::GenericError,
            desc: desc.into(),
        }
    }

    /// `error_set()` with an explicit class.
    pub fn with_class(class: ErrorClass, desc: impl Into<String>) -> Self {
        QmpError {
            class,
            desc: desc.into(),
        }
    }

    /// `{"class": ..., "desc": ...}` as built by `qmp_error_response()`.
    pub fn to_qdict(&self) -> QDict {
        QDict::new()
            .with("class", self.class.as_str())
            .with("desc", self.desc.as_str())
    }
}

impl std::fmt::Display for QmpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class.as_str(), self.desc)
    }
}

impl std::error::Error for QmpError {}
