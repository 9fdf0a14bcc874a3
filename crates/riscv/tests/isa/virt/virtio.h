/* A minimal virtio-mmio (version 2) driver for the virt programs: the
 * split virtqueue layout, the initialisation steps and request
 * submission (virtio v1.2 sections 2.7, 3.1, 4.2; spec riscv-virt-tcg.md
 * 2.6). One queue (0) of QSIZE entries per program. */
#ifndef VIRTIO_H
#define VIRTIO_H

#include "virt.h"

#define VIRTIO_T(n) (VIRTIO_BASE + 0x1000ull * (n))
#define QSIZE 8

/* Register offsets. */
#define VIO_MAGIC        0x000
#define VIO_VERSION      0x004
#define VIO_DEVICE_ID    0x008
#define VIO_VENDOR_ID    0x00c
#define VIO_DEV_FEAT     0x010
#define VIO_DEV_FEAT_SEL 0x014
#define VIO_DRV_FEAT     0x020
#define VIO_DRV_FEAT_SEL 0x024
#define VIO_QUEUE_SEL    0x030
#define VIO_QUEUE_NUM_MAX 0x034
#define VIO_QUEUE_NUM    0x038
#define VIO_QUEUE_READY  0x044
#define VIO_QUEUE_NOTIFY 0x050
#define VIO_INT_STATUS   0x060
#define VIO_INT_ACK      0x064
#define VIO_STATUS       0x070
#define VIO_QUEUE_DESC   0x080
#define VIO_QUEUE_DRIVER 0x090
#define VIO_QUEUE_DEVICE 0x0a0
#define VIO_CONFIG       0x100

#define ST_ACK         1
#define ST_DRIVER      2
#define ST_DRIVER_OK   4
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

static inline void mb(void)
{
    __asm__ volatile("fence iorw, iorw" ::: "memory");
}

/* Reset, ACKNOWLEDGE, DRIVER. */
static inline void virtio_begin(uint64_t b)
{
    wr32(b + VIO_STATUS, 0);
    CHECK_EQ(rd32(b + VIO_STATUS), 0);
    wr32(b + VIO_STATUS, ST_ACK);
    wr32(b + VIO_STATUS, ST_ACK | ST_DRIVER);
    CHECK_EQ(rd32(b + VIO_STATUS), ST_ACK | ST_DRIVER);
}

/* Device feature word `sel` (0: bits 0-31, 1: bits 32-63). */
static inline uint32_t virtio_features(uint64_t b, uint32_t sel)
{
    wr32(b + VIO_DEV_FEAT_SEL, sel);
    return rd32(b + VIO_DEV_FEAT);
}

/* Accept features (lo, hi); FEATURES_OK must stick. */
static inline void virtio_accept(uint64_t b, uint32_t lo, uint32_t hi)
{
    wr32(b + VIO_DRV_FEAT_SEL, 1);
    wr32(b + VIO_DRV_FEAT, hi);
    wr32(b + VIO_DRV_FEAT_SEL, 0);
    wr32(b + VIO_DRV_FEAT, lo);
    wr32(b + VIO_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
    CHECK_EQ(rd32(b + VIO_STATUS), ST_ACK | ST_DRIVER | ST_FEATURES_OK);
}

/* Queue 0 set-up with our rings, then DRIVER_OK. */
static inline void virtio_queue(uint64_t b)
{
    wr32(b + VIO_QUEUE_SEL, 0);
    CHECK_TRUE(rd32(b + VIO_QUEUE_NUM_MAX) >= QSIZE);
    CHECK_EQ(rd32(b + VIO_QUEUE_READY), 0);
    wr32(b + VIO_QUEUE_NUM, QSIZE);
    wr32(b + VIO_QUEUE_DESC, (uint32_t)(uintptr_t)desc);
    wr32(b + VIO_QUEUE_DESC + 4, 0);
    wr32(b + VIO_QUEUE_DRIVER, (uint32_t)(uintptr_t)&avail);
    wr32(b + VIO_QUEUE_DRIVER + 4, 0);
    wr32(b + VIO_QUEUE_DEVICE, (uint32_t)(uintptr_t)&used);
    wr32(b + VIO_QUEUE_DEVICE + 4, 0);
    wr32(b + VIO_QUEUE_READY, 1);
    CHECK_EQ(rd32(b + VIO_QUEUE_READY), 1);
    wr32(b + VIO_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    CHECK_EQ(rd32(b + VIO_STATUS), ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

/* Publish chain `head` in the available ring, notify queue 0 and wait
 * until the used ring has advanced by one; returns its element. */
static inline volatile struct virtq_used_elem *virtio_submit(uint64_t b, uint16_t head)
{
    uint16_t want = (uint16_t)(used.idx + 1);
    avail.ring[avail.idx % QSIZE] = head;
    mb();
    avail.idx = (uint16_t)(avail.idx + 1);
    mb();
    wr32(b + VIO_QUEUE_NOTIFY, 0);
    CHECK_TRUE(WAIT_UNTIL(used.idx == want, 10 * TIMEBASE_HZ));
    mb();
    return &used.ring[(uint16_t)(want - 1) % QSIZE];
}

#endif
