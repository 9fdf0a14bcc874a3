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
