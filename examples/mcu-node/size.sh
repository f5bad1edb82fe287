#!/usr/bin/env bash
# Code size and static RAM of the microcontroller node, built no_std (size-probe/: own
# panic handler, the 64 KiB arena as global allocator, panic = "abort", opt-level "s",
# LTO) for the host target, linked into a tiny C program with --gc-sections so that only
# what firmware would keep remains. Prints `size` of the probe and of the same program
# without the node, and the difference (the node's share).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
out="$CARGO_TARGET_DIR/mcu-size"
mkdir -p "$out"
(cd "$here/size-probe" && cargo build --release --quiet)
lib="$CARGO_TARGET_DIR/release/libmcu_size_probe.a"
cc -Os -ffunction-sections -fdata-sections -Wl,--gc-sections "$here/size-probe/probe.c" "$lib" -o "$out/probe"
cc -Os -ffunction-sections -fdata-sections -Wl,--gc-sections "$here/size-probe/baseline.c" -o "$out/baseline"
sym() { echo $((16#$(nm -S "$out/probe" | awk -v s="$1" '$4 ~ s { print $2 }' | head -n 1))); }
sec() { size -A "$1" | awk -v s="$2" '$1 == s { print $2 } END { print 0 }' | head -n 1; }
for s in .text .rodata .data .bss; do
    printf '%-8s probe %7s B   baseline (C program alone) %5s B\n' "$s" "$(sec "$out/probe" "$s")" "$(sec "$out/baseline" "$s")"
done
echo "static RAM of the node: heap arena $(sym mcu_size_probe4HEAP) B (64 KiB + counters)," \
    "node state $(sym mcu_size_probe4NODE) B (McuNode incl. the 2 x 1500 B driver frame buffers)"
echo "mcu-node no_std (x86_64, opt-level s, LTO, panic abort): code .text $(($(sec "$out/probe" .text) - $(sec "$out/baseline" .text))) B," \
    ".rodata $(($(sec "$out/probe" .rodata) - $(sec "$out/baseline" .rodata))) B; static RAM (.data + .bss)" \
    "$(($(sec "$out/probe" .data) + $(sec "$out/probe" .bss) - $(sec "$out/baseline" .data) - $(sec "$out/baseline" .bss))) B"
