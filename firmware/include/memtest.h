/* Memory tests: write a pattern into the memory under test, read it back, count and report
 * the flipped bits (the raw material of fault maps). Patterns (PROTOCOL.md "Patterns"):
 *   ZEROS 0x00000000, ONES 0xFFFFFFFF, CHECKERBOARD word a = (a odd ? 0xAAAAAAAA : 0x55555555),
 *   RANDOM xorshift32 stream seeded per request (fb_xorshift32), one value per word from the
 *   first word of the region: s = seed ? seed : 0x9E3779B9; s ^= s<<13; s ^= s>>17; s ^= s<<5. */
#ifndef FB_MEMTEST_H
#define FB_MEMTEST_H
#include <stdint.h>

typedef struct {
    uint32_t flips_0to1;    /* expected 0, read 1 */
    uint32_t flips_1to0;
    uint32_t n_reported;    /* bit addresses written to the caller's list */
    uint32_t truncated;     /* 1 if more flips than the list holds */
} fb_memtest_result;

uint32_t fb_xorshift32(uint32_t *state);
/* Expected word generator for a pattern; state starts as fb_pattern_seed(seed). */
uint32_t fb_pattern_seed(uint32_t seed);
uint32_t fb_pattern_word(int kind, uint32_t addr, uint32_t *state);

/* write=1: write the pattern first; then read back [addr, addr+n) in blocks and compare.
 * Global bit addresses (32*word + bit) of flips go to list[0..cap). Returns 0, or -1 for an
 * unknown pattern kind. Caller guarantees the range is inside the memory. */
int fb_memtest(int kind, uint32_t seed, uint32_t addr, uint32_t n, int write,
               uint32_t *list, uint32_t cap, fb_memtest_result *res);
#endif
