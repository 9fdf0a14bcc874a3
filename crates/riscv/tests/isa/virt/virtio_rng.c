/* A virtio-rng device on a version-2 virtio-mmio transport, driven the
 * way Linux does it (virtio v1.2 sections 3.1 and 4.2.3; spec
 * riscv-virt-tcg.md 2.6-2.7). virtio_rng.args runs it with one and with
 * two `-device virtio-rng-device` (QEMU's force-legacy=false for version
 * 2, as in virtio_mmio.c).
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
#include "virt.h"

#define T(n) (VIRTIO_BASE + 0x1000ull * (n))
#define QSIZE 8

#define ST_ACK        1
#define ST_DRIVER     2
#define ST_DRIVER_OK  4
#define ST_FEATURES_OK 8

#define VIRTQ_DESC_F_NEXT  1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct virtq_avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct virtq_used_elem { uint32_t id, len; };
struct virtq_used { uint16_t flags, idx; struct virtq_used_elem ring[QSIZE]; uint16_t avail_event; };

static volatile struct virtq_desc desc[QSIZE] __attribute__((aligned(4096)));
static volatile struct virtq_avail avail __attribute__((aligned(4096)));
static volatile struct virtq_used used __attribute__((aligned(4096)));
static volatile uint8_t bufs[3][64] __attribute__((aligned(64)));

static void mb(void)
{
    __asm__ volatile("fence iorw, iorw" ::: "memory");
}

static int nonzero(volatile uint8_t *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i])
            return 1;
    return 0;
}

/* Publish head `head` in the available ring, notify queue 0 and wait for
 * the used ring to reach `want_used`. */
static void submit(uint64_t b, uint16_t head, uint16_t want_used)
{
    avail.ring[avail.idx % QSIZE] = head;
    mb();
    avail.idx = avail.idx + 1;
    mb();
    wr32(b + 0x050, 0);                         /* QueueNotify */
    CHECK_TRUE(WAIT_UNTIL(used.idx == want_used, 10 * TIMEBASE_HZ));
    mb();
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
    wr32(b + 0x070, 0);
    CHECK_EQ(rd32(b + 0x070), 0);
    wr32(b + 0x070, ST_ACK);
    wr32(b + 0x070, ST_ACK | ST_DRIVER);
    CHECK_EQ(rd32(b + 0x070), ST_ACK | ST_DRIVER);
    wr32(b + 0x014, 1);
    uint32_t fhi = rd32(b + 0x010);
    CHECK_EQ(fhi & 1, 1);                       /* VERSION_1 */
    CHECK_EQ(fhi & 6, 0);                       /* no ACCESS_PLATFORM, RING_PACKED */
    wr32(b + 0x014, 0);
    uint32_t flo = rd32(b + 0x010);
    CHECK_EQ(flo, 0x30000000);                  /* INDIRECT_DESC, EVENT_IDX */
    wr32(b + 0x024, 1);
    wr32(b + 0x020, 1);                         /* VERSION_1 only */
    wr32(b + 0x024, 0);
    wr32(b + 0x020, 0);
    wr32(b + 0x070, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
    CHECK_EQ(rd32(b + 0x070), ST_ACK | ST_DRIVER | ST_FEATURES_OK);
    wr32(b + 0x030, 0);                         /* QueueSel */
    CHECK_TRUE(rd32(b + 0x034) >= QSIZE);       /* QueueNumMax */
    CHECK_EQ(rd32(b + 0x044), 0);               /* QueueReady */
    wr32(b + 0x038, QSIZE);
    wr32(b + 0x080, (uint32_t)(uintptr_t)desc);
    wr32(b + 0x084, 0);
    wr32(b + 0x090, (uint32_t)(uintptr_t)&avail);
    wr32(b + 0x094, 0);
    wr32(b + 0x0a0, (uint32_t)(uintptr_t)&used);
    wr32(b + 0x0a4, 0);
    wr32(b + 0x044, 1);
    CHECK_EQ(rd32(b + 0x044), 1);
    /* Queue 1 does not exist. */
    wr32(b + 0x030, 1);
    CHECK_EQ(rd32(b + 0x034), 0);
    wr32(b + 0x030, 0);
    /* No shared memory regions. */
    wr32(b + 0x0ac, 0);
    CHECK_EQ(rd32(b + 0x0b0), 0xffffffff);
    CHECK_EQ(rd32(b + 0x0b4), 0xffffffff);
    wr32(b + 0x070, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    CHECK_EQ(rd32(b + 0x070), ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    CHECK_EQ(rd32(b + 0x060), 0);

    /* 3: one 64-byte request. */
    test_num = 3;
    wr32(PLIC_PRIORITY(irq), 1);
    wr32(PLIC_THRESHOLD(PLIC_CTX_M(0)), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 1u << irq);
    desc[0].addr = (uint64_t)(uintptr_t)bufs[0];
    desc[0].len = 64;
    desc[0].flags = VIRTQ_DESC_F_WRITE;
    desc[0].next = 0;
    submit(b, 0, 1);
    CHECK_EQ(used.ring[0].id, 0);
    CHECK_EQ(used.ring[0].len, 64);
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
    submit(b, 1, 2);
    CHECK_EQ(used.ring[1].id, 1);
    CHECK_EQ(used.ring[1].len, 96);
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
