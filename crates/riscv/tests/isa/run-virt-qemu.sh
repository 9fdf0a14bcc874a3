#!/usr/bin/env bash
# Build and run the `virt` board programs (virt/*.S, virt/*.c) on
# `qemu-system-riscv64 -M virt -bios none` (or $EMU); see run-qemu.sh.
#
#   run-virt-qemu.sh [NAME...]
#   EMU=target/release/ferrite run-virt-qemu.sh
export BOARD=virt
exec "$(dirname "$0")/run-qemu.sh" "$@"
