/* What a target port provides to the portable firmware (protocol, runner). A port is one
 * file (ports/<target>/board.c) with these five functions, its main() (init, then feed every
 * received byte to fb_proto_rx_byte) and a memory HAL (hal_mem.h).
 *
 * port_counter() is the clock of every count the protocol reports (INFER, STEP, IDLE):
 *   - free-running, counting up in port_count_unit() units and wrapping modulo 2^32, so the
 *     difference of two readings (uint32_t subtraction) is the elapsed count while less than
 *     2^32 units pass between them (longer runs are summed from shorter differences);
 *   - it must advance while the core busy-waits on it (IDLE polls it in a loop), and reading it
 *     must not touch the memory under test. */
#ifndef FB_PORT_H
#define FB_PORT_H
#include <stddef.h>
#include <stdint.h>

/* Units of the counts INFER/STEP/IDLE report (HELLO tells the host which one). */
enum fb_count_unit { FB_COUNT_NS = 0, FB_COUNT_INSTRUCTIONS = 1, FB_COUNT_CYCLES = 2 };

void port_write(const uint8_t *data, size_t n); /* blocking, whole buffer */
uint32_t port_counter(void);                     /* see above */
enum fb_count_unit port_count_unit(void);
uint8_t port_target_id(void);                    /* FB_TARGET_* in fb_protocol.h */
/* Identifies a boot (PROTOCOL.md "Boot banner"): changes when the board really restarts
 * (power-up, hardware reset, a new host process), kept by the soft RESET command. */
uint32_t port_boot_id(void);

/* For the portable firmware (ports do not implement this): a count that does not wrap, the
 * sum of port_counter differences taken at least once per 2^32 units. */
typedef struct {
    uint32_t last;
    uint64_t total;
} fb_count;
static inline void fb_count_start(fb_count *c) { c->last = port_counter(); c->total = 0; }
/* Adds the count since the previous lap (or start) to total and returns it. */
static inline uint32_t fb_count_lap(fb_count *c) {
    uint32_t now = port_counter(), d = now - c->last;
    c->last = now;
    c->total += d;
    return d;
}
#endif
