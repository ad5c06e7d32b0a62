/* The dispatcher through its byte interface: each malformed request gets its error code and
 * the next valid request succeeds; retried requests (same seq) are not applied twice. */
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "fb_framing.h"
#include "fb_protocol.h"
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
    const uint8_t trunc[] = {0x02, 0x01, 0x00};
    feed(trunc, sizeof trunc);
    take_reply();
    CHECK(error_code() == FB_E_BAD_FRAME, "truncated -> %u", error_code());
    hello_ok(11);
    static uint8_t big[3000];
    memset(big, 0x41, sizeof big);
    feed(big, sizeof big);
    feed((const uint8_t *)"", 1);
    take_reply();
    CHECK(error_code() == FB_E_OVERSIZE, "oversize -> %u", error_code());
    hello_ok(12);
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
    uint8_t in[4] = {1, 2, 3, 4};
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
    CHECK_DONE("test_protocol");
}
