/* Fast kernels: word-wise XNOR-popcount (algebra in kernels.h). Popcount: the compiler's
 * instruction where the target has one (host: __builtin_popcount with -mpopcnt); on
 * Cortex-M (no popcount instruction, HARDWARE 4) an inlined Harley-Seal carry-save adder
 * over 8 words with a SWAR popcount for the carries and the tail (~7 instr/word).
 * Weight padding bits past K are masked off: a fault in a padding cell never changes a result,
 * as in the Python reference, which only sees the K real weights. */
#include <string.h>
#include "kernels.h"

#if defined(__ARM_ARCH) && !defined(__ARM_FEATURE_SIMD32_POPCOUNT)
#define FB_HARLEY_SEAL 1 /* fb_pop32 is the SWAR one (kernels.h) */
#endif

static inline uint32_t tail_mask(uint32_t k) { return (k & 31u) ? (1u << (k & 31u)) - 1u : 0xFFFFFFFFu; }

#ifdef FB_HARLEY_SEAL
#define CSA(h, l, a, b, c) do { uint32_t u_ = (a) ^ (b); h = ((a) & (b)) | (u_ & (c)); l = u_ ^ (c); } while (0)
#define HARLEY_SEAL(X)                                                                  \
    uint32_t total = 0, ones = 0, twos = 0, fours = 0, eights, twos_a, twos_b, fours_a, fours_b, i = 0; \
    for (; i + 8u <= n; i += 8u) {                                                      \
        CSA(twos_a, ones, ones, X(i), X(i + 1));                                        \
        CSA(twos_b, ones, ones, X(i + 2), X(i + 3));                                    \
        CSA(fours_a, twos, twos, twos_a, twos_b);                                       \
        CSA(twos_a, ones, ones, X(i + 4), X(i + 5));                                    \
        CSA(twos_b, ones, ones, X(i + 6), X(i + 7));                                    \
        CSA(fours_b, twos, twos, twos_a, twos_b);                                       \
        CSA(eights, fours, fours, fours_a, fours_b);                                    \
        total += fb_pop32(eights);                                                         \
    }                                                                                   \
    total = 8u * total + 4u * fb_pop32(fours) + 2u * fb_pop32(twos) + fb_pop32(ones);            \
    for (; i < n; i++) total += fb_pop32(X(i));                                            \
    return total;
#define XOR_AB(j) (a[j] ^ b[j])
#define XOR_ABM(j) ((a[j] ^ b[j]) & m[j])
uint32_t fb_xor_popcount(const uint32_t *a, const uint32_t *b, uint32_t n) { HARLEY_SEAL(XOR_AB) }
uint32_t fb_xor_popcount_masked(const uint32_t *a, const uint32_t *b, const uint32_t *m, uint32_t n) { HARLEY_SEAL(XOR_ABM) }
#else
uint32_t fb_xor_popcount(const uint32_t *a, const uint32_t *b, uint32_t n) {
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += fb_pop32(a[i] ^ b[i]);
    return total;
}
uint32_t fb_xor_popcount_masked(const uint32_t *a, const uint32_t *b, const uint32_t *m, uint32_t n) {
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += fb_pop32((a[i] ^ b[i]) & m[i]);
    return total;
}
#endif

/* popcount(x XOR w) over the first k bits. */
#ifndef FB_SHORT_ROW_WORDS
#define FB_SHORT_ROW_WORDS 12u /* below this, an inline popcount loop beats the Harley-Seal call */
#endif
static inline uint32_t row_distance(const uint32_t *x, const uint32_t *w, uint32_t k) {
    uint32_t full = k >> 5, d = 0;
    if (full < FB_SHORT_ROW_WORDS)
        for (uint32_t i = 0; i < full; i++) d += fb_pop32(x[i] ^ w[i]);
    else
        d = fb_xor_popcount(x, w, full);
    if (k & 31u) d += fb_pop32((x[full] ^ w[full]) & tail_mask(k));
    return d;
}

void fb_bin_fc_fast(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++) out[o] = (int32_t)k - 2 * (int32_t)row_distance(x, w + o * wpr, k);
}

