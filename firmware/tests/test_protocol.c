/* The dispatcher through its byte interface: each malformed request gets its error code and
 * the next valid request succeeds; retried requests (same seq) are not applied twice; partial
 * frames get no reply; the payload limit, PATTERN's report limit, STEP/INFER repeat and IDLE
 * limits are the ones PROTOCOL.md states. */
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "fb_framing.h"
#include "fb_protocol.h"
#include "fb_port.h"
#include "hal_mem.h"
#include "test_port.h"

static uint8_t reply[FB_MAX_PAYLOAD + 8];
static long reply_len;

static void feed(const uint8_t *b, size_t n) { for (size_t i = 0; i < n; i++) fb_proto_rx_byte(b[i]); }

static void send_raw_payload(const uint8_t *p, size_t n, int corrupt) {
    static uint8_t tmp[FB_MAX_PAYLOAD + 64], enc[FB_COBS_MAX(FB_MAX_PAYLOAD + 64) + 1];
    memcpy(tmp, p, n);
    uint16_t crc = fb_crc16(p, n, 0xFFFFu) ^ (corrupt ? 0x0100u : 0u);
    tmp[n] = (uint8_t)crc;
    tmp[n + 1] = (uint8_t)(crc >> 8);
    size_t m = fb_cobs_encode(tmp, n + 2, enc, sizeof enc - 1);
    enc[m] = 0;
    feed(enc, m + 1);
}

/* Decodes the single frame in the tx capture; returns the payload length. */
static long take_reply(void) {
    CHECK(test_tx_len > 0 && test_tx[test_tx_len - 1] == 0, "one frame expected, got %zu bytes", test_tx_len);
    reply_len = fb_cobs_decode(test_tx, test_tx_len - 1, reply, sizeof reply);
    test_tx_len = 0;
    CHECK(reply_len >= 5, "reply length %ld", reply_len);
    CHECK(fb_crc16(reply, (size_t)reply_len - 2, 0xFFFFu) == (uint16_t)(reply[reply_len - 2] | reply[reply_len - 1] << 8), "reply crc");
    return reply_len - 2;
}

