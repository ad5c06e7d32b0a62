/* Frame receiver and command dispatcher (PROTOCOL.md). Every request gets exactly one reply:
 * its result or FB_MSG_ERROR with a code; every length is checked against the buffers before
 * a byte is copied, and a refused request changes nothing. Replies to the last (id, seq) are
 * cached so a retried request (same seq) is answered again without being applied twice;
 * RESET clears the cache and HELLO is never answered from it. */
#include <string.h>
#include "fb_protocol.h"
#include "fb_framing.h"
#include "fb_port.h"
#include "hal_mem.h"
#include "memtest.h"
#include "model.h"

#define RX_CAP (FB_COBS_MAX(FB_MAX_PAYLOAD + 2u))
#define TX_CAP (FB_COBS_MAX(FB_MAX_PAYLOAD + 2u) + 1u)

static uint8_t rx[RX_CAP];
static size_t rx_len;
static int rx_overflow;
static uint8_t req[RX_CAP]; /* a decoded frame is never longer than its encoding */
static uint8_t rep[FB_MAX_PAYLOAD + 2u];
static uint8_t tx[TX_CAP];
static uint8_t last_id;
static uint16_t last_seq;
static int last_valid;
static size_t last_len; /* cached reply in rep[0..last_len) */
static int8_t staged[FB_MAX_INPUT]; /* INPUT chunks */
static uint32_t staged_len;

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

static void send_payload(const uint8_t *payload, size_t n) {
    uint8_t tmp[FB_MAX_PAYLOAD + 2u];
    memcpy(tmp, payload, n);
    put16(tmp + n, fb_crc16(payload, n, 0xFFFFu));
    size_t m = fb_cobs_encode(tmp, n + 2u, tx, TX_CAP - 1u);
    tx[m] = 0;
    port_write(tx, m + 1u);
}

static size_t error_reply(uint8_t *o, uint8_t id, uint16_t seq, uint16_t code, uint32_t detail) {
    o[0] = FB_MSG_ERROR;
    put16(o + 1, seq);
    put16(o + 3, code);
    o[5] = id;
    o[6] = 0;
    put32(o + 7, detail);
    return 11;
}

/* Framing errors: the request is unknown, so the reply cache is left alone. */
static void frame_error(uint16_t code, uint32_t detail) {
    uint8_t e[11];
    send_payload(e, error_reply(e, 0, 0xFFFFu, code, detail));
}

void fb_proto_rx_reset(void) {
    rx_len = 0;
    rx_overflow = 0;
}

void fb_proto_init(void) {
    staged_len = 0;
    fb_proto_rx_reset();
    last_valid = 0;
    fb_model_reset();
}

void fb_proto_send_boot(void) {
    uint8_t p[15];
    p[0] = FB_MSG_BOOT;
    put16(p + 1, 0);
    put32(p + 3, FB_FW_VERSION);
    put16(p + 7, FB_PROTOCOL_VERSION);
    p[9] = port_target_id();
    p[10] = 0;
    put32(p + 11, port_boot_id());
    send_payload(p, sizeof p);
}

/* Each handler gets the fields after id+seq (n bytes) and fills rep[3..]; returns the reply
 * length, or 0 with code and detail set for an error. */
typedef size_t (*handler)(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail);

#define FAIL(c, d) do { *code = (c); *detail = (uint32_t)(d); return 0; } while (0)
#define NEED(len) do { if (n != (len)) FAIL(FB_E_BAD_LENGTH, (len)); } while (0)

static int range_bad(uint32_t addr, uint32_t count) {
    uint32_t words = hal_mem_words();
    return addr > words || count > words - addr;
}

static size_t do_hello(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    (void)f;
    NEED(0);
    uint8_t *o = rep + FB_HEADER;
    put32(o, FB_FW_VERSION);
    put16(o + 4, FB_PROTOCOL_VERSION);
    put16(o + 6, FB_MAX_PAYLOAD);
    put32(o + 8, hal_mem_words());
    put32(o + 12, FB_CAP_MODEL | FB_CAP_STEP | FB_CAP_PATTERN | FB_CAP_TERNARY
#ifdef FB_LAB
                      | FB_CAP_LAB
#endif
    );
    o[16] = port_target_id();
    o[17] = (uint8_t)port_count_unit();
    put16(o + 18, FB_MAX_IO_WORDS);
    put32(o + 20, port_boot_id());
    put32(o + 24, FB_MODEL_BYTES);
    put32(o + 28, FB_SCRATCH_WORDS);
    return FB_HEADER + 32u;
}

