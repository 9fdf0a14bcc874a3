#!/usr/bin/env bash
# ferrite-monitor: drive the QMP server (fake machine) with QEMU's own Python
# client library, qemu.qmp, and its qmp-shell; run the same client checks
# against the installed qemu-system-riscv64 as a differential reference.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=${CARGO_TARGET_DIR:-target}
VENV=${QEMU_QMP_VENV:-$TARGET/monitor-venv}
if ! "$VENV/bin/python" -c 'import qemu.qmp' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'qemu.qmp==0.0.6'
fi
PY="$VENV/bin/python"

cargo build -q --locked -p ferrite-monitor --example fake_monitor
BIN="$TARGET/debug/examples/fake_monitor"

D=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$D"
}
trap cleanup EXIT

# The bytes QEMU 7.2's HMP sends for the given commands: the banner, then
# for each command readline's echo (every key redraws the line: ESC [ D
# back, the line, ESC [ K), CRLF, the command's one-line output (none for
# '', and no prompt after it for '-'), and the prompt.
hmp_transcript() {
    python3 -c '
import sys
args = sys.argv[1:]
out = "QEMU 7.2.0 monitor - type \x27help\x27 for more information\r\n(qemu) "
for cmd, reply in zip(args[::2], args[1::2]):
    out += "".join("\x1b[D" * i + cmd[:i + 1] + "\x1b[K" for i in range(len(cmd)))
    out += "\r\n"
    if reply != "-":
        out += (reply + "\r\n" if reply else "") + "(qemu) "
sys.stdout.write(out)
' "$@"
}

wait_for_socket() {
    for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
    echo "socket $1 did not appear" >&2
    return 1
}

# 1. qemu.qmp: connect, query-status, stop/cont with events, HMP, errors,
#    an OOB command, quit (the server must exit afterwards).
"$BIN" -qmp "unix:$D/q.sock,server=on,wait=off" &
PID=$!; PIDS+=("$PID")
wait_for_socket "$D/q.sock"
"$PY" scripts/monitor/qemu_qmp_test.py "$D/q.sock"
wait "$PID"

# 2. qmp-shell running a short script.
"$BIN" -qmp "unix:$D/s.sock,server=on,wait=off" &
PID=$!; PIDS+=("$PID")
wait_for_socket "$D/s.sock"
printf 'query-status\ncont\nquery-status\nstop\nquery-name\n' \
    | "$VENV/bin/qmp-shell" "$D/s.sock" > "$D/shell.out"
grep -q '"status": "prelaunch"' "$D/shell.out"
grep -q '"status": "running"' "$D/shell.out"
grep -q '"name": "fake"' "$D/shell.out"
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
f.readline(); s.sendall(b"{\"execute\":\"qmp_capabilities\"}{\"execute\":\"quit\"}")
while f.readline(): pass
' "$D/s.sock"
wait "$PID"
echo "qmp-shell checks passed"

# 3. HMP on stdio: banner, prompt, a command, quit ends the process.
printf 'info status\nquit\n' | "$BIN" -monitor stdio > "$D/hmp.out"
hmp_transcript 'info status' 'VM status: paused (prelaunch)' quit - | cmp - "$D/hmp.out"
echo "HMP stdio checks passed"

# 4. The real ferrite binary: a bare-metal loop on spike, started with -S.
cargo build -q --locked -p ferrite-cli --bin ferrite
FERRITE="$TARGET/debug/ferrite"
cat > "$D/loop.S" <<'END'
    .section .text.init
    .globl _start
_start:
    la t0, counter
1:  lw t1, 0(t0)
    addi t1, t1, 1
    sw t1, 0(t0)
    j 1b
    .data
    .align 12
counter: .word 0
END
printf 'ENTRY(_start)\nSECTIONS { . = 0x80000000; .text : { *(.text.init) } . = ALIGN(0x1000); .data : { *(.data) } }\n' > "$D/link.ld"
riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64 -nostdlib -nostartfiles \
    -T "$D/link.ld" "$D/loop.S" -o "$D/loop.elf"
SPIKE=(-M spike -bios none -kernel "$D/loop.elf" -display none -S -name testvm)

"$FERRITE" "${SPIKE[@]}" -qmp "unix:$D/f.sock,server=on,wait=off" > /dev/null &
PID=$!; PIDS+=("$PID")
wait_for_socket "$D/f.sock"
"$PY" scripts/monitor/qemu_qmp_test.py --mtree "$D/f.sock"
wait "$PID"
[ ! -e "$D/f.sock" ]

# qmp-shell on ferrite, through -chardev socket + -mon mode=control.
"$FERRITE" "${SPIKE[@]}" -chardev "socket,id=qmp0,path=$D/fs.sock,server=on,wait=off" \
    -mon chardev=qmp0,mode=control > /dev/null &
PID=$!; PIDS+=("$PID")
wait_for_socket "$D/fs.sock"
printf 'query-status\ncont\nquery-status\nstop\nquery-name\n' \
    | "$VENV/bin/qmp-shell" "$D/fs.sock" > "$D/fshell.out"
grep -q '"status": "prelaunch"' "$D/fshell.out"
grep -q '"status": "running"' "$D/fshell.out"
grep -q '"name": "testvm"' "$D/fshell.out"
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
f.readline(); s.sendall(b"{\"execute\":\"qmp_capabilities\"}{\"execute\":\"quit\"}")
while f.readline(): pass
' "$D/fs.sock"
wait "$PID"
echo "ferrite qmp-shell checks passed"

# HMP on stdio with the running machine.
printf 'info status\ncont\ninfo status\nstop\ninfo status\nquit\n' \
    | "$FERRITE" "${SPIKE[@]}" -serial null -monitor stdio > "$D/fhmp.out"
hmp_transcript 'info status' 'VM status: paused (prelaunch)' cont '' \
    'info status' 'VM status: running' stop '' 'info status' 'VM status: paused' quit - \
    | cmp - "$D/fhmp.out"
echo "ferrite HMP stdio checks passed"

# 5. The same client checks against QEMU itself, when installed.
if command -v qemu-system-riscv64 >/dev/null; then
    # HMP on stdio: QEMU's bytes, version aside, are ferrite's.
    printf 'info status\ncont\ninfo status\nstop\ninfo status\nquit\n' \
        | qemu-system-riscv64 -M spike -display none -S -serial null -monitor stdio \
        | sed 's/QEMU 7\.2\.[0-9]* monitor/QEMU 7.2.0 monitor/' | cmp - "$D/fhmp.out"
    echo "QEMU HMP stdio transcript matches"
    qemu-system-riscv64 -M virt -display none -S -name testvm \
        -qmp "unix:$D/qemu.sock,server=on,wait=off" &
    PID=$!; PIDS+=("$PID")
    wait_for_socket "$D/qemu.sock"
    "$PY" scripts/monitor/qemu_qmp_test.py --mtree "$D/qemu.sock"
    wait "$PID" || true
fi
