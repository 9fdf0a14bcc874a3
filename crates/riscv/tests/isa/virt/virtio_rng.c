/* A virtio-rng device on a version-2 virtio-mmio transport, driven the
 * way Linux does it (virtio v1.2 sections 3.1 and 4.2.3; spec
 * riscv-virt-tcg.md 2.6-2.7). virtio_rng.args runs it with one and with
 * two `-device virtio-rng-device` (virtio_rng.qemu-args: QEMU's
 * force-legacy=false for version 2, as in virtio_mmio.c).
 *   1. Placement: the devices take the highest transports, the first
 *      -device the highest (0x10008000, PLIC source 8), with no gaps; the
 *      others say DeviceID 0.
 *   2. Initialisation: reset (Status 0), ACKNOWLEDGE, DRIVER; features
 *      (VERSION_1 = bit 32 offered; QEMU 7.2 also offers INDIRECT_DESC,
 *      EVENT_IDX and RING_RESET); accepting VERSION_1 only; FEATURES_OK
 *      sticks; queue 0: QueueNumMax > 0, QueueReady 0 until set, the
 *      ring addresses, QueueReady 1; DRIVER_OK. No shared memory region
 *      (SHMLen all-ones).
 *   3. Requests: device-writable buffers on the split virtqueue, notify,
 *      the used ring returns each head id with the length written (the
 *      whole buffer here), the bytes are not all zero, InterruptStatus
 *      bit 0 and the PLIC source go up; InterruptACK clears the status;
 *      claim/complete at the PLIC. A two-descriptor chain is filled
 *      across both buffers.
 *   4. Reset: Status = 0 clears the status and QueueReady. */
#include <string.h>
#include "virtio.h"

#define T(n) VIRTIO_T(n)

static volatile uint8_t bufs[3][64] __attribute__((aligned(64)));

static int nonzero(volatile uint8_t *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i])
            return 1;
    return 0;
}

int main(void)
{
    /* 1: which transports have the device. */
    test_num = 1;
    int ndev = 0;
    for (int n = VIRTIO_COUNT - 1; n >= 0; n--) {
        uint32_t id = rd32(T(n) + 0x008);
        if (id == 0)
            break;
        CHECK_EQ(id, 4);                        /* entropy source */
        ndev++;
    }
    CHECK_TRUE(ndev >= 1);
    for (int n = 0; n < VIRTIO_COUNT - ndev; n++)
        CHECK_EQ(rd32(T(n) + 0x008), 0);
    /* The first -device: the highest transport, PLIC source 8. */
    int slot = VIRTIO_COUNT - 1;
    uint64_t b = T(slot);
    int irq = slot + 1;
    CHECK_EQ(rd32(b + 0x000), 0x74726976);
    CHECK_EQ(rd32(b + 0x004), 2);
    CHECK_EQ(rd32(b + 0x00c), 0x554d4551);

    /* 2: initialisation. */
    test_num = 2;
    virtio_begin(b);
    uint32_t fhi = virtio_features(b, 1);
    CHECK_EQ(fhi & 1, 1);                       /* VERSION_1 */
    CHECK_EQ(fhi & 6, 0);                       /* no ACCESS_PLATFORM, RING_PACKED */
    CHECK_EQ(virtio_features(b, 0), 0x30000000); /* INDIRECT_DESC, EVENT_IDX */
    virtio_accept(b, 0, 1);                     /* VERSION_1 only */
    /* Queue 1 does not exist. */
    wr32(b + VIO_QUEUE_SEL, 1);
    CHECK_EQ(rd32(b + VIO_QUEUE_NUM_MAX), 0);
    /* No shared memory regions. */
    wr32(b + 0x0ac, 0);
    CHECK_EQ(rd32(b + 0x0b0), 0xffffffff);
    CHECK_EQ(rd32(b + 0x0b4), 0xffffffff);
    virtio_queue(b);
    CHECK_EQ(rd32(b + VIO_INT_STATUS), 0);

    /* 3: one 64-byte request. */
    test_num = 3;
    wr32(PLIC_PRIORITY(irq), 1);
    wr32(PLIC_THRESHOLD(PLIC_CTX_M(0)), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 1u << irq);
    desc[0].addr = (uint64_t)(uintptr_t)bufs[0];
    desc[0].len = 64;
    desc[0].flags = VIRTQ_DESC_F_WRITE;
    desc[0].next = 0;
    volatile struct virtq_used_elem *e = virtio_submit(b, 0);
    CHECK_EQ(e->id, 0);
    CHECK_EQ(e->len, 64);
    CHECK_TRUE(nonzero(bufs[0], 64));
    CHECK_EQ(rd32(b + 0x060) & 1, 1);
    CHECK_TRUE(WAIT_UNTIL(plic_pending(irq), TIMEBASE_HZ));
    wr32(b + 0x064, 1);                         /* InterruptACK */
    CHECK_EQ(rd32(b + 0x060), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(PLIC_CTX_M(0))), (uint32_t)irq);
    wr32(PLIC_CLAIM(PLIC_CTX_M(0)), (uint32_t)irq);
    CHECK_EQ(plic_pending(irq), 0);

    /* A two-descriptor chain (32 + 64 bytes) as head 1: both parts are
     * filled, and the used length covers both. */
    desc[1].addr = (uint64_t)(uintptr_t)bufs[1];
    desc[1].len = 32;
    desc[1].flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
    desc[1].next = 2;
    desc[2].addr = (uint64_t)(uintptr_t)bufs[2];
    desc[2].len = 64;
    desc[2].flags = VIRTQ_DESC_F_WRITE;
    desc[2].next = 0;
    e = virtio_submit(b, 1);
    CHECK_EQ(e->id, 1);
    CHECK_EQ(e->len, 96);
    CHECK_TRUE(nonzero(bufs[1], 32));
    CHECK_TRUE(nonzero(bufs[2], 64));
    /* Two different requests did not return the same bytes. */
    CHECK_TRUE(memcmp((const void *)bufs[0], (const void *)bufs[2], 64) != 0);
    wr32(b + 0x064, 1);
    CHECK_EQ(rd32(PLIC_CLAIM(PLIC_CTX_M(0))), (uint32_t)irq);
    wr32(PLIC_CLAIM(PLIC_CTX_M(0)), (uint32_t)irq);

    /* 4: reset. */
    test_num = 4;
    wr32(b + 0x070, 0);
    CHECK_EQ(rd32(b + 0x070), 0);
    CHECK_EQ(rd32(b + 0x044), 0);
    CHECK_EQ(rd32(b + 0x060), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 0);
    wr32(PLIC_PRIORITY(irq), 0);
    return 0;
}
