/* SysTick as a free-running tick count for the ports run under QEMU: with `-icount shift=0`
 * one instruction takes 1 ns of virtual time, so ticks scale to instructions by the clock
 * SysTick runs on (HARDWARE 3 and 9). A real board counts cycles with DWT CYCCNT instead. */
#ifndef FB_SYSTICK_H
#define FB_SYSTICK_H
#include <stdint.h>

/* Starts SysTick on the core clock with the largest reload (2^24 - 1) and its interrupt,
 * which counts the wraps. */
void fb_systick_start(void);
/* Ticks since fb_systick_start (64 bits: no wrap within a run). */
uint64_t fb_systick_ticks(void);
#endif
