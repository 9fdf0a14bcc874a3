# ferrite-hw: the differential device tests against Debian's QEMU 7.2
# (package qemu-system-misc) must not be skipped in CI.
set -euo pipefail
FERRITE_REQUIRE_QEMU=1 cargo test -p ferrite-hw --locked --test qemu_diff --test qemu_virtio_diff
