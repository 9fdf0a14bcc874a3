/* A virtio-blk device (version-2 transport) over a raw image, driven like
 * Linux's driver; virtio_blk.args runs it on a fresh 64 KiB image (every
 * byte 'Z', see run-qemu.sh) read-write and with readonly=on (version 2
 * through virtio_blk.qemu-args, as in virtio_mmio.c), and
 * virtio_blk.post checks on the host what reached the file.
 *   1. Device 2 on the highest transport; features: VERSION_1, FLUSH and
 *      BLK_SIZE offered, RO exactly when the drive is read-only; config:
 *      capacity 128 sectors, blk_size 512.
 *   2. Reads (IN): sector 0 and the last sector hold the image's bytes;
 *      the used length counts the data and status bytes written; a read
 *      past the end fails with IOERR.
 *   3. GET_ID returns the -device serial with its NUL (QEMU writes
 *      nothing after the NUL).
 *   4. Read-write: writes (OUT) of one and of two sectors, FLUSH, reading
 *      them back; the host file holds them afterwards (.post). Read-only:
 *      a write fails with IOERR and changes nothing (.post: the file is
 *      untouched); FLUSH still succeeds.
 *   5. An unknown request type completes with UNSUPP.
 *   6. Used-buffer interrupts: InterruptStatus bit 0, PLIC source 8.
 * Spec: riscv-virt-tcg.md 2.6-2.7; issue 5 (virtio-blk). */
#include <string.h>
#include "virtio.h"

#define T_IN     0
#define T_OUT    1
#define T_FLUSH  4
#define T_GET_ID 8
#define S_OK     0
#define S_IOERR  1
#define S_UNSUPP 2

#define F_RO       (1u << 5)
#define F_BLK_SIZE (1u << 6)
#define F_FLUSH    (1u << 9)

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

static volatile struct blk_hdr hdr __attribute__((aligned(16)));
static volatile uint8_t data[1024] __attribute__((aligned(512)));
static volatile uint8_t status;

static uint64_t b;

/* One request: header, optional data buffer (device-writable for IN and
 * GET_ID), status byte. Returns the status; *len gets the used length. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t len, uint32_t *used_len)
{
    hdr.type = type;
    hdr.reserved = 0;
    hdr.sector = sector;
    status = 0xff;
    int d = 0;
    desc[d].addr = (uint64_t)(uintptr_t)&hdr;
    desc[d].len = sizeof hdr;
    desc[d].flags = VIRTQ_DESC_F_NEXT;
    desc[d].next = (uint16_t)(d + 1);
    d++;
    if (len) {
        desc[d].addr = (uint64_t)(uintptr_t)data;
        desc[d].len = len;
        desc[d].flags = VIRTQ_DESC_F_NEXT |
                        (type == T_OUT ? 0 : VIRTQ_DESC_F_WRITE);
        desc[d].next = (uint16_t)(d + 1);
        d++;
    }
    desc[d].addr = (uint64_t)(uintptr_t)&status;
    desc[d].len = 1;
    desc[d].flags = VIRTQ_DESC_F_WRITE;
    desc[d].next = 0;
    volatile struct virtq_used_elem *e = virtio_submit(b, 0);
    CHECK_EQ(e->id, 0);
    *used_len = e->len;
    /* Acknowledge the interrupt at the device and the PLIC. */
    CHECK_EQ(rd32(b + VIO_INT_STATUS) & 1, 1);
    wr32(b + VIO_INT_ACK, 1);
    CHECK_EQ(rd32(PLIC_CLAIM(PLIC_CTX_M(0))), VIRTIO_COUNT);
    wr32(PLIC_CLAIM(PLIC_CTX_M(0)), VIRTIO_COUNT);
    return status;
}

static void fill(const char *pat, uint32_t len)
{
    size_t n = strlen(pat);
    for (uint32_t i = 0; i < len; i++)
        data[i] = (uint8_t)pat[i % n];
}

static int all(uint8_t v, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (data[i] != v)
            return 0;
    return 1;
}

