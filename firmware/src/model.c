/* Model blob parser (FORMAT.md part B) and network runner. The blob is staged in RAM; every
 * rule of FORMAT.md B.2 and the firmware's limits are checked at commit, in 64-bit arithmetic,
 * before any size is used. Weights are read from the memory under test through the HAL once
 * per layer run (FORMAT.md B: faults reach inference as on the board).
 *
 * Scratch (static, FB_SCRATCH_WORDS): two ping-pong activation buffers of act_words each,
 * then the work area of the running layer: weights | z | pooled z | kernel buffer | flat.
 * Activations are HWC internally (packed bits for BIN, bytes for INT8); the INFER input
 * (torch c,h,w order) is transposed on entry, and an FC layer gathers its input back into
 * torch flatten order (FORMAT.md B.5). */
#include <string.h>
#include "fb_framing.h"
#include "fb_port.h"
#include "fb_protocol.h"
#include "hal_mem.h"
#include "kernels.h"
#include "model.h"

enum { OP_CONV = 1, OP_FC = 2, OP_MAXPOOL = 3 };
enum { T_BIN = 0, T_INT8 = 1, T_INT32 = 2 };
enum { W_NONE = 0, W_BINARY = 1, W_TERNARY = 2 };
#define HEADER_BYTES 32u
#define RECORD_BYTES 40u

typedef struct {
    uint8_t op, in_type, w_enc, out_type, pool_k, pool_stride, shift, pool_ceil;
    int8_t act_min, act_max;
    fb_conv_shape cs;      /* in_h, in_w, in_c, out_c, kernel, stride, pad */
    uint32_t hc, wc;       /* spatial size of z before pooling */
    uint32_t out_h, out_w;
    uint32_t base, n_words, param_off;
    uint32_t k;            /* row length */
    uint8_t sliced;        /* BIN conv with BIN output through fb_bin_conv_sliced */
} layer_t;

static uint32_t blob_words[(FB_MODEL_BYTES + 3u) / 4u];
#define BLOB ((uint8_t *)blob_words)
static uint32_t blob_total, blob_received;
static layer_t layers[FB_MAX_LAYERS];
static fb_model_info info;
static int committed, input_pending;
static uint32_t scratch[FB_SCRATCH_WORDS];
static uint32_t act_words, cur, next_layer;

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

void fb_model_reset(void) {
    committed = input_pending = 0;
    blob_total = blob_received = 0;
}

/* Every check comes before the first change: a refused chunk changes nothing. */
int fb_model_chunk(uint32_t total, uint32_t offset, const uint8_t *data, uint32_t n, uint32_t *detail) {
    *detail = FB_MODEL_BYTES;
    if (total == 0 || total > FB_MODEL_BYTES) return FB_E_OUT_OF_RANGE;
    *detail = blob_received;
    if (offset != 0 && (total != blob_total || offset != blob_received)) return FB_E_BAD_STATE;
    *detail = total;
    if (n > total - offset) return FB_E_OUT_OF_RANGE;
    if (offset == 0) {
        committed = input_pending = 0;
        blob_total = total;
        blob_received = 0;
    }
    memcpy(BLOB + offset, data, n);
    blob_received += n;
    return 0;
}

const fb_model_info *fb_model_info_get(void) { return committed ? &info : 0; }

static uint64_t tensor_words(uint8_t type, uint64_t n) {
    return type == T_BIN ? (n + 31u) / 32u : type == T_INT8 ? (n + 3u) / 4u : n;
}

/* Kernel family check (FORMAT.md B.2 table). */
static int valid_combo(const layer_t *l, int last) {
    if (l->out_type == T_INT32 && !last) return 0;
    if (last && l->out_type != T_INT32) return 0;
    if (l->op == OP_MAXPOOL) return l->w_enc == W_NONE && l->in_type == l->out_type && l->in_type != T_INT32;
    if (l->w_enc == W_BINARY) return l->in_type <= T_INT8 && (l->out_type == T_BIN || l->out_type == T_INT32);
    if (l->w_enc == W_TERNARY) return l->in_type == T_INT8 && (l->out_type == T_INT8 || l->out_type == T_INT32);
    return 0;
}

