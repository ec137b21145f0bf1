#!/usr/bin/env bash
# server_memory.sh - memory per request follows what the client sends, not
# what it declares or what a parser would build:
#   - 100 connections declaring a 1 MiB body and sending 1 KiB of it must not
#     allocate their declared lengths (address space growth bound: 16 MiB;
#     buffers preallocated by the declared length are 100 MiB);
#   - a 1 MiB body of ~350k empty strings is refused (422) before it is
#     parsed (bound: 8 MiB of peak growth; parsing it first cost ~30 MiB).
# Memory is read from /proc/PID/status (Linux), each case on a fresh server
# with one malloc arena (a new arena would reserve 64 MiB of address space
# whatever the requests do).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
[ -r /proc/self/status ] || skip "skipped: no /proc/PID/status to read memory from"
make_store
for spec in "declared 16384" "values 8192"; do
    set -- $spec
    MALLOC_ARENA_MAX=1 start_server --max-body 1M
    out=$(python3 tests/integration/lib/bodymem.py "$PORT" "$SERVER_PID" "$1") ||
        fail "$1: $out"
    echo "$out"
    kib=$(echo "$out" | sed -n 's/^[a-z]*: \(-\{0,1\}[0-9]*\) KiB$/\1/p')
    [ -n "$kib" ] && [ "$kib" -le "$2" ] || fail "$1: grew by ${kib:-?} KiB; the bound is $2 KiB"
    stop_server
done
finish
