/* CPU-bound bare-metal guest benchmark for the spike board: CRC-32 over a
 * buffer, a heap sort, a double-precision matrix multiply and an n-body
 * integration. Deterministic: prints one checksum per kernel and a
 * combined one through the HTIF console, then the retired-instruction and
 * cycle counts (minstret/mcycle deltas) so a runner can compute MIPS.
 * Each kernel verifies itself (CRC check value, sortedness, matmul against
 * a closed form) and the program fails (HTIF exit status != 0) if one is
 * wrong. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "libtest.h"

/* Work sizes, tuned for about 1.5 s on QEMU 7.2 TCG on the project's
 * 2-core CI machine. */
#define CRC_BUF   (256 * 1024)
#define CRC_ROUNDS 24
#define SORT_N    (128 * 1024)
#define SORT_ROUNDS 3
#define MAT_N     96
#define MAT_ROUNDS 6
#define NBODY_STEPS 200000

static uint64_t rng_state;
static uint32_t xorshift32(void)
{
    /* xorshift64*, upper half */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* ---- CRC-32 (IEEE 802.3, reflected, table-driven) ---- */
static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_BUF];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, size_t n, uint32_t crc)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t bench_crc(void)
{
    crc_init();
    /* The standard check value. */
    if (crc32((const uint8_t *)"123456789", 9, 0) != 0xCBF43926u) {
        printf("crc32 self-check failed\n");
        test_exit(2);
    }
    rng_state = 0x0123456789abcdefull;
    for (size_t i = 0; i < CRC_BUF; i += 4) {
        uint32_t v = xorshift32();
        memcpy(&crc_buf[i], &v, 4);
    }
    uint32_t crc = 0;
    for (int r = 0; r < CRC_ROUNDS; r++) {
        crc = crc32(crc_buf, CRC_BUF, crc);
        crc_buf[r] ^= (uint8_t)crc;
    }
    return crc;
}

/* ---- heap sort ---- */
static uint32_t sort_buf[SORT_N];

static void sift_down(uint32_t *a, size_t start, size_t end)
{
    size_t root = start;
    while (2 * root + 1 <= end) {
        size_t child = 2 * root + 1;
        if (child + 1 <= end && a[child] < a[child + 1])
            child++;
        if (a[root] >= a[child])
            return;
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void heap_sort(uint32_t *a, size_t n)
{
    for (size_t start = n / 2; start-- > 0;)
        sift_down(a, start, n - 1);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end - 1);
    }
}

static uint32_t bench_sort(void)
{
    uint32_t sum = 0;
    rng_state = 0xfeedfacecafebeefull;
    for (int r = 0; r < SORT_ROUNDS; r++) {
        for (size_t i = 0; i < SORT_N; i++)
            sort_buf[i] = xorshift32();
        heap_sort(sort_buf, SORT_N);
        for (size_t i = 1; i < SORT_N; i++) {
            if (sort_buf[i - 1] > sort_buf[i]) {
                printf("sort: not sorted at %lu\n", (unsigned long)i);
                test_exit(3);
            }
        }
        for (size_t i = 0; i < SORT_N; i += 97)
            sum = sum * 31 + sort_buf[i];
    }
    return sum;
}

/* ---- matrix multiply ---- */
static double ma[MAT_N][MAT_N], mb[MAT_N][MAT_N], mc[MAT_N][MAT_N];

