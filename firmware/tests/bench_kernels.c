/* Host kernel throughput (benchmarks/firmware_kernels.py parses the output): binary MACs/s
 * of the fast and reference kernels against the popcount bound, a bare XOR+popcount loop
 * over the same weight rows and activation words (for conv: over precomputed patches, so
 * the bound excludes im2col). One line per case: name macs t_fast t_ref t_bound (seconds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint32_t rng = 99u;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static volatile uint32_t sink;

/* repeat f until at least min_s seconds; returns seconds per call */
#define TIME(min_s, stmt) ({ double t0 = now(), t; long n = 0; do { stmt; n++; t = now() - t0; } while (t < (min_s)); t / (double)n; })

static uint32_t bound_rows(const uint32_t *x, const uint32_t *w, uint32_t wpr, uint32_t n_out, uint32_t n_x) {
    uint32_t acc = 0;
    for (uint32_t p = 0; p < n_x; p++)
        for (uint32_t o = 0; o < n_out; o++) acc += fb_xor_popcount(x + p * wpr, w + o * wpr, wpr);
    return acc;
}

static void bench_fc(uint32_t k, uint32_t n_out, double min_s) {
    uint32_t wpr = fb_words(k);
    uint32_t *x = calloc(wpr, 4), *w = malloc(4u * wpr * n_out);
    int32_t *out = malloc(4u * n_out);
    for (uint32_t i = 0; i < wpr; i++) x[i] = rnd();
    if (k & 31u) x[wpr - 1] &= (1u << (k & 31u)) - 1u;
    for (uint32_t i = 0; i < wpr * n_out; i++) w[i] = rnd();
    double tf = TIME(min_s, fb_bin_fc_fast(x, w, k, n_out, out); sink += (uint32_t)out[0]);
    double tr = TIME(min_s / 4, fb_bin_fc_ref(x, w, k, n_out, out); sink += (uint32_t)out[0]);
    double tb = TIME(min_s, sink += bound_rows(x, w, wpr, n_out, 1));
    printf("bin_fc_k%u_o%u %llu %.9g %.9g %.9g\n", k, n_out, (unsigned long long)k * n_out, tf, tr, tb);
    free(x); free(w); free(out);
}

static void bench_conv(uint16_t hw, uint16_t c, uint16_t oc, uint8_t kk, double min_s) {
    fb_conv_shape s = {hw, hw, c, oc, kk, kk, 1, (uint8_t)(kk / 2)};
    uint32_t k = fb_conv_k(&s), wpr = fb_words(k), oh = fb_conv_out_h(&s), ow = fb_conv_out_w(&s), n_in = (uint32_t)hw * hw * c;
    uint32_t *x = calloc(fb_words(n_in) + 1, 4), *w = malloc(4u * wpr * oc), *buf = malloc(4u * fb_bin_conv_buffer_size(&s));
    uint32_t *patches = malloc(4u * wpr * oh * ow);
    int32_t *out = malloc(4u * oh * ow * oc);
    for (uint32_t i = 0; i < fb_words(n_in); i++) x[i] = rnd();
    for (uint32_t i = 0; i < wpr * oc; i++) w[i] = rnd();
    for (uint32_t i = 0; i < wpr * oh * ow; i++) patches[i] = rnd();
    uint64_t macs = (uint64_t)k * oc * oh * ow;
    double tf = TIME(min_s, fb_bin_conv_fast(x, &s, w, out, buf); sink += (uint32_t)out[0]);
    double tr = TIME(min_s / 4, fb_bin_conv_ref(x, &s, w, out); sink += (uint32_t)out[0]);
    double tb = TIME(min_s, sink += bound_rows(patches, w, wpr, oc, oh * ow));
    printf("bin_conv%ux%u_c%u_o%u_%ux%u %llu %.9g %.9g %.9g\n", kk, kk, c, oc, hw, hw, (unsigned long long)macs, tf, tr, tb);
    free(x); free(w); free(buf); free(patches); free(out);
}

int main(int argc, char **argv) {
    double min_s = argc > 1 ? atof(argv[1]) : 0.2;
    bench_fc(1000, 256, min_s);
    bench_fc(4096, 512, min_s);
    bench_conv(16, 64, 64, 3, min_s);
    bench_conv(16, 128, 128, 3, min_s);
    bench_conv(16, 64, 64, 5, min_s);
    bench_conv(32, 32, 32, 3, min_s);
    return 0;
}
