# The virt-board bare-metal programs (crates/riscv/tests/isa/virt: devices,
# reset, several harts) on ferrite's virt board: the same programs
# scripts/test.d/virt-qemu.sh checks on QEMU 7.2. Needs a release build of
# ferrite (an unoptimised interpreter is far too slow).
#
# KNOWN_FAILING lists programs that fail for defects outside the board;
# each is an open defect, not an accepted result. Remove a name as soon as
# its program passes. Every program passes now.
set -euo pipefail
KNOWN_FAILING=""
missing=()
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || missing+=(gcc-riscv64-unknown-elf)
[ -e /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || missing+=(picolibc-riscv64-unknown-elf)
command -v make >/dev/null 2>&1 || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
    echo "SKIPPED: RISC-V virt-board tests on ferrite need: ${missing[*]} (.ci/run installs them)"
    exit 0
fi
cargo build --release --locked -p ferrite-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
EMU="$target_dir/release/ferrite" BOARD=virt SKIP="$KNOWN_FAILING" TIMEOUT=60 crates/riscv/tests/isa/run-qemu.sh
