/* What a target port provides to the portable firmware (protocol, runner). */
#ifndef FB_PORT_H
#define FB_PORT_H
#include <stddef.h>
#include <stdint.h>

/* Units of the per-layer counts INFER/STEP report (HELLO tells the host which one). */
enum fb_count_unit { FB_COUNT_NS = 0, FB_COUNT_INSTRUCTIONS = 1, FB_COUNT_CYCLES = 2 };

void port_write(const uint8_t *data, size_t n); /* blocking, whole buffer */
uint32_t port_counter(void);                     /* free-running, wraps; unit below */
enum fb_count_unit port_count_unit(void);
uint8_t port_target_id(void);                    /* FB_TARGET_* in fb_protocol.h */
uint32_t port_boot_id(void);                     /* differs between boots where the port can tell */
#endif
