/* CRC check values and COBS round trips / malformed inputs. */
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "fb_framing.h"

int main(void) {
    const uint8_t digits[] = "123456789";
    CHECK(fb_crc16(digits, 9, 0xFFFFu) == 0x29B1u, "crc16 check %#x", fb_crc16(digits, 9, 0xFFFFu));
    CHECK(fb_crc32(digits, 9, 0) == 0xCBF43926u, "crc32 check %#x", fb_crc32(digits, 9, 0));
    CHECK(fb_crc32(digits + 4, 5, fb_crc32(digits, 4, 0)) == 0xCBF43926u, "crc32 incremental");

    static uint8_t in[1200], enc[1300], dec[1300];
    static const size_t lens[] = {0, 1, 2, 253, 254, 255, 256, 508, 509, 1000, 1100};
    for (unsigned t = 0; t < sizeof lens / sizeof *lens; t++) {
        for (int mode = 0; mode < 3; mode++) {
            size_t n = lens[t];
            for (size_t i = 0; i < n; i++) in[i] = mode == 0 ? 0 : mode == 1 ? (uint8_t)(1u + i % 255u) : (uint8_t)rnd();
            size_t m = fb_cobs_encode(in, n, enc, sizeof enc);
            CHECK(m > 0 && m <= FB_COBS_MAX(n), "encode n=%zu m=%zu", n, m);
            CHECK(memchr(enc, 0, m) == NULL, "no zero in encoded n=%zu", n);
            long d = fb_cobs_decode(enc, m, dec, sizeof dec);
            CHECK(d == (long)n && memcmp(in, dec, n) == 0, "round trip n=%zu mode=%d d=%ld", n, mode, d);
            memcpy(dec, enc, m); /* in place */
            CHECK(fb_cobs_decode(dec, m, dec, sizeof dec) == (long)n && memcmp(in, dec, n) == 0, "in place n=%zu", n);
            if (n > 4) CHECK(fb_cobs_encode(in, n, enc, n / 2) == 0, "encode into a too small buffer must fail");
        }
    }
    const uint8_t bad1[] = {0x05, 0x11, 0x22}; /* code runs past the end */
    CHECK(fb_cobs_decode(bad1, sizeof bad1, dec, sizeof dec) < 0, "overrun");
    const uint8_t bad2[] = {0x03, 0x11, 0x00}; /* zero inside */
    CHECK(fb_cobs_decode(bad2, sizeof bad2, dec, sizeof dec) < 0, "zero inside");
    const uint8_t ok[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    CHECK(fb_cobs_decode(ok, sizeof ok, dec, 3) < 0, "decode into a too small buffer must fail");
    CHECK(fb_cobs_decode(ok, sizeof ok, dec, sizeof dec) == 4 && dec[2] == 0 && dec[3] == 0x33, "decode");
    CHECK_DONE("test_framing");
}
