#!/usr/bin/env bash
# ops_ship.sh - deploy/ship-store.sh and store swaps: a store is shipped into a
# replica's store link while the replica serves under load; the replica
# follows the link to the new store, serves the shipped versions (the same
# numbers as the source), closes the old store, and no request fails. The
# ssh path of the script runs against a stand-in ssh that executes locally.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need mdb_copy sha256sum tar
LOADGEN=${BUILD:-build}/tools/loadgen
[ -x "$LOADGEN" ] || skip "skipped: $LOADGEN is not built"
SHIP=deploy/ship-store.sh
LOAD_PID=
trap '[ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null; cleanup' EXIT

make_store # the "training host" store: $T/store, variant default version 1
SRC=$T/store
LINK=$T/replica/store

publish() {
    "$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 32 --latent 8 --seed "$1" \
        --threads 1 --progress off --store "$SRC" --variant default >"$T/publish.log" 2>&1 ||
        { cat "$T/publish.log"; exit 1; }
}
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }
serving() { curl -s "$BASE/readyz" | sed -n 's/.*"version":\([0-9]*\).*/\1/p'; }
wait_serving() {
    local i
    for i in $(seq 60); do
        [ "$(serving)" = "$1" ] && return 0
        sleep 0.05
    done
    fail "version $1 not served 3 s after the ship (serving $(serving))"
}

# First ship creates the link; a replica serves from it.
"$SHIP" "$SRC" "$LINK" >"$T/ship.log" 2>&1 || fail "first ship failed: $(cat "$T/ship.log")"
[ -L "$LINK" ] && [ -f "$LINK/data.mdb" ] || fail "the store link was not created"
rm -f "$T/port"
"$RECSERVE" --store "$LINK" --listen 127.0.0.1:0 --port-file "$T/port" --threads 2 \
    --reload-interval 0.2 2>>"$T/server.log" &
SERVER_PID=$!
for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/server.log"; exit 1; }
PORT=$(cat "$T/port")
BASE=http://127.0.0.1:$PORT
[ "$(serving)" = 1 ] || fail "the replica does not serve version 1"

"$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=5' --users 300 \
    --connections 3 --duration 60 >"$T/load.out" 2>&1 &
LOAD_PID=$!

# Publishing on the source alone changes nothing on the replica.
publish 11
publish 12
sleep 0.5
[ "$(serving)" = 1 ] || fail "the replica changed version without a ship"

# Ship: the replica swaps stores and serves version 3, the source's current.
"$SHIP" "$SRC" "$LINK" >"$T/ship.log" 2>&1 || fail "second ship failed: $(cat "$T/ship.log")"
wait_serving 3
for i in $(seq 40); do [ "$(metric recsys_stores_open)" = 1 ] && break; sleep 0.05; done
[ "$(metric recsys_store_swaps_total)" = 1 ] || fail "recsys_store_swaps_total is not 1"
[ "$(metric recsys_stores_open)" = 1 ] || fail "the replaced store was not closed"
grep -q "now names another store" "$T/server.log" || fail "no log line about the store swap"
grep -q "closed a replaced store" "$T/server.log" || fail "no log line about closing the old store"

# The same through "ssh" (a stand-in that runs the commands here), keeping 2.
mkdir -p "$T/fakebin"
cat >"$T/fakebin/ssh" <<'EOF'
#!/bin/sh
# stand-in ssh: drops the options and the host, runs the command locally
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
shift 2
exec sh -c "$*"
EOF
chmod +x "$T/fakebin/ssh"
publish 13
PATH=$T/fakebin:$PATH "$SHIP" --keep 2 --ssh "-o BatchMode=yes" "$SRC" "replica-host:$LINK" \
    >"$T/ship.log" 2>&1 || fail "ship over ssh failed: $(cat "$T/ship.log")"
wait_serving 4
copies=$(ls -1d "$LINK".2*Z | wc -l)
[ "$copies" = 2 ] || fail "$copies shipped copies kept, expected 2"
ls -1a "$T/replica" | grep -q incoming && fail "a temporary directory was left behind"
[ "$(metric recsys_store_swaps_total)" = 2 ] || fail "recsys_store_swaps_total is not 2"

# A real directory is refused with the conversion recipe; nothing changes.
mkdir -p "$T/other/store"
"$SHIP" "$SRC" "$T/other/store" >"$T/ship.log" 2>&1 && fail "shipping over a directory succeeded"
grep -q "not a symbolic link" "$T/ship.log" || fail "no clear message for a directory target"

sleep 0.3
kill -INT "$LOAD_PID"
wait "$LOAD_PID"
LOAD_PID=
grep -q '^failed 0$' "$T/load.out" || fail "requests failed during the swaps: $(cat "$T/load.out")"
grep -q '^version default 3 ' "$T/load.out" || fail "version 3 never answered the load"
grep -q '^version default 2 ' "$T/load.out" && fail "version 2 answered, but it was never shipped"
stop_server
finish
