/* C side of the ISA test runtime: checks, and picolibc's stdout on the
 * HTIF console so C programs can printf. */
#include <stdio.h>
#include "libtest.h"

uint64_t test_num;

void check_eq(uint64_t got, uint64_t want, int line)
{
    if (got == want)
        return;
    htif_puts("check failed at line ");
    htif_putdec((uint64_t)line);
    htif_puts(": got ");
    htif_puthex(got);
    htif_puts(", want ");
    htif_puthex(want);
    htif_puts("\n");
    test_exit(test_num ? test_num : 1337);
}

static int htif_stdio_putc(char c, FILE *f)
{
    (void)f;
    htif_putc((unsigned char)c);
    return (unsigned char)c;
}

static FILE htif_stdio = FDEV_SETUP_STREAM(htif_stdio_putc, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdout = &htif_stdio;
FILE *const stderr = &htif_stdio;
