/* Batches of inputs through the fast kernels (kernels.h), for the host library: one call per
 * layer instead of one per input. Strides as documented in kernels.h. */
#include "kernels.h"

void fb_bin_fc_batch(const uint32_t *x, uint32_t x_stride, uint32_t n, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    for (uint32_t i = 0; i < n; i++) fb_bin_fc_fast(x + i * x_stride, w, k, n_out, out + i * n_out);
}

void fb_int8_fc_batch(const int8_t *x, uint32_t x_stride, uint32_t n, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    for (uint32_t i = 0; i < n; i++) fb_int8_fc_fast(x + i * x_stride, w, k, n_out, out + i * n_out);
}

void fb_bin_conv_batch(const uint32_t *x, uint32_t x_stride, uint32_t n, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf) {
    uint32_t per = fb_conv_out_h(s) * fb_conv_out_w(s) * s->out_c;
    for (uint32_t i = 0; i < n; i++) fb_bin_conv_fast(x + i * x_stride, s, w, out + i * per, buf);
}

void fb_int8_conv_batch(const int8_t *x, uint32_t x_stride, uint32_t n, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf) {
    uint32_t per = fb_conv_out_h(s) * fb_conv_out_w(s) * s->out_c;
    for (uint32_t i = 0; i < n; i++) fb_int8_conv_fast(x + i * x_stride, s, w, out + i * per, buf);
}

void fb_maxpool_i32_batch(const int32_t *x, uint32_t n, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int32_t *out) {
    for (uint32_t i = 0; i < n; i++) fb_maxpool_i32(x + i * h * w * c, h, w, c, p, st, oh, ow, out + i * oh * ow * c);
}

void fb_bin_maxpool_batch(const uint32_t *x, uint32_t n, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out) {
    uint32_t in_words = fb_words(h * w * c), out_words = fb_words(oh * ow * c);
    for (uint32_t i = 0; i < n; i++) fb_bin_maxpool_fast(x + i * in_words, h, w, c, p, st, oh, ow, out + i * out_words);
}

void fb_threshold_batch(const int32_t *acc, uint32_t n, uint32_t n_pix, uint32_t c, const int32_t *tau, const uint32_t *flip, uint32_t *out) {
    for (uint32_t i = 0; i < n; i++) fb_threshold(acc + i * n_pix * c, n_pix, c, tau, flip, out + i * fb_words(n_pix * c));
}

void fb_int8_planes_batch(const int8_t *x, uint32_t x_stride, uint32_t n, uint32_t k, uint32_t *planes, int32_t *sx) {
    uint32_t per = fb_int8_planes_words(k);
    for (uint32_t i = 0; i < n; i++) {
        const int8_t *xi = x + i * x_stride;
        int32_t s = 0;
        for (uint32_t j = 0; j < k; j++) s += xi[j];
        sx[i] = s;
        fb_int8_planes(xi, k, planes + i * per);
    }
}

void fb_int8_fc_planes_batch(const uint32_t *planes, const int32_t *sx, uint32_t n, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t per = fb_int8_planes_words(k);
    for (uint32_t i = 0; i < n; i++) fb_int8_fc_planes(planes + i * per, sx[i], w, k, n_out, out + i * n_out);
}

void fb_int8_fc_update_batch(const int8_t *x, uint32_t x_stride, uint32_t n, const uint32_t *row, const uint32_t *col,
                             const int32_t *coef, uint32_t n_changes, uint32_t n_out, int32_t *out) {
    for (uint32_t i = 0; i < n; i++) {
        const int8_t *xi = x + i * x_stride;
        int32_t *oi = out + i * n_out;
        for (uint32_t f = 0; f < n_changes; f++) oi[row[f]] += coef[f] * xi[col[f]];
    }
}