#define BAD(check, layer) do { *detail = (uint32_t)(check) | ((uint32_t)(layer) << 8); return FB_E_BAD_MODEL; } while (0)

int fb_model_commit(uint32_t total, uint32_t *detail) {
    const uint8_t *b = BLOB;
    *detail = 0;
    /* a commit that does not match the staged blob is refused and keeps the committed model */
    if (total == 0 || total != blob_total || blob_received != total) return FB_E_BAD_STATE;
    committed = input_pending = 0;
    if (total < HEADER_BYTES + RECORD_BYTES + 4u) BAD(FB_MODEL_E_TRUNCATED, 0);
    if (memcmp(b, "FBMB", 4) != 0) BAD(FB_MODEL_E_MAGIC, 0);
    if (u16(b + 4) != 1 || u16(b + 6) != 1 || u16(b + 8) != HEADER_BYTES || u16(b + 10) != RECORD_BYTES) BAD(FB_MODEL_E_VERSION, 0);
    if (u32(b + 28) != total) BAD(FB_MODEL_E_TRUNCATED, 0);
    if (fb_crc32(b, total - 4u, 0) != u32(b + total - 4u)) BAD(FB_MODEL_E_CRC, 0);
    uint32_t n = u16(b + 12), n_scores = u16(b + 14), weight_words = u32(b + 24);
    if (n == 0 || n > FB_MAX_LAYERS) BAD(FB_MODEL_E_TOO_BIG, 0);
    uint32_t table_end = HEADER_BYTES + RECORD_BYTES * n;
    if (table_end > total - 4u) BAD(FB_MODEL_E_TRUNCATED, 0);
    if (weight_words > hal_mem_words()) BAD(FB_MODEL_E_MEMORY, 0);
    uint8_t prev_type = T_INT8;
    uint64_t pc = u16(b + 16), ph = u16(b + 18), pw = u16(b + 20);
    uint64_t input_len = pc * ph * pw;
    if (input_len == 0 || input_len > FB_MAX_INPUT) BAD(FB_MODEL_E_TOO_BIG, 0);
    uint64_t acts = tensor_words(T_INT8, input_len), work_max = 0, weights_end = 0;

    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = b + HEADER_BYTES + RECORD_BYTES * i;
        layer_t *l = &layers[i];
        memset(l, 0, sizeof *l);
        l->op = r[0]; l->in_type = r[1]; l->w_enc = r[2]; l->out_type = r[3];
        uint32_t ic = u16(r + 4), ih = u16(r + 6), iw = u16(r + 8), oc = u16(r + 10), oh = u16(r + 12), ow = u16(r + 14);
        l->cs.in_c = (uint16_t)ic; l->cs.in_h = (uint16_t)ih; l->cs.in_w = (uint16_t)iw; l->cs.out_c = (uint16_t)oc;
        l->cs.kh = r[16]; l->cs.kw = r[17]; l->cs.stride = r[18]; l->cs.pad = r[19];
        l->pool_k = r[20]; l->pool_stride = r[21]; l->shift = r[22]; l->pool_ceil = r[23];
        l->act_min = (int8_t)r[24]; l->act_max = (int8_t)r[25];
        l->base = u32(r + 28); l->n_words = u32(r + 32); l->param_off = u32(r + 36);
        l->out_h = oh; l->out_w = ow;
        int last = i + 1u == n;
        if (u16(r + 26) != 0 || l->op < OP_CONV || l->op > OP_MAXPOOL || l->in_type > T_INT32 || l->out_type > T_INT32
            || l->w_enc > W_TERNARY || !valid_combo(l, last))
            BAD(FB_MODEL_E_LAYER, i);
        if (l->in_type != prev_type || ic != pc || ih != ph || iw != pw || oc == 0) BAD(FB_MODEL_E_SHAPE, i);
        /* z before pooling */
        if (l->op == OP_CONV) {
            if (!l->cs.kh || !l->cs.kw || !l->cs.stride || ih + 2u * l->cs.pad < l->cs.kh || iw + 2u * l->cs.pad < l->cs.kw)
                BAD(FB_MODEL_E_SHAPE, i);
            l->hc = fb_conv_out_h(&l->cs);
            l->wc = fb_conv_out_w(&l->cs);
            l->k = fb_conv_k(&l->cs);
        } else if (l->op == OP_FC) {
            if (l->cs.kh || l->cs.kw || l->cs.stride || l->cs.pad || l->pool_k) BAD(FB_MODEL_E_SHAPE, i);
            l->hc = l->wc = 1;
            l->k = ic * ih * iw;
        } else {
            if (l->cs.kh || l->cs.kw || l->cs.stride || l->cs.pad || !l->pool_k || oc != ic) BAD(FB_MODEL_E_SHAPE, i);
            l->hc = ih;
            l->wc = iw;
        }
        if (l->pool_k) {
            if (!l->pool_stride || l->pool_ceil > 1 || oh != fb_pool_out(l->hc, l->pool_k, l->pool_stride, l->pool_ceil)
                || ow != fb_pool_out(l->wc, l->pool_k, l->pool_stride, l->pool_ceil))
                BAD(FB_MODEL_E_SHAPE, i);
        } else if (l->pool_stride || l->pool_ceil || oh != l->hc || ow != l->wc) {
            BAD(FB_MODEL_E_SHAPE, i);
        }
        if (oh == 0 || ow == 0 || (last && (oh != 1 || ow != 1 || oc != n_scores || oc > FB_MAX_OUTPUTS))) BAD(FB_MODEL_E_SHAPE, i);
        /* output stage parameters */
        if (l->out_type == T_INT8 && l->op != OP_MAXPOOL) {
            if (l->shift > 30 || l->act_min > l->act_max) BAD(FB_MODEL_E_LAYER, i);
        } else if (l->shift || l->act_min || l->act_max) {
            BAD(FB_MODEL_E_LAYER, i);
        }
        uint64_t param_bytes = (l->out_type == T_BIN && l->op != OP_MAXPOOL) ? 4u * (uint64_t)oc + 4u * ((oc + 31u) / 32u) : 0u;
        if (param_bytes) {
            if (l->param_off % 4u || l->param_off < table_end || (uint64_t)l->param_off + param_bytes > total - 4u) BAD(FB_MODEL_E_TRUNCATED, i);
        } else if (l->param_off) {
            BAD(FB_MODEL_E_LAYER, i);
        }
        /* weight region (FORMAT.md A.3) */
        uint64_t region = 0, kbuf = 0, flat = 0;
        if (l->op != OP_MAXPOOL) {
            region = (uint64_t)(l->w_enc == W_TERNARY ? 2u : 1u) * oc * fb_words(l->k);
            /* FORMAT.md B.2: aligned regions of the A.3 size that do not overlap */
            if (l->n_words != region || l->base % 4u || (uint64_t)l->base + region > weight_words) BAD(FB_MODEL_E_MEMORY, i);
            for (uint32_t j = 0; j < i; j++)
                if (layers[j].n_words && l->base < (uint64_t)layers[j].base + layers[j].n_words
                    && layers[j].base < (uint64_t)l->base + region)
                    BAD(FB_MODEL_E_MEMORY, i);
            if ((uint64_t)l->base + region > weights_end) weights_end = (uint64_t)l->base + region;
            if (l->op == OP_CONV) kbuf = l->in_type == T_BIN ? fb_bin_conv_buffer_size(&l->cs) : fb_int8_conv_buffer_size(&l->cs);
            else if (ih * iw > 1u) flat = tensor_words(l->in_type, l->k);
        } else if (l->base || l->n_words) {
            BAD(FB_MODEL_E_MEMORY, i);
        }
        uint64_t z = (uint64_t)l->hc * l->wc * oc, zp = l->pool_k ? (uint64_t)oh * ow * oc : 0u;
        uint64_t out_elems = (uint64_t)oc * oh * ow;
        uint64_t work = region + (l->op == OP_MAXPOOL ? 0u : z + zp) + kbuf + flat;
        if (work > work_max) work_max = work;
        if (l->out_type != T_INT32 && tensor_words(l->out_type, out_elems) > acts) acts = tensor_words(l->out_type, out_elems);
        if (work_max > FB_SCRATCH_WORDS || acts > FB_SCRATCH_WORDS) BAD(FB_MODEL_E_SCRATCH, i);
#if defined(FB_CONV_SLICED)
        /* where it pays, a BIN -> BIN conv runs fused with its threshold when its buffer (after
         * the pre-pooling bits) fits the area of z, pooled z and the kernel buffer */
        if (l->op == OP_CONV && l->in_type == T_BIN && l->out_type == T_BIN)
            l->sliced = (l->pool_k ? tensor_words(T_BIN, z) : 0u) + fb_bin_conv_sliced_buffer_size(&l->cs) <= z + zp + kbuf;
#endif
        prev_type = l->out_type;
        pc = oc; ph = oh; pw = ow;
    }
    if (weights_end != weight_words) BAD(FB_MODEL_E_MEMORY, n - 1u); /* header = largest region end */
    if (2u * acts + work_max > FB_SCRATCH_WORDS) BAD(FB_MODEL_E_SCRATCH, n - 1u);
    act_words = (uint32_t)acts;
    info.n_layers = n;
    info.input_len = (uint32_t)input_len;
    info.n_outputs = n_scores;
    info.weight_words = weight_words;
    committed = 1;
    return 0;
}

