/* The reference client of the request-rate benchmark (benches/modbus.rs): libmodbus reads
 * COUNT holding registers from address 0, unit 1, in a loop on one TCP connection for SECONDS
 * and prints the number of successful requests and the elapsed seconds.
 *
 *   cc -O2 -o modbus_client benches/modbus_client.c $(pkg-config --cflags --libs libmodbus)
 *   ./modbus_client 127.0.0.1 PORT SECONDS COUNT
 */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT SECONDS COUNT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int count = atoi(argv[4]);
    modbus_t *ctx = modbus_new_tcp(argv[1], port);
    if (ctx == NULL || modbus_set_slave(ctx, 1) != 0 || modbus_connect(ctx) != 0) {
        fprintf(stderr, "connect %s:%d: %s\n", argv[1], port, modbus_strerror(errno));
        return 1;
    }
    modbus_set_response_timeout(ctx, 1, 0);
    uint16_t regs[125];
    long ok = 0, failed = 0;
    double start = now(), end = start + seconds, t = start;
    while (t < end) {
        /* check the clock every 256 requests, as the Rust side does */
        for (int i = 0; i < 256; i++) {
            if (modbus_read_registers(ctx, 0, count, regs) == count && regs[count - 1] == count - 1) {
                ok++;
            } else {
                failed++;
            }
        }
        t = now();
    }
    printf("%ld %ld %.6f\n", ok, failed, t - start);
    modbus_close(ctx);
    modbus_free(ctx);
    return failed == 0 ? 0 : 1;
}
