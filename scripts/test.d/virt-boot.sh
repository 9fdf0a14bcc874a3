# Boots the reference guest (shared/guests/riscv64: OpenSBI -> Linux 6.12 ->
# busybox) on ferrite's virt board with QEMU's own command line and checks
# what issue 5 asks: OpenSBI's banner, the kernel log, GUEST-BOOTED, and
# exit status 0 after the guest powers off. Needs a release build.
set -euo pipefail
root="$(pwd)"
guest="${FERRITE_SHARED_DIR:-}"
for cand in "$guest" "$root/shared" "$root/../shared" "$root/../../shared" /work/shared; do
    if [ -n "$cand" ] && [ -e "$cand/guests/riscv64/Image" ]; then
        guest="$cand/guests/riscv64"
        break
    fi
done
if [ ! -e "$guest/Image" ]; then
    echo "SKIPPED: reference guest not found (set FERRITE_SHARED_DIR to the shared/ directory)"
    exit 0
fi
cargo build --release --locked -p ferrite-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
timeout 600 "$target_dir/release/ferrite" -M virt -m 512 -nographic -no-reboot \
    -bios "$guest/fw_dynamic.bin" -kernel "$guest/Image" -initrd "$guest/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 guest.poweroff" </dev/null >"$log" 2>&1
rc=$?
set -e
fail() {
    echo "FAIL virt boot: $1"
    tail -n 30 "$log" | sed 's/^/    | /'
    exit 1
}
[ $rc -eq 0 ] || fail "exit status $rc, want 0"
for want in "OpenSBI v1.1" "Domain0 Next Address      : 0x0000000080200000" \
    "Linux version 6.12" "Machine model: riscv-virtio,qemu" \
    "ttyS0 at MMIO 0x10000000" "Run /init as init process" \
    "GUEST-BOOTED" "reboot: Power down"; do
    grep -qF "$want" "$log" || fail "the console never showed '$want'"
done
echo "PASS virt boot: $(grep -o 'GUEST-BOOTED.*' "$log" | tr -d '\r')"

# Without guest.poweroff: an interactive busybox shell on the console,
# driven through a pty as a person would (raw mode, the Ctrl-A help, a
# command and its output); `reboot -f` boots the machine a second time
# (firmware banner and shell again), and `poweroff` then ends ferrite with
# status 0.
FERRITE="$target_dir/release/ferrite" GUEST="$guest" timeout 900 python3 - <<'PY'
import os, pty, select, sys, time

exe, g = os.environ["FERRITE"], os.environ["GUEST"]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "-M", "virt", "-m", "512", "-nographic",
                   "-bios", g + "/fw_dynamic.bin", "-kernel", g + "/Image",
                   "-initrd", g + "/initramfs.cpio.gz",
                   "-append", "console=ttyS0 panic=-1"])
seen = b""

def wait_for(pat, secs):
    global seen
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            seen += data
            if pat in seen:
                return
    sys.stdout.buffer.write(seen[-2000:])
    sys.exit(f"FAIL virt console: never saw {pat!r}")

wait_for(b"guest:~# ", 600)
seen = b""
os.write(fd, b"\x01h")
wait_for(b"C-a x    exit emulator", 30)
# Ctrl-A c: the HMP monitor on the same terminal, then back to the shell.
seen = b""
os.write(fd, b"\x01c")
wait_for(b"(qemu) ", 30)
os.write(fd, b"info status\r")
wait_for(b"VM status: running", 30)
os.write(fd, b"\x01c")
os.write(fd, b"echo hello-$((6*7))\r")
wait_for(b"hello-42", 60)
if b"unknown command" in seen:
    sys.exit("FAIL virt console: the shell's input went to the monitor")
seen = b""
os.write(fd, b"reboot -f\r")
wait_for(b"OpenSBI v1.1", 120)
wait_for(b"guest:~# ", 600)
# As a person would: wait for the shell to settle (it queries the cursor
# position after the prompt), then press Enter and type at a fresh prompt.
time.sleep(2)
seen = b""
os.write(fd, b"\r")
wait_for(b"guest:~# ", 60)
seen = b""
os.write(fd, b"echo again-$((6*7))\r")
wait_for(b"again-42", 60)
os.write(fd, b"poweroff\r")
wait_for(b"reboot: Power down", 120)
_, st = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(st)
if rc != 0:
    sys.exit(f"FAIL virt console: exit status {rc} after poweroff, want 0")
print("PASS virt console: shell commands, reboot -f and poweroff through a pty")
PY

# U-Boot in S-mode after OpenSBI reaches its prompt and runs a command;
# Ctrl-A x then ends ferrite with status 0.
FERRITE="$target_dir/release/ferrite" GUEST="$guest" timeout 600 python3 - <<'PY'
import os, pty, select, sys, time

exe, g = os.environ["FERRITE"], os.environ["GUEST"]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "-M", "virt", "-m", "512", "-nographic",
                   "-bios", g + "/fw_dynamic.bin", "-kernel", g + "/u-boot-smode.bin"])
seen = b""

def wait_for(pat, secs):
    global seen
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            seen += data
            if pat in seen:
                return
    sys.stdout.buffer.write(seen[-2000:])
    sys.exit(f"FAIL virt u-boot: never saw {pat!r}")

wait_for(b"Model: riscv-virtio,qemu", 300)
wait_for(b"=> ", 300)
seen = b""
os.write(fd, b"version\r")
wait_for(b"U-Boot 2023.01", 60)
os.write(fd, b"\x01x")
wait_for(b"QEMU: Terminated", 30)
_, st = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(st)
if rc != 0:
    sys.exit(f"FAIL virt u-boot: exit status {rc} after C-a x, want 0")
print("PASS virt u-boot: prompt, a command, C-a x")
PY