/* --- runner ---------------------------------------------------------------------------- */

/* HWC -> torch (c, h, w) flatten order for an FC input (FORMAT.md B.5); packed bits word-wise
 * (fb_bin_hwc_to_chw), int8 codes one by one. */
static void gather_chw(const layer_t *l, const uint32_t *in, uint32_t *flat) {
    uint32_t c = l->cs.in_c, hw = (uint32_t)l->cs.in_h * l->cs.in_w, k = 0;
    if (l->in_type == T_BIN) {
        fb_bin_hwc_to_chw(in, hw, c, flat);
        return;
    }
    for (uint32_t ch = 0; ch < c; ch++)
        for (uint32_t p = 0; p < hw; p++, k++) ((int8_t *)flat)[k] = ((const int8_t *)in)[p * c + ch];
}

/* bits of n_pix pixels x c channels XOR flip (bit ch % 32 of word ch / 32 per channel) */
static void flip_channels(uint32_t *bits, uint32_t n_pix, uint32_t c, const uint32_t *flip) {
    for (uint32_t p = 0, off = 0; p < n_pix; p++)
        for (uint32_t c0 = 0; c0 < c; c0 += 32u) {
            uint32_t n = c - c0 < 32u ? c - c0 : 32u, f = flip[c0 / 32u] & (n < 32u ? (1u << n) - 1u : 0xFFFFFFFFu);
            uint32_t di = off >> 5, sh = off & 31u;
            bits[di] ^= f << sh;
            if (sh && sh + n > 32u) bits[di + 1u] ^= f >> (32u - sh);
            off += n;
        }
}

