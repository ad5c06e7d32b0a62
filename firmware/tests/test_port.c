/* Port for the host unit tests and the fuzzer: replies are captured in a buffer. */
#include <string.h>
#include "fb_port.h"
#include "fb_protocol.h"
#include "test_port.h"

uint8_t test_tx[TEST_TX_CAP];
size_t test_tx_len;
static uint32_t ticks;
uint32_t test_tick = 7u;

void port_write(const uint8_t *data, size_t n) {
    if (n > TEST_TX_CAP - test_tx_len) n = TEST_TX_CAP - test_tx_len;
    memcpy(test_tx + test_tx_len, data, n);
    test_tx_len += n;
}
uint32_t port_counter(void) { return ticks += test_tick; }
enum fb_count_unit port_count_unit(void) { return FB_COUNT_NS; }
uint8_t port_target_id(void) { return FB_TARGET_HOST; }
uint32_t port_boot_id(void) { return 0x1234u; }
