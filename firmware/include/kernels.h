/* Inference kernels (CMSIS-NN style): a plain reference kernel (_ref) and a fast kernel
 * (_fast) for each, tested equal (tests/test_kernels.c). No allocation: the caller owns every
 * buffer; *_buffer_size() companions give the scratch words a kernel needs.
 *
 * Encodings (drivers/memory_layout.py, FORMAT.md): binary value v = 1 - 2*b (bit 1 = -1).
 * Rows of K weights are packed LSB-first into ceil(K/32) words; conv rows in (kh, kw, in_c)
 * order. Binary activation tensors are one packed bit stream in HWC order (bit
 * (y*W + x)*C + c), vectors likewise; int8 / int32 tensors are HWC arrays.
 *
 * The algebra, written once [ALGORITHMS 1; FORMAT.md A.1, B.3]: for x, w in {-1,+1}^K with bits bx, bw, x_k*w_k = +1 iff
 * bx_k == bw_k, so with d = popcount(bx XOR bw) over the K bits,
 *     dot(x, w) = (K - d) - d = K - 2*d.
 * Padding bits past K are 0 in both operands, so XOR leaves them out of d. Conv zero padding
 * (PyTorch: padded inputs are 0, contributing nothing) restricts the sum to the valid taps
 * with a mask m: dot = popcount(m) - 2*popcount((bx XOR bw) AND m).
 * int8 x binary: dot = sum_k x_k*(1 - 2*bw_k) = sum_k x_k - 2*sum_{bw_k=1} x_k.
 * int8 x ternary (sign plane s, nonzero plane z): dot = sum_{z_k=1} (s_k ? -x_k : x_k). */
#ifndef FB_KERNELS_H
#define FB_KERNELS_H
#include <stdint.h>

typedef struct {
    uint16_t in_h, in_w, in_c, out_c;
    uint8_t kh, kw, stride, pad;
} fb_conv_shape;

/* Popcount of one word: the compiler's instruction where the target has one (host:
 * __builtin_popcount with -mpopcnt); Cortex-M has none (HARDWARE 4): SWAR. */
#if defined(__ARM_ARCH) && !defined(__ARM_FEATURE_SIMD32_POPCOUNT)
static inline uint32_t fb_pop32(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
}
#else
static inline uint32_t fb_pop32(uint32_t x) { return (uint32_t)__builtin_popcount(x); }
#endif

static inline uint32_t fb_words(uint32_t bits) { return (bits + 31u) / 32u; }
uint32_t fb_conv_out_h(const fb_conv_shape *s);
uint32_t fb_conv_out_w(const fb_conv_shape *s);
static inline uint32_t fb_conv_k(const fb_conv_shape *s) { return (uint32_t)s->kh * s->kw * s->in_c; }

/* Binary fully connected: out[o] = dot(x, w_o), x of k bits, w rows of fb_words(k) words. */
void fb_bin_fc_ref(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);
void fb_bin_fc_fast(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);

/* Binary conv, zero padding, HWC int32 out [out_h][out_w][out_c]. */
uint32_t fb_bin_conv_buffer_size(const fb_conv_shape *s); /* words: patch + mask */
void fb_bin_conv_ref(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out);
void fb_bin_conv_fast(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf);

/* Binary conv with the threshold stage fused (FORMAT.md B.3/B.4), bit-sliced over output
 * channels: out gets the bits fb_threshold would make of fb_bin_conv's z, i.e. bit
 * (pixel*out_c + o) = (z < tau[o]) XOR flip[o] (flip NULL: no flip), fb_words(oh*ow*out_c)
 * words, tail bits 0. The weights are transposed once per call (word k of channel group g =
 * bit k of rows 32g..32g+31); per pixel and group, every input bit k inside the input adds
 * word k XOR (bit ? ~0 : 0) to a carry-save counter of d = popcount(x XOR w_o) for 32
 * channels at once, and (z < tau) = (2d + K - valid > K - tau) is decided bit-sliced, without
 * a per-channel popcount. FB_CONV_SLICED: where this beats fb_bin_conv_fast + fb_threshold
 * (Cortex-M4, no popcount instruction); elsewhere it is correct but slower. */
#if defined(__thumb2__) && defined(__ARM_FEATURE_DSP)
#define FB_CONV_SLICED 1
#endif
uint32_t fb_bin_conv_sliced_buffer_size(const fb_conv_shape *s); /* words */
void fb_bin_conv_sliced(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, const int32_t *tau, const uint32_t *flip,
                        uint32_t *out, uint32_t *buf);

/* First layer: int8 inputs, binary weights. */
void fb_int8_fc_ref(const int8_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);
void fb_int8_fc_fast(const int8_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);
uint32_t fb_int8_conv_buffer_size(const fb_conv_shape *s); /* words: int8 patch */
void fb_int8_conv_ref(const int8_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out);
void fb_int8_conv_fast(const int8_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf);

/* The same through the bit planes of x (two's complement: bit i of plane j = bit j of x_i, 8
 * planes of fb_words(k) words; fb_int8_planes_words): dot = sx - 2 * sum_{j<7} 2^j
 * popcount(P_j AND w) + 2 * 128 popcount(P_7 AND w), sx = sum of x. Planes of inputs that
 * meet many weight sets (Monte-Carlo draws) are built once. */