static size_t do_load(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    if (n < 8) FAIL(FB_E_BAD_LENGTH, 8);
    uint32_t addr = get32(f), count = get16(f + 4);
    if (count == 0 || count > FB_MAX_IO_WORDS) FAIL(FB_E_BAD_ARG, FB_MAX_IO_WORDS);
    NEED(8u + 4u * count);
    if (range_bad(addr, count)) FAIL(FB_E_OUT_OF_RANGE, hal_mem_words());
    uint32_t words[FB_MAX_IO_WORDS];
    for (uint32_t i = 0; i < count; i++) words[i] = get32(f + 8 + 4 * i);
    hal_mem_write_block(addr, words, count);
    put32(rep + FB_HEADER, addr);
    put16(rep + FB_HEADER + 4, (uint16_t)count);
    return FB_HEADER + 6u;
}

static size_t do_read(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    NEED(6);
    uint32_t addr = get32(f), count = get16(f + 4);
    if (count == 0 || count > FB_MAX_IO_WORDS) FAIL(FB_E_BAD_ARG, FB_MAX_IO_WORDS);
    if (range_bad(addr, count)) FAIL(FB_E_OUT_OF_RANGE, hal_mem_words());
    uint32_t words[FB_MAX_IO_WORDS];
    hal_mem_read_block(addr, words, count);
    uint8_t *o = rep + FB_HEADER;
    put32(o, addr);
    put16(o + 4, (uint16_t)count);
    put16(o + 6, 0);
    for (uint32_t i = 0; i < count; i++) put32(o + 8 + 4 * i, words[i]);
    return FB_HEADER + 8u + 4u * count;
}

static size_t do_pattern(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    NEED(16);
    int kind = f[0], write = f[1] & 1u;
    uint32_t max_report = get16(f + 2), addr = get32(f + 4), count = get32(f + 8), seed = get32(f + 12);
    if (kind > FB_PAT_RANDOM) FAIL(FB_E_BAD_ARG, 0);
    if (count == 0 || max_report > FB_PATTERN_MAX_REPORT) FAIL(FB_E_BAD_ARG, FB_PATTERN_MAX_REPORT);
    if (range_bad(addr, count)) FAIL(FB_E_OUT_OF_RANGE, hal_mem_words());
    uint32_t list[FB_PATTERN_MAX_REPORT];
    fb_memtest_result r;
    fb_memtest(kind, seed, addr, count, write, list, max_report, &r);
    uint8_t *o = rep + FB_HEADER;
    put32(o, count);
    put32(o + 4, r.flips_0to1);
    put32(o + 8, r.flips_1to0);
    put16(o + 12, (uint16_t)r.n_reported);
    o[14] = (uint8_t)r.truncated;
    o[15] = 0;
    for (uint32_t i = 0; i < r.n_reported; i++) put32(o + 16 + 4 * i, list[i]);
    return FB_HEADER + 16u + 4u * r.n_reported;
}

static size_t do_model_chunk(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    if (n < 8) FAIL(FB_E_BAD_LENGTH, 8);
    if (n - 8 > FB_MAX_MODEL_CHUNK) FAIL(FB_E_BAD_LENGTH, 8u + FB_MAX_MODEL_CHUNK);
    uint32_t total = get32(f), offset = get32(f + 4), len = (uint32_t)(n - 8);
    uint32_t d = 0;
    int e = fb_model_chunk(total, offset, f + 8, len, &d);
    if (e) FAIL(e, d);
    put32(rep + FB_HEADER, offset);
    put16(rep + FB_HEADER + 4, (uint16_t)len);
    return FB_HEADER + 6u;
}

static size_t do_model_commit(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    NEED(4);
    uint32_t d = 0;
    int e = fb_model_commit(get32(f), &d);
    if (e) FAIL(e, d);
    const fb_model_info *mi = fb_model_info_get();
    uint8_t *o = rep + FB_HEADER;
    put32(o, mi->n_layers);
    put32(o + 4, mi->input_len);
    put32(o + 8, mi->n_outputs);
    put32(o + 12, mi->weight_words);
    return FB_HEADER + 16u;
}

static size_t do_input(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    if (n < 4) FAIL(FB_E_BAD_LENGTH, 4);
    uint32_t offset = get32(f), len = (uint32_t)(n - 4);
    if (offset != 0 && offset != staged_len) FAIL(FB_E_BAD_STATE, staged_len);
    if (offset > FB_MAX_INPUT || len > FB_MAX_INPUT - offset) FAIL(FB_E_OUT_OF_RANGE, FB_MAX_INPUT);
    memcpy(staged + offset, f + 4, len);
    staged_len = offset + len;
    put32(rep + FB_HEADER, staged_len);
    return FB_HEADER + 4u;
}