static int matches(const char *pat, uint32_t len)
{
    size_t n = strlen(pat);
    for (uint32_t i = 0; i < len; i++)
        if (data[i] != (uint8_t)pat[i % n])
            return 0;
    return 1;
}

int main(void)
{
    uint32_t len;

    /* 1: device, features, config. */
    test_num = 1;
    b = VIRTIO_T(VIRTIO_COUNT - 1);
    CHECK_EQ(rd32(b + VIO_DEVICE_ID), 2);
    virtio_begin(b);
    CHECK_EQ(virtio_features(b, 1) & 1, 1);
    uint32_t f = virtio_features(b, 0);
    CHECK_EQ(f & (F_FLUSH | F_BLK_SIZE), F_FLUSH | F_BLK_SIZE);
    int ro = (f & F_RO) != 0;
    virtio_accept(b, F_FLUSH | F_BLK_SIZE | (f & F_RO), 1);
    CHECK_EQ(rd32(b + VIO_CONFIG + 0), 128);    /* capacity, low */
    CHECK_EQ(rd32(b + VIO_CONFIG + 4), 0);      /* capacity, high */
    CHECK_EQ(rd32(b + VIO_CONFIG + 20), 512);   /* blk_size */
    virtio_queue(b);
    wr32(PLIC_PRIORITY(VIRTIO_COUNT), 1);
    wr32(PLIC_THRESHOLD(PLIC_CTX_M(0)), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 1u << VIRTIO_COUNT);

    /* 2: reads. */
    test_num = 2;
    memset((void *)data, 0, sizeof data);
    CHECK_EQ(request(T_IN, 0, 512, &len), S_OK);
    CHECK_EQ(len, 513);
    CHECK_TRUE(all('Z', 512));
    memset((void *)data, 0, sizeof data);
    CHECK_EQ(request(T_IN, 127, 512, &len), S_OK);
    CHECK_TRUE(all('Z', 512));
    CHECK_EQ(request(T_IN, 128, 512, &len), S_IOERR);
    CHECK_EQ(request(T_IN, 127, 1024, &len), S_IOERR);

    /* 3: GET_ID. */
    test_num = 3;
    memset((void *)data, 0xee, sizeof data);
    CHECK_EQ(request(T_GET_ID, 0, 20, &len), S_OK);
    CHECK_EQ(memcmp((const void *)data, "ferrite-disk", 13), 0);  /* with its NUL */
    /* QEMU writes the string and one NUL only (virtio says "NUL-padded
     * if shorter than 20 bytes"; the bytes after the first NUL are left
     * as they were). */
    for (int i = 13; i < 32; i++)
        CHECK_EQ(data[i], 0xee);

    /* 4: writes and flush. */
    test_num = 4;
    fill("ferrite-sector-7", 512);
    uint8_t want = ro ? S_IOERR : S_OK;
    CHECK_EQ(request(T_OUT, 7, 512, &len), want);
    CHECK_EQ(len, 1);                           /* only the status byte */
    fill("ferrite-126-127!", 1024);
    CHECK_EQ(request(T_OUT, 126, 1024, &len), want);
    CHECK_EQ(request(T_FLUSH, 0, 0, &len), S_OK);
    memset((void *)data, 0, sizeof data);
    CHECK_EQ(request(T_IN, 7, 512, &len), S_OK);
    CHECK_TRUE(ro ? all('Z', 512) : matches("ferrite-sector-7", 512));
    memset((void *)data, 0, sizeof data);
    CHECK_EQ(request(T_IN, 126, 1024, &len), S_OK);
    CHECK_TRUE(ro ? all('Z', 1024) : matches("ferrite-126-127!", 1024));

    /* 5: unknown request type. */
    test_num = 5;
    CHECK_EQ(request(0x99, 0, 512, &len), S_UNSUPP);

    /* Reset. */
    test_num = 6;
    wr32(b + VIO_STATUS, 0);
    CHECK_EQ(rd32(b + VIO_STATUS), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 0);
    wr32(PLIC_PRIORITY(VIRTIO_COUNT), 0);
    return 0;
}
