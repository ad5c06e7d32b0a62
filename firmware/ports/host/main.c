/* Host port: the firmware as a POSIX process serving the protocol on a loopback TCP socket.
 *   fw-host [--port N] [--bind ADDR] [--link-latency S --link-jitter S --link-seed N]
 *           [memory HAL options: hal_mem_usage()] | --help
 * Port 0 (default) picks a free port; the process prints "faultbench-fw listening on
 * ADDR:PORT" on stdout once it accepts connections. One client at a time; state persists
 * across connections like a powered board. The BOOT banner goes to the first client after
 * start (as a board's UART would deliver it). Stops on SIGTERM/SIGINT. The options other than
 * --port, --bind and --help go to hal_mem_init, which refuses what it does not know; a bad
 * option is one line on stderr and exit code 2. boot_id: pid and start time mixed (a new
 * process is a new boot). The link options emulate a USB serial link's latency: every batch
 * of received bytes is handled LATENCY + u * JITTER seconds after it arrived, u uniform in
 * [0, 1) from a splitmix64 stream of the seed (docs/VIRTUAL_LAB.md). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "fb_port.h"
#include "fb_protocol.h"
#include "hal_mem.h"

static int client = -1;
static uint32_t boot_id;
static volatile sig_atomic_t stop;
static double link_latency, link_jitter; /* seconds */
static uint64_t link_state;

/* splitmix64 step: the jitter's uniform in [0, 1) */
static double link_uniform(void) {
    uint64_t z = (link_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static void link_delay(void) {
    double s = link_latency + link_jitter * link_uniform();
    if (s <= 0.0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop) {}
}

static void on_signal(int sig) { (void)sig; stop = 1; }

void port_write(const uint8_t *data, size_t n) {
    while (n > 0 && client >= 0) {
        ssize_t k = send(client, data, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return; /* client gone: drop the reply, the accept loop notices */
        data += k;
        n -= (size_t)k;
    }
}

uint32_t port_counter(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}
enum fb_count_unit port_count_unit(void) { return FB_COUNT_NS; }
uint8_t port_target_id(void) { return FB_TARGET_HOST; }
uint32_t port_boot_id(void) { return boot_id; }

static void usage(void) {
    printf("usage: fw-host [--port N] [--bind ADDR] [link options] [memory options]\n"
           "faultbench firmware on a loopback TCP socket (firmware/PROTOCOL.md); prints\n"
           "\"faultbench-fw listening on ADDR:PORT\" once it accepts a client.\n"
           "  --port N                TCP port, 0..65535 (default 0: a free port)\n"
           "  --bind ADDR             IPv4 address to listen on (default 127.0.0.1)\n"
           "  --link-latency S        seconds before each received batch is handled (default 0)\n"
           "  --link-jitter S         plus uniform [0, S) seconds (default 0)\n"
           "  --link-seed N           seed of the jitter (default 0)\n"
           "  --help                  this text\n"
           "memory options (the virtual chip, docs/VIRTUAL_LAB.md):\n%s", hal_mem_usage());
}

static int bad_option(const char *opt, const char *why) {
    fprintf(stderr, "fw-host: %s: %s (fw-host --help lists the options)\n", opt, why);
    return 2;
}

int main(int argc, char **argv) {
    const char *bind_addr = "127.0.0.1";
    int port = 0;
    char *hal_argv[argc + 1]; /* argv[0], the HAL's options, NULL */
    int hal_argc = 1;
    hal_argv[0] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0) {
            usage();
            return 0;
        }
        if (strncmp(k, "--link-", 7) == 0 &&
            (strcmp(k + 7, "latency") == 0 || strcmp(k + 7, "jitter") == 0 || strcmp(k + 7, "seed") == 0)) {
            if (i + 1 >= argc) return bad_option(k, "needs a value");
            const char *v = argv[++i];
            char *end;
            if (k[7] == 's') {
                link_state = strtoull(v, &end, 0);
            } else {
                double d = strtod(v, &end);
                if (!(d >= 0.0 && d < 10.0)) return bad_option(k, "expects seconds in [0, 10)");
                *(k[7] == 'l' ? &link_latency : &link_jitter) = d;
            }
            if (*v == '\0' || *end != '\0') return bad_option(k, "expects a number");
            continue;
        }
        if (strcmp(k, "--port") == 0 || strcmp(k, "--bind") == 0) {
            if (i + 1 >= argc) return bad_option(k, "needs a value");
            const char *v = argv[++i];
            if (k[2] == 'b') {
                bind_addr = v;
                continue;
            }
            char *end;
            long p = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || p < 0 || p > 65535) return bad_option(k, "expects a port number 0..65535");
            port = (int)p;
        } else {
            hal_argv[hal_argc++] = argv[i];
        }
    }
    hal_argv[hal_argc] = NULL;
    if (hal_mem_init(hal_argc, hal_argv) != 0) return 2;
    boot_id = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: accept/recv return EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "fw-host: bad --bind address %s\n", bind_addr);
        return 1;
    }
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(srv, 1) != 0) {
        fprintf(stderr, "fw-host: cannot listen on %s:%d: %s\n", bind_addr, port, strerror(errno));
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(srv, (struct sockaddr *)&addr, &alen);
    printf("faultbench-fw listening on %s:%u\n", bind_addr, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    fb_proto_init();
    int banner_pending = 1;
    uint8_t buf[4096];
    while (!stop) {
        client = accept(srv, NULL, NULL);
        if (client < 0) continue;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fb_proto_rx_reset(); /* a partial frame of the previous client is not this one's */
        if (banner_pending) {
            fb_proto_send_boot();
            banner_pending = 0;
        }
        while (!stop) {
            ssize_t k = recv(client, buf, sizeof buf, 0);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            link_delay();
            for (ssize_t i = 0; i < k; i++) fb_proto_rx_byte(buf[i]);
        }
        close(client);
        client = -1;
    }
    close(srv);
    return 0;
}
