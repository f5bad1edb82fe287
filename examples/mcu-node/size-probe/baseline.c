/* The same C program without the node: subtracted from the probe's size. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
static uint8_t frame[1500];
static volatile size_t frame_len;
size_t mcu_driver_rx(uint8_t *buf, size_t cap) {
    size_t n = frame_len < cap ? frame_len : cap;
    memcpy(buf, frame, n);
    frame_len = 0;
    return n;
}
int main(void) { return (int)mcu_driver_rx(frame, 1); }
