/* mps2-an386 (Cortex-M4) port for QEMU (HARDWARE 3): CMSDK UART0 polled, SysTick counts.
 * Under `-icount shift=0` one instruction takes 1 ns of virtual time and SysTick runs at
 * 25 MHz, so one tick = 40 instructions: counts are reported in instructions (resolution 40).
 * A HardFault ends QEMU through semihosting SYS_EXIT_EXTENDED with exit code 3. */
#include <stdint.h>
#include "fb_port.h"
#include "fb_protocol.h"
#include "hal_mem.h"
#include "semihosting.h"
#include "systick.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define UART_DATA REG(0x40004000u)
#define UART_STATE REG(0x40004004u) /* bit0 TX full, bit1 RX full */
#define UART_CTRL REG(0x40004008u)  /* TXEN | RXEN = 3 */
#define UART_BAUDDIV REG(0x40004010u)
#define INSTR_PER_TICK 40u

__attribute__((section(".noinit"))) static uint32_t boot_count[2]; /* magic, count */

/* Truncated to 32 bits before scaling: the product wraps like the protocol's counter. */
uint32_t port_counter(void) { return (uint32_t)fb_systick_ticks() * INSTR_PER_TICK; }
enum fb_count_unit port_count_unit(void) { return FB_COUNT_INSTRUCTIONS; }
uint8_t port_target_id(void) { return FB_TARGET_MPS2_AN386; }
uint32_t port_boot_id(void) { return boot_count[1]; }

void port_write(const uint8_t *data, size_t n) {
    while (n--) {
        while (UART_STATE & 1u) {
        }
        UART_DATA = *data++;
    }
}

void HardFault_Handler(void) {
    fb_semihost_exit(3);
    for (;;) {
    }
}

int main(void) {
    if (boot_count[0] != 0xB007C0DEu) {
        boot_count[0] = 0xB007C0DEu;
        boot_count[1] = 0;
    }
    boot_count[1]++;
    UART_BAUDDIV = 16u;
    UART_CTRL = 3u;
    fb_systick_start();
    hal_mem_init(0, 0);
    fb_proto_init();
    fb_proto_send_boot();
    for (;;) {
        if (UART_STATE & 2u) fb_proto_rx_byte((uint8_t)UART_DATA);
    }
}