/* --- bit-stream helpers (dst pre-zeroed; reads never pass the last word holding a bit) --- */
static void copy_bits(uint32_t *dst, uint32_t doff, const uint32_t *src, uint32_t soff, uint32_t n) {
    while (n) {
        uint32_t m = n < 32u ? n : 32u, sh = soff & 31u, si = soff >> 5, dsh = doff & 31u, di = doff >> 5;
        uint32_t v = src[si] >> sh;
        if (sh && m > 32u - sh) v |= src[si + 1] << (32u - sh);
        if (m < 32u) v &= (1u << m) - 1u;
        dst[di] |= v << dsh;
        if (dsh && m > 32u - dsh) dst[di + 1] |= v >> (32u - dsh);
        soff += m;
        doff += m;
        n -= m;
    }
}

static void set_bits(uint32_t *dst, uint32_t doff, uint32_t n) {
    while (n) {
        uint32_t m = n < 32u ? n : 32u, dsh = doff & 31u, di = doff >> 5;
        uint32_t v = m < 32u ? (1u << m) - 1u : 0xFFFFFFFFu;
        dst[di] |= v << dsh;
        if (dsh && m > 32u - dsh) dst[di + 1] |= v >> (32u - dsh);
        doff += m;
        n -= m;
    }
}

/* The taps of output pixel (oy, ox) that fall inside the input: rows [y0, y1), cols [x0, x1). */
typedef struct { uint32_t y0, y1, x0, x1; int32_t iy, ix; } taps;
static uint32_t clampi(int32_t v, int32_t lo, int32_t hi) { return (uint32_t)(v < lo ? lo : v > hi ? hi : v); }
static taps valid_taps(const fb_conv_shape *s, uint32_t oy, uint32_t ox) {
    taps t;
    t.iy = (int32_t)(oy * s->stride) - s->pad;
    t.ix = (int32_t)(ox * s->stride) - s->pad;
    t.y0 = clampi(-t.iy, 0, s->kh); /* padding wider than the kernel: possibly no valid tap */
    t.x0 = clampi(-t.ix, 0, s->kw);
    t.y1 = clampi((int32_t)s->in_h - t.iy, (int32_t)t.y0, s->kh);
    t.x1 = clampi((int32_t)s->in_w - t.ix, (int32_t)t.x0, s->kw);
    return t;
}

uint32_t fb_bin_conv_buffer_size(const fb_conv_shape *s) { return 2u * fb_words(fb_conv_k(s)); }

void fb_bin_conv_fast(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s), wpr = fb_words(k), c = s->in_c;
    uint32_t *patch = buf, *mask = buf + wpr;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            taps t = valid_taps(s, oy, ox);
            int interior = t.y0 == 0 && t.x0 == 0 && t.y1 == s->kh && t.x1 == s->kw;
            memset(patch, 0, 4u * wpr);
            if (!interior) memset(mask, 0, 4u * wpr);
            for (uint32_t ky = t.y0; ky < t.y1; ky++) {
                uint32_t src = (((uint32_t)(t.iy + (int32_t)ky)) * s->in_w + (uint32_t)(t.ix + (int32_t)t.x0)) * c;
                uint32_t dst = (ky * s->kw + t.x0) * c, n = (t.x1 - t.x0) * c;
                copy_bits(patch, dst, x, src, n);
                if (!interior) set_bits(mask, dst, n);
            }
            int32_t *o_px = out + (oy * ow + ox) * s->out_c;
            if (interior) {
                for (uint32_t o = 0; o < s->out_c; o++) o_px[o] = (int32_t)k - 2 * (int32_t)row_distance(patch, w + o * wpr, k);
            } else {
                int32_t valid = (int32_t)((t.y1 - t.y0) * (t.x1 - t.x0) * c);
                for (uint32_t o = 0; o < s->out_c; o++)
                    o_px[o] = valid - 2 * (int32_t)fb_xor_popcount_masked(patch, w + o * wpr, mask, wpr);
            }
        }
}

/* --- int8 activations --------------------------------------------------------------------- */
static int32_t sum_i8(const int8_t *x, uint32_t k) {
    int32_t s = 0;
    for (uint32_t i = 0; i < k; i++) s += x[i];
    return s;
}

/* sum_{i < k, a_i = 1 and b_i = 1} x_i (b == NULL: only a). */
static inline uint32_t selection(const uint32_t *a, const uint32_t *b, uint32_t j) { return b ? a[j] & b[j] : a[j]; }

