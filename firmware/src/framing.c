#include "fb_framing.h"

uint16_t fb_crc16(const uint8_t *data, size_t n, uint16_t crc) {
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int b = 0; b < 8; b++) crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint32_t fb_crc32(const uint8_t *data, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

size_t fb_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap) {
    size_t out = 1, code_at = 0;
    uint8_t code = 1;
    if (cap < 1) return 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code = 1;
            code_at = out++;
            if (out > cap) return 0;
        } else {
            if (out >= cap) return 0;
            dst[out++] = src[i];
            if (++code == 0xFF) {
                dst[code_at] = code;
                code = 1;
                code_at = out++;
                if (out > cap) return 0;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

long fb_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap) {
    size_t in = 0, out = 0;
    while (in < n) {
        uint8_t code = src[in++];
        if (code == 0) return -1;
        for (uint8_t k = 1; k < code; k++) {
            if (in >= n || src[in] == 0 || out >= cap) return -1;
            dst[out++] = src[in++];
        }
        if (code != 0xFF && in < n) {
            if (out >= cap) return -1;
            dst[out++] = 0;
        }
    }
    return (long)out;
}
