#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (see README.md, "Testing").
# Run from anywhere inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast

echo "== doc tests"
cargo test --workspace --locked --doc

# Extra suites that need their own build configuration are appended to
# scripts/test.d/ by the crates that need them; each is a bash fragment.
for extra in scripts/test.d/*.sh; do
    [ -e "$extra" ] || continue
    echo "== $extra"
    bash "$extra"
done
echo "== all tests passed"
