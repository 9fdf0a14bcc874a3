/* Helpers for the virt board programs: MMIO accessors, the CLINT's mtime
 * and a bounded wait. Addresses are in ../env/encoding.h. */
#ifndef VIRT_H
#define VIRT_H

#include <stdint.h>
#include "libtest.h"

static inline uint8_t rd8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint32_t rd32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static inline uint64_t rd64(uint64_t a) { return *(volatile uint64_t *)(uintptr_t)a; }
static inline void wr8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
static inline void wr16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
static inline void wr32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
static inline void wr64(uint64_t a, uint64_t v) { *(volatile uint64_t *)(uintptr_t)a = v; }

/* CLINT (ACLINT MSWI + MTIMER), 10 MHz timebase. */
#define TIMEBASE_HZ     10000000ull
#define CLINT_MSIP_H(h)     (CLINT_MSIP + 4ull * (h))
#define CLINT_MTIMECMP_H(h) (CLINT_MTIMECMP + 8ull * (h))
static inline uint64_t mtime(void) { return rd64(CLINT_MTIME); }

/* PLIC (virt: 96 sources, 3 priority bits; context 2h = hart h M-mode,
 * 2h + 1 = hart h S-mode). */
#define PLIC_PRIORITY(s)     (PLIC_BASE + 4ull * (s))
#define PLIC_PENDING(w)      (PLIC_BASE + 0x1000 + 4ull * (w))
#define PLIC_ENABLE(c, w)    (PLIC_BASE + 0x2000 + 0x80ull * (c) + 4ull * (w))
#define PLIC_THRESHOLD(c)    (PLIC_BASE + 0x200000 + 0x1000ull * (c))
#define PLIC_CLAIM(c)        (PLIC_BASE + 0x200004 + 0x1000ull * (c))
#define PLIC_CTX_M(h)        (2 * (h))
#define PLIC_CTX_S(h)        (2 * (h) + 1)

#define UART(r) (UART0_BASE + (r))

/* goldfish RTC registers (32-bit). */
#define RTC_TIME_LOW        (RTC_BASE + 0x00)
#define RTC_TIME_HIGH       (RTC_BASE + 0x04)
#define RTC_ALARM_LOW       (RTC_BASE + 0x08)
#define RTC_ALARM_HIGH      (RTC_BASE + 0x0c)
#define RTC_IRQ_ENABLED     (RTC_BASE + 0x10)
#define RTC_CLEAR_ALARM     (RTC_BASE + 0x14)
#define RTC_ALARM_STATUS    (RTC_BASE + 0x18)
#define RTC_CLEAR_INTERRUPT (RTC_BASE + 0x1c)
/* Nanoseconds since the epoch: TIME_LOW first (it latches TIME_HIGH). */
static inline uint64_t rtc_now(void)
{
    uint64_t lo = rd32(RTC_TIME_LOW);
    return ((uint64_t)rd32(RTC_TIME_HIGH) << 32) | lo;
}
static inline void rtc_set_alarm(uint64_t ns)
{
    wr32(RTC_ALARM_HIGH, (uint32_t)(ns >> 32));
    wr32(RTC_ALARM_LOW, (uint32_t)ns);      /* arms it */
}
static inline int plic_pending(int src)
{
    return (rd32(PLIC_PENDING(src / 32)) >> (src % 32)) & 1;
}

/* Run an access stub (cstub.S) in M-mode: returns the trap cause, which
 * is CAUSE_MACHINE_ECALL when the access itself did not trap. */
#define M_CALL(stub, a0, a1) \
        mode_call(PRV_M, (uint64_t)(uintptr_t)(stub), (a0), (a1))

/* Spin until cond holds or `ticks` of mtime pass; returns whether cond
 * held. The bound only keeps a broken emulator from hanging the test
 * (the runner also has a timeout); it is never what a test asserts. */
#define WAIT_UNTIL(cond, ticks) ({                              \
        uint64_t __end = mtime() + (ticks);                     \
        int __ok = 0;                                           \
        for (;;) {                                              \
            if (cond) { __ok = 1; break; }                      \
            if (mtime() > __end) break;                         \
        }                                                       \
        __ok; })

#endif
