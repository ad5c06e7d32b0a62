/* Memory HAL over a static RAM array (MCU ports, unit tests, fuzzing): nominal memory.
 * A real board points this at the SRAM bank on its own rail or an external chip driver. */
#include <string.h>
#include "hal_mem.h"

#ifndef FB_MEM_WORDS
#define FB_MEM_WORDS 65536u
#endif

static uint32_t mem[FB_MEM_WORDS];

int hal_mem_init(int argc, char **argv) { (void)argc; (void)argv; return 0; }
uint32_t hal_mem_words(void) { return FB_MEM_WORDS; }
const char *hal_mem_chip_id(void) { return ""; }
void hal_mem_read_block(uint32_t addr, uint32_t *dst, uint32_t n) { memcpy(dst, mem + addr, n * sizeof *dst); }
const uint32_t *hal_mem_map(uint32_t addr, uint32_t n) { (void)n; return mem + addr; }
void hal_mem_write_block(uint32_t addr, const uint32_t *src, uint32_t n) { memcpy(mem + addr, src, n * sizeof *src); }