/* The output stage of z (n_pix pixels x out_c): the scores for the INT32 layer, else the
 * threshold (BIN) or the requantisation (INT8) into out. */
static void finish(const layer_t *l, const int32_t *z, uint32_t n_pix, uint32_t *out, int32_t *scores) {
    uint32_t oc = l->cs.out_c;
    if (l->out_type == T_INT32) {
        if (z != scores) memcpy(scores, z, 4u * oc);
        return;
    }
    if (l->out_type == T_BIN) {
        const uint32_t *tau = blob_words + l->param_off / 4u, *flip = tau + oc;
        fb_threshold(z, n_pix, oc, (const int32_t *)tau, flip, out);
    } else {
        fb_requant(z, n_pix * oc, l->shift, l->act_min, l->act_max, (int8_t *)out);
    }
}

/* An FC layer (no pooling, 1 x 1 output). A binary FC loads each weight word once, so it
 * reads mapped memory in place (hal_mem_map); the others, and a binary FC on unmapped memory,
 * read the layer's cells once into work. An input with pixels is gathered into torch flatten
 * order first. The last layer's z are the scores. */
static void run_fc(const layer_t *l, const uint32_t *in, uint32_t *out, uint32_t *work, int32_t *scores) {
    uint32_t oc = l->cs.out_c;
    const uint32_t *w = l->in_type == T_BIN ? hal_mem_map(l->base, l->n_words) : 0;
    if (!w) {
        hal_mem_read_block(l->base, work, l->n_words);
        w = work;
    }
    int32_t *z = (int32_t *)(work + l->n_words);
    uint32_t *kbuf = (uint32_t *)(z + oc);
    if (l->out_type == T_INT32) z = scores;
    const uint32_t *x = in;
    if (l->cs.in_h * l->cs.in_w > 1u) {
        gather_chw(l, in, kbuf);
        x = kbuf;
    }
    if (l->in_type == T_BIN) fb_bin_fc_fast(x, w, l->k, oc, z);
    else if (l->w_enc == W_BINARY) fb_int8_fc_fast((const int8_t *)x, w, l->k, oc, z);
    else fb_tern_fc_fast((const int8_t *)x, w, w + oc * fb_words(l->k), l->k, oc, z);
    if (l->out_type != T_INT32) finish(l, z, 1u, out, scores); /* INT32: z are the scores */
}

