# virt-board bare-metal tests (crates/riscv/tests/isa/virt: devices and
# several harts) on the reference `qemu-system-riscv64 -M virt -bios none`:
# checks that every program passes on QEMU 7.2, the oracle the same
# programs will later be run against on ferrite
# (EMU=... crates/riscv/tests/isa/run-virt-qemu.sh).
# Needs Debian's gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf and
# qemu-system-misc (.ci/run installs them); skipped when they are absent.
missing=()
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || missing+=(gcc-riscv64-unknown-elf)
[ -e /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || missing+=(picolibc-riscv64-unknown-elf)
command -v qemu-system-riscv64 >/dev/null 2>&1 || missing+=(qemu-system-misc)
command -v make >/dev/null 2>&1 || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
    echo "SKIPPED: RISC-V virt-board tests on QEMU need: ${missing[*]} (.ci/run installs them)"
else
    crates/riscv/tests/isa/run-virt-qemu.sh
fi