uint32_t fb_int8_planes_words(uint32_t k);
void fb_int8_planes(const int8_t *x, uint32_t k, uint32_t *planes);
void fb_int8_fc_planes(const uint32_t *planes, int32_t sx, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);

/* WAGE: int8 activations, ternary weights as two planes (sign rows, then nonzero rows). */
void fb_tern_fc_ref(const int8_t *x, const uint32_t *sign, const uint32_t *nz, uint32_t k, uint32_t n_out, int32_t *out);
void fb_tern_fc_fast(const int8_t *x, const uint32_t *sign, const uint32_t *nz, uint32_t k, uint32_t n_out, int32_t *out);
void fb_tern_conv_ref(const int8_t *x, const fb_conv_shape *s, const uint32_t *sign, const uint32_t *nz, int32_t *out);
void fb_tern_conv_fast(const int8_t *x, const fb_conv_shape *s, const uint32_t *sign, const uint32_t *nz, int32_t *out, uint32_t *buf);

/* Max-pool, window p, stride st, no padding, output oh x ow (fb_pool_out: floor, or ceil as
 * torch ceil_mode where a window starting inside the input takes the max of its in-range
 * part), over HWC int32 / int8 tensors and over binary HWC bit streams, where the max of
 * {-1,+1} values is the AND of their bits. */
uint32_t fb_pool_out(uint32_t in, uint32_t p, uint32_t st, int ceil_mode);
void fb_maxpool_i32(const int32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int32_t *out);
void fb_maxpool_i8(const int8_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int8_t *out);
void fb_bin_maxpool_ref(const uint32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out);
void fb_bin_maxpool_fast(const uint32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out);

/* Binary HWC bit stream of hw pixels x c channels -> CHW (torch flatten order, FORMAT.md B.5):
 * out bit ch*hw + p = x bit p*c + ch; out gets fb_words(hw*c) words, tail bits 0. */
void fb_bin_hwc_to_chw(const uint32_t *x, uint32_t hw, uint32_t c, uint32_t *out);

/* Threshold activation (folded BatchNorm + sign, FORMAT.md B.3/B.4) over n_pix*c HWC
 * accumulators: y = +1 iff (acc >= tau[ch]) XOR flip[ch] (flip: bit ch%32 of word ch/32);
 * stored bit = (y == -1). out gets fb_words(n_pix*c) words, tail bits 0. */
void fb_threshold(const int32_t *acc, uint32_t n_pix, uint32_t c, const int32_t *tau, const uint32_t *flip, uint32_t *out);

/* WAGE output stage (FORMAT.md B.3): q = clamp(round_half_even(acc / 2^shift), amin, amax). */
int32_t fb_rshift_rne(int32_t v, uint32_t k);
void fb_requant(const int32_t *acc, uint32_t n, uint32_t shift, int32_t amin, int32_t amax, int8_t *out);

/* Batches (src/kernels_batch.c, host library libfbkernels: drivers/kernels_native.py): n
 * inputs through one kernel above, input i at x + i * x_stride (uint32 words; int8: bytes),
 * output i right after output i-1 (out_c values per pixel, or fb_words(bits) words for bit
 * streams). Scratch buf as the single-input kernel's (*_buffer_size()). */
void fb_bin_fc_batch(const uint32_t *x, uint32_t x_stride, uint32_t n, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);
void fb_int8_fc_batch(const int8_t *x, uint32_t x_stride, uint32_t n, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);
void fb_bin_conv_batch(const uint32_t *x, uint32_t x_stride, uint32_t n, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf);
void fb_int8_conv_batch(const int8_t *x, uint32_t x_stride, uint32_t n, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf);
void fb_maxpool_i32_batch(const int32_t *x, uint32_t n, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int32_t *out);
void fb_bin_maxpool_batch(const uint32_t *x, uint32_t n, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out);
void fb_threshold_batch(const int32_t *acc, uint32_t n, uint32_t n_pix, uint32_t c, const int32_t *tau, const uint32_t *flip, uint32_t *out);
/* planes of n inputs of k int8 codes (input i at x + i * x_stride, its planes at planes + i *
 * fb_int8_planes_words(k)) and their sums sx[i]; then fb_int8_fc_planes for each. */
void fb_int8_planes_batch(const int8_t *x, uint32_t x_stride, uint32_t n, uint32_t k, uint32_t *planes, int32_t *sx);
void fb_int8_fc_planes_batch(const uint32_t *planes, const int32_t *sx, uint32_t n, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out);
/* Sparse change of an int8 x binary layer's outputs when some weights change: for each input
 * i and change f, out[i][row[f]] += coef[f] * x_i[col[f]] (a sign flip of weight v: coef = -2v).
 * out as fb_int8_fc_batch's; x as its inputs (x_stride codes apart). */
void fb_int8_fc_update_batch(const int8_t *x, uint32_t x_stride, uint32_t n, const uint32_t *row, const uint32_t *col,
                             const int32_t *coef, uint32_t n_changes, uint32_t n_out, int32_t *out);
#endif
