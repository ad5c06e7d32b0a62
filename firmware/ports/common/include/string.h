/* Freestanding <string.h> for the -nostdlib MCU builds (implemented in ../libc_min.c). */
#ifndef FB_MIN_STRING_H
#define FB_MIN_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif
