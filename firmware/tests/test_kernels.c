/* Fast kernels == reference kernels on random data, sizes not multiples of 32, with random
 * garbage in the weight padding bits (a fault there must not change any result). */
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "kernels.h"

#define MAXW 8192u
static uint32_t x[MAXW], w[MAXW], w2[MAXW], buf[MAXW], xo[MAXW], xr[MAXW];
static int8_t xi8[4 * MAXW];
static int32_t out_ref[MAXW], out_fast[MAXW], conv_tau[MAXW];
static uint32_t conv_flip[MAXW / 32];

static void fill(uint32_t *v, uint32_t n) { for (uint32_t i = 0; i < n; i++) v[i] = rnd(); }
static void fill_i8(int8_t *v, uint32_t n) { for (uint32_t i = 0; i < n; i++) v[i] = (int8_t)rnd(); }
/* activations: bits past n are 0 (as the threshold kernel writes them) */
static void clear_tail(uint32_t *v, uint32_t n) {
    if (n & 31u) v[n >> 5] &= (1u << (n & 31u)) - 1u;
    for (uint32_t i = fb_words(n); i < MAXW && i < fb_words(n) + 2u; i++) v[i] = 0;
}
static int same(const int32_t *a, const int32_t *b, uint32_t n) { return memcmp(a, b, 4u * n) == 0; }

static void test_fc(void) {
    /* rows of < 8, 8-15 and more words (with and without leftovers past the 8-word blocks),
     * more than 31 blocks, partial last words, whole 16-word blocks (K a multiple of 512, one or
     * more blocks); row counts across the 4-row and 16-row groups */
    static const uint32_t ks[] = {1, 31, 32, 33, 63, 100, 256, 257, 288, 480, 512, 576, 784, 1000, 1024, 1536, 1600, 4096, 8300};
    for (unsigned t = 0; t < sizeof ks / sizeof *ks; t++) {
        uint32_t k = ks[t], n_out = 1u + rnd() % (k > 4000u ? 30u : 41u);
        fill(x, fb_words(k)); clear_tail(x, k);
        fill(w, n_out * fb_words(k)); fill(w2, n_out * fb_words(k));
        fb_bin_fc_ref(x, w, k, n_out, out_ref);
        fb_bin_fc_fast(x, w, k, n_out, out_fast);
        CHECK(same(out_ref, out_fast, n_out), "bin fc k=%u", k);
        fill_i8(xi8, 32u * fb_words(k));
        fb_int8_fc_ref(xi8, w, k, n_out, out_ref);
        fb_int8_fc_fast(xi8, w, k, n_out, out_fast);
        CHECK(same(out_ref, out_fast, n_out), "int8 fc k=%u", k);
        int32_t sx = 0;
        for (uint32_t i = 0; i < k; i++) sx += xi8[i];
        CHECK(fb_int8_planes_words(k) <= MAXW, "planes buffer");
        fill(buf, fb_int8_planes_words(k)); /* every plane word must be written */
        fb_int8_planes(xi8, k, buf);
        fb_int8_fc_planes(buf, sx, w, k, n_out, out_fast);
        CHECK(same(out_ref, out_fast, n_out), "int8 fc through bit planes k=%u", k);
        fb_tern_fc_ref(xi8, w, w2, k, n_out, out_ref);
        fb_tern_fc_fast(xi8, w, w2, k, n_out, out_fast);
        CHECK(same(out_ref, out_fast, n_out), "ternary fc k=%u", k);
    }
    /* counts at their extremes, where a bit plane or a nibble sum is full: rows of dense and
     * sparse words, rows whose words are all equal (every bit position counts 0 or all of
     * them) and all-ones rows, against an all-zero and a random x; even and odd row counts */
    static const uint32_t kx[] = {256, 512, 1024};
    for (unsigned t = 0; t < 2u * sizeof kx / sizeof *kx; t++) {
        uint32_t k = kx[t / 2u], n = fb_words(k), n_out = 12u + t % 2u;
        for (int xr0 = 0; xr0 < 2; xr0++) {
            if (xr0) fill(x, n); else memset(x, 0, 4u * n);
            for (uint32_t r = 0; r < n_out; r++) {
                uint32_t same = rnd();
                for (uint32_t j = 0; j < n; j++) {
                    uint32_t v = r % 4u == 0 ? rnd() | rnd() | rnd() : r % 4u == 1 ? rnd() & rnd() & rnd()
                               : r % 4u == 2 ? same : 0xFFFFFFFFu;
                    w[r * n + j] = v ^ x[j] ^ (r & 4u ? 0xFFFFFFFFu : 0u);
                }
            }
            fb_bin_fc_ref(x, w, k, n_out, out_ref);
            fb_bin_fc_fast(x, w, k, n_out, out_fast);
            CHECK(same(out_ref, out_fast, n_out), "bin fc k=%u, extreme rows", k);
        }
    }
    /* the algebra itself: all agree -> +K, all differ -> -K */
    memset(x, 0, 16); memset(w, 0, 16);
    fb_bin_fc_fast(x, w, 100, 1, out_fast);
    CHECK(out_fast[0] == 100, "dot of equal vectors %d", out_fast[0]);
    memset(w, 0xFF, 16);
    fb_bin_fc_fast(x, w, 100, 1, out_fast);
    CHECK(out_fast[0] == -100, "dot of opposite vectors %d (padding bits set must not count)", out_fast[0]);
}

