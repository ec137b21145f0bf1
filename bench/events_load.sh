#!/usr/bin/env bash
# bench/events_load.sh - events throughput with group commit beside
# recommendations, in one run on loopback (build/tools/loadgen):
#   1. recommendations alone (REC_CONNS connections) for SECS seconds: the
#      baseline;
#   2. POST /v1/events alone at 64 connections, one event per request;
#   3. both at once: 64 event connections beside REC_CONNS recommendation
#      connections.
# Prints requests/s of each and the events per commit (sync) the writer
# managed, from /metrics. Figures are only comparable within one run.
#
#   bench/events_load.sh            SECS=10 REC_CONNS=8 BATCH=1
set -euo pipefail
cd "$(dirname "$0")/.."
BINDIR=${BINDIR:-bin}
BUILD=${BUILD:-build}
SECS=${SECS:-10}
REC_CONNS=${REC_CONNS:-8}
BATCH=${BATCH:-1}
LOADGEN=$BUILD/tools/loadgen
T=$(mktemp -d "${TMPDIR:-/tmp}/events-load.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill -KILL $PID 2>/dev/null; rm -rf "$T"' EXIT

"$BINDIR/rectrain" synth --out "$T/data" --users 2000 --items 1000 >/dev/null 2>&1
"$BINDIR/rectrain" --data "$T/data/train.tsv" --model vae --epochs 2 --hidden 64 --latent 16 \
    --threads 1 --progress off --store "$T/store" --variant default >/dev/null 2>&1
"$BINDIR/recserve" --store "$T/store" --events-dir "$T/events" --listen 127.0.0.1:0 \
    --port-file "$T/port" --max-per-address 0 --max-connections 4096 2>"$T/server.log" &
PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")

body='{"events":['
for ((j = 0; j < BATCH; j++)); do
    [ $j -gt 0 ] && body+=','
    body+="{\"user\":\"u{u}\",\"item\":\"i$((j + 1))\",\"type\":\"click\"}"
done
body+=']}'
recs() { "$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=10' --users 2000 \
    --connections "$REC_CONNS" --duration "$SECS"; }
events() { "$LOADGEN" --port "$PORT" --path /v1/events --body "$body" --users 2000 \
    --connections 64 --duration "$SECS"; }
rate() { awk '/^rate/ { print $2 }' "$1"; }
commits() { curl -s "127.0.0.1:$PORT/metrics" | awk '/^recsys_events_(commits|accepted)_total/ { print $2 }' | paste -sd' '; }

recs >"$T/recs-alone"
read -r a0 c0 <<<"$(commits)"
events >"$T/events-alone"
read -r a1 c1 <<<"$(commits)"
recs >"$T/recs-mixed" &
R=$!
events >"$T/events-mixed"
wait $R
read -r a2 c2 <<<"$(commits)"
kill -TERM $PID
wait $PID || true
PID=
echo "cores: $(nproc); server threads: one per core; $SECS s per phase; $BATCH event(s) per POST"
printf 'recommendations alone (%d conns):           %8.0f req/s\n' "$REC_CONNS" "$(rate "$T/recs-alone")"
printf 'events alone (64 conns):                      %8.0f req/s = %.0f events/s, %.1f events per sync\n' \
    "$(rate "$T/events-alone")" "$(echo "$(rate "$T/events-alone") * $BATCH" | bc)" \
    "$(echo "($a1 - $a0) / ($c1 - $c0)" | bc -l)"
printf 'mixed: events (64 conns)                      %8.0f req/s = %.0f events/s, %.1f events per sync\n' \
    "$(rate "$T/events-mixed")" "$(echo "$(rate "$T/events-mixed") * $BATCH" | bc)" \
    "$(echo "($a2 - $a1) / ($c2 - $c1)" | bc -l)"
printf 'mixed: recommendations (%d conns)            %8.0f req/s\n' "$REC_CONNS" "$(rate "$T/recs-mixed")"
grep -h '^failed' "$T"/recs-* "$T"/events-* | awk '{ s += $2 } END { print "failed requests: " s + 0 }'
