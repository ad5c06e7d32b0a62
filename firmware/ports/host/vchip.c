/* Host port of the memory HAL: the virtual chip (docs/VIRTUAL_LAB.md).
 *
 * Without --lab-state the memory is nominal (a plain array). With --lab-state PATH the rail
 * voltage comes from the lab state file the supply simulator writes (mmapped), every access is
 * counted there, and the chip physics applies. The physics is the C twin of
 * drivers/virtual_lab/physics.py; both must agree bit-exactly on the faulty cells, so the hash
 * and the double formulas below keep physics.py's operation order:
 *   E(V) = c*V*V + l*V;  p = min(p_max, exp(-((E - e0) / beta)))    [ALGORITHMS 3; HARDWARE 2]
 *   u(stream, i) = (mix64(key(stream) ^ i) >> 11) * 2^-53, key = mix64(seed + stream*GOLDEN)
 * SRAM: bit a faulty iff u(1, a) < p(V_read); it then reads s_a = [u(2, a) < p_stuck_one];
 *       plus transient flips at rate transient*p(V), fresh per read (per-read PRNG).
 * RRAM: writing bit a of a word for the g-th time at V fails iff u(3, a + (g << 40)) < p(V)
 *       with the write energy; a failed bit stores the complement of its target.
 * Options: --mem-words N --lab-state PATH --chip-tech sram|rram --chip-seed N --chip-c-read X
 * --chip-l-read X --chip-c-write X --chip-l-write X --chip-e0 X --chip-beta X --chip-pmax X
 * --chip-p1 X --chip-transient X --chip-id NAME (bench lab up derives them from the chip file). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mmap, clock_gettime */
#endif
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "fb_protocol.h"
#include "hal_mem.h"

#define GOLDEN 0x9E3779B97F4A7C15ull
#define LAB_STATE_BYTES 64
#define GENERATION_SHIFT 40

struct lab_state { /* docs/VIRTUAL_LAB.md, little-endian host */
    char magic[4];
    uint32_t version;
    double rail_volts;
    uint32_t output_on;
    uint32_t reserved0;
    uint64_t words_read;
    uint64_t words_written;
    uint64_t last_access_ns; /* CLOCK_MONOTONIC of the latest access: the supply dates energy by it */
};

static struct {
    int rram;
    uint64_t seed;
    double c_read, l_read, c_write, l_write, e0, beta, p_max, p_one, transient;
} chip = {0, 1, 1.0e-15, 0.0, 1.2e-15, 0.0, 7.3e-17, 4.53e-17, 0.5, 0.5, 0.0};
static char chip_id[FB_MAX_CHIP_ID + 1];

static uint32_t *mem;
static uint32_t mem_words = 1u << 18; /* 1 MiB default; --mem-words N */
static volatile struct lab_state *lab; /* NULL: nominal memory */
/* SRAM cache of the persistent faults per word, valid while epoch[w] == cur_epoch */
static uint32_t *fmask, *stuck, *epoch, *generation;
static uint32_t cur_epoch;
static double cached_volts = -1.0, p_cached;
static uint64_t read_calls;

static uint64_t mix64(uint64_t z) {
    z += GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t stream_key(uint64_t stream) { return mix64(chip.seed + stream * GOLDEN); }
static double uniform(uint64_t key, uint64_t i) { return (double)(mix64(key ^ i) >> 11) * 0x1p-53; }

static double fault_probability(double energy) {
    double x = (energy - chip.e0) / chip.beta;
    double p = exp(-x);
    return p < chip.p_max ? p : chip.p_max;
}
static double rail_volts(void) { return lab->output_on ? lab->rail_volts : 0.0; }
static void stamp_access(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lab->last_access_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *hal_mem_usage(void) {
    return "  --mem-words N           size of the memory under test, 32-bit words (default 262144)\n"
           "  --lab-state PATH        lab state file (docs/VIRTUAL_LAB.md); without it the memory is nominal\n"
           "  --chip-tech sram|rram   fault mechanism: read faults (sram, default) or write faults (rram)\n"
           "  --chip-id NAME          the chip's identity, answered to IDENT (default: none)\n"
           "  --chip-seed N  --chip-c-read X  --chip-l-read X  --chip-c-write X  --chip-l-write X\n"
           "  --chip-e0 X  --chip-beta X  --chip-pmax X  --chip-p1 X  --chip-transient X\n"
           "                          chip physics with --lab-state (Chip.host_options() derives them)\n";
}

static int option_error(const char *k, const char *why) {
    fprintf(stderr, "fw-host: %s: %s (fw-host --help lists the options)\n", k, why);
    return 1;
}

static int parse_options(int argc, char **argv, const char **state_path) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        double *d = NULL;
        if (strcmp(k, "--mem-words") == 0) mem_words = (uint32_t)strtoul(v, NULL, 0);
        else if (strcmp(k, "--lab-state") == 0) *state_path = v;
        else if (strcmp(k, "--chip-seed") == 0) chip.seed = strtoull(v, NULL, 0);
        else if (strcmp(k, "--chip-id") == 0) {
            if (strlen(v) > FB_MAX_CHIP_ID) return option_error(k, "longer than 63 characters");
            strcpy(chip_id, v);
        }
        else if (strcmp(k, "--chip-tech") == 0) {
            if (strcmp(v, "sram") && strcmp(v, "rram")) {
                fprintf(stderr, "vchip: --chip-tech must be sram or rram, got %s\n", v);
                return 1;
            }
            chip.rram = strcmp(v, "rram") == 0;
        }
        else if (strcmp(k, "--chip-c-read") == 0) d = &chip.c_read;
        else if (strcmp(k, "--chip-l-read") == 0) d = &chip.l_read;
        else if (strcmp(k, "--chip-c-write") == 0) d = &chip.c_write;
        else if (strcmp(k, "--chip-l-write") == 0) d = &chip.l_write;
        else if (strcmp(k, "--chip-e0") == 0) d = &chip.e0;
        else if (strcmp(k, "--chip-beta") == 0) d = &chip.beta;
        else if (strcmp(k, "--chip-pmax") == 0) d = &chip.p_max;
        else if (strcmp(k, "--chip-p1") == 0) d = &chip.p_one;
        else if (strcmp(k, "--chip-transient") == 0) d = &chip.transient;
        else return option_error(k, "unknown option");
        if (i + 1 >= argc) return option_error(k, "needs a value");
        if (d) *d = strtod(v, NULL);
        i++;
    }
    return 0;
}

