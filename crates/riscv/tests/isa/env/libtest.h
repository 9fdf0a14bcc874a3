/* C side of the ISA test runtime (see ../README.md). */
#ifndef ISA_LIBTEST_H
#define ISA_LIBTEST_H

#include <stdint.h>
#include "encoding.h"

void htif_putc(int c);
void htif_puts(const char *s);
void htif_puthex(uint64_t v);
void htif_putdec(uint64_t v);
/* 0 = pass, n = fail test n. Never returns. */
__attribute__((noreturn)) void test_exit(uint64_t code);

/* Recorded by the M-mode trap handler (crt.S). */
extern volatile uint64_t trap_mcause, trap_mepc, trap_mtval, trap_mstatus,
    trap_mode, trap_count, trap_resume;

/* See cstub.S. */
uint64_t mode_call(uint64_t mode, uint64_t pc, uint64_t a0, uint64_t a1);
uint64_t mprv_ld(uint64_t addr, uint64_t mpp);
extern volatile uint64_t mode_call_a0;
extern char stubs_start[], stubs_end[], stub_ld[], stub_lbu[], stub_sd[],
    stub_sb[], stub_amoadd[], stub_lrsc[], stub_jump[], stub_ecall[],
    stub_fld[], stub_lwu[], stub_sw[], stub_sh[];

#define ECALL_FROM(mode) ((uint64_t)CAUSE_USER_ECALL + (mode))

#define csr_read(csr) ({ uint64_t __v; \
        __asm__ volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define csr_write(csr, val) \
        __asm__ volatile("csrw " #csr ", %0" :: "r"((uint64_t)(val)) : "memory")
#define csr_set(csr, val) \
        __asm__ volatile("csrs " #csr ", %0" :: "r"((uint64_t)(val)) : "memory")
#define csr_clear(csr, val) \
        __asm__ volatile("csrc " #csr ", %0" :: "r"((uint64_t)(val)) : "memory")

static inline void sfence_vma_all(void) { __asm__ volatile("sfence.vma" ::: "memory"); }
static inline void fence_i(void) { __asm__ volatile("fence.i" ::: "memory"); }

/* Current sub-test number, reported by check() on failure. */
extern uint64_t test_num;
/* Fail test_num (printing the source line and the values) unless
 * got == want. */
#define CHECK_EQ(got, want) check_eq((uint64_t)(got), (uint64_t)(want), __LINE__)
void check_eq(uint64_t got, uint64_t want, int line);
#define CHECK_TRUE(cond) check_eq(!!(cond), 1, __LINE__)

#endif
