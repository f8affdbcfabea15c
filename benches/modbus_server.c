/* A lean Modbus TCP server for the request-rate benchmark (benches/modbus.rs): libmodbus,
 * one connection at a time, 100 holding registers holding their own addresses. It binds an
 * ephemeral port on 127.0.0.1, prints it on stdout, and serves clients one after another
 * until killed.
 *
 *   cc -O2 -o modbus_server benches/modbus_server.c $(pkg-config --cflags --libs libmodbus)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", 0);
    if (ctx == NULL) {
        fprintf(stderr, "modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_mapping_t *map = modbus_mapping_new(0, 0, 100, 0);
    if (map == NULL) {
        fprintf(stderr, "modbus_mapping_new: %s\n", modbus_strerror(errno));
        return 1;
    }
    for (int i = 0; i < 100; i++) {
        map->tab_registers[i] = (uint16_t)i;
    }
    int listener = modbus_tcp_listen(ctx, 1);
    if (listener < 0) {
        fprintf(stderr, "modbus_tcp_listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
        perror("getsockname");
        return 1;
    }
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    for (;;) {
        if (modbus_tcp_accept(ctx, &listener) < 0) {
            fprintf(stderr, "modbus_tcp_accept: %s\n", modbus_strerror(errno));
            return 1;
        }
        for (;;) {
            int n = modbus_receive(ctx, query);
            if (n > 0) {
                modbus_reply(ctx, query, n, map);
            } else if (n < 0) {
                break; /* client closed the connection */
            }
        }
        modbus_close(ctx); /* closes the client socket; the listener stays open */
    }
}
