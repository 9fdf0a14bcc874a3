#!/usr/bin/env bash
# Build every test program and run each on its board, reporting PASS/FAIL
# per run. QEMU 7.2 (`qemu-system-riscv64`) is the oracle: every program
# must pass on it.
#
#   run-qemu.sh [NAME...]        run all programs, or only those named
#
# Environment:
#   BOARD    spike (default: the programs in tests/, pass/fail over HTIF)
#            or virt (the programs in virt/, pass/fail through the
#            sifive_test finisher, console on UART0); run-virt-qemu.sh
#            sets it. The multi-hart programs in smp/ run on both: on
#            virt with the rest, on spike only when named (or with
#            SMP=1), since the spike list also runs on single-hart
#            emulators.
#   EMU      the emulator binary (default qemu-system-riscv64); any binary
#            taking QEMU's `-M <board> -nographic -bios none -kernel` works,
#            so the same script runs the programs on ferrite.
#   BUILD    where the ELFs go (default: <repo>/target/riscv-isa)
#   TIMEOUT  seconds per run (default 10)
#   SKIP     space-separated program names to leave out (e.g. SKIP=zb on an
#            emulator without the optional bit-manipulation extensions)
#
# A program NAME may have a NAME.args file next to its source: each line
# that is neither empty nor a #-comment is one run, with those extra
# emulator arguments (e.g. `-smp 4`); without the file there is one run
# with none. A line may start with `exit=N`: that run must end with exit
# status N instead of 0 (for programs that test the exit path itself). A
# NAME.expect file holds the exact console output each run must print.
# NAME.status holds the exit status every run of NAME must end with (same
# as `exit=N` on each line). NAME.qemu-args holds extra options passed only
# when the emulator is QEMU (e.g. `-icount shift=0` for exact counters). A
# NAME.stdin file is fed to the emulator's standard input (the console's
# receive side) instead of /dev/null. `@IMG@` in a NAME.args line becomes
# the path of a fresh 64 KiB disk image for that run, every byte 'Z'; a
# NAME.post script then runs after a passing run (bash, with IMG and
# RUN_ARGS set) and fails the run if it fails, e.g. to check what the
# guest wrote to the image. These files sit next to the
# program's source: in the board's directory, or in smp/ for the
# multi-hart programs both boards run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
EMU="${EMU:-qemu-system-riscv64}"
TIMEOUT="${TIMEOUT:-10}"
BOARD="${BOARD:-spike}"
export BUILD="${BUILD:-$(cd "$here/../../../.." && pwd)/target/riscv-isa}"

case "$BOARD" in
    spike) srcdir="$here/tests"; list=list; elfdir="$BUILD" ;;
    virt) srcdir="$here/virt"; list=list-virt; elfdir="$BUILD/virt" ;;
    *) echo "run-qemu.sh: unknown BOARD '$BOARD' (spike or virt)" >&2; exit 2 ;;
esac

make -s -C "$here" -j2 all

mapfile -t elfs < <(make -s -C "$here" "$list")
if [ "$BOARD" = spike ] && [ "${SMP:-0}" = 1 ]; then
    mapfile -t -O "${#elfs[@]}" elfs < <(make -s -C "$here" list-smp)
fi
if [ $# -gt 0 ]; then
    wanted=()
    for name in "$@"; do
        wanted+=("$elfdir/${name%.elf}.elf")
    done
    elfs=("${wanted[@]}")
fi

pass=0
skipped=0
failed=()
# The source directory of program NAME: the board's own, or smp/.
srcdir_of() {
    if [ -e "$here/smp/$1.c" ]; then echo "$here/smp"; else echo "$srcdir"; fi
}

for elf in "${elfs[@]}"; do
    name="$(basename "$elf" .elf)"
    dir="$(srcdir_of "$name")"
    if [[ " ${SKIP:-} " == *" $name "* ]]; then
        echo "SKIP $name"
        skipped=$((skipped + 1))
        continue
    fi
    qemu_only=()
    if [ -e "$dir/$name.qemu-args" ] && [[ "$(basename "$EMU")" == qemu-system-* ]]; then
        read -r -a qemu_only <"$dir/$name.qemu-args"
    fi
    runs=("")
    if [ -e "$dir/$name.args" ]; then
        mapfile -t runs < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$dir/$name.args")
    fi
    i=0
    for extra in "${runs[@]}"; do
        i=$((i + 1))
        label="$name${extra:+ [$extra]}"
        log="$elfdir/$name.$i.log"
        want=0
        if [ -e "$dir/$name.status" ]; then
            want="$(cat "$dir/$name.status")"
        fi
        if [[ "$extra" =~ ^[[:space:]]*exit=([0-9]+)[[:space:]]*(.*)$ ]]; then
            want="${BASH_REMATCH[1]}"
            extra="${BASH_REMATCH[2]}"
        fi
        img="$elfdir/$name.$i.img"
        if [[ "$extra" == *@IMG@* ]]; then
            head -c 65536 /dev/zero | tr '\0' 'Z' >"$img"
            extra="${extra//@IMG@/$img}"
        fi
        read -r -a extra_args <<<"$extra"
        input=/dev/null
        [ -e "$dir/$name.stdin" ] && input="$dir/$name.stdin"
        set +e
        timeout "$TIMEOUT" "$EMU" -M "$BOARD" -nographic -bios none \
            "${extra_args[@]}" "${qemu_only[@]}" -kernel "$elf" <"$input" >"$log" 2>&1
        rc=$?
        set -e
        if [ "$want" -ne 0 ]; then
            # Expected to end with status $want: that is this run's pass.
            if [ $rc -eq "$want" ]; then
                rc=0
            elif [ $rc -eq 0 ]; then
                rc=1
            fi
        fi
        # Exit statuses are 8 bits wide, so test numbers stay below 256; the
        # failure message printed by the runtime is checked as well.
        if [ "$want" -eq 0 ] && [ $rc -eq 0 ] && grep -q -e '^FAIL' -e 'unexpected trap' "$log"; then
            rc=255
        fi
        if [ $rc -eq 0 ] && [ -e "$dir/$name.post" ] &&
            ! IMG="$img" RUN_ARGS="$extra" bash "$dir/$name.post" >>"$log" 2>&1; then
            echo "FAIL $label: $name.post failed"
            sed 's/^/    | /' "$log" | tail -n 20
            failed+=("$label")
            continue
        fi
        # Programs with an .expect file must print exactly that.
        expect="$dir/$name.expect"
        if [ $rc -eq 0 ] && [ -e "$expect" ] && ! cmp -s "$expect" "$log"; then
            echo "FAIL $label: console output differs from $(basename "$dir")/$name.expect"
            diff "$expect" "$log" | sed 's/^/    | /' | head -n 20 || true
            failed+=("$label")
            continue
        fi
        if [ $rc -eq 0 ]; then
            echo "PASS $label"
            pass=$((pass + 1))
        else
            if [ $rc -eq 124 ]; then
                why="timeout after ${TIMEOUT}s"
            else
                why="exit status $rc (failing sub-test $rc)"
            fi
            echo "FAIL $label: $why"
            sed 's/^/    | /' "$log" | tail -n 20
            failed+=("$label")
        fi
    done
done

echo "$BOARD: ${pass} passed, ${#failed[@]} failed, ${skipped} skipped (emulator: $EMU)"
[ ${#failed[@]} -eq 0 ]
