# The first run as a new user meets it (issue 6), plus an ext4 mount in the
# guest (issue 5), on the real Debian packages:
#   1. `ferrite guest fetch` downloads the newest trixie kernel, busybox and
#      OpenSBI from the mirror the host's APT configuration names, into a
#      temporary cache (about 115 MB; tens of seconds);
#   2. `ferrite` with no machine options (the default run, which adds
#      virtio-rng) plus a virtio-blk disk holding an ext4 image made on the
#      host with mkfs.ext4 boots to the shell prompt through a pty; the guest
#      mounts the disk, a file's sha256sum matches the host's, the kernel's
#      hwrng is virtio-rng, and `poweroff` ends ferrite with status 0.
# The reference guest in shared/guests/riscv64 cannot do the mount: its
# initramfs lacks crc32c, which Linux 6.12's ext4 needs (virt-blk.sh notes
# that); the fetched guest has it.
#
# Skipped, saying why, when the host has no APT mirror configured or the
# mirror cannot be reached, or with FERRITE_SKIP_LIVE_GUEST=1.
set -euo pipefail
if [ "${FERRITE_SKIP_LIVE_GUEST:-0}" = 1 ]; then
    echo "SKIPPED: live guest fetch (FERRITE_SKIP_LIVE_GUEST=1)"
    exit 0
fi
for tool in mkfs.ext4 python3; do
    if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/sbin/$tool" ]; then
        echo "SKIPPED: live guest test needs $tool (e2fsprogs, python3)"
        exit 0
    fi
done
export PATH="$PATH:/sbin:/usr/sbin"
cargo build --release --locked -p ferrite-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exe="$target_dir/release/ferrite"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
set +e
XDG_CACHE_HOME="$work/cache" "$exe" guest fetch >"$work/fetch.log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
    if grep -qE "no Debian mirror is configured|cannot reach the Debian mirror" "$work/fetch.log"; then
        echo "SKIPPED: live guest fetch: $(tail -1 "$work/fetch.log")"
        exit 0
    fi
    cat "$work/fetch.log"
    echo "FAIL live guest: ferrite guest fetch exited with $rc"
    exit 1
fi
echo "fetched the guest in $(( $(date +%s) - start )) s ($(grep -m1 'using the Debian mirror' "$work/fetch.log" || true))"

mkdir "$work/tree"
head -c 300000 /dev/urandom >"$work/tree/data.bin"
want_sum="$(sha256sum "$work/tree/data.bin" | cut -d' ' -f1)"
mkfs.ext4 -q -F -b 4096 -d "$work/tree" "$work/fs.img" 8M

FERRITE="$exe" WORK="$work" WANT_SUM="$want_sum" PYTHONPATH="$PWD/scripts/lib" \
    timeout 600 python3 - <<'PY'
import os, sys
from guest_console import Console

exe, w, want_sum = os.environ["FERRITE"], os.environ["WORK"], os.environ["WANT_SUM"]
g = Console([exe, "-drive", f"file={w}/fs.img,format=raw,if=none,id=hd0",
             "-device", "virtio-blk-device,drive=hd0"],
            "live guest", env=dict(os.environ, XDG_CACHE_HOME=w + "/cache"))
g.wait_for(b"guest:/# ", 600)
out = g.run("mkdir -p /mnt && mount /dev/vda /mnt && sha256sum /mnt/data.bin && umount /mnt",
            then=b"guest:")
if not g.ok(out) or want_sum not in out:
    g.fail(f"mounting the host-made ext4 disk and checksumming its file, want {want_sum}:\n{out}")
out = g.run("cat /sys/class/misc/hw_random/rng_current", then=b"guest:")
if "virtio_rng" not in out:
    g.fail(f"the default run's hwrng is not virtio_rng:\n{out}")
rc = g.poweroff()
if rc != 0:
    g.fail(f"exit status {rc} after poweroff, want 0")
print("PASS live guest: fetched from the APT mirror; the default run booted to the prompt; "
      "a host-made ext4 disk mounts and its file's checksum matches; virtio-rng is the hwrng; "
      "poweroff exits 0")
PY
