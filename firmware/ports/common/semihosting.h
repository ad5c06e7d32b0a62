/* Semihosting (ARM "Semihosting for AArch32 and AArch64", SYS_EXIT_EXTENDED) for the ports
 * that run under QEMU with `-semihosting-config enable=on`. */
#ifndef FB_SEMIHOSTING_H
#define FB_SEMIHOSTING_H
#include <stdint.h>

/* Ends the emulator with exit status `code` (QEMU returns it as its own exit status). On a
 * board without a debugger attached the bkpt faults instead: emulation only. */
void fb_semihost_exit(uint32_t code);
#endif
