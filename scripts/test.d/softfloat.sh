# ferrite-softfloat: differential tests against Berkeley SoftFloat 3 (RISC-V
# specialisation). They live in their own workspace (crates/softfloat/oracle)
# because softfloat-sys depends on the `c99` crate, whose build script runs
# CMake; the main workspace does not need CMake.
set -euo pipefail
if ! command -v cmake >/dev/null 2>&1; then
    echo "== installing cmake for the softfloat oracle"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends cmake
fi
manifest=crates/softfloat/oracle/Cargo.toml
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --all-targets --locked -- -D warnings
cargo test --manifest-path "$manifest" --locked
