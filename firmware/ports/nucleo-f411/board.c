/* STM32F411RE Nucleo port: USART2 (PA2/PA3, the ST-LINK virtual COM port) at 115200 8N1 on
 * the 16 MHz HSI clock, DWT CYCCNT for per-layer cycle counts. The memory under test is the
 * static array of ports/common/hal_mem_ram.c; a bench board replaces that HAL with its SRAM
 * bank on its own rail or an external chip. Compiles here; NOT run (no board attached). */
#include <stdint.h>
#include "fb_port.h"
#include "fb_protocol.h"
#include "hal_mem.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define USART2_SR REG(0x40004400u) /* bit5 RXNE, bit7 TXE */
#define USART2_DR REG(0x40004404u)
#define USART2_BRR REG(0x40004408u)
#define USART2_CR1 REG(0x4000440Cu)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define AIRCR REG(0xE000ED0Cu)

__attribute__((section(".noinit"))) static uint32_t boot_count[2];

uint32_t port_counter(void) { return DWT_CYCCNT; }
enum fb_count_unit port_count_unit(void) { return FB_COUNT_CYCLES; }
uint8_t port_target_id(void) { return FB_TARGET_NUCLEO_F411; }
uint32_t port_boot_id(void) { return boot_count[1]; }

void port_write(const uint8_t *data, size_t n) {
    while (n--) {
        while (!(USART2_SR & (1u << 7))) {
        }
        USART2_DR = *data++;
    }
}

void HardFault_Handler(void) { AIRCR = 0x05FA0004u; /* SYSRESETREQ: reboot, the host sees BOOT */ }

int main(void) {
    if (boot_count[0] != 0xB007C0DEu) {
        boot_count[0] = 0xB007C0DEu;
        boot_count[1] = 0;
    }
    boot_count[1]++;
    RCC_AHB1ENR |= 1u;         /* GPIOA */
    RCC_APB1ENR |= 1u << 17;   /* USART2 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);       /* PA2, PA3 alternate */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);       /* AF7 = USART2 */
    USART2_BRR = 139u;         /* 16 MHz / 115200 = 138.9 */
    USART2_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE, TE, RE */
    DEMCR |= 1u << 24;         /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;            /* CYCCNTENA */
    hal_mem_init(0, 0);
    fb_proto_init();
    fb_proto_send_boot();
    for (;;) {
        if (USART2_SR & (1u << 5)) fb_proto_rx_byte((uint8_t)USART2_DR);
    }
}
