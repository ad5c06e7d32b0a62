/* The few libc functions the firmware and gcc's code generation need when linking with
 * -nostdlib (no newlib). */
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) { /* word copy, 8 words per turn (one ldm, one stm) */
        uint32_t *dw = (uint32_t *)(void *)d;
        const uint32_t *sw = (const uint32_t *)(const void *)s;
        size_t blocks = n / 32u;
        if (blocks)
            __asm__ volatile("1:\n\t"
                             "ldmia %[s]!, {r3, r4, r5, r6, r7, r8, r9, r10}\n\t"
                             "stmia %[d]!, {r3, r4, r5, r6, r7, r8, r9, r10}\n\t"
                             "subs %[b], %[b], #1\n\t"
                             "bne 1b"
                             : [s] "+r"(sw), [d] "+r"(dw), [b] "+r"(blocks)
                             :
                             : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "cc", "memory");
        n &= 31u;
        for (; n >= 4; n -= 4) *dw++ = *sw++;
        d = (uint8_t *)dw;
        s = (const uint8_t *)sw;
    }
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s) return memcpy(dst, src, n);
    while (n--) d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}