/* A conv layer: its weights read once into work. A sliced conv writes the bits (z < tau) XOR
 * flip directly; pooled, the bits (z < tau) are max-pooled (AND: max z >= tau iff some
 * z >= tau) and flipped after. */
static void run_conv(const layer_t *l, const uint32_t *in, uint32_t *out, uint32_t *work, int32_t *scores) {
    uint32_t oc = l->cs.out_c, n_pix = l->out_h * l->out_w;
    uint32_t *w = work, *plane2 = w + oc * fb_words(l->k);
    hal_mem_read_block(l->base, w, l->n_words); /* one read of the layer's cells per run */
    int32_t *z = (int32_t *)(w + l->n_words), *zp = z + l->hc * l->wc * oc;
    uint32_t *kbuf = (uint32_t *)(zp + (l->pool_k ? n_pix * oc : 0u));
    if (l->out_type == T_INT32 && !l->pool_k) z = scores; /* a 1 x 1 last layer's z are the scores */
    if (l->sliced) {
        const uint32_t *tau = blob_words + l->param_off / 4u, *flip = tau + oc;
        uint32_t *bits = l->pool_k ? (uint32_t *)z : out, pre = l->pool_k ? fb_words(l->hc * l->wc * oc) : 0u;
        fb_bin_conv_sliced(in, &l->cs, w, (const int32_t *)tau, l->pool_k ? 0 : flip, bits, (uint32_t *)z + pre);
        if (l->pool_k) {
            fb_bin_maxpool_fast(bits, l->hc, l->wc, oc, l->pool_k, l->pool_stride, l->out_h, l->out_w, out);
            flip_channels(out, n_pix, oc, flip);
        }
        return;
    }
    if (l->in_type == T_BIN) fb_bin_conv_fast(in, &l->cs, w, z, kbuf);
    else if (l->w_enc == W_BINARY) fb_int8_conv_fast((const int8_t *)in, &l->cs, w, z, kbuf);
    else fb_tern_conv_fast((const int8_t *)in, &l->cs, w, plane2, z, kbuf);
    if (l->pool_k) {
        fb_maxpool_i32(z, l->hc, l->wc, oc, l->pool_k, l->pool_stride, l->out_h, l->out_w, zp);
        z = zp;
    }
    finish(l, z, n_pix, out, scores);
}

