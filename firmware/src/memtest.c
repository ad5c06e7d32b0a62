#include "memtest.h"
#include "fb_protocol.h"
#include "hal_mem.h"
#include "kernels.h"

#define BLOCK 64u

uint32_t fb_xorshift32(uint32_t *state) {
    uint32_t s = *state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return *state = s;
}

uint32_t fb_pattern_seed(uint32_t seed) { return seed ? seed : 0x9E3779B9u; }

uint32_t fb_pattern_word(int kind, uint32_t addr, uint32_t *state) {
    switch (kind) {
    case FB_PAT_ZEROS: return 0u;
    case FB_PAT_ONES: return 0xFFFFFFFFu;
    case FB_PAT_CHECKERBOARD: return (addr & 1u) ? 0xAAAAAAAAu : 0x55555555u;
    default: return fb_xorshift32(state);
    }
}

int fb_memtest(int kind, uint32_t seed, uint32_t addr, uint32_t n, int write,
               uint32_t *list, uint32_t cap, fb_memtest_result *res) {
    uint32_t buf[BLOCK], state;
    if (kind < FB_PAT_ZEROS || kind > FB_PAT_RANDOM) return -1;
    res->flips_0to1 = res->flips_1to0 = res->n_reported = res->truncated = 0;
    if (write) {
        state = fb_pattern_seed(seed);
        for (uint32_t done = 0; done < n;) {
            uint32_t m = n - done < BLOCK ? n - done : BLOCK;
            for (uint32_t i = 0; i < m; i++) buf[i] = fb_pattern_word(kind, addr + done + i, &state);
            hal_mem_write_block(addr + done, buf, m);
            done += m;
        }
    }
    state = fb_pattern_seed(seed);
    for (uint32_t done = 0; done < n;) {
        uint32_t m = n - done < BLOCK ? n - done : BLOCK;
        hal_mem_read_block(addr + done, buf, m);
        for (uint32_t i = 0; i < m; i++) {
            uint32_t a = addr + done + i, expect = fb_pattern_word(kind, a, &state);
            uint32_t diff = buf[i] ^ expect;
            if (!diff) continue;
            res->flips_0to1 += fb_pop32(diff & buf[i]);
            res->flips_1to0 += fb_pop32(diff & expect);
            for (uint32_t d = diff; d; d &= d - 1u) { /* set bits only, lowest first */
                if (res->n_reported < cap) list[res->n_reported++] = a * 32u + (uint32_t)__builtin_ctz(d);
                else res->truncated = 1;
            }
        }
        done += m;
    }
    return 0;
}