static void check_bin_conv(const fb_conv_shape *s, const char *what) {
    uint32_t k = fb_conv_k(s), n_in = (uint32_t)s->in_h * s->in_w * s->in_c;
    uint32_t n_out = fb_conv_out_h(s) * fb_conv_out_w(s) * s->out_c;
    CHECK(n_out <= MAXW && s->out_c * fb_words(k) <= MAXW && fb_words(n_in) + 2u <= MAXW, "%s: test buffers", what);
    fill(x, fb_words(n_in)); clear_tail(x, n_in);
    fill(w, s->out_c * fb_words(k));
    CHECK(fb_bin_conv_buffer_size(s) <= MAXW, "buffer");
    fill(buf, fb_bin_conv_buffer_size(s)); /* the kernel must not rely on a cleared buffer */
    fb_bin_conv_ref(x, s, w, out_ref);
    fb_bin_conv_fast(x, s, w, out_fast, buf);
    CHECK(same(out_ref, out_fast, n_out), "bin conv %s k=%u c=%u out_c=%u pad=%u stride=%u", what, k, s->in_c, s->out_c, s->pad, s->stride);
    /* fused with the threshold, bit-sliced: the bits fb_threshold makes of the reference z, with
     * thresholds across the whole range of z (and beyond, and the constant channels) */
    uint32_t n_pix = fb_conv_out_h(s) * fb_conv_out_w(s);
    for (uint32_t o = 0; o < s->out_c; o++) conv_tau[o] = (int32_t)(rnd() % (2u * k + 7u)) - (int32_t)k - 3;
    conv_tau[rnd() % s->out_c] = INT32_MIN, conv_tau[rnd() % s->out_c] = INT32_MAX;
    fill(conv_flip, fb_words(s->out_c));
    CHECK(fb_bin_conv_sliced_buffer_size(s) <= MAXW, "sliced buffer");
    for (int with_flip = 0; with_flip < 2; with_flip++) {
        uint32_t zero[8] = {0};
        fb_threshold(out_ref, n_pix, s->out_c, conv_tau, with_flip ? conv_flip : zero, xr);
        fill(buf, fb_bin_conv_sliced_buffer_size(s));
        memset(xo, 0xEE, 4u * (fb_words(n_out) + 1u));
        fb_bin_conv_sliced(x, s, w, conv_tau, with_flip ? conv_flip : 0, xo, buf);
        CHECK(memcmp(xr, xo, 4u * fb_words(n_out)) == 0 && xo[fb_words(n_out)] == 0xEEEEEEEEu,
              "bin conv sliced %s k=%u c=%u out_c=%u pad=%u stride=%u flip=%d", what, k, s->in_c, s->out_c, s->pad, s->stride, with_flip);
    }
}

/* The fused threshold at its edges: one pixel whose patch is row 0's complement (d = K, z = -K)
 * and row 1 itself (d = 0, z = K), thresholds on both sides of -K and K. */
