/* Fuzz target for the frame receiver, the command dispatcher and the model blob parser/runner.
 *
 * Input modes (first byte % 3):
 *   0  raw bytes straight into fb_proto_rx_byte (framing, COBS, CRC, oversize paths);
 *   1  a list of payloads (u16 LE length, bytes), each framed with a valid CRC, so mutations
 *      reach every command handler; every request must get exactly one reply frame (two for
 *      RESET: the reply and the BOOT banner; none for a frame shorter than id + seq + CRC,
 *      which is a partial frame), else abort();
 *   2  a model blob body: blob_bytes and the CRC32 trailer are patched in, the blob goes through
 *      MODEL_CHUNK/MODEL_COMMIT and, if accepted, INFER (repeat 2), STEP_INPUT and STEP
 *      (repeat 3) run on it.
 * The port counter advances 2^20 per reading here, so an IDLE of any count ends quickly.
 * Build/run: `make fuzz` (libFuzzer when clang has it, else the seeded mutation loop below under
 * ASan/UBSan); FUZZ_SECONDS sets the duration (CI: 20 s; by hand e.g. FUZZ_SECONDS=3600). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fb_framing.h"
#include "fb_protocol.h"
#include "hal_mem.h"
#include "model.h"
#include "test_port.h"

static unsigned long models_run; /* blobs accepted and run (standalone report) */

static size_t count_frames(void) {
    size_t n = 0;
    for (size_t i = 0; i < test_tx_len; i++) n += test_tx[i] == 0;
    return n;
}

static void send_payload(const uint8_t *p, size_t n) {
    static uint8_t tmp[FB_MAX_PAYLOAD + 1100], enc[FB_COBS_MAX(sizeof tmp) + 1];
    if (n < 1 || n > sizeof tmp - 2) return;
    memcpy(tmp, p, n);
    uint16_t crc = fb_crc16(p, n, 0xFFFFu);
    tmp[n] = (uint8_t)crc;
    tmp[n + 1] = (uint8_t)(crc >> 8);
    size_t m = fb_cobs_encode(tmp, n + 2, enc, sizeof enc - 1);
    enc[m] = 0;
    test_tx_len = 0;
    for (size_t i = 0; i <= m; i++) fb_proto_rx_byte(enc[i]);
    size_t expect = n < FB_HEADER ? 0u : (p[0] == FB_MSG_RESET && n == 3) ? 2u : 1u;
    if (count_frames() != expect) abort(); /* every request gets exactly one reply */
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void run_blob(const uint8_t *body, size_t n) {
    static uint8_t blob[FB_MODEL_BYTES], msg[FB_MAX_PAYLOAD];
    if (n < 32 || n + 4 > sizeof blob) return;
    memcpy(blob, body, n);
    uint32_t total = (uint32_t)n + 4u;
    put32(blob + 28, total);
    put32(blob + n, fb_crc32(blob, n, 0));
    uint16_t seq = 1;
    for (uint32_t off = 0; off < total; off += FB_MAX_MODEL_CHUNK) {
        uint32_t len = total - off < FB_MAX_MODEL_CHUNK ? total - off : FB_MAX_MODEL_CHUNK;
        msg[0] = FB_MSG_MODEL_CHUNK; msg[1] = (uint8_t)seq++; msg[2] = 0;
        put32(msg + 3, total);
        put32(msg + 7, off);
        memcpy(msg + 11, blob + off, len);
        send_payload(msg, 11 + len);
    }
    msg[0] = FB_MSG_MODEL_COMMIT; msg[1] = (uint8_t)seq++; msg[2] = 0;
    put32(msg + 3, total);
    send_payload(msg, 7);
    const fb_model_info *mi = fb_model_info_get();
    if (!mi) return;
    models_run++;
    msg[0] = FB_MSG_INFER; msg[1] = (uint8_t)seq++; msg[2] = 0;
    put32(msg + 3, 2); /* repeat */
    for (uint32_t i = 0; i < mi->input_len; i++) msg[7 + i] = (uint8_t)(i * 37u);
    send_payload(msg, 7 + mi->input_len);
    msg[0] = FB_MSG_STEP_INPUT; msg[1] = (uint8_t)seq++;
    memmove(msg + 3, msg + 7, mi->input_len);
    send_payload(msg, 3 + mi->input_len);
    msg[0] = FB_MSG_STEP; msg[1] = (uint8_t)seq++;
    put32(msg + 3, 3);
    send_payload(msg, 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        hal_mem_init(0, NULL);
        test_tick = 1u << 20;
        init = 1;
    }
    fb_proto_init();
    if (size < 1) return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        test_tx_len = 0;
        for (size_t i = 0; i < size; i++) {
            fb_proto_rx_byte(data[i]);
            if (test_tx_len > TEST_TX_CAP / 2) test_tx_len = 0;
        }
    } else if (mode == 1) {
        while (size >= 2) {
            size_t len = (size_t)(data[0] | (data[1] << 8)) % (FB_MAX_PAYLOAD + 64u);
            data += 2;
            size -= 2;
            if (len > size) len = size;
            send_payload(data, len);
            data += len;
            size -= len;
        }
    } else {
        run_blob(data, size);
    }
    return 0;
}