/* The input of INFER/STEP_INPUT: n bytes of input, or (n = 0) the staged input. */
static const int8_t *check_input(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    const fb_model_info *mi = fb_model_info_get();
    if (!mi) FAIL(FB_E_NO_MODEL, 0);
    if (n == 0) {
        if (staged_len != mi->input_len) FAIL(FB_E_BAD_STATE, staged_len);
        return staged;
    }
    if (n != mi->input_len) FAIL(FB_E_BAD_LENGTH, mi->input_len);
    return (const int8_t *)f;
}

/* Repeat count of STEP/INFER: 1..FB_MAX_REPEAT. Returns 0 for out of range. */
static uint32_t check_repeat(uint32_t repeat, uint16_t *code, uint32_t *detail) {
    if (repeat == 0 || repeat > FB_MAX_REPEAT) FAIL(FB_E_BAD_ARG, FB_MAX_REPEAT);
    return repeat;
}

static size_t put_scores(uint8_t *o, const int32_t *scores) {
    const fb_model_info *mi = fb_model_info_get();
    for (uint32_t i = 0; i < mi->n_outputs; i++) put32(o + 4 * i, (uint32_t)scores[i]);
    return 4u * mi->n_outputs;
}

/* Fields: u32 repeat, then the input (or nothing: the staged input). */
static size_t do_infer(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    if (n < 4) FAIL(FB_E_BAD_LENGTH, 4);
    uint32_t repeat = check_repeat(get32(f), code, detail);
    if (!repeat) return 0;
    const fb_model_info *mi = fb_model_info_get();
    if (mi && n != 4 && n != 4u + mi->input_len) FAIL(FB_E_BAD_LENGTH, 4u + mi->input_len);
    const int8_t *in = check_input(f + 4, n - 4, code, detail);
    if (!in) return 0;
    int32_t scores[FB_MAX_OUTPUTS];
    uint64_t layer_counts[FB_MAX_LAYERS], total = 0;
    int e = fb_model_infer(in, mi->input_len, repeat, scores, layer_counts, &total);
    if (e) FAIL(e, 0);
    uint8_t *o = rep + FB_HEADER;
    put16(o, (uint16_t)mi->n_outputs);
    o[2] = (uint8_t)mi->n_layers;
    o[3] = (uint8_t)port_count_unit();
    put32(o + 4, repeat);
    put64(o + 8, total);
    size_t k = 16u + put_scores(o + 16, scores);
    for (uint32_t i = 0; i < mi->n_layers; i++, k += 4) put32(o + k, (uint32_t)(layer_counts[i] / repeat));
    return FB_HEADER + k;
}

static size_t do_step_input(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    const int8_t *in = check_input(f, n, code, detail);
    if (!in) return 0;
    int e = fb_model_step_input(in, fb_model_info_get()->input_len);
    if (e) FAIL(e, 0);
    put32(rep + FB_HEADER, fb_model_info_get()->n_layers);
    return FB_HEADER + 4u;
}

/* Fields: nothing (repeat 1) or u32 repeat. */
static size_t do_step(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    if (n != 0 && n != 4) FAIL(FB_E_BAD_LENGTH, 4);
    uint32_t repeat = check_repeat(n ? get32(f) : 1u, code, detail);
    if (!repeat) return 0;
    if (!fb_model_info_get()) FAIL(FB_E_NO_MODEL, 0);
    uint32_t layer = 0;
    uint64_t total = 0;
    int done = 0;
    int32_t scores[FB_MAX_OUTPUTS];
    int e = fb_model_step(repeat, &layer, &total, &done, scores);
    if (e) FAIL(e, 0);
    uint8_t *o = rep + FB_HEADER;
    o[0] = (uint8_t)layer;
    o[1] = (uint8_t)done;
    o[2] = (uint8_t)port_count_unit();
    o[3] = 0;
    put32(o + 4, (uint32_t)(total / repeat));
    put32(o + 8, repeat);
    put64(o + 12, total);
    if (!done) return FB_HEADER + 20u;
    put16(o + 20, (uint16_t)fb_model_info_get()->n_outputs);
    put16(o + 22, 0);
    return FB_HEADER + 24u + put_scores(o + 24, scores);
}

/* Busy-waits on port_counter alone (no memory under test, no model state) until at least
 * count units have passed. */