static void test_conv_sliced_edges(void) {
    static const fb_conv_shape s = {3, 3, 32, 4, 3, 3, 1, 0};
    uint32_t k = fb_conv_k(&s), wpr = fb_words(k);
    fill(x, wpr);
    fill(w, 4u * wpr);
    for (uint32_t j = 0; j < wpr; j++) w[j] = ~x[j], w[wpr + j] = x[j];
    static const int32_t taus[][4] = {{-288, 288, INT32_MIN, INT32_MAX}, {-287, 289, -289, 287}, {-289, 287, 0, 1}};
    for (unsigned t = 0; t < sizeof taus / sizeof *taus; t++) {
        uint32_t zero = 0;
        fb_bin_conv_ref(x, &s, w, out_ref);
        CHECK(out_ref[0] == -(int32_t)k && out_ref[1] == (int32_t)k, "edge patch z %d %d", out_ref[0], out_ref[1]);
        fb_threshold(out_ref, 1, 4, taus[t], &zero, xr);
        fb_bin_conv_sliced(x, &s, w, taus[t], 0, xo, buf);
        CHECK(xr[0] == xo[0], "sliced conv edges t=%u: %#x, want %#x", t, xo[0], xr[0]);
    }
}

static void test_conv(void) {
    /* channels in whole words (word-copy im2col, word masks), long rows, many output channels,
     * padding wider than the kernel (pixels without any tap inside) */
    static const fb_conv_shape word_shapes[] = {
        {9, 9, 32, 20, 3, 3, 1, 1}, {8, 7, 64, 37, 5, 5, 1, 2}, {7, 9, 32, 5, 3, 3, 2, 1},
        {6, 6, 96, 17, 3, 3, 1, 2}, {5, 5, 64, 3, 3, 3, 1, 0}, {4, 4, 32, 9, 5, 5, 1, 3},
        {3, 3, 32, 40, 3, 3, 1, 4}, {8, 8, 64, 64, 3, 3, 1, 1},
    };
    for (unsigned i = 0; i < sizeof word_shapes / sizeof *word_shapes; i++) check_bin_conv(&word_shapes[i], "word channels");
    static const fb_conv_shape odd_pad = {4, 3, 5, 7, 3, 3, 2, 3};
    check_bin_conv(&odd_pad, "padding wider than the kernel");
    for (int t = 0; t < 40; t++) {
        fb_conv_shape s;
        s.kh = s.kw = (t & 1) ? 5 : 3;
        if (t % 7 == 6) s.kw = 1;
        s.in_h = (uint16_t)(s.kh + rnd() % 7u);
        s.in_w = (uint16_t)(s.kw + rnd() % 7u);
        s.in_c = (uint16_t)(1u + rnd() % 40u);
        s.out_c = (uint16_t)(1u + rnd() % 9u);
        s.stride = (uint8_t)(1u + (t % 5 == 4));
        s.pad = (uint8_t)(t % 3 == 0 ? 0 : s.kh / 2);
        uint32_t k = fb_conv_k(&s), n_in = (uint32_t)s.in_h * s.in_w * s.in_c;
        uint32_t n_out = fb_conv_out_h(&s) * fb_conv_out_w(&s) * s.out_c;
        check_bin_conv(&s, "random");
        fill(w2, s.out_c * fb_words(k));
        fill_i8(xi8, n_in);
        fb_int8_conv_ref(xi8, &s, w, out_ref);
        fb_int8_conv_fast(xi8, &s, w, out_fast, buf);
        CHECK(same(out_ref, out_fast, n_out), "int8 conv t=%d", t);
        fb_tern_conv_ref(xi8, &s, w, w2, out_ref);
        fb_tern_conv_fast(xi8, &s, w, w2, out_fast, buf);
        CHECK(same(out_ref, out_fast, n_out), "ternary conv t=%d", t);
    }
}

