/* The few libc functions the firmware and gcc's code generation need when linking with
 * -nostdlib (no newlib). */
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) { /* word copy, 8 words per turn (ldm/stm) */
        typedef struct { uint32_t w[8]; } block8;
        block8 *db = (block8 *)(void *)d;
        const block8 *sb = (const block8 *)(const void *)s;
        for (; n >= sizeof(block8); n -= sizeof(block8)) *db++ = *sb++;
        uint32_t *dw = (uint32_t *)(void *)db;
        const uint32_t *sw = (const uint32_t *)(const void *)sb;
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
