/* Memory-under-test HAL: the only way the firmware touches the weight memory.
 * A port decides where that memory is (an SRAM bank on its own rail, an external chip,
 * or the virtual chip of the host build). Addresses are 32-bit word addresses in the
 * weight memory (firmware/FORMAT.md). */
#ifndef FB_HAL_MEM_H
#define FB_HAL_MEM_H
#include <stdint.h>

/* Host port: parses its own options from argv (e.g. the virtual chip); MCU ports ignore them.
 * Returns 0 on success, non-zero with a message on stderr otherwise. */
int hal_mem_init(int argc, char **argv);
/* Host port: the options hal_mem_init accepts, one or more lines each, for fw-host --help. */
const char *hal_mem_usage(void);
uint32_t hal_mem_words(void);
/* Reads n words starting at addr into dst (the caller owns dst). Each call is one read of
 * those cells: a faulty memory returns its faults here. Caller guarantees addr+n <= words. */
void hal_mem_read_block(uint32_t addr, uint32_t *dst, uint32_t n);
void hal_mem_write_block(uint32_t addr, const uint32_t *src, uint32_t n);
/* The n words at addr as memory the caller reads directly, or NULL where the memory is not
 * mapped into the address space or a read does more than load the cells (an external chip,
 * the virtual chip). A caller that loads each mapped word once per use reads those cells once,
 * as one hal_mem_read_block would, without the copy. Caller guarantees addr+n <= words. */
const uint32_t *hal_mem_map(uint32_t addr, uint32_t n);
/* Identity of the memory under test (IDENT, PROTOCOL.md): a NUL-terminated string of at most
 * FB_MAX_CHIP_ID characters, "" when the board cannot tell (the host build's --chip-id). */
const char *hal_mem_chip_id(void);
#endif
