/* Host port of the memory HAL: the virtual chip. NOMINAL PLACEHOLDER: a plain array with
 * no faults. The lab helper replaces this with the physics of docs/VIRTUAL_LAB.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hal_mem.h"

static uint32_t *mem;
static uint32_t mem_words = 1u << 18; /* 1 MiB default; --mem-words N */

int hal_mem_init(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--mem-words") == 0) mem_words = (uint32_t)strtoul(argv[++i], NULL, 0);
    mem = calloc(mem_words, sizeof *mem);
    if (!mem) { fprintf(stderr, "vchip: cannot allocate %u words\n", mem_words); return 1; }
    return 0;
}
uint32_t hal_mem_words(void) { return mem_words; }
void hal_mem_read_block(uint32_t addr, uint32_t *dst, uint32_t n) { memcpy(dst, mem + addr, n * sizeof *dst); }
void hal_mem_write_block(uint32_t addr, const uint32_t *src, uint32_t n) { memcpy(mem + addr, src, n * sizeof *src); }
