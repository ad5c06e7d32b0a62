/* Host binary-kernel throughput against popcount bounds over the same bytes
 * (benchmarks/firmware_kernels.py runs it and prints medians and spreads).
 *
 * Paths per case, timed interleaved: in each of `reps` rounds every path runs once (for at
 * least min_s seconds), the order rotating from round to round.
 *   fast   fb_bin_fc_fast / fb_bin_conv_fast (conv includes its im2col and border masking)
 *   ref    the reference kernel (first round only: it is ~100x slower)
 *   pop64  bound: a scalar loop of 64-bit popcounts of (x XOR w) over the same rows, for conv
 *          over precomputed patches (no im2col), compiled without vectorisation
 *   avx2   bound: the same bytes through a 256-bit nibble-lookup popcount (VPSHUFB, VPSADBW),
 *          only where the CPU has AVX2 (checked at run time)
 * Output, one line per measurement: case path round seconds_per_call macs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>
#include "kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint32_t rng = 99u;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static volatile uint32_t sink;

static inline uint64_t load64(const uint32_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* sum over patches p and rows o of popcount(x_p XOR w_o) over wpr words, 64 bits at a time */
__attribute__((noinline, optimize("no-tree-vectorize")))
static uint64_t bound_pop64(const uint32_t *x, const uint32_t *w, uint32_t wpr, uint32_t n_out, uint32_t n_x) {
    uint64_t acc = 0;
    for (uint32_t p = 0; p < n_x; p++, x += wpr) {
        const uint32_t *row = w;
        for (uint32_t o = 0; o < n_out; o++, row += wpr) {
            uint32_t j = 0;
            for (; j + 2u <= wpr; j += 2u) acc += (uint64_t)__builtin_popcountll(load64(x + j) ^ load64(row + j));
            if (j < wpr) acc += (uint64_t)__builtin_popcount(x[j] ^ row[j]);
        }
    }
    return acc;
}

#if defined(__x86_64__)
#define HAVE_AVX2_BOUND 1
__attribute__((noinline, target("avx2")))
static uint64_t bound_avx2(const uint32_t *x, const uint32_t *w, uint32_t wpr, uint32_t n_out, uint32_t n_x) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    uint64_t acc = 0;
    uint32_t nv = wpr / 8u;
    for (uint32_t p = 0; p < n_x; p++, x += wpr) {
        const uint32_t *row = w;
        for (uint32_t o = 0; o < n_out; o++, row += wpr) {
            __m256i bytes = _mm256_setzero_si256();
            for (uint32_t v = 0; v < nv; v++) { /* nv <= 31: byte counts <= 248 */
                __m256i d = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + 8u * v)),
                                             _mm256_loadu_si256((const __m256i *)(row + 8u * v)));
                bytes = _mm256_add_epi8(bytes, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(d, low)),
                                        _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(d, 4), low))));
            }
            __m256i s = _mm256_sad_epu8(bytes, _mm256_setzero_si256());
            acc += (uint64_t)_mm256_extract_epi64(s, 0) + (uint64_t)_mm256_extract_epi64(s, 1) +
                   (uint64_t)_mm256_extract_epi64(s, 2) + (uint64_t)_mm256_extract_epi64(s, 3);
            for (uint32_t j = 8u * nv; j < wpr; j++) acc += (uint64_t)__builtin_popcount(x[j] ^ row[j]);
        }
    }
    return acc;
}
#endif

/* seconds per call, repeating for at least min_s */
#define TIME(min_s, stmt) ({ double t0_ = now(), t_; long n_ = 0; do { stmt; n_++; t_ = now() - t0_; } while (t_ < (min_s)); t_ / (double)n_; })

typedef struct {
    char name[64];
    uint64_t macs;
    uint32_t wpr, n_out, n_x; /* bound shape: n_x activation rows (FC 1, conv the patches) */
    uint32_t *x, *w, *patches, *buf;
    int32_t *out;
    fb_conv_shape s;
    int conv;
    uint32_t k;
} bench_case;