static int map_lab_state(const char *path) {
    int fd = open(path, O_RDWR);
    if (fd < 0) { perror("vchip: --lab-state"); return 1; }
    void *p = mmap(NULL, LAB_STATE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { perror("vchip: mmap lab state"); return 1; }
    lab = p;
    if (memcmp((const void *)lab->magic, "FBLS", 4) != 0 || lab->version != 1) {
        fprintf(stderr, "vchip: %s is not a version-1 lab state file (magic FBLS)\n", path);
        return 1;
    }
    return 0;
}

int hal_mem_init(int argc, char **argv) {
    const char *state_path = NULL;
    if (parse_options(argc, argv, &state_path)) return 1;
    mem = calloc(mem_words, sizeof *mem);
    if (!mem) { fprintf(stderr, "vchip: cannot allocate %u words\n", mem_words); return 1; }
    if (!state_path) return 0;
    if (map_lab_state(state_path)) return 1;
    fmask = calloc(mem_words, sizeof *fmask);
    stuck = calloc(mem_words, sizeof *stuck);
    epoch = calloc(mem_words, sizeof *epoch);
    generation = calloc(mem_words, sizeof *generation);
    if (!fmask || !stuck || !epoch || !generation) { fprintf(stderr, "vchip: out of memory\n"); return 1; }
    return 0;
}
uint32_t hal_mem_words(void) { return mem_words; }
const char *hal_mem_chip_id(void) { return chip_id; }

/* Persistent SRAM faults of word w at the cached voltage. */
static void refresh_word(uint32_t w) {
    static uint64_t k_threshold, k_stuck;
    if (!k_threshold) { k_threshold = stream_key(1); k_stuck = stream_key(2); }
    uint32_t m = 0, s = 0;
    for (uint32_t b = 0; b < 32; b++) {
        uint64_t a = (uint64_t)w * 32u + b;
        if (uniform(k_threshold, a) < p_cached) m |= 1u << b;
        if (uniform(k_stuck, a) < chip.p_one) s |= 1u << b;
    }
    fmask[w] = m;
    stuck[w] = s;
    epoch[w] = cur_epoch;
}

/* Transient flips over n words at per-bit rate q: geometric gaps from a per-read PRNG. */
static void transient_flips(uint32_t *dst, uint32_t n, double q) {
    if (q <= 0.0) return;
    uint64_t state = mix64(stream_key(4) ^ read_calls);
    double log1mq = log1p(-q);
    uint64_t bits = (uint64_t)n * 32u, pos = 0;
    for (;;) {
        state = mix64(state);
        double u = ((double)(state >> 11) + 0.5) * 0x1p-53;
        double gap = log(u) / log1mq; /* up to ~1e40 for a tiny q: compare before the cast */
        if (gap >= (double)(bits - pos)) return;
        pos += (uint64_t)gap;
        dst[pos / 32] ^= 1u << (pos % 32);
        pos++;
    }
}

void hal_mem_read_block(uint32_t addr, uint32_t *dst, uint32_t n) {
    memcpy(dst, mem + addr, n * sizeof *dst);
    if (!lab) return;
    read_calls++;
    lab->words_read += n;
    stamp_access();
    if (chip.rram) return; /* RRAM reads are reliable; faults were made at write time */
    double v = rail_volts();
    if (v != cached_volts) {
        cached_volts = v;
        p_cached = fault_probability(chip.c_read * v * v + chip.l_read * v);
        cur_epoch++;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = addr + i;
        if (epoch[w] != cur_epoch) refresh_word(w);
        dst[i] = (dst[i] & ~fmask[w]) | (stuck[w] & fmask[w]);
    }
    transient_flips(dst, n, chip.transient * p_cached);
}

/* Every read goes through hal_mem_read_block, where the chip's read faults are drawn. */
const uint32_t *hal_mem_map(uint32_t addr, uint32_t n) {
    (void)addr;
    (void)n;
    return NULL;
}

void hal_mem_write_block(uint32_t addr, const uint32_t *src, uint32_t n) {
    memcpy(mem + addr, src, n * sizeof *src);
    if (!lab) return;
    lab->words_written += n;
    stamp_access();
    if (!chip.rram) return;
    double v = rail_volts();
    double p = fault_probability(chip.c_write * v * v + chip.l_write * v);
    uint64_t key = stream_key(3);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = addr + i, failed = 0;
        uint64_t g = (uint64_t)generation[w]++ << GENERATION_SHIFT;
        for (uint32_t b = 0; b < 32; b++)
            if (uniform(key, ((uint64_t)w * 32u + b) + g) < p) failed |= 1u << b;
        mem[w] ^= failed;
    }
}
