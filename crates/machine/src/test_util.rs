//! Helpers shared by this crate's tests.

use std::path::PathBuf;

/// The project's `shared/` directory (specs, oracles, reference guest):
/// `$FERRITE_SHARED_DIR`, or the first ancestor of the crate that has
/// `shared/spec` beside or below it.
pub(crate) fn shared_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERRITE_SHARED_DIR") {
        return PathBuf::from(d);
    }
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let cand = dir.join("shared");
        if cand.join("spec").is_dir() {
            return cand;
        }
        if !dir.pop() {
            panic!("cannot find the shared/ directory; set FERRITE_SHARED_DIR");
        }
    }
}

/// Sets up the main loop once per test process (boards create timers on it).
pub(crate) fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| ferrite_aio::main_loop::qemu_init_main_loop().expect("main loop"));
}