#ifdef FB_FUZZ_STANDALONE
/* Seeded mutation loop for toolchains without libFuzzer: seeds from the directories given on
 * the command line, random mutations (bit flips, byte writes, inserts, deletes, splices).
 *   fuzz_protocol SECONDS SEED DIR... */
#include <dirent.h>
#include <stdio.h>
#include <time.h>

#define MAX_SEEDS 64
#define MAX_LEN 8192
static uint8_t seeds[MAX_SEEDS][MAX_LEN];
static size_t seed_len[MAX_SEEDS], n_seeds;
static uint32_t rng;

static uint32_t next(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

static void load_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d)) && n_seeds < MAX_SEEDS) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        seed_len[n_seeds] = fread(seeds[n_seeds], 1, MAX_LEN, f);
        fclose(f);
        n_seeds++;
    }
    if (d) closedir(d);
}

int main(int argc, char **argv) {
    static uint8_t buf[MAX_LEN];
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    rng = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 1u;
    if (!rng) rng = 1;
    for (int i = 3; i < argc; i++) load_dir(argv[i]);
    if (!n_seeds) { seeds[0][0] = 1; seed_len[0] = 1; n_seeds = 1; }
    time_t end = time(NULL) + (time_t)seconds;
    unsigned long runs = 0;
    while (time(NULL) < end) {
        for (int batch = 0; batch < 64; batch++, runs++) {
            size_t s = next() % n_seeds, n = seed_len[s];
            memcpy(buf, seeds[s], n);
            int k = 1 + (int)(next() % 8u);
            for (int m = 0; m < k; m++) {
                uint32_t r = next(), at = n ? next() % (uint32_t)n : 0;
                switch (r % 6u) {
                case 0: if (n) buf[at] ^= (uint8_t)(1u << (r >> 8) % 8u); break;
                case 1: if (n) buf[at] = (uint8_t)(r >> 8); break;
                case 2: if (n) buf[at] = (uint8_t)((r >> 8) % 2u ? 0xFF : 0x00); break;
                case 3: if (n < MAX_LEN) { memmove(buf + at + 1, buf + at, n - at); buf[at] = (uint8_t)(r >> 8); n++; } break;
                case 4: if (n > 1) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
                default: { size_t o = next() % n_seeds, len = seed_len[o] < n - at ? seed_len[o] : n - at;
                           memcpy(buf + at, seeds[o], len); } break;
                }
            }
            LLVMFuzzerTestOneInput(buf, n);
        }
    }
    printf("fuzz_protocol: %lu inputs in %.0f s (%lu mutated blobs accepted and run), no crash\n", runs, seconds, models_run);
    return 0;
}
#endif
