/* HTIF console: printf-style output through picolibc's stdout, which the
 * runtime sends to the HTIF console device one byte at a time. run-qemu.sh
 * compares the output with console.expect, byte for byte. */
#include <stdio.h>
#include "libtest.h"

int main(void)
{
    test_num = 1;
    printf("hello from the spike board\n");
    printf("%d %u %x %lx %s %c|%5d|%-5d|%05d\n", -42, 42u, 0xbeefu,
           0x123456789abcdef0ul, "str", 'c', 7, 7, 7);
    /* Every printable byte, and a tab. */
    for (int c = 32; c < 127; c++)
        putchar(c);
    putchar('\t');
    putchar('\n');
    htif_puts("raw ");
    htif_puthex(0xfedcba9876543210ull);
    htif_putc(' ');
    htif_putdec(18446744073709551615ull);
    htif_putc('\n');
    /* fflush is a no-op on this unbuffered stream but must work. */
    CHECK_EQ(fflush(stdout), 0);
    return 0;
}
