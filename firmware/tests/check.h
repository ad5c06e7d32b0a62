/* Minimal test harness for the C unit tests. */
#ifndef FB_CHECK_H
#define FB_CHECK_H
#include <stdint.h>
static int check_failures;
#ifdef FB_SEMIHOSTING /* Cortex-M4 under QEMU: no stdio, messages through semihosting */
void sh_puts(const char *s);
#define FB_STR2(x) #x
#define FB_STR(x) FB_STR2(x)
#define CHECK(cond, ...) do { if (!(cond)) { check_failures++; sh_puts(__FILE__ ":" FB_STR(__LINE__) ": CHECK(" #cond ") failed\n"); } } while (0)
#define CHECK_DONE(name) do { sh_puts(check_failures ? name ": FAILED\n" : name ": ok\n"); return check_failures != 0; } while (0)
#else
#include <stdio.h>
#include <stdlib.h>
#define CHECK(cond, ...) do { if (!(cond)) { check_failures++; fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_DONE(name) do { if (check_failures) { fprintf(stderr, "%s: %d failures\n", name, check_failures); return 1; } printf("%s: ok\n", name); return 0; } while (0)
#endif
static uint32_t test_rng = 12345u;
static inline uint32_t rnd(void) { test_rng ^= test_rng << 13; test_rng ^= test_rng >> 17; test_rng ^= test_rng << 5; return test_rng; }
#endif
