/* Cortex-M startup shared by the MCU ports: vector table, .data/.bss init, then main(). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

/* What happens when main returns: a board idles; the QEMU test image exits with the code. */
void fb_main_returned(int code) __attribute__((weak));
void fb_main_returned(int code) { (void)code; }

void Reset_Handler(void) {
    const uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    fb_main_returned(main());
    for (;;) {
    }
}

void Default_Handler(void) {
    for (;;) {
    }
}
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".isr_vector"), used)) void (*const fb_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack, Reset_Handler, NMI_Handler, HardFault_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
};