static uint16_t error_code(void) { return reply[0] == FB_MSG_ERROR ? (uint16_t)(reply[3] | reply[4] << 8) : 0; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t error_detail(void) { return get32(reply + 7); }
static uint16_t error_seq(void) { return (uint16_t)(reply[1] | reply[2] << 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void request(uint8_t id, uint16_t seq, const uint8_t *fields, size_t n) {
    uint8_t p[FB_MAX_PAYLOAD + 16];
    p[0] = id; p[1] = (uint8_t)seq; p[2] = (uint8_t)(seq >> 8);
    if (n) memcpy(p + 3, fields, n);
    send_raw_payload(p, n + 3, 0);
    take_reply();
}

static void hello_ok(uint16_t seq) {
    request(FB_MSG_HELLO, seq, NULL, 0);
    CHECK(reply[0] == (FB_MSG_HELLO | FB_MSG_REPLY) && reply[1] == (uint8_t)seq, "hello reply id %#x", reply[0]);
}

int main(void) {
    hal_mem_init(0, NULL);
    fb_proto_init();
    fb_proto_send_boot();
    take_reply();
    CHECK(reply[0] == FB_MSG_BOOT, "boot banner");
    hello_ok(1);
    CHECK(reply[3 + 4] == FB_PROTOCOL_VERSION, "protocol version");

    /* LOAD then READ */
    uint8_t f[8 + 16] = {0x10, 0, 0, 0, 4, 0, 0, 0};
    for (int i = 0; i < 16; i++) f[8 + i] = (uint8_t)(i * 17 + 1);
    request(FB_MSG_LOAD, 2, f, sizeof f);
    CHECK(reply[0] == (FB_MSG_LOAD | FB_MSG_REPLY), "load reply %#x code %u", reply[0], error_code());
    uint8_t r[6] = {0x10, 0, 0, 0, 4, 0};
    request(FB_MSG_READ, 3, r, sizeof r);
    CHECK(reply_len - 2 == 3 + 8 + 16 && memcmp(reply + 11, f + 8, 16) == 0, "read back");

    /* retry of a LOAD with the same seq after the memory changed: cached reply, not re-applied */
    uint8_t z[8 + 4] = {0x10, 0, 0, 0, 1, 0, 0, 0, 0xEE, 0xEE, 0xEE, 0xEE};
    request(FB_MSG_LOAD, 4, z, sizeof z);
    request(FB_MSG_LOAD, 5, f, sizeof f);
    uint32_t w = 0xABCDEF01u;
    hal_mem_write_block(0x10, &w, 1);
    request(FB_MSG_LOAD, 5, f, sizeof f); /* retry */
    uint32_t back;
    hal_mem_read_block(0x10, &back, 1);
    CHECK(back == 0xABCDEF01u && reply[0] == (FB_MSG_LOAD | FB_MSG_REPLY), "retry applied twice (%#x)", back);

    /* errors, each followed by a valid request */
    uint8_t p[3] = {FB_MSG_HELLO, 9, 0};
    send_raw_payload(p, 3, 1);
    take_reply();
    CHECK(error_code() == FB_E_BAD_CRC, "bad crc -> %u", error_code());
    hello_ok(10);
    /* partial frames (last COBS block incomplete, or fewer than id + seq + CRC bytes) are
     * dropped at their delimiter without a reply */
    const uint8_t short_frame[] = {0x02, 0x01, 0x00}, cut_block[] = {0x05, 0x11, 0x00};
    feed(short_frame, sizeof short_frame);
    feed(cut_block, sizeof cut_block);
    CHECK(test_tx_len == 0, "partial frames answered (%zu bytes)", test_tx_len);
    static uint8_t enc[FB_COBS_MAX(FB_MAX_PAYLOAD + 64) + 1];
    uint8_t hello[5] = {FB_MSG_HELLO, 11, 0};
    uint16_t crc = fb_crc16(hello, 3, 0xFFFFu);
    hello[3] = (uint8_t)crc;
    hello[4] = (uint8_t)(crc >> 8);
    size_t m = fb_cobs_encode(hello, 5, enc, sizeof enc);
    for (size_t cut = 1; cut < m; cut++) { /* every prefix of a frame with no zero byte: one block */
        feed(enc, cut);
        feed((const uint8_t *)"", 1);
        CHECK(test_tx_len == 0, "prefix of %zu bytes answered", cut);
    }
    feed(enc, 2); /* a fragment, the lone 0x00 a client sends before a retry, the whole frame */
    feed((const uint8_t *)"", 1);
    feed(enc, m);
    feed((const uint8_t *)"", 1);
    take_reply();
    CHECK(reply[0] == (FB_MSG_HELLO | FB_MSG_REPLY) && reply[1] == 11, "the retry after a fragment is answered");
    static uint8_t big[3000];
    memset(big, 0x41, sizeof big);
    feed(big, sizeof big);
    feed((const uint8_t *)"", 1);
    take_reply();
    CHECK(error_code() == FB_E_OVERSIZE, "oversize -> %u", error_code());
    hello_ok(12);
    /* the payload limit: FB_MAX_PAYLOAD bytes are decoded (an unknown id), one more is
     * OVERSIZE with detail FB_MAX_PAYLOAD, whatever the bytes (zeros lengthen no encoding) */
    static uint8_t pl[FB_MAX_PAYLOAD + 8];
    for (int fill = 0; fill < 2; fill++) {
        for (size_t n = FB_MAX_PAYLOAD - 1; n <= FB_MAX_PAYLOAD + 6; n++) {
            memset(pl, fill ? 0x00 : 0x5A, sizeof pl);
            pl[0] = 0x55;
            pl[1] = 0x34;
            pl[2] = 0x12;
            send_raw_payload(pl, n, 0);
            take_reply();
            if (n <= FB_MAX_PAYLOAD)
                CHECK(error_code() == FB_E_UNKNOWN_CMD && error_seq() == 0x1234, "payload %zu fill %d -> %u", n, fill, error_code());
            else
                CHECK(error_code() == FB_E_OVERSIZE && error_seq() == 0xFFFF && error_detail() == FB_MAX_PAYLOAD,
                      "payload %zu fill %d -> code %u detail %u", n, fill, error_code(), error_detail());
        }
    }
    request(0x55, 13, NULL, 0);
    CHECK(error_code() == FB_E_UNKNOWN_CMD && reply[5] == 0x55, "unknown -> %u", error_code());
    uint8_t past[6] = {0xFF, 0xFF, 0, 0, 2, 0};
    request(FB_MSG_READ, 14, past, sizeof past);
    CHECK(error_code() == FB_E_OUT_OF_RANGE, "read past end -> %u", error_code());
    uint8_t lpast[12] = {0xFF, 0xFF, 0x01, 0, 1, 0, 0, 0, 1, 2, 3, 4};
    request(FB_MSG_LOAD, 15, lpast, sizeof lpast);
    CHECK(error_code() == FB_E_OUT_OF_RANGE, "load past end -> %u", error_code());
    request(FB_MSG_LOAD, 16, lpast, 10);
    CHECK(error_code() == FB_E_BAD_LENGTH, "short load -> %u", error_code());
    uint8_t in[8] = {1, 0, 0, 0, 1, 2, 3, 4}; /* repeat 1, four input bytes */
    request(FB_MSG_INFER, 17, in, sizeof in);
    CHECK(error_code() == FB_E_NO_MODEL, "infer before model -> %u", error_code());
    request(FB_MSG_STEP, 18, NULL, 0);
    CHECK(error_code() == FB_E_NO_MODEL, "step before model -> %u", error_code());
    hello_ok(19);

    /* PATTERN: nominal memory, no flips; random pattern reproducible */
    uint8_t pat[16] = {FB_PAT_RANDOM, 1, 16, 0, 0, 1, 0, 0, 100, 0, 0, 0, 7, 0, 0, 0};
    request(FB_MSG_PATTERN, 20, pat, sizeof pat);
    CHECK(reply[0] == (FB_MSG_PATTERN | FB_MSG_REPLY) && reply[7] == 0 && reply[11] == 0, "pattern no flips");
    uint32_t seen;
    hal_mem_read_block(0x100, &seen, 1);
    uint32_t s = 7; s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    CHECK(seen == s, "first random word %#x != %#x", seen, s);
    seen ^= 0x5u; /* inject two flips, read-only re-check reports them */
    hal_mem_write_block(0x100, &seen, 1);
    pat[1] = 0;
    request(FB_MSG_PATTERN, 21, pat, sizeof pat);
    uint32_t flips = (uint32_t)(reply[7] + reply[11]);
    CHECK(flips == 2 && reply[15] == 2, "two flips reported (%u)", flips);

    /* PATTERN reports at most FB_PATTERN_MAX_REPORT (255) bit addresses, and the reply fits */
    CHECK(FB_PATTERN_MAX_REPORT == 255u, "max_report %u", FB_PATTERN_MAX_REPORT);
    uint8_t ones[16] = {FB_PAT_ONES, 1, 0, 0, 0, 2, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0};
    request(FB_MSG_PATTERN, 22, ones, sizeof ones);
    uint32_t zero[10] = {0};
    hal_mem_write_block(0x200, zero, 10); /* 320 flips 1 -> 0 */
    ones[1] = 0;
    ones[2] = 255;
    request(FB_MSG_PATTERN, 23, ones, sizeof ones);
    CHECK(reply[0] == (FB_MSG_PATTERN | FB_MSG_REPLY) && reply[15] == 255 && reply[16] == 0 && reply[17] == 1
          && get32(reply + 11) == 320 && reply_len - 2 == 3 + 16 + 4 * 255, "255 reported of 320 (len %ld)", reply_len);
    ones[2] = 0;
    ones[3] = 1; /* 256 */
    request(FB_MSG_PATTERN, 24, ones, sizeof ones);
    CHECK(error_code() == FB_E_BAD_ARG && error_detail() == 255, "max_report 256 -> %u/%u", error_code(), error_detail());

    /* MODEL_CHUNK data over FB_MAX_MODEL_CHUNK: BAD_LENGTH with the longest field length */
    static uint8_t chunk[8 + FB_MAX_MODEL_CHUNK + 1];
    put32(chunk, 2000);
    request(FB_MSG_MODEL_CHUNK, 25, chunk, sizeof chunk);
    CHECK(error_code() == FB_E_BAD_LENGTH && error_detail() == 8 + FB_MAX_MODEL_CHUNK, "chunk 1025 -> %u/%u", error_code(), error_detail());
    request(FB_MSG_MODEL_CHUNK, 26, chunk, sizeof chunk - 1);
    CHECK(reply[0] == (FB_MSG_MODEL_CHUNK | FB_MSG_REPLY), "chunk of 1024 accepted (%u)", error_code());
    /* a refused chunk (longer than the blob) leaves the staged blob as it was */
    put32(chunk, 10);
    put32(chunk + 4, 0);
    request(FB_MSG_MODEL_CHUNK, 27, chunk, 8 + 11);
    CHECK(error_code() == FB_E_OUT_OF_RANGE, "chunk past total -> %u", error_code());
    put32(chunk, 2000);
    put32(chunk + 4, 1024);
    request(FB_MSG_MODEL_CHUNK, 28, chunk, 8 + 10);
    CHECK(reply[0] == (FB_MSG_MODEL_CHUNK | FB_MSG_REPLY), "next chunk after a refused one (%u)", error_code());

    /* STEP / INFER: length and repeat checks (1..FB_MAX_REPEAT) before the model check */
    uint8_t rep4[4];
    request(FB_MSG_STEP, 30, rep4, 2);
    CHECK(error_code() == FB_E_BAD_LENGTH && error_detail() == 4, "step of 2 bytes -> %u", error_code());
    put32(rep4, 0);
    request(FB_MSG_STEP, 31, rep4, 4);
    CHECK(error_code() == FB_E_BAD_ARG && error_detail() == FB_MAX_REPEAT, "step repeat 0 -> %u", error_code());
    put32(rep4, FB_MAX_REPEAT + 1u);
    request(FB_MSG_STEP, 32, rep4, 4);
    CHECK(error_code() == FB_E_BAD_ARG && error_detail() == FB_MAX_REPEAT, "step repeat max+1 -> %u", error_code());
    put32(rep4, FB_MAX_REPEAT);
    request(FB_MSG_STEP, 33, rep4, 4);
    CHECK(error_code() == FB_E_NO_MODEL, "step repeat max -> %u", error_code());
    request(FB_MSG_INFER, 34, rep4, 3);
    CHECK(error_code() == FB_E_BAD_LENGTH && error_detail() == 4, "infer of 3 bytes -> %u", error_code());
    put32(rep4, 0);
    request(FB_MSG_INFER, 35, rep4, 4);
    CHECK(error_code() == FB_E_BAD_ARG && error_detail() == FB_MAX_REPEAT, "infer repeat 0 -> %u", error_code());

    /* IDLE: at least the count asked, in the port's unit; 0 refused */
    uint8_t idle[8] = {0};
    put32(idle, 1000);
    request(FB_MSG_IDLE, 36, idle, 4);
    CHECK(reply[0] == (FB_MSG_IDLE | FB_MSG_REPLY) && reply_len - 2 == 3 + 12 && reply[3] == FB_COUNT_NS, "idle reply");
    uint64_t spent = get32(reply + 7) | (uint64_t)get32(reply + 11) << 32;
    CHECK(spent >= 1000 && spent < 1000 + 2 * 7, "idle spent %llu", (unsigned long long)spent);
    put32(idle, 0);
    request(FB_MSG_IDLE, 37, idle, 4);
    CHECK(error_code() == FB_E_BAD_ARG && error_detail() == FB_MAX_IDLE_COUNT, "idle 0 -> %u", error_code());
    request(FB_MSG_IDLE, 38, idle, 8);
    CHECK(error_code() == FB_E_BAD_LENGTH && error_detail() == 4, "idle of 8 bytes -> %u", error_code());
    CHECK_DONE("test_protocol");
}
