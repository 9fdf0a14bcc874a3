#!/usr/bin/env bash
# Boot benchmark (issue 5): boots the reference guest (shared/guests/riscv64)
# with QEMU's own command line and `guest.poweroff` on ferrite and on
# qemu-system-riscv64 in the same invocation, RUNS times each, interleaved
# (ferrite, qemu, ferrite, qemu, ...) so both see the same machine load,
# and prints the median wall time, CPU time (user + sys) and peak RSS of
# each, side by side with the ratios ferrite/QEMU.
#
# Usage: scripts/bench-boot.sh [RUNS]        (default 3)
# Environment:
#   FERRITE   ferrite binary (default: the release build in the cargo target
#             directory; built with `cargo build --release -p ferrite-cli`
#             if missing)
#   QEMU      QEMU binary (default qemu-system-riscv64)
#   GUEST_DIR reference guest directory (default: shared/guests/riscv64
#             found by walking up from the repository, or
#             $FERRITE_SHARED_DIR/guests/riscv64)
#   TIMEOUT   seconds per boot before it counts as failed (default 300)
#
# A run counts only if the emulator exits 0 and its console shows
# GUEST-BOOTED; otherwise the script stops with the output of that run.
# Measurements come from GNU time (`/usr/bin/time -f`): elapsed wall
# time, user and system CPU time, and maximum resident set size.
set -euo pipefail

RUNS="${1:-3}"
case "$RUNS" in
'' | *[!0-9]* | 0)
    echo "bench-boot: RUNS must be a positive integer, got '$RUNS'" >&2
    exit 1
    ;;
esac
TIMEOUT="${TIMEOUT:-300}"
QEMU="${QEMU:-qemu-system-riscv64}"
repo="$(cd "$(dirname "$0")/.." && pwd)"

if [ ! -x /usr/bin/time ]; then
    echo "bench-boot: needs GNU time at /usr/bin/time (Debian package 'time')" >&2
    exit 1
fi
if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "bench-boot: $QEMU not found (Debian package 'qemu-system-misc')" >&2
    exit 1
fi

find_guest_dir() {
    if [ -n "${GUEST_DIR:-}" ]; then
        echo "$GUEST_DIR"
        return
    fi
    if [ -n "${FERRITE_SHARED_DIR:-}" ]; then
        echo "$FERRITE_SHARED_DIR/guests/riscv64"
        return
    fi
    local d="$repo"
    while [ "$d" != / ]; do
        if [ -d "$d/shared/guests/riscv64" ]; then
            echo "$d/shared/guests/riscv64"
            return
        fi
        d="$(dirname "$d")"
    done
    echo ""
}
guest="$(find_guest_dir)"
for f in fw_dynamic.bin Image initramfs.cpio.gz; do
    if [ -z "$guest" ] || [ ! -r "$guest/$f" ]; then
        echo "bench-boot: reference guest file $f not found (set GUEST_DIR or FERRITE_SHARED_DIR)" >&2
        exit 1
    fi
done

if [ -z "${FERRITE:-}" ]; then
    target_dir="${CARGO_TARGET_DIR:-$repo/target}"
    FERRITE="$target_dir/release/ferrite"
    if [ ! -x "$FERRITE" ]; then
        (cd "$repo" && cargo build --release -p ferrite-cli)
    fi
fi
if [ ! -x "$FERRITE" ]; then
    echo "bench-boot: ferrite binary $FERRITE not found or not executable" >&2
    exit 1
fi

args=(-M virt -m 512 -nographic -no-reboot -bios fw_dynamic.bin -kernel Image
    -initrd initramfs.cpio.gz -append "console=ttyS0 panic=-1 guest.poweroff")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# boot NAME BINARY I: one timed boot; appends "wall cpu rss_kb" to $work/NAME.
boot() {
    local name="$1" bin="$2" i="$3" rc=0
    local out="$work/$name.$i.out" tm="$work/$name.$i.time"
    (cd "$guest" && timeout "$TIMEOUT" /usr/bin/time -o "$tm" -f '%e %U %S %M' \
        "$bin" "${args[@]}" </dev/null >"$out" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] || ! grep -q GUEST-BOOTED "$out"; then
        echo "bench-boot: $name run $i failed (exit status $rc); last lines of its console:" >&2
        tail -n 20 "$out" | sed 's/^/    | /' >&2
        exit 1
    fi
    # Older GNU time prints "Command exited with non-zero status" first;
    # the numbers are always on the last line.
    tail -n 1 "$tm" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' >>"$work/$name"
    printf '  %-8s run %d: %s\n' "$name" "$i" "$(tail -n 1 "$work/$name" |
        awk '{ printf "wall %6.2f s  cpu %6.2f s  rss %7d kB", $1, $2, $3 }')"
}

median() { # FILE COLUMN
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "guest: $guest"
echo "ferrite: $FERRITE"
echo "qemu: $(command -v "$QEMU") ($("$QEMU" --version | head -n 1))"
echo "load: $(uptime)"
echo "runs: $RUNS each, interleaved"
for i in $(seq 1 "$RUNS"); do
    boot ferrite "$FERRITE" "$i"
    boot qemu "$QEMU" "$i"
done
echo "load: $(uptime)"

fw=$(median "$work/ferrite" 1) fc=$(median "$work/ferrite" 2) fr=$(median "$work/ferrite" 3)
qw=$(median "$work/qemu" 1) qc=$(median "$work/qemu" 2) qr=$(median "$work/qemu" 3)
echo
printf '%-22s %12s %12s %14s\n' "median of $RUNS" "wall (s)" "CPU (s)" "peak RSS (kB)"
printf '%-22s %12.2f %12.2f %14d\n' ferrite "$fw" "$fc" "$fr"
printf '%-22s %12.2f %12.2f %14d\n' qemu-system-riscv64 "$qw" "$qc" "$qr"
printf '%-22s %12.2f %12.2f %14.2f\n' "ratio ferrite/qemu" \
    "$(awk -v a="$fw" -v b="$qw" 'BEGIN { print a / b }')" \
    "$(awk -v a="$fc" -v b="$qc" 'BEGIN { print a / b }')" \
    "$(awk -v a="$fr" -v b="$qr" 'BEGIN { print a / b }')"