/* x_i summed over the set bits of word m (x points at element 32*j). */
static inline int32_t sum_bits(const int8_t *x, uint32_t m) {
    int32_t s = 0;
    for (; m; m &= m - 1u) s += x[__builtin_ctz(m)];
    return s;
}

#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
/* Cortex-M4 DSP: four int8 at a time. Each nibble of the bit word selects bytes through a
 * mask table; SXTAB16 adds bytes 0,2 and (rotated) 1,3 into 16-bit lanes, flushed every 32
 * words (255 adds of |x| <= 128 fit a lane). The partial last word goes bit by bit. */
static const uint32_t nibble_bytes[16] = {
    0x00000000u, 0x000000FFu, 0x0000FF00u, 0x0000FFFFu, 0x00FF0000u, 0x00FF00FFu, 0x00FFFF00u, 0x00FFFFFFu,
    0xFF000000u, 0xFF0000FFu, 0xFF00FF00u, 0xFF00FFFFu, 0xFFFF0000u, 0xFFFF00FFu, 0xFFFFFF00u, 0xFFFFFFFFu};

static int32_t lanes(int16x2_t v) { return (int16_t)(v & 0xFFFFu) + (int16_t)(v >> 16); }

static int32_t sum_selected(const int8_t *x, const uint32_t *a, const uint32_t *b, uint32_t k) {
    int32_t total = 0;
    uint32_t full = k >> 5, j = 0;
    while (j < full) {
        uint32_t end = j + 32u < full ? j + 32u : full;
        int16x2_t even = 0, odd = 0;
        for (; j < end; j++) {
            uint32_t m = selection(a, b, j);
            const int8_t *xj = x + 32u * j;
            for (uint32_t q = 0; q < 32u; q += 4u, m >>= 4) {
                uint32_t v;
                __builtin_memcpy(&v, xj + q, 4); /* one ldr (-ffreestanding: no implicit builtin) */
                v &= nibble_bytes[m & 15u];
                even = __sxtab16(even, v);
                odd = __sxtab16(odd, (v >> 8) | (v << 24));
            }
        }
        total += lanes(even) + lanes(odd);
    }
    if (k & 31u) total += sum_bits(x + 32u * full, selection(a, b, full) & tail_mask(k));
    return total;
}
#else
static int32_t sum_selected(const int8_t *x, const uint32_t *a, const uint32_t *b, uint32_t k) {
    int32_t s = 0;
    uint32_t nw = fb_words(k);
    for (uint32_t j = 0; j < nw; j++) s += sum_bits(x + 32u * j, selection(a, b, j) & (j + 1u == nw ? tail_mask(k) : ~0u));
    return s;
}
#endif

void fb_int8_fc_fast(const int8_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    int32_t sx = sum_i8(x, k);
    for (uint32_t o = 0; o < n_out; o++) out[o] = sx - 2 * sum_selected(x, w + o * wpr, 0, k);
}

void fb_tern_fc_fast(const int8_t *x, const uint32_t *sign, const uint32_t *nz, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++)
        out[o] = sum_selected(x, nz + o * wpr, 0, k) - 2 * sum_selected(x, nz + o * wpr, sign + o * wpr, k);
}

uint32_t fb_int8_conv_buffer_size(const fb_conv_shape *s) { return fb_words(fb_conv_k(s)) * 8u; /* 32 bytes per row word */ }

/* int8 im2col of one output pixel into patch (K bytes, zero padding, tail to 32*wpr zeroed). */
static void im2col_i8(const int8_t *x, const fb_conv_shape *s, uint32_t oy, uint32_t ox, int8_t *patch) {
    taps t = valid_taps(s, oy, ox);
    uint32_t c = s->in_c;
    memset(patch, 0, 32u * fb_words(fb_conv_k(s)));
    for (uint32_t ky = t.y0; ky < t.y1; ky++) {
        uint32_t src = (((uint32_t)(t.iy + (int32_t)ky)) * s->in_w + (uint32_t)(t.ix + (int32_t)t.x0)) * c;
        memcpy(patch + (ky * s->kw + t.x0) * c, x + src, (t.x1 - t.x0) * c);
    }
}

