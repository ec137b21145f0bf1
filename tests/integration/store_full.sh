#!/usr/bin/env bash
# store_full.sh - publishing into a store whose file system is full fails
# with a message that says so (LMDB reports the short write as EIO,
# "Input/output error"). Needs a small tmpfs: root and mount(8), else skips.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need mount umount
mkdir -p "$T/full"
mount -t tmpfs -o size=100k tmpfs "$T/full" 2>/dev/null ||
    skip "skipped: cannot mount a small tmpfs (needs root)"
trap 'umount "$T/full" 2>/dev/null; cleanup' EXIT
make_store
: >"$T/server.log"
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 64 --latent 16 --seed 1 --threads 1 \
    --progress off --store "$T/full/store" --variant default >"$T/full.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "publishing into a full file system succeeded"
grep -q "no space left" "$T/full.log" || fail "the failure does not say the disk is full: $(tail -1 "$T/full.log")"
finish