static size_t do_idle(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    NEED(4);
    uint32_t count = get32(f);
    if (count == 0) FAIL(FB_E_BAD_ARG, FB_MAX_IDLE_COUNT);
    fb_count c;
    fb_count_start(&c);
    while (c.total < count) fb_count_lap(&c);
    uint8_t *o = rep + FB_HEADER;
    o[0] = (uint8_t)port_count_unit();
    o[1] = 0;
    put16(o + 2, 0);
    put64(o + 4, c.total);
    return FB_HEADER + 12u;
}

static size_t do_ident(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    (void)f;
    NEED(0);
    const char *id = hal_mem_chip_id();
    size_t len = 0;
    while (len < FB_MAX_CHIP_ID && id[len] != '\0') len++;
    uint8_t *o = rep + FB_HEADER;
    o[0] = (uint8_t)len;
    o[1] = 0;
    put16(o + 2, 0);
    memcpy(o + 4, id, len);
    return FB_HEADER + 4u + len;
}

static size_t do_reset(const uint8_t *f, size_t n, uint16_t *code, uint32_t *detail) {
    (void)f;
    NEED(0);
    return FB_HEADER;
}

static handler lookup(uint8_t id) {
    switch (id) {
    case FB_MSG_HELLO: return do_hello;
    case FB_MSG_LOAD: return do_load;
    case FB_MSG_READ: return do_read;
    case FB_MSG_PATTERN: return do_pattern;
    case FB_MSG_MODEL_CHUNK: return do_model_chunk;
    case FB_MSG_MODEL_COMMIT: return do_model_commit;
    case FB_MSG_INFER: return do_infer;
    case FB_MSG_STEP_INPUT: return do_step_input;
    case FB_MSG_STEP: return do_step;
    case FB_MSG_RESET: return do_reset;
    case FB_MSG_INPUT: return do_input;
    case FB_MSG_IDLE: return do_idle;
    case FB_MSG_IDENT: return do_ident;
    default: return 0;
    }
}

/* A complete frame (the bytes before a delimiter, at most RX_CAP): a partial one (its last
 * COBS block announces more bytes than arrived, or it decodes to fewer than id + seq + CRC)
 * is dropped without a reply; then OVERSIZE for a payload over FB_MAX_PAYLOAD, BAD_CRC. */
static int handle_frame(void) {
    size_t out;
    long n = fb_cobs_decode(rx, rx_len, req, sizeof req);
    if (n < (long)(FB_HEADER + 2u)) return 0;
    size_t len = (size_t)n - 2u;
    if (len > FB_MAX_PAYLOAD) {
        frame_error(FB_E_OVERSIZE, FB_MAX_PAYLOAD);
        return 1;
    }
    if (fb_crc16(req, len, 0xFFFFu) != get16(req + len)) {
        frame_error(FB_E_BAD_CRC, (uint32_t)len);
        return 1;
    }
    uint8_t id = req[0];
    uint16_t seq = get16(req + 1);
    if (last_valid && id == last_id && seq == last_seq && id != FB_MSG_HELLO) {
        send_payload(rep, last_len); /* a retry: same answer, nothing applied twice */
        return 1;
    }
    handler h = lookup(id);
    if (!h) {
        out = error_reply(rep, id, seq, FB_E_UNKNOWN_CMD, id);
    } else {
        uint16_t code = 0;
        uint32_t detail = 0;
        out = h(req + FB_HEADER, len - FB_HEADER, &code, &detail);
        if (out) {
            rep[0] = (uint8_t)(id | FB_MSG_REPLY);
            put16(rep + 1, seq);
        } else {
            out = error_reply(rep, id, seq, code, detail);
        }
    }
    last_valid = id != FB_MSG_RESET;
    last_id = id;
    last_seq = seq;
    last_len = out;
    send_payload(rep, out);
    if (id == FB_MSG_RESET && out == FB_HEADER) {
        fb_proto_init();
        fb_proto_send_boot();
    }
    return 1;
}

int fb_proto_rx_byte(uint8_t byte) {
    if (byte != 0) {
        if (rx_len < RX_CAP) rx[rx_len++] = byte;
        else rx_overflow = 1;
        return 0;
    }
    int handled = 0; /* a lone 0x00 only resynchronises */
    if (rx_overflow) {
        frame_error(FB_E_OVERSIZE, FB_MAX_PAYLOAD);
        handled = 1;
    } else if (rx_len > 0) {
        handled = handle_frame();
    }
    rx_len = 0;
    rx_overflow = 0;
    return handled;
}