void fb_int8_conv_fast(const int8_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s);
    int8_t *patch = (int8_t *)buf;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            im2col_i8(x, s, oy, ox, patch);
            fb_int8_fc_fast(patch, w, k, s->out_c, out + (oy * ow + ox) * s->out_c);
        }
}

void fb_tern_conv_fast(const int8_t *x, const fb_conv_shape *s, const uint32_t *sign, const uint32_t *nz, int32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s);
    int8_t *patch = (int8_t *)buf;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            im2col_i8(x, s, oy, ox, patch);
            fb_tern_fc_fast(patch, sign, nz, k, s->out_c, out + (oy * ow + ox) * s->out_c);
        }
}

/* --- pooling and activations ------------------------------------------------------------- */
uint32_t fb_pool_out(uint32_t in, uint32_t p, uint32_t st, int ceil_mode) {
    if (in < p || p == 0 || st == 0) return 0;
    uint32_t n = (in - p + (ceil_mode ? st - 1u : 0u)) / st + 1u;
    if (ceil_mode && (n - 1u) * st >= in) n--; /* torch: the last window starts inside */
    return n;
}

#define MAXPOOL(T)                                                                      \
    for (uint32_t oy = 0; oy < oh; oy++)                                                \
        for (uint32_t ox = 0; ox < ow; ox++) {                                          \
            T *o = out + (oy * ow + ox) * c;                                            \
            memcpy(o, x + ((oy * st) * w + ox * st) * c, c * sizeof(T));                \
            for (uint32_t y = oy * st; y < oy * st + p && y < h; y++)                   \
                for (uint32_t xx = ox * st; xx < ox * st + p && xx < w; xx++) {         \
                    const T *v = x + (y * w + xx) * c;                                  \
                    for (uint32_t ch = 0; ch < c; ch++) if (v[ch] > o[ch]) o[ch] = v[ch]; \
                }                                                                       \
        }

void fb_maxpool_i32(const int32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int32_t *out) { MAXPOOL(int32_t) }
void fb_maxpool_i8(const int8_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int8_t *out) { MAXPOOL(int8_t) }

/* max over {-1,+1} = AND of the stored bits, 32 channels at a time. */
void fb_bin_maxpool_fast(const uint32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out) {
    memset(out, 0, 4u * fb_words(oh * ow * c));
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++)
            for (uint32_t c0 = 0; c0 < c; c0 += 32u) {
                uint32_t n = c - c0 < 32u ? c - c0 : 32u, acc = 0xFFFFFFFFu;
                for (uint32_t y = oy * st; y < oy * st + p && y < h; y++)
                    for (uint32_t xx = ox * st; xx < ox * st + p && xx < w; xx++) {
                        uint32_t v = 0;
                        copy_bits(&v, 0, x, (y * w + xx) * c + c0, n);
                        acc &= v;
                    }
                if (n < 32u) acc &= (1u << n) - 1u;
                copy_bits(out, (oy * ow + ox) * c + c0, &acc, 0, n);
            }
}

void fb_threshold(const int32_t *acc, uint32_t n_pix, uint32_t c, const int32_t *tau, const uint32_t *flip, uint32_t *out) {
    uint32_t n = n_pix * c;
    memset(out, 0, 4u * fb_words(n));
    for (uint32_t i = 0, ch = 0; i < n; i++) {
        uint32_t plus = (uint32_t)(acc[i] >= tau[ch]) ^ ((flip[ch >> 5] >> (ch & 31u)) & 1u);
        out[i >> 5] |= (plus ^ 1u) << (i & 31u);
        if (++ch == c) ch = 0;
    }
}

int32_t fb_rshift_rne(int32_t v, uint32_t k) { /* v / 2^k, ties to even (FORMAT.md B.3) */
    if (k == 0) return v;
    int32_t q = v >> k; /* floor (arithmetic shift) */
    int32_t r = v - (int32_t)((uint32_t)q << k), half = (int32_t)(1u << (k - 1u));
    return q + (r > half || (r == half && (q & 1)));
}

void fb_requant(const int32_t *acc, uint32_t n, uint32_t shift, int32_t amin, int32_t amax, int8_t *out) {
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = fb_rshift_rne(acc[i], shift);
        out[i] = (int8_t)(v < amin ? amin : v > amax ? amax : v);
    }
}
