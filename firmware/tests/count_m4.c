/* Cortex-M4 instruction counts of the fast binary kernels, under QEMU -icount shift=0
 * (make count-m4; benchmarks/qemu_instructions.py parses the output). SysTick runs at 25 MHz
 * and one instruction takes 1 ns of virtual time, so a tick is 40 instructions; each case
 * repeats its kernel until at least 200000 instructions have run, so the 40-instruction
 * resolution costs < 0.02%. -icount is deterministic: the same image gives the same counts.
 * One line per case: name words instructions_per_call (words = 32-bit weight words used; for
 * the threshold, outputs; for the HWC -> CHW flatten, input words). conv* cases count
 * fb_bin_conv_fast (int32 z), conv*_sliced the conv fused with its threshold
 * (fb_bin_conv_sliced, what the runner uses for binary conv layers with binary output). The
 * memory HAL's block read is counted as the memcpy it is on the RAM HAL. */
#include <stdint.h>
#include <string.h>
#include "kernels.h"

void sh_puts(const char *s);

#define REG(a) (*(volatile uint32_t *)(a))
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define INSTR_PER_TICK 40u
#define MIN_INSTR 200000u

static uint32_t ticks(void) { return 0xFFFFFFu - SYST_CVR; } /* < 2^24 ticks per case: no wrap */

static char line[96];
static char *put_u(char *p, uint32_t v) {
    char tmp[10];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}
static void report(const char *name, uint32_t words, uint32_t total, uint32_t reps) {
    char *p = line;
    while (*name) *p++ = *name++;
    *p++ = ' ';
    p = put_u(p, words);
    *p++ = ' ';
    /* instructions per call with three decimals */
    uint64_t milli = (uint64_t)total * INSTR_PER_TICK * 1000u / reps;
    p = put_u(p, (uint32_t)(milli / 1000u));
    *p++ = '.';
    uint32_t frac = (uint32_t)(milli % 1000u);
    *p++ = (char)('0' + frac / 100u);
    *p++ = (char)('0' + frac / 10u % 10u);
    *p++ = (char)('0' + frac % 10u);
    *p++ = '\n';
    *p = 0;
    sh_puts(line);
}

#define COUNT(name, words, stmt)                                                 \
    do {                                                                         \
        uint32_t reps_ = 0, t0_ = ticks(), t_;                                   \
        do { stmt; reps_++; t_ = ticks() - t0_; } while (t_ * INSTR_PER_TICK < MIN_INSTR); \
        report(name, words, t_, reps_);                                          \
    } while (0)

static uint32_t rng = 7u;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

#define MAXW 16384u
static uint32_t x[MAXW], w[MAXW], wcopy[MAXW], buf[MAXW], bits[MAXW];
static int32_t out[MAXW];

static void fill(uint32_t *v, uint32_t n) { for (uint32_t i = 0; i < n; i++) v[i] = rnd(); }

static void fc(const char *name, uint32_t k, uint32_t n_out) {
    uint32_t words = n_out * fb_words(k);
    fill(x, fb_words(k));
    fill(w, words);
    COUNT(name, words, fb_bin_fc_fast(x, w, k, n_out, out));
}

static int32_t tau[256];
static uint32_t flip[8];

/* the int32 conv (name), and the conv fused with the threshold, bit-sliced (name_sliced) */
static void conv(const char *name, const char *sliced, uint16_t hw, uint16_t c, uint16_t oc, uint8_t kk) {
    fb_conv_shape s = {hw, hw, c, oc, kk, kk, 1, (uint8_t)(kk / 2)};
    uint32_t k = fb_conv_k(&s), oh = fb_conv_out_h(&s), ow = fb_conv_out_w(&s);
    fill(x, fb_words((uint32_t)hw * hw * c));
    fill(w, oc * fb_words(k));
    COUNT(name, oh * ow * oc * fb_words(k), fb_bin_conv_fast(x, &s, w, out, buf));
    for (uint32_t o = 0; o < oc; o++) tau[o] = (int32_t)(rnd() % 64u) - 32;
    COUNT(sliced, oh * ow * oc * fb_words(k), fb_bin_conv_sliced(x, &s, w, tau, flip, bits, buf));
}

int main(void) {
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* processor clock, enable, no interrupt */
    fc("fc_k1024_o256", 1024, 256);
    fc("fc_k512_o1024", 512, 1024);
    fc("fc_k256_o10", 256, 10);
    conv("conv3x3_c32_o64_16x16", "conv3x3_c32_o64_16x16_sliced", 16, 32, 64, 3);
    conv("conv5x5_c64_o64_16x16", "conv5x5_c64_o64_16x16_sliced", 16, 64, 64, 5);
    conv("conv3x3_c64_o64_8x8", "conv3x3_c64_o64_8x8_sliced", 8, 64, 64, 3);
    fill(x, 128);
    COUNT("hwc_to_chw_64x64", 128, fb_bin_hwc_to_chw(x, 64, 64, bits));
    COUNT("hwc_to_chw_16x64", 32, fb_bin_hwc_to_chw(x, 16, 64, bits));
    fill(w, 8192);
    COUNT("hal_read_8192", 8192, memcpy(wcopy, w, 4u * 8192u));
    fill((uint32_t *)out, 16384);
    for (uint32_t o = 0; o < 64u; o++) tau[o] = 0;
    flip[0] = 0x5555AAAAu, flip[1] = 0x0F0F0F0Fu;
    COUNT("threshold_256x64", 16384, fb_threshold(out, 256, 64, tau, flip, bits));
    return 0;
}
