/* Semihosting output and exit for the kernel tests run under QEMU (make test-m4). */
#include <stdint.h>

static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s) { semihost(0x04u /* SYS_WRITE0 */, s); }

void fb_main_returned(int code) {
    uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    semihost(0x20u /* SYS_EXIT_EXTENDED */, block);
}
