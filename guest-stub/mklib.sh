#!/bin/sh
# mklib.sh OUT.a SYMS OBJ... - make the guest SDK's static library: link the
# objects into one relocatable object (ld -r), make every symbol not listed
# in SYMS (one name a line: the API of cowguest.h, _start, the hooks) local
# so the SDK's internal names (fdt_open, kernel_main, isr6...) can never
# collide with a guest's own, and archive it.
set -eu
out=$1 syms=$2
shift 2
tmp=$out.tmp.o
rm -f "$out" "$tmp"
ld -r -o "$tmp" "$@"
objcopy --keep-global-symbols="$syms" "$tmp"
ar rcsD "$out" "$tmp"
rm -f "$tmp"
