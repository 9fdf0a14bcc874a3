# Several harts running Linux (issue 8): the reference guest
# (shared/guests/riscv64) boots on ferrite's virt board with -smp 2 and
# -smp 4, in both TCG thread modes (one host thread per vCPU, and every
# vCPU round-robin on one thread). In each boot, through the console
# shell: /proc/cpuinfo lists N harts; N shells run in parallel, each
# computing the MD5 of /bin/busybox several times, and every one must
# print the host's MD5 of the same file (no lost or torn updates); then
# `poweroff` must end ferrite with status 0. Needs a release build.
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
FERRITE="$target_dir/release/ferrite" GUEST="$guest" timeout 1800 python3 - <<'PY'
import functools, hashlib, os, select, subprocess, sys, time

print = functools.partial(print, flush=True)

exe, g = os.environ["FERRITE"], os.environ["GUEST"]
want_md5 = hashlib.md5(open(g + "/busybox", "rb").read()).hexdigest()
PROMPT = b"guest:~# "
failed = []


def run(n, mode):
    label = f"-smp {n} -accel tcg,thread={mode}"
    p = subprocess.Popen(
        [exe, "-M", "virt", "-m", "512", "-nographic", "-no-reboot",
         "-smp", str(n), "-accel", "tcg,thread=" + mode,
         "-bios", g + "/fw_dynamic.bin", "-kernel", g + "/Image",
         "-initrd", g + "/initramfs.cpio.gz", "-append", "console=ttyS0 panic=-1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = b""

    def wait_for(pat):
        # No time limit of its own: the whole script runs under timeout(1).
        nonlocal seen
        while pat not in seen:
            r, _, _ = select.select([p.stdout], [], [], 1.0)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"ferrite exited before printing {pat!r}")
                seen += chunk
        i = seen.index(pat) + len(pat)
        out, seen = seen[:i], seen[i:]
        return out

    def cmd(line):
        p.stdin.write(line.encode() + b"\n")
        p.stdin.flush()
        return wait_for(PROMPT).decode(errors="replace")

    try:
        wait_for(b"GUEST-BOOTED")
        wait_for(PROMPT)
        harts = cmd("grep -c ^processor /proc/cpuinfo")
        if str(n) not in [l.strip() for l in harts.splitlines()]:
            raise RuntimeError(f"/proc/cpuinfo: want {n} harts, got {harts!r}")
        t0 = time.monotonic()
        out = cmd("for i in $(seq %d); do (for j in 1 2 3; do md5sum /bin/busybox; done"
                  " >/tmp/md5.$i) & done; wait; cat /tmp/md5.*" % n)
        secs = time.monotonic() - t0
        sums = [l.split()[0] for l in out.splitlines() if l.endswith("/bin/busybox")]
        if len(sums) != 3 * n or any(s != want_md5 for s in sums):
            raise RuntimeError(f"parallel md5sum: want {3 * n} x {want_md5}, got {sums}")
        p.stdin.write(b"poweroff\n")
        p.stdin.flush()
        wait_for(b"reboot: Power down")
        rc = p.wait()
        if rc != 0:
            raise RuntimeError(f"exit status {rc} after poweroff, want 0")
        print(f"PASS virt {label}: {n} harts in /proc/cpuinfo, {n} parallel md5sum x3 "
              f"all {want_md5} ({secs:.1f} s), poweroff")
    except Exception as e:
        failed.append(label)
        print(f"FAIL virt {label}: {e}")
        tail = (seen[-2000:]).decode(errors="replace")
        print("\n".join("    | " + l for l in tail.splitlines()[-25:]))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


for mode in ("multi", "single"):
    for n in (2, 4):
        run(n, mode)
sys.exit(1 if failed else 0)
PY
