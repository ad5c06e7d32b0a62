/* Serial framing (HARDWARE 6, firmware/PROTOCOL.md): COBS(payload || CRC16 LE) || 0x00.
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection; check 0x29B1 for "123456789"),
 * CRC-32 (IEEE, reflected, as zlib.crc32) for model blobs. No allocation; callers own buffers. */
#ifndef FB_FRAMING_H
#define FB_FRAMING_H
#include <stddef.h>
#include <stdint.h>

uint16_t fb_crc16(const uint8_t *data, size_t n, uint16_t crc);
uint32_t fb_crc32(const uint8_t *data, size_t n, uint32_t crc); /* start with crc = 0 */

/* Worst-case encoded size of n input bytes (without the trailing 0x00). */
#define FB_COBS_MAX(n) ((n) + (n) / 254u + 1u)

/* Encodes n bytes into dst (capacity cap). Returns the encoded length, 0 if it does not fit. */
size_t fb_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);
/* Decodes in place-safe (dst may equal src). Returns decoded length, or -1 if malformed
 * (a zero byte inside, a code running past the end). */
long fb_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);
#endif
