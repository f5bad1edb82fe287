#!/usr/bin/env bash
# Code size and static RAM of the microcontroller node, built no_std (size-probe/: own
# panic handler, the 64 KiB arena as global allocator, panic = "abort", opt-level "s",
# LTO) for the host target, linked into a tiny C program with --gc-sections so that only
# what firmware would keep remains. Prints `size` of the probe and of the same program
# without the node, and the difference (the node's share), for three builds: "udp" (the
# link over smoltcp UDP through a MAC driver), "serial" (feature serial: the link over a
# UART in stream frames, no smoltcp interface) and "pq" (udp with `post-quantum = hybrid`,
# mcc-core's feature pq); then serial minus udp and pq minus udp.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
out="$CARGO_TARGET_DIR/mcu-size"
mkdir -p "$out"
lib="$CARGO_TARGET_DIR/release/libmcu_size_probe.a"
cc -Os -ffunction-sections -fdata-sections -Wl,--gc-sections "$here/size-probe/baseline.c" -o "$out/baseline"
sec() { size -A "$1" | awk -v s="$2" '$1 == s { print $2 } END { print 0 }' | head -n 1; }
declare -A text rodata ram
for build in udp serial pq; do
    features=()
    [ "$build" = serial ] && features=(--features serial)
    [ "$build" = pq ] && features=(--features pq)
    (cd "$here/size-probe" && cargo build --release --quiet "${features[@]}")
    p="$out/probe-$build"
    cc -Os -ffunction-sections -fdata-sections -Wl,--gc-sections "$here/size-probe/probe.c" "$lib" -o "$p"
    sym() { echo $((16#$(nm -S "$p" | awk -v s="$1" '$4 ~ s { print $2 }' | head -n 1))); }
    echo "== $build"
    for s in .text .rodata .data .bss; do
        printf '%-8s probe %7s B   baseline (C program alone) %5s B\n' "$s" "$(sec "$p" "$s")" "$(sec "$out/baseline" "$s")"
    done
    echo "static RAM of the node: heap arena $(sym mcu_size_probe4HEAP) B (64 KiB + counters)," \
        "node state $(sym mcu_size_probe4NODE) B ($([ "$build" != serial ] && echo "McuNode incl. the 2 x 1500 B driver frame buffers" || echo "SerialNode incl. the deframer's 1504 B and a 64 B read chunk"))"
    text[$build]=$(($(sec "$p" .text) - $(sec "$out/baseline" .text)))
    rodata[$build]=$(($(sec "$p" .rodata) - $(sec "$out/baseline" .rodata)))
    ram[$build]=$(($(sec "$p" .data) + $(sec "$p" .bss) - $(sec "$out/baseline" .data) - $(sec "$out/baseline" .bss)))
    echo "mcu-node no_std $build (x86_64, opt-level s, LTO, panic abort): code .text ${text[$build]} B," \
        ".rodata ${rodata[$build]} B; static RAM (.data + .bss) ${ram[$build]} B"
done
echo "serial build minus udp build: code .text $((text[serial] - text[udp])) B, .rodata $((rodata[serial] - rodata[udp])) B," \
    "static RAM $((ram[serial] - ram[udp])) B"
echo "pq build (udp with post-quantum = hybrid) minus udp build: code .text $((text[pq] - text[udp])) B," \
    ".rodata $((rodata[pq] - rodata[udp])) B, static RAM $((ram[pq] - ram[udp])) B"
