#!/usr/bin/env bash
# Guest benchmark: builds bench.elf and runs it on `qemu-system-riscv64 -M
# spike`, printing the wall time, the retired-instruction count and guest
# MIPS. With FERRITE=/path/to/ferrite it also runs the same ELF on ferrite
# (same command line) and prints ferrite's MIPS and the wall-time ratio.
#
# QEMU without -icount reports host ticks in minstret, so the instruction
# count comes from a second QEMU run with `-icount shift=0`, where minstret
# counts retired instructions exactly; the program is deterministic, so the
# count is the same for the timed run. Ferrite counts minstret exactly, so
# its own printed count is used.
#
# Run it once, by hand, on a quiet machine; record the output with the
# command in docs/benchmarks.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
QEMU="${QEMU:-qemu-system-riscv64}"
FERRITE="${FERRITE:-}"
export BUILD="${BUILD:-$(cd "$here/../../../.." && pwd)/target/riscv-bench}"
EXPECTED_CHECKSUM="0x38d761a0"

make -s -C "$here"
elf="$BUILD/bench.elf"
args=(-M spike -nographic -bios none -kernel "$elf")

# run NAME BINARY [EXTRA ARGS...]: sets $wall (seconds) and $out.
run() {
    local name="$1" bin="$2"
    shift 2
    local t0 t1
    t0=$(date +%s.%N)
    if ! out=$("$bin" "${args[@]}" "$@" </dev/null 2>&1); then
        echo "$name: FAILED"
        echo "$out" | sed 's/^/    | /'
        exit 1
    fi
    t1=$(date +%s.%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    local sum
    sum=$(echo "$out" | sed -n 's/^checksum: //p')
    if [ "$sum" != "$EXPECTED_CHECKSUM" ]; then
        echo "$name: checksum $sum, expected $EXPECTED_CHECKSUM"
        echo "$out" | sed 's/^/    | /'
        exit 1
    fi
}

field() { echo "$1" | sed -n "s/^$2: *//p"; }

run qemu "$QEMU"
qemu_wall=$wall
qemu_out=$out
run "qemu -icount" "$QEMU" -icount shift=0
instret=$(field "$out" minstret)
printf 'guest output (qemu):\n%s\n' "$(echo "$qemu_out" | sed -e '/^minstret/d' -e '/^mcycle/d' -e 's/^/  /')"
printf 'instructions retired: %s (qemu -icount shift=0)\n' "$instret"
printf 'qemu:    %.3f s wall, %.1f MIPS\n' "$qemu_wall" "$(awk -v n="$instret" -v t="$qemu_wall" 'BEGIN { print n / t / 1e6 }')"

if [ -n "$FERRITE" ]; then
    run ferrite "$FERRITE"
    f_instret=$(field "$out" minstret)
    printf 'ferrite: %.3f s wall, %.1f MIPS (its minstret: %s)\n' "$wall" \
        "$(awk -v n="$f_instret" -v t="$wall" 'BEGIN { print n / t / 1e6 }')" "$f_instret"
    printf 'wall-time ratio ferrite/qemu: %.2f\n' "$(awk -v a="$wall" -v b="$qemu_wall" 'BEGIN { print a / b }')"
fi