static void test_pool_threshold(void) {
    for (int t = 0; t < 30; t++) {
        uint32_t h = 2u + rnd() % 9u, wd = 2u + rnd() % 9u, c = 1u + rnd() % 70u, p = 2u + (t % 3 == 2), st = (t & 1) ? 2u : 1u;
        int ceil_mode = t % 4 >= 2;
        uint32_t oh = fb_pool_out(h, p, st, ceil_mode), ow = fb_pool_out(wd, p, st, ceil_mode);
        uint32_t n = h * wd * c, on = oh * ow * c;
        fill(x, fb_words(n)); clear_tail(x, n);
        memset(xr, 0xAB, sizeof xr); memset(xo, 0xCD, sizeof xo);
        fb_bin_maxpool_ref(x, h, wd, c, p, st, oh, ow, xr);
        fb_bin_maxpool_fast(x, h, wd, c, p, st, oh, ow, xo);
        CHECK(memcmp(xr, xo, 4u * fb_words(on)) == 0, "bin maxpool h=%u w=%u c=%u ceil=%d", h, wd, c, ceil_mode);
    }
    CHECK(fb_pool_out(7, 2, 2, 0) == 3 && fb_pool_out(7, 2, 2, 1) == 4 && fb_pool_out(5, 1, 3, 1) == 2, "pool sizes");
    /* threshold: +1 iff (acc >= tau) XOR flip; stored bit 1 = -1 */
    for (int t = 0; t < 23; t++) { /* whole groups of 32, then random channel counts (groups of 32 and a partial one) */
        uint32_t c = t < 3 ? 32u << t : 1u + rnd() % 75u, n_pix = 1u + rnd() % 9u, n = n_pix * c;
        int32_t *acc = out_ref, *tau = out_fast;
        for (uint32_t i = 0; i < n; i++) acc[i] = (int32_t)(rnd() % 41u) - 20;
        for (uint32_t i = 0; i < c; i++) tau[i] = (int32_t)(rnd() % 41u) - 20;
        tau[0] = INT32_MIN, tau[c - 1] = INT32_MAX; /* the folded BatchNorm's constant channels */
        fill(xr, fb_words(c));
        memset(xo, 0xEE, 4u * (fb_words(n) + 1u));
        fb_threshold(acc, n_pix, c, tau, xr, xo);
        int ok = 1;
        for (uint32_t i = 0; i < 32u * fb_words(n); i++) {
            uint32_t ch = i % c, want = i < n ? (uint32_t)(acc[i] < tau[ch]) ^ ((xr[ch >> 5] >> (ch & 31u)) & 1u) : 0u;
            ok &= ((xo[i >> 5] >> (i & 31u)) & 1u) == want;
        }
        CHECK(ok && xo[fb_words(n)] == 0xEEEEEEEEu, "threshold c=%u n_pix=%u", c, n_pix);
    }
    int32_t acc[6] = {5, 5, 4, 6, -3, 9}, tau[2] = {5, 6};
    uint32_t flip = 2u, bits = 0xFFFFFFFFu;
    fb_threshold(acc, 3, 2, tau, &flip, &bits);
    /* ch0 (tau 5): 5 +1, 4 -1, -3 -1; ch1 (tau 6, flip): 5 -> +1, 6 -> -1, 9 -> -1 */
    CHECK(bits == 0x3Cu, "threshold bits %#x", bits);
    int32_t a2[7] = {-7, 0, 12, 20, 28, 1000, -1000};
    int8_t q[7];
    fb_requant(a2, 7, 3, 0, 127, q); /* 12/8 = 1.5 -> 2, 20/8 = 2.5 -> 2, 28/8 = 3.5 -> 4 */
    CHECK(q[0] == 0 && q[1] == 0 && q[2] == 2 && q[3] == 2 && q[4] == 4 && q[5] == 125 && q[6] == 0, "requant %d %d %d %d %d", q[2], q[3], q[4], q[5], q[6]);
    CHECK(fb_rshift_rne(-12, 3) == -2 && fb_rshift_rne(-20, 3) == -2 && fb_rshift_rne(-13, 3) == -2, "rne negative");
}

/* HWC -> CHW flatten against the definition, bit by bit; every output word is written (the
 * buffer starts as garbage) and the tail bits are 0. */
static void test_hwc_to_chw(void) {
    static const uint32_t shapes[][2] = {{64, 64}, {1, 32}, {32, 1}, {9, 32}, {49, 64}, {64, 7}, {7, 3}, {100, 45}, {33, 33}};
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        uint32_t hw = shapes[t][0], c = shapes[t][1], n = hw * c;
        fill(x, fb_words(n)); clear_tail(x, n);
        memset(xo, 0xA5, 4u * (fb_words(n) + 1u));
        fb_bin_hwc_to_chw(x, hw, c, xo);
        int ok = xo[fb_words(n)] == 0xA5A5A5A5u;
        for (uint32_t i = 0; i < 32u * fb_words(n); i++) {
            uint32_t want = 0;
            if (i < n) {
                uint32_t src = (i % hw) * c + i / hw;
                want = (x[src >> 5] >> (src & 31u)) & 1u;
            }
            ok &= ((xo[i >> 5] >> (i & 31u)) & 1u) == want;
        }
        CHECK(ok, "hwc_to_chw hw=%u c=%u", hw, c);
    }
}

int main(void) {
    test_hwc_to_chw();
    test_fc();
    test_conv_sliced_edges();
    test_conv();
    test_pool_threshold();
    CHECK_DONE("test_kernels");
}