static uint64_t bench_matmul(void)
{
    /* A[i][k] = i + k, B[k][j] = k - j (exact small integers, so every
     * product and sum is exact and can be checked in closed form). */
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            ma[i][j] = (double)(i + j);
            mb[i][j] = (double)(i - j);
        }
    double total = 0.0;
    for (int r = 0; r < MAT_ROUNDS; r++) {
        for (int i = 0; i < MAT_N; i++)
            for (int j = 0; j < MAT_N; j++) {
                double s = 0.0;
                for (int k = 0; k < MAT_N; k++)
                    s += ma[i][k] * mb[k][j];
                mc[i][j] = s;
            }
        /* Mix a non-integer scale into the total so rounding matters. */
        for (int i = 0; i < MAT_N; i++)
            total = total * 0.999 + mc[i][(i * 7 + r) % MAT_N] / 3.0;
    }
    /* C[i][j] = sum_k (i+k)(k-j) = n*(-ij) + (i-j)*S1 + S2 with
     * S1 = sum k, S2 = sum k^2. */
    int64_t n = MAT_N, s1 = n * (n - 1) / 2, s2 = (n - 1) * n * (2 * n - 1) / 6;
    for (int i = 0; i < MAT_N; i += 13)
        for (int j = 0; j < MAT_N; j += 11) {
            int64_t want = -n * i * j + (int64_t)(i - j) * s1 + s2;
            if (mc[i][j] != (double)want) {
                printf("matmul: wrong C[%d][%d]\n", i, j);
                test_exit(4);
            }
        }
    uint64_t bits;
    memcpy(&bits, &total, 8);
    return bits;
}

/* ---- n-body (5 bodies, Euler steps; uses fsqrt and fdiv) ---- */
struct body { double x, y, z, vx, vy, vz, m; };

static uint64_t bench_nbody(void)
{
    struct body b[5] = {
        {0, 0, 0, 0, 0, 0, 39.47841760435743},
        {4.84143144246472090, -1.16032004402742839, -0.103622044471123109,
         0.606326392995832, 2.81198684491626, -0.02521836165988763, 0.03769367487038949},
        {8.34336671824457987, 4.12479856412430479, -0.403523417114321381,
         -1.01077434617730, 1.82566237123041, 0.008415761376584154, 0.011286326131968767},
        {12.8943695621391310, -15.1111514016986312, -0.223307578892655734,
         1.08279100644154, 0.868713018169608, -0.01083263724517, 0.0017237240570597112},
        {15.3796971148509165, -25.9193146099879641, 0.179258772950371181,
         0.979090732243898, 0.594698998647676, -0.034755955504078, 0.0020336868699246304},
    };
    const double dt = 0.01;
    for (int s = 0; s < NBODY_STEPS; s++) {
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
                double d2 = dx * dx + dy * dy + dz * dz;
                double mag = dt / (d2 * __builtin_sqrt(d2));
                b[i].vx -= dx * b[j].m * mag;
                b[i].vy -= dy * b[j].m * mag;
                b[i].vz -= dz * b[j].m * mag;
                b[j].vx += dx * b[i].m * mag;
                b[j].vy += dy * b[i].m * mag;
                b[j].vz += dz * b[i].m * mag;
            }
        for (int i = 0; i < 5; i++) {
            b[i].x += dt * b[i].vx;
            b[i].y += dt * b[i].vy;
            b[i].z += dt * b[i].vz;
        }
    }
    double e = 0;
    for (int i = 0; i < 5; i++)
        e += b[i].x + 2 * b[i].y + 3 * b[i].z + b[i].vx;
    uint64_t bits;
    memcpy(&bits, &e, 8);
    return bits;
}

int main(void)
{
    uint64_t i0 = csr_read(minstret), c0 = csr_read(mcycle);
    uint32_t crc = bench_crc();
    uint32_t srt = bench_sort();
    uint64_t mm = bench_matmul();
    uint64_t nb = bench_nbody();
    uint64_t i1 = csr_read(minstret), c1 = csr_read(mcycle);

    uint32_t all = crc32((const uint8_t *)&srt, 4, crc);
    all = crc32((const uint8_t *)&mm, 8, all);
    all = crc32((const uint8_t *)&nb, 8, all);
    printf("crc32:    0x%08lx\n", (unsigned long)crc);
    printf("sort:     0x%08lx\n", (unsigned long)srt);
    printf("matmul:   0x%016lx\n", (unsigned long)mm);
    printf("nbody:    0x%016lx\n", (unsigned long)nb);
    printf("checksum: 0x%08lx\n", (unsigned long)all);
    printf("minstret: %lu\n", (unsigned long)(i1 - i0));
    printf("mcycle:   %lu\n", (unsigned long)(c1 - c0));
    return 0;
}
