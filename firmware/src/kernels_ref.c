/* Reference kernels: element by element, straight from the definitions in kernels.h.
 * Slow on purpose; the fast kernels are tested against these. */
#include "kernels.h"

static int bit(const uint32_t *v, uint32_t i) { return (int)((v[i >> 5] >> (i & 31u)) & 1u); }
static int pm1(const uint32_t *v, uint32_t i) { return 1 - 2 * bit(v, i); }

uint32_t fb_conv_out_h(const fb_conv_shape *s) { return (s->in_h + 2u * s->pad - s->kh) / s->stride + 1u; }
uint32_t fb_conv_out_w(const fb_conv_shape *s) { return (s->in_w + 2u * s->pad - s->kw) / s->stride + 1u; }

void fb_bin_fc_ref(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++) {
        int32_t acc = 0;
        for (uint32_t i = 0; i < k; i++) acc += pm1(x, i) * pm1(w + o * wpr, i);
        out[o] = acc;
    }
}

void fb_int8_fc_ref(const int8_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++) {
        int32_t acc = 0;
        for (uint32_t i = 0; i < k; i++) acc += x[i] * pm1(w + o * wpr, i);
        out[o] = acc;
    }
}

void fb_tern_fc_ref(const int8_t *x, const uint32_t *sign, const uint32_t *nz, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++) {
        int32_t acc = 0;
        for (uint32_t i = 0; i < k; i++) acc += x[i] * pm1(sign + o * wpr, i) * bit(nz + o * wpr, i);
        out[o] = acc;
    }
}

/* Direct convolution; value(iy, ix, c) gives the input (0 outside: zero padding). */
#define CONV_REF(VALUE, WEIGHT)                                                               \
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s), wpr = fb_words(k); \
    for (uint32_t oy = 0; oy < oh; oy++)                                                      \
        for (uint32_t ox = 0; ox < ow; ox++)                                                  \
            for (uint32_t o = 0; o < s->out_c; o++) {                                         \
                int32_t acc = 0;                                                              \
                for (uint32_t ky = 0; ky < s->kh; ky++)                                       \
                    for (uint32_t kx = 0; kx < s->kw; kx++) {                                 \
                        int32_t iy = (int32_t)(oy * s->stride + ky) - s->pad;                 \
                        int32_t ix = (int32_t)(ox * s->stride + kx) - s->pad;                 \
                        if (iy < 0 || ix < 0 || iy >= s->in_h || ix >= s->in_w) continue;     \
                        for (uint32_t c = 0; c < s->in_c; c++) {                              \
                            uint32_t xi = ((uint32_t)iy * s->in_w + (uint32_t)ix) * s->in_c + c; \
                            uint32_t wi = (ky * s->kw + kx) * s->in_c + c;                    \
                            acc += (VALUE) * (WEIGHT);                                        \
                        }                                                                     \
                    }                                                                         \
                out[(oy * ow + ox) * s->out_c + o] = acc;                                     \
            }

void fb_bin_conv_ref(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out) {
    CONV_REF(pm1(x, xi), pm1(w + o * wpr, wi))
}

void fb_int8_conv_ref(const int8_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out) {
    CONV_REF(x[xi], pm1(w + o * wpr, wi))
}

void fb_tern_conv_ref(const int8_t *x, const fb_conv_shape *s, const uint32_t *sign, const uint32_t *nz, int32_t *out) {
    CONV_REF(x[xi], pm1(sign + o * wpr, wi) * bit(nz + o * wpr, wi))
}

void fb_bin_maxpool_ref(const uint32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out) {
    for (uint32_t i = 0; i < fb_words(oh * ow * c); i++) out[i] = 0;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++)
            for (uint32_t ch = 0; ch < c; ch++) {
                int best = -1;
                for (uint32_t y = oy * st; y < oy * st + p && y < h; y++)
                    for (uint32_t xx = ox * st; xx < ox * st + p && xx < w; xx++) {
                        int v = pm1(x, (y * w + xx) * c + ch);
                        if (v > best) best = v;
                    }
                uint32_t oi = (oy * ow + ox) * c + ch;
                if (best < 0) out[oi >> 5] |= 1u << (oi & 31u);
            }
}
