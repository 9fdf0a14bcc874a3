//! QEMU's memory API for Ferrite.
//!
//! QEMU counterpart: `system/memory.c`, `system/physmem.c`,
//! `include/system/memory.h`, `docs/devel/memory.rst`.
//!
//! (Being built: see issue 2.)
