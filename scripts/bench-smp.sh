#!/usr/bin/env bash
# Several-hart benchmarks (issue 8), ferrite and qemu-system-riscv64 side by
# side in one invocation, on the reference guest (shared/guests/riscv64):
#
#  1. Boot time to GUEST-BOOTED with -smp 2: ferrite and QEMU, each with
#     -accel tcg,thread=multi and thread=single (host seconds from start
#     until the line appears; median of RUNS boots).
#  2. Speed-up of a parallel CPU-bound guest workload from 1 to 2 vCPUs:
#     the same work (2 jobs, each `md5sum /bin/busybox` JOBS times) run
#     as 2 parallel shells at the console prompt, with -smp 1 and -smp 2
#     (thread=multi), timed from sending the command to the next prompt.
#
#   scripts/bench-smp.sh            RUNS=3 JOBS=40 PARTS="1 2" by default
#
# Needs a release build (cargo build --release -p ferrite-cli) and QEMU.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
guest="${FERRITE_SHARED_DIR:-}"
for cand in "$guest" "$root/shared" "$root/../shared" "$root/../../shared" /work/shared; do
    if [ -n "$cand" ] && [ -e "$cand/guests/riscv64/Image" ]; then
        guest="$cand/guests/riscv64"
        break
    fi
done
[ -e "$guest/Image" ] || { echo "reference guest not found (set FERRITE_SHARED_DIR)" >&2; exit 2; }
target_dir="${CARGO_TARGET_DIR:-$root/target}"
FERRITE="${FERRITE:-$target_dir/release/ferrite}"
[ -x "$FERRITE" ] || { echo "no $FERRITE: cargo build --release -p ferrite-cli" >&2; exit 2; }
QEMU="${QEMU:-qemu-system-riscv64}"
command -v "$QEMU" >/dev/null || { echo "no $QEMU" >&2; exit 2; }

FERRITE="$FERRITE" QEMU="$QEMU" GUEST="$guest" RUNS="${RUNS:-3}" JOBS="${JOBS:-40}" PARTS="${PARTS:-1 2}" python3 - <<'PY'
import os, select, statistics, subprocess, time

emus = {"ferrite": os.environ["FERRITE"], "qemu": os.environ["QEMU"]}
g = os.environ["GUEST"]
runs, jobs = int(os.environ["RUNS"]), int(os.environ["JOBS"])
parts = os.environ["PARTS"].split()
PROMPT = b"guest:~# "


def start(emu, smp, mode, poweroff):
    append = "console=ttyS0 panic=-1" + (" guest.poweroff" if poweroff else "")
    return subprocess.Popen(
        [emus[emu], "-M", "virt", "-m", "512", "-nographic", "-no-reboot",
         "-smp", str(smp), "-accel", "tcg,thread=" + mode,
         "-bios", g + "/fw_dynamic.bin", "-kernel", g + "/Image",
         "-initrd", g + "/initramfs.cpio.gz", "-append", append],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class Console:
    def __init__(self, p):
        self.p, self.seen = p, b""

    def wait_for(self, pat, limit=900):
        end = time.monotonic() + limit
        while pat not in self.seen:
            if time.monotonic() > end:
                raise RuntimeError(f"no {pat!r} within {limit} s")
            r, _, _ = select.select([self.p.stdout], [], [], 1.0)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"exited before {pat!r}")
                self.seen += chunk
        i = self.seen.index(pat) + len(pat)
        out, self.seen = self.seen[:i], self.seen[i:]
        return out

    def cmd(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        return self.wait_for(PROMPT)


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


boot = {}
if "1" in parts:
    print(f"# 1. boot to GUEST-BOOTED, -smp 2, median of {runs} (host seconds)")
for emu in ("ferrite", "qemu") if "1" in parts else ():
    for mode in ("multi", "single"):
        ts = []
        for _ in range(runs):
            t0 = time.monotonic()
            p = start(emu, 2, mode, True)
            try:
                Console(p).wait_for(b"GUEST-BOOTED")
                ts.append(time.monotonic() - t0)
            finally:
                stop(p)
        boot[(emu, mode)] = statistics.median(ts)
        print(f"{emu:8} thread={mode:6}  {boot[(emu, mode)]:7.2f} s   "
              f"(runs: {', '.join(f'{t:.2f}' for t in ts)})", flush=True)
for mode in ("multi", "single") if "1" in parts else ():
    print(f"ratio ferrite/qemu thread={mode}: "
          f"{boot[('ferrite', mode)] / boot[('qemu', mode)]:.2f}")

work = ("for i in 1 2; do (for j in $(seq %d); do md5sum /bin/busybox; done >/dev/null) & done;"
        " wait" % jobs)
if "2" in parts:
    print(f"\n# 2. 2 parallel jobs x {jobs} md5sum of /bin/busybox, -smp 1 vs -smp 2 "
      f"(thread=multi; host seconds, median of {runs})")
for emu in ("ferrite", "qemu") if "2" in parts else ():
    t = {}
    for smp in (1, 2):
        ts = []
        p = start(emu, smp, "multi", False)
        try:
            c = Console(p)
            c.wait_for(b"GUEST-BOOTED")
            c.wait_for(PROMPT)
            c.cmd("md5sum /bin/busybox >/dev/null")  # warm the caches
            for _ in range(runs):
                t0 = time.monotonic()
                c.cmd(work)
                ts.append(time.monotonic() - t0)
        finally:
            stop(p)
        t[smp] = statistics.median(ts)
        print(f"{emu:8} -smp {smp}  {t[smp]:7.2f} s   (runs: {', '.join(f'{x:.2f}' for x in ts)})",
              flush=True)
    print(f"{emu:8} speed-up 1 -> 2 vCPUs: {t[1] / t[2]:.2f}x")
PY
