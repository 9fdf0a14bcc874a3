/*
 * Guest side of crates/softfloat/tests/qemu_diff.rs: runs RISC-V F/D
 * instructions under qemu-system-riscv64 (-M virt, picolibc, semihosting)
 * and compares result and fflags with what ferrite-softfloat computed for
 * the same operands. The test writes cases.h (the `cases` table, ferrite's
 * expectations) before compiling this file.
 */
#include <stdint.h>
#include <stdio.h>

struct fcase {
    uint64_t a, b, c, expect;
    uint8_t op, rm, flags, preset; /* preset: fflags before the instruction */
};

#include "cases.h"

#define F2(id, insn, mv, mvx) \
    case id: __asm__ volatile(mv " ft0, %1\n\t" mv " ft1, %2\n\t" insn " ft2, ft0, ft1\n\t" mvx " %0, ft2" \
                              : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); break;
#define F3(id, insn, mv, mvx) \
    case id: __asm__ volatile(mv " ft0, %1\n\t" mv " ft1, %2\n\t" mv " ft2, %3\n\t" insn " ft3, ft0, ft1, ft2\n\t" mvx " %0, ft3" \
                              : "=r"(r) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3"); break;
#define F1(id, insn, mv, mvx) \
    case id: __asm__ volatile(mv " ft0, %1\n\t" insn " ft1, ft0\n\t" mvx " %0, ft1" \
                              : "=r"(r) : "r"(a) : "ft0", "ft1"); break;
#define FX2(id, insn, mv) \
    case id: __asm__ volatile(mv " ft0, %1\n\t" mv " ft1, %2\n\t" insn " %0, ft0, ft1" \
                              : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1"); break;
#define FX1(id, insn, mv) \
    case id: __asm__ volatile(mv " ft0, %1\n\t" insn " %0, ft0" : "=r"(r) : "r"(a) : "ft0"); break;
#define XF1(id, insn, mvx) \
    case id: __asm__ volatile(insn " ft0, %1\n\t" mvx " %0, ft0" : "=r"(r) : "r"(a) : "ft0"); break;

static uint64_t run(unsigned op, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t r = 0;
    switch (op) {
    F2(0, "fadd.d", "fmv.d.x", "fmv.x.d")
    F2(1, "fsub.d", "fmv.d.x", "fmv.x.d")
    F2(2, "fmul.d", "fmv.d.x", "fmv.x.d")
    F2(3, "fdiv.d", "fmv.d.x", "fmv.x.d")
    F1(4, "fsqrt.d", "fmv.d.x", "fmv.x.d")
    F3(5, "fmadd.d", "fmv.d.x", "fmv.x.d")
    F3(6, "fmsub.d", "fmv.d.x", "fmv.x.d")
    F3(7, "fnmsub.d", "fmv.d.x", "fmv.x.d")
    F3(8, "fnmadd.d", "fmv.d.x", "fmv.x.d")
    F2(9, "fmin.d", "fmv.d.x", "fmv.x.d")
    F2(10, "fmax.d", "fmv.d.x", "fmv.x.d")
    FX2(11, "feq.d", "fmv.d.x")
    FX2(12, "flt.d", "fmv.d.x")
    FX2(13, "fle.d", "fmv.d.x")
    FX1(14, "fclass.d", "fmv.d.x")
    FX1(15, "fcvt.w.d", "fmv.d.x")
    FX1(16, "fcvt.wu.d", "fmv.d.x")
    FX1(17, "fcvt.l.d", "fmv.d.x")
    FX1(18, "fcvt.lu.d", "fmv.d.x")
    XF1(19, "fcvt.d.w", "fmv.x.d")
    XF1(20, "fcvt.d.wu", "fmv.x.d")
    XF1(21, "fcvt.d.l", "fmv.x.d")
    XF1(22, "fcvt.d.lu", "fmv.x.d")
    F1(23, "fcvt.s.d", "fmv.d.x", "fmv.x.w")
    F2(24, "fadd.s", "fmv.w.x", "fmv.x.w")
    F2(25, "fsub.s", "fmv.w.x", "fmv.x.w")
    F2(26, "fmul.s", "fmv.w.x", "fmv.x.w")
    F2(27, "fdiv.s", "fmv.w.x", "fmv.x.w")
    F1(28, "fsqrt.s", "fmv.w.x", "fmv.x.w")
    F3(29, "fmadd.s", "fmv.w.x", "fmv.x.w")
    F3(30, "fmsub.s", "fmv.w.x", "fmv.x.w")
    F3(31, "fnmsub.s", "fmv.w.x", "fmv.x.w")
    F3(32, "fnmadd.s", "fmv.w.x", "fmv.x.w")
    F2(33, "fmin.s", "fmv.w.x", "fmv.x.w")
    F2(34, "fmax.s", "fmv.w.x", "fmv.x.w")
    FX2(35, "feq.s", "fmv.w.x")
    FX2(36, "flt.s", "fmv.w.x")
    FX2(37, "fle.s", "fmv.w.x")
    FX1(38, "fclass.s", "fmv.w.x")
    FX1(39, "fcvt.w.s", "fmv.w.x")
    FX1(40, "fcvt.wu.s", "fmv.w.x")
    FX1(41, "fcvt.l.s", "fmv.w.x")
    FX1(42, "fcvt.lu.s", "fmv.w.x")
    XF1(43, "fcvt.s.w", "fmv.x.w")
    XF1(44, "fcvt.s.wu", "fmv.x.w")
    XF1(45, "fcvt.s.l", "fmv.x.w")
    XF1(46, "fcvt.s.lu", "fmv.x.w")
    F1(47, "fcvt.d.s", "fmv.w.x", "fmv.x.d")
    default: break;
    }
    return r;
}

/* Ops whose result is a binary32 in an f register, read back with
 * fmv.x.w (sign-extended): only the low 32 bits are compared. */
static int f32_result(unsigned op)
{
    return op == 23 || (op >= 24 && op <= 34) || (op >= 43 && op <= 46);
}

int main(void)
{
    unsigned long passed = 0, failed = 0;
    for (unsigned long i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct fcase *k = &cases[i];
        __asm__ volatile("fsrm %0" : : "r"((unsigned long)k->rm));
        __asm__ volatile("fsflags %0" : : "r"((unsigned long)k->preset));
        uint64_t r = run(k->op, k->a, k->b, k->c);
        unsigned long flags;
        __asm__ volatile("frflags %0" : "=r"(flags));
        uint64_t want = k->expect;
        if (f32_result(k->op)) {
            r &= 0xffffffffu;
            want &= 0xffffffffu;
        }
        if (r == want && flags == k->flags) {
            passed++;
        } else {
            failed++;
            if (failed <= 40)
                printf("MISMATCH op=%u rm=%u preset=%#x a=%#lx b=%#lx c=%#lx qemu=%#lx/%#lx ferrite=%#lx/%#x\n",
                       k->op, k->rm, k->preset, (unsigned long)k->a, (unsigned long)k->b, (unsigned long)k->c,
                       (unsigned long)r, flags, (unsigned long)want, k->flags);
        }
    }
    printf("qemu-diff: %lu passed, %lu failed\n", passed, failed);
    return failed != 0;
}
