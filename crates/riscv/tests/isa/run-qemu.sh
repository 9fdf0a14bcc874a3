#!/usr/bin/env bash
# Build every ISA test program and run each on the spike board, reporting
# PASS/FAIL per program. QEMU 7.2 (`qemu-system-riscv64 -M spike`) is the
# oracle: every program must pass on it.
#
#   run-qemu.sh [NAME...]        run all programs, or only those named
#
# Environment:
#   EMU      the emulator binary (default qemu-system-riscv64); any binary
#            taking QEMU's `-M spike -nographic -bios none -kernel` works,
#            so the same script runs the programs on ferrite.
#   BUILD    where the ELFs go (default: <repo>/target/riscv-isa)
#   TIMEOUT  seconds per program (default 10)
#   SKIP     space-separated program names to leave out (e.g. SKIP=zb on an
#            emulator without the optional bit-manipulation extensions)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
EMU="${EMU:-qemu-system-riscv64}"
TIMEOUT="${TIMEOUT:-10}"
export BUILD="${BUILD:-$(cd "$here/../../../.." && pwd)/target/riscv-isa}"

make -s -C "$here" -j2 all

mapfile -t elfs < <(make -s -C "$here" list)
if [ $# -gt 0 ]; then
    wanted=()
    for name in "$@"; do
        wanted+=("$BUILD/${name%.elf}.elf")
    done
    elfs=("${wanted[@]}")
fi

pass=0
skipped=0
failed=()
for elf in "${elfs[@]}"; do
    name="$(basename "$elf" .elf)"
    if [[ " ${SKIP:-} " == *" $name "* ]]; then
        echo "SKIP $name"
        skipped=$((skipped + 1))
        continue
    fi
    log="$BUILD/$name.log"
    set +e
    # Extra QEMU-only options for this program (e.g. -icount), when the
    # emulator is QEMU.
    extra=()
    if [ -e "$here/tests/$name.qemu-args" ] && [[ "$(basename "$EMU")" == qemu-system-* ]]; then
        read -r -a extra <"$here/tests/$name.qemu-args"
    fi
    timeout "$TIMEOUT" "$EMU" -M spike -nographic -bios none -kernel "$elf" \
        "${extra[@]}" </dev/null >"$log" 2>&1
    rc=$?
    set -e
    # Exit statuses are 8 bits wide, so test numbers stay below 256; the
    # failure message printed by the runtime is checked as well.
    if [ $rc -eq 0 ] && grep -q -e '^FAIL' -e 'unexpected trap' "$log"; then
        rc=255
    fi
    # A program with a .status file must exit with exactly that status
    # (it fails on purpose, to check the board's HTIF exit handling).
    status="$here/tests/$name.status"
    if [ -e "$status" ]; then
        want=$(cat "$status")
        if [ "$rc" -eq "$want" ]; then
            rc=0
        else
            echo "FAIL $name: exit status $rc, expected $want"
            sed 's/^/    | /' "$log" | tail -n 20
            failed+=("$name")
            continue
        fi
    fi
    # Programs with an .expect file must print exactly that.
    expect="$here/tests/$name.expect"
    if [ $rc -eq 0 ] && [ -e "$expect" ] && ! cmp -s "$expect" "$log"; then
        echo "FAIL $name: console output differs from tests/$name.expect"
        diff "$expect" "$log" | sed 's/^/    | /' | head -n 20 || true
        failed+=("$name")
        continue
    fi
    if [ $rc -eq 0 ]; then
        echo "PASS $name"
        pass=$((pass + 1))
    else
        if [ $rc -eq 124 ]; then
            why="timeout after ${TIMEOUT}s"
        else
            why="exit status $rc (failing sub-test $rc)"
        fi
        echo "FAIL $name: $why"
        sed 's/^/    | /' "$log" | tail -n 20
        failed+=("$name")
    fi
done

echo "isa: ${pass} passed, ${#failed[@]} failed, ${skipped} skipped (emulator: $EMU)"
[ ${#failed[@]} -eq 0 ]
