"""A guest's serial console on a pty, driven as a person would.

Shared by the Linux test fragments in scripts/test.d (virt-blk.sh,
live-guest.sh): start the emulator on a pty, wait for text, type a shell
command and read its output and exit status, power off.
"""
import atexit
import os
import pty
import select
import sys
import time


class Console:
    """The emulator `argv[0]` running `argv` with its console on a pty.
    Failures end the script with `FAIL <label>: ...`; the emulator is
    killed at exit, so a failed check never leaves it running."""

    def __init__(self, argv, label, env=None, debug=False):
        self.label = label
        self.debug = debug
        self.t0 = time.time()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, os.environ if env is None else env)
        atexit.register(self._kill)
        self.seen = b""
        self.step = 0

    def _kill(self):
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass

    def fail(self, msg):
        sys.exit(f"FAIL {self.label}: {msg}")

    def log(self, what):
        if self.debug:
            print(f"[{time.time() - self.t0:.1f}s] {what}", flush=True)

    def wait_for(self, pat, secs):
        """Reads console output until `pat` (bytes) has been seen since the
        last command; fails after `secs` seconds or at end of output."""
        end = time.time() + secs
        while time.time() < end:
            if pat in self.seen:
                return
            r, _, _ = select.select([self.fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.seen += data
        sys.stdout.buffer.write(self.seen[-3000:])
        self.fail(f"never saw {pat!r}")

    def run(self, cmd, secs=120, then=b"\n"):
        """Types `cmd` at the shell prompt and returns what it printed,
        ending with the marker `END<n>=<status>` (see `ok`); then waits for
        `then` (e.g. the next prompt). The marker is split in the typed text
        so that the echo does not match it."""
        self.step += 1
        self.seen = b""
        os.write(self.fd, f"{cmd}; echo E''ND{self.step}=$?\r".encode())
        self.wait_for(f"END{self.step}=".encode(), secs)
        self.wait_for(then, 30)
        self.log(cmd[:60])
        return self.seen.decode(errors="replace").replace("\r", "")

    def ok(self, out):
        """Whether the command whose output `out` is exited with status 0."""
        return f"END{self.step}=0" in out

    def poweroff(self):
        """Types `poweroff`, waits for the kernel's last line and returns
        the emulator's exit status."""
        self.seen = b""
        os.write(self.fd, b"poweroff\r")
        self.wait_for(b"reboot: Power down", 120)
        _, st = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(st)
