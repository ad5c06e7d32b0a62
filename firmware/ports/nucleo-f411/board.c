/* STM32F4 port: the Nucleo-F411RE board, and the same code under QEMU's netduinoplus2 machine
 * (STM32F405, HARDWARE 9) when built with FB_EMULATION (make netduinoplus2).
 *
 * Common to both: USART2 polled at 115200 8N1 (on the Nucleo PA2/PA3, the ST-LINK virtual COM
 * port; under QEMU the second -serial, since QEMU wires -serial options to USART1, USART2, ...
 * in that order), GPIO and peripheral clock enables (QEMU ignores them), the linker script and
 * buffer sizes of the F411 (128 KiB SRAM; the F405 model's 192 KiB holds them too), and the
 * memory under test in ports/common/hal_mem_ram.c (a bench board replaces that HAL with the
 * SRAM bank on its own rail or an external chip).
 *
 * FB_EMULATION switches what the F411 has and QEMU does not model, nothing else:
 *                 real board (default)                     FB_EMULATION (QEMU netduinoplus2)
 *   clock         PLL from HSI to 100 MHz, APB1 50 MHz,    no set-up: QEMU's sysclk is fixed at
 *                 VOS scale 1, 3 flash wait states; RCC    168 MHz and its RCC/PWR/flash registers
 *                 ready bits and flash latency polled      read 0, so those polls would hang
 *   counts        DWT CYCCNT: cycles                       SysTick on the 168 MHz core clock under
 *                                                          `-icount shift=0`: instructions
 *   HardFault     SYSRESETREQ (the host sees BOOT)         semihosting exit, QEMU exits with 3
 *   target id     FB_TARGET_NUCLEO_F411                    FB_TARGET_NETDUINOPLUS2
 * Registers: RM0383 (STM32F411) and RM0090 (STM32F405), same addresses for everything used. */
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
#define USART_BRR_115200 434u /* PCLK1 50 MHz / 115200 = 434.03 (OVER8 = 0); QEMU stores it unused */

__attribute__((section(".noinit"))) static uint32_t boot_count[2]; /* magic, count */

#ifdef FB_EMULATION
#include "semihosting.h"
#include "systick.h"
/* -icount shift=0: one instruction per ns of virtual time; SysTick (CLKSOURCE = core clock)
 * ticks at 168 MHz, so instructions = ticks * 1000 / 168 = ticks * 125 / 21 (resolution ~6). */
#define INSTR_PER_TICK_NUM 125u
#define INSTR_PER_TICK_DEN 21u

static void clock_init(void) {}

static void counter_init(void) { fb_systick_start(); }

/* Scaled in 64 bits, then truncated: differences of the truncated values are right modulo
 * 2^32 as the protocol's wrapping counter requires. */
uint32_t port_counter(void) { return (uint32_t)(fb_systick_ticks() * INSTR_PER_TICK_NUM / INSTR_PER_TICK_DEN); }
enum fb_count_unit port_count_unit(void) { return FB_COUNT_INSTRUCTIONS; }
uint8_t port_target_id(void) { return FB_TARGET_NETDUINOPLUS2; }

void HardFault_Handler(void) {
    fb_semihost_exit(3);
    for (;;) {
    }
}

#else /* the real STM32F411 */
#define RCC_CR REG(0x40023800u)      /* bit24 PLLON, bit25 PLLRDY */
#define RCC_PLLCFGR REG(0x40023804u) /* PLLM [5:0], PLLN [14:6], PLLP [17:16], PLLSRC bit22 */
#define RCC_CFGR REG(0x40023808u)    /* SW [1:0], SWS [3:2], PPRE1 [12:10] */
#define PWR_CR REG(0x40007000u)      /* VOS [15:14]: 3 = scale 1, up to 100 MHz */
#define FLASH_ACR REG(0x40023C00u)   /* LATENCY [3:0], PRFTEN bit8, ICEN bit9, DCEN bit10 */
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define AIRCR REG(0xE000ED0Cu)

/* 100 MHz = HSI 16 MHz / M 16 * N 400 / P 4 (VCO input 1 MHz, VCO 400 MHz; RM0383 6.3.2);
 * APB1 at HCLK/2 = 50 MHz (its maximum); 3 wait states at 90-100 MHz and 2.7-3.6 V (RM0383
 * table 6), with prefetch and caches. PLLQ keeps its reset value (USB is not used). */
static void clock_init(void) {
    RCC_APB1ENR |= 1u << 28;                     /* PWR */
    PWR_CR = (PWR_CR & ~(3u << 14)) | (3u << 14); /* VOS scale 1 */
    FLASH_ACR = (1u << 10) | (1u << 9) | (1u << 8) | 3u;
    while ((FLASH_ACR & 0xFu) != 3u) { /* RM0383 3.4.1: the new latency must read back */
    }
    RCC_PLLCFGR = (RCC_PLLCFGR & ~((1u << 22) | (3u << 16) | (0x1FFu << 6) | 0x3Fu))
                | (1u << 16) | (400u << 6) | 16u; /* HSI source, P = 4, N = 400, M = 16 */
    RCC_CR |= 1u << 24;
    while (!(RCC_CR & (1u << 25))) {
    }
    RCC_CFGR = (RCC_CFGR & ~(7u << 10)) | (4u << 10); /* APB1 = HCLK / 2 before the switch */
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;                 /* SYSCLK = PLL */
    while ((RCC_CFGR & (3u << 2)) != (2u << 2)) {
    }
}

static void counter_init(void) {
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;    /* CYCCNTENA */
}

uint32_t port_counter(void) { return DWT_CYCCNT; }
enum fb_count_unit port_count_unit(void) { return FB_COUNT_CYCLES; }
uint8_t port_target_id(void) { return FB_TARGET_NUCLEO_F411; }

void HardFault_Handler(void) { AIRCR = 0x05FA0004u; /* SYSRESETREQ: reboot, the host sees BOOT */ }
#endif

uint32_t port_boot_id(void) { return boot_count[1]; }

void port_write(const uint8_t *data, size_t n) {
    while (n--) {
        while (!(USART2_SR & (1u << 7))) {
        }
        USART2_DR = *data++;
    }
}

int main(void) {
    if (boot_count[0] != 0xB007C0DEu) {
        boot_count[0] = 0xB007C0DEu;
        boot_count[1] = 0;
    }
    boot_count[1]++;
    clock_init();
    RCC_AHB1ENR |= 1u;       /* GPIOA */
    RCC_APB1ENR |= 1u << 17; /* USART2 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4); /* PA2, PA3 alternate */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8); /* AF7 = USART2 */
    USART2_BRR = USART_BRR_115200;
    USART2_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE, TE, RE */
    counter_init();
    hal_mem_init(0, 0);
    fb_proto_init();
    fb_proto_send_boot();
    for (;;) {
        if (USART2_SR & (1u << 5)) fb_proto_rx_byte((uint8_t)USART2_DR);
    }
}
