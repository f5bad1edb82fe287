/* Links the size probe like firmware would: a main loop and the driver hooks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint32_t mcu_start(const uint8_t *, const uint8_t *, size_t, const uint8_t *, size_t,
                   const uint8_t *, size_t, const uint8_t *, const uint8_t *, uint32_t,
                   int64_t, uint64_t, const uint8_t *);
int64_t mcu_poll(int64_t);
size_t mcu_heap_high_water_mark(void);

static uint8_t frame[1500];
static volatile size_t frame_len;

size_t mcu_driver_rx(uint8_t *buf, size_t cap) {
    size_t n = frame_len < cap ? frame_len : cap;
    memcpy(buf, frame, n);
    frame_len = 0;
    return n;
}
void mcu_driver_tx(const uint8_t *buf, size_t len) { (void)buf; (void)len; }

/* The UART of the serial build (unused, and dropped by --gc-sections, in the UDP one). */
size_t mcu_uart_ready(void) { return frame_len; }
size_t mcu_uart_read(uint8_t *buf, size_t cap) { return mcu_driver_rx(buf, cap); }
void mcu_uart_write(const uint8_t *buf, size_t len) { (void)buf; (void)len; }

int main(int argc, char **argv) {
    static uint8_t zero[32];
    (void)argv;
    if (mcu_start(zero, zero, 0, zero, 0, zero, 0, zero, zero, 0, 0, 0, zero) != 0 && argc < 2)
        return 1;
    for (int64_t t = 0; t < 10; t++) mcu_poll(t);
    return (int)mcu_heap_high_water_mark();
}
