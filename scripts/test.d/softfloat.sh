# ferrite-softfloat: differential tests against Berkeley SoftFloat 3 (RISC-V
# specialisation). They live in their own workspace (crates/softfloat/oracle)
# because softfloat-sys depends on the `c99` crate, whose build script runs
# CMake; the main workspace does not need CMake.
set -euo pipefail
if ! command -v cmake >/dev/null 2>&1; then
    echo "softfloat oracle: cmake is missing (Debian package cmake; .ci/run installs it)" >&2
    exit 1
fi
manifest=crates/softfloat/oracle/Cargo.toml
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --all-targets --locked -- -D warnings
cargo test --manifest-path "$manifest" --locked