static void run_path(bench_case *c, const char *path, int round, double min_s) {
    double t = 0;
    if (!strcmp(path, "fast"))
        t = c->conv ? TIME(min_s, fb_bin_conv_fast(c->x, &c->s, c->w, c->out, c->buf); sink += (uint32_t)c->out[0])
                    : TIME(min_s, fb_bin_fc_fast(c->x, c->w, c->k, c->n_out, c->out); sink += (uint32_t)c->out[0]);
    else if (!strcmp(path, "ref"))
        t = c->conv ? TIME(min_s, fb_bin_conv_ref(c->x, &c->s, c->w, c->out); sink += (uint32_t)c->out[0])
                    : TIME(min_s, fb_bin_fc_ref(c->x, c->w, c->k, c->n_out, c->out); sink += (uint32_t)c->out[0]);
    else if (!strcmp(path, "pop64"))
        t = TIME(min_s, sink += (uint32_t)bound_pop64(c->conv ? c->patches : c->x, c->w, c->wpr, c->n_out, c->n_x));
#ifdef HAVE_AVX2_BOUND
    else if (!strcmp(path, "avx2"))
        t = TIME(min_s, sink += (uint32_t)bound_avx2(c->conv ? c->patches : c->x, c->w, c->wpr, c->n_out, c->n_x));
#endif
    printf("%s %s %d %.9g %llu\n", c->name, path, round, t, (unsigned long long)c->macs);
    fflush(stdout);
}

static bench_case fc_case(uint32_t k, uint32_t n_out) {
    bench_case c = {0};
    uint32_t wpr = fb_words(k);
    snprintf(c.name, sizeof c.name, "fc_k%u_o%u", k, n_out);
    c.k = k, c.wpr = wpr, c.n_out = n_out, c.n_x = 1, c.macs = (uint64_t)k * n_out;
    c.x = calloc(wpr + 8u, 4), c.w = malloc(4u * (wpr * n_out + 8u)), c.out = malloc(4u * n_out);
    for (uint32_t i = 0; i < wpr; i++) c.x[i] = rnd();
    if (k & 31u) c.x[wpr - 1] &= (1u << (k & 31u)) - 1u;
    for (uint32_t i = 0; i < wpr * n_out; i++) c.w[i] = rnd();
    return c;
}

static bench_case conv_case(uint16_t hw, uint16_t ch, uint16_t oc, uint8_t kk) {
    bench_case c = {0};
    c.s = (fb_conv_shape){hw, hw, ch, oc, kk, kk, 1, (uint8_t)(kk / 2)};
    uint32_t k = fb_conv_k(&c.s), wpr = fb_words(k), oh = fb_conv_out_h(&c.s), ow = fb_conv_out_w(&c.s);
    uint32_t n_in = fb_words((uint32_t)hw * hw * ch);
    snprintf(c.name, sizeof c.name, "conv%ux%u_c%u_o%u_%ux%u", kk, kk, ch, oc, hw, hw);
    c.conv = 1, c.k = k, c.wpr = wpr, c.n_out = oc, c.n_x = oh * ow, c.macs = (uint64_t)k * oc * oh * ow;
    c.x = calloc(n_in + 8u, 4), c.w = malloc(4u * (wpr * oc + 8u)), c.buf = malloc(4u * fb_bin_conv_buffer_size(&c.s));
    c.patches = malloc(4u * (wpr * oh * ow + 8u)), c.out = malloc(4u * oh * ow * oc);
    for (uint32_t i = 0; i < n_in; i++) c.x[i] = rnd();
    for (uint32_t i = 0; i < wpr * oc; i++) c.w[i] = rnd();
    for (uint32_t i = 0; i < wpr * oh * ow; i++) c.patches[i] = rnd();
    return c;
}

int main(int argc, char **argv) {
    double min_s = argc > 1 ? atof(argv[1]) : 0.05;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    bench_case cases[] = {
        fc_case(1000, 256), fc_case(4096, 512), fc_case(256, 256),
        conv_case(16, 32, 64, 3), conv_case(16, 64, 64, 3), conv_case(16, 128, 128, 3),
        conv_case(16, 64, 64, 5), conv_case(32, 32, 32, 3),
    };
    const char *paths[3] = {"fast", "pop64", "avx2"};
    int n_paths = 2;
#ifdef HAVE_AVX2_BOUND
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) n_paths = 3;
#endif
    printf("# avx2 %s\n", n_paths == 3 ? "yes" : "no");
    for (int r = 0; r < reps; r++)
        for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
            for (int p = 0; p < n_paths; p++) run_path(&cases[i], paths[(p + r) % n_paths], r, min_s);
            if (r == 0) run_path(&cases[i], "ref", r, min_s / 4);
        }
    return 0;
}
