#ifndef FB_TEST_PORT_H
#define FB_TEST_PORT_H
#include <stddef.h>
#include <stdint.h>
#define TEST_TX_CAP 65536u
extern uint8_t test_tx[TEST_TX_CAP];
extern size_t test_tx_len;
extern uint32_t test_tick; /* port_counter advances this much per call (default 7) */
#endif