/* One run of layer l from the current activation buffer into the other one (scores for the
 * INT32 layer); the caller flips cur once the layer is done. */
static void run_layer(const layer_t *l, int32_t *scores) {
    uint32_t *in = scratch + cur * act_words, *out = scratch + (cur ^ 1u) * act_words, *work = scratch + 2u * act_words;
    if (l->op == OP_FC) {
        run_fc(l, in, out, work, scores);
    } else if (l->op == OP_CONV) {
        run_conv(l, in, out, work, scores);
    } else if (l->in_type == T_BIN) {
        fb_bin_maxpool_fast(in, l->hc, l->wc, l->cs.out_c, l->pool_k, l->pool_stride, l->out_h, l->out_w, out);
    } else {
        fb_maxpool_i8((const int8_t *)in, l->hc, l->wc, l->cs.out_c, l->pool_k, l->pool_stride, l->out_h, l->out_w,
                      (int8_t *)out);
    }
}

int fb_model_step_input(const int8_t *input, uint32_t n) {
    if (!committed) return FB_E_NO_MODEL;
    if (n != info.input_len) return FB_E_BAD_LENGTH;
    const layer_t *l = &layers[0];
    uint32_t c = l->cs.in_c, h = l->cs.in_h, w = l->cs.in_w;
    int8_t *a = (int8_t *)scratch;
    for (uint32_t ch = 0; ch < c; ch++) /* torch (c, h, w) -> HWC */
        for (uint32_t p = 0; p < h * w; p++) a[p * c + ch] = input[ch * h * w + p];
    cur = 0;
    next_layer = 0;
    input_pending = 1;
    return 0;
}

/* Runs the next layer repeat times; each lap of c is added to *layer_count. The laps go to a
 * local copy of c, which stays in registers, so a lap costs the counter read and an add. */
static void run_next(uint32_t repeat, fb_count *c, uint64_t *layer_count, int32_t *scores) {
    const layer_t *l = &layers[next_layer];
    fb_count lap = *c;
    for (uint32_t r = 0; r < repeat; r++) {
        run_layer(l, scores);
        fb_count_lap(&lap);
    }
    *layer_count += lap.total - c->total;
    *c = lap;
    if (l->out_type != T_INT32) cur ^= 1u;
    next_layer++;
}

int fb_model_step(uint32_t repeat, uint32_t *layer, uint64_t *total, int *done, int32_t *scores) {
    if (!committed) return FB_E_NO_MODEL;
    if (!input_pending) return FB_E_BAD_STATE;
    fb_count c;
    uint64_t count = 0;
    *layer = next_layer;
    fb_count_start(&c);
    run_next(repeat, &c, &count, scores);
    *total = count;
    *done = next_layer == info.n_layers;
    if (*done) input_pending = 0;
    return 0;
}

int fb_model_infer(const int8_t *input, uint32_t n, uint32_t repeat, int32_t *scores,
                   uint64_t *layer_counts, uint64_t *total) {
    if (!committed) return FB_E_NO_MODEL;
    if (n != info.input_len) return FB_E_BAD_LENGTH;
    fb_count c;
    memset(layer_counts, 0, info.n_layers * sizeof *layer_counts);
    fb_count_start(&c);
    for (uint32_t r = 0; r < repeat; r++) {
        fb_model_step_input(input, n);
        fb_count_lap(&c); /* input staging: in the total, in no layer */
        while (next_layer < info.n_layers) run_next(1, &c, &layer_counts[next_layer], scores);
    }
    input_pending = 0;
    *total = c.total;
    return 0;
}
