# virt-board bare-metal tests on the reference QEMU 7.2: the programs in
# crates/riscv/tests/isa/virt (devices, reset, several harts) on
# `qemu-system-riscv64 -M virt -bios none`, and the multi-hart programs
# of crates/riscv/tests/isa/smp on both the virt and the spike board
# (isa-qemu.sh runs the single-hart spike list). Every program must pass
# on QEMU, the oracle the same programs will later be run against on
# ferrite (EMU=... crates/riscv/tests/isa/run-virt-qemu.sh).
# Needs Debian's gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf and
# qemu-system-misc (.ci/run installs them); skipped when they are absent.
set -euo pipefail
missing=()
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || missing+=(gcc-riscv64-unknown-elf)
[ -e /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || missing+=(picolibc-riscv64-unknown-elf)
command -v qemu-system-riscv64 >/dev/null 2>&1 || missing+=(qemu-system-misc)
command -v make >/dev/null 2>&1 || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
    echo "SKIPPED: RISC-V virt-board tests on QEMU need: ${missing[*]} (.ci/run installs them)"
    exit 0
fi
crates/riscv/tests/isa/run-virt-qemu.sh
crates/riscv/tests/isa/run-qemu.sh $(make -s -C crates/riscv/tests/isa list-smp | xargs -n1 basename | sed 's/\.elf$//')
