#!/usr/bin/env bash
# store_faults.sh - the store's data.mdb truncated, restored, deleted and
# recreated under a serving recserve: it never dies (a read past the end of a
# shrunk map would be SIGBUS); versions the file no longer holds answer 503
# store_damaged and /readyz 503, while /healthz still answers; every change
# is logged and counted (recsys_store_file_faults_total, recsys_store_file_intact);
# restoring the bytes serves again; a deleted or recreated file leaves the
# loaded version serving from the old inode.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need truncate
make_store
start_server --reload-interval 0.1
DB=$T/store/data.mdb
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }
alive() { kill -0 "$SERVER_PID" 2>/dev/null || { fail "$1: recserve died"; finish; }; }
# wait_metric NAME VALUE: the watcher polls every 0.1 s; allow 10 s.
wait_metric() {
    local i
    for i in $(seq 100); do
        [ "$(metric "$1")" = "$2" ] && return 0
        alive "waiting for $1"
        sleep 0.1
    done
    fail "$1 is $(metric "$1"), expected $2"
}

WHAT="before"; req GET /v1/users/u1/recommendations; expect 200
[ "$(metric recsys_store_file_intact)" = 1 ] || fail "recsys_store_file_intact is not 1 at start"

# Truncated in place (same inode): no SIGBUS, 503s, logged and counted.
cp "$DB" "$T/data.mdb.bak"
truncate -s 0 "$DB"
WHAT="truncated: recommendations"; req GET /v1/users/u1/recommendations
alive "truncated"
expect 503 store_damaged
WHAT="truncated: POST"; post_json /v1/recommend '{"user":"u1","n":3}'; expect 503 store_damaged
WHAT="truncated: readyz"; req GET /readyz; expect 503 not_ready
WHAT="truncated: healthz"; req GET /healthz; expect 200
wait_metric 'recsys_store_file_faults_total{fault="truncated"}' 1
wait_metric recsys_store_file_intact 0
grep -q "ERROR.*truncated" "$T/server.log" || fail "no ERROR line names the truncation"
# Half the file is no better than none.
dd if="$T/data.mdb.bak" of="$DB" bs=4096 count=3 conv=notrunc status=none
WHAT="partly restored"; req GET /v1/items/i1/similar; alive "partly restored"
expect 503 store_damaged

# Restored in place: serving again.
cat "$T/data.mdb.bak" >"$DB"
wait_metric recsys_store_file_intact 1
WHAT="restored"; req GET /v1/users/u1/recommendations; expect 200
WHAT="restored: readyz"; req GET /readyz; expect 200

# Deleted: the loaded version still serves (its inode lives while mapped).
rm -f "$DB"
wait_metric 'recsys_store_file_faults_total{fault="deleted"}' 1
WHAT="deleted"; req GET /v1/users/u1/recommendations; expect 200
grep -q "ERROR.*data.mdb.*deleted" "$T/server.log" || fail "no ERROR line names the deletion"
# Recreated by a publish in the same directory: noticed as a replaced file.
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 32 --latent 8 --seed 9 --threads 1 \
    --progress off --store "$T/store" --variant default >"$T/publish.log" 2>&1 ||
    fail "publishing into the recreated store: $(tail -1 "$T/publish.log")"
wait_metric 'recsys_store_file_faults_total{fault="replaced"}' 1
WHAT="recreated"; req GET /v1/users/u1/recommendations; expect 200
alive "recreated"
stop_server
finish
