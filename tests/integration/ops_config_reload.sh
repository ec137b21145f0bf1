#!/usr/bin/env bash
# ops_config_reload.sh - SIGHUP reads the config file again and applies what
# can change while serving, under load from 4 keep-alive connections:
# an experiment's weights (assignments move to the new split, counters carry
# on), a pin added and lifted, the log level; a broken file is refused,
# logged and counted, and the running config keeps serving. No request fails.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
LOADGEN=${LOADGEN:-${BUILD:-build}/tools/loadgen}
[ -x "$LOADGEN" ] || skip "skipped: $LOADGEN is not built"
LOAD_PID=
trap '[ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null; cleanup' EXIT

make_store a b
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 16 --latent 4 --seed 9 --threads 1 \
    --progress off --store "$T/store" --variant a >"$T/publish.log" 2>&1 || cat "$T/publish.log"
config() { # config WEIGHT_A WEIGHT_B [EXTRA_FIELDS]
    cat >"$T/recserve.json" <<JSON
{"variants": ["a", "b"], "default_variant": "a", "log_level": "info"${3:+, $3},
 "experiments": [{"name": "split", "salt": "reload-test", "share": 1.0,
   "variants": [{"name": "a", "weight": $1}, {"name": "b", "weight": $2}]}]}
JSON
}
share_b() { # share of 200 users the experiment assigns to b, in percent
    local n=0 u
    for u in $(seq 1 200); do
        curl -s "$BASE/v1/users/u$u/assignment" | grep -q '"assigned_variant":"b"' && n=$((n + 1))
    done
    echo $((n / 2))
}
counter() { # recsys_ab_assignments_total of variant $1
    curl -s "$BASE/metrics" | awk -v v="$1" '$1 == "recsys_ab_assignments_total{experiment=\"split\",variant=\"" v "\"}" { print $2 }'
}
hup_and_wait() { # sends SIGHUP, waits for the log line matching $1
    local before lines
    before=$(grep -c "SIGHUP: config" "$T/server.log")
    lines=$(wc -l <"$T/server.log")
    kill -HUP "$SERVER_PID"
    for _ in $(seq 200); do
        [ "$(grep -c "SIGHUP: config" "$T/server.log")" -gt "$before" ] && break
        sleep 0.05
    done
    tail -n +"$((lines + 1))" "$T/server.log" | grep "SIGHUP: config" | grep -q "$1" ||
        fail "after SIGHUP, the log lacks '$1': $(tail -n +"$((lines + 1))" "$T/server.log" | grep SIGHUP)"
}

config 9 1
start_server --config "$T/recserve.json" --reload-interval 0.25
"$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=10' --users 300 \
    --connections 4 --duration 30 >"$T/load.out" 2>"$T/load.err" &
LOAD_PID=$!
sleep 1

before=$(share_b)
b_before=$(counter b)
config 1 9
hup_and_wait "config .* applied: 1 experiment(s), 0 pin(s), log level info"
after=$(share_b)
sleep 0.5
b_after=$(counter b)
echo "share of users assigned to b: ${before}% with weights 9:1, ${after}% after SIGHUP with 1:9"
[ "$before" -ge 3 ] && [ "$before" -le 20 ] || fail "weights 9:1 put ${before}% of users on b"
[ "$after" -ge 80 ] && [ "$after" -le 97 ] || fail "weights 1:9 put ${after}% of users on b after SIGHUP"
awk -v a="${b_before:-0}" -v b="${b_after:-0}" 'BEGIN { exit !(b > a && a > 0) }' ||
    fail "recsys_ab_assignments_total for b did not carry on: ${b_before:-none} then ${b_after:-none}"

# A broken file: refused, logged, counted; the 1:9 split keeps serving.
echo '{"variants": ["a", "b"], "experiments": [{"name": "split"}]}' >"$T/recserve.json"
kill -HUP "$SERVER_PID"
for _ in $(seq 100); do grep -q "SIGHUP: config refused" "$T/server.log" && break; sleep 0.05; done
grep -q "SIGHUP: config refused, the running one is kept: .*experiments\[0\] (split)" "$T/server.log" ||
    fail "a broken config is not refused with its error: $(tail -2 "$T/server.log")"
[ "$(share_b)" = "$after" ] || fail "a refused config changed the assignments"
curl -s "$BASE/metrics" | grep -q '^recsys_config_reloads_total{result="refused"} 1$' ||
    fail "the refused reload is not counted"

# A pin from the file, then lifted; debug logging switched on and off.
served_a() {
    curl -s -o /dev/null -D - "$BASE/v1/users/u1/recommendations?variant=a" |
        sed -n 's/^X-Recsys-Version: *\([0-9]*\).*/\1/ip'
}
[ "$(served_a)" = 2 ] || fail "variant a does not serve version 2 at first: $(served_a)"
config 1 9 '"pins": {"a": 1}'
hup_and_wait "config .* applied: 1 experiment(s), 1 pin(s)"
[ "$(served_a)" = 1 ] || fail "the config's pin did not move a to version 1: $(served_a)"
config 1 9 '"log_level": "debug"'
sed -i 's/"log_level": "info", //' "$T/recserve.json"
hup_and_wait "log level debug"
[ "$(served_a)" = 2 ] || fail "removing the pin from the config did not unpin a: $(served_a)"
grep -q "SIGHUP: a unpinned" "$T/server.log" || fail "the unpin is not logged"
sleep 0.6
grep -q " DEBUG " "$T/server.log" || fail "log level debug wrote no DEBUG line"

kill -INT "$LOAD_PID"
wait "$LOAD_PID"
LOAD_PID=
failed=$(awk '$1 == "failed" { print $2 }' "$T/load.out")
requests=$(awk '$1 == "requests" { print $2 }' "$T/load.out")
echo "load: $requests requests, $failed failed, during 4 SIGHUPs"
[ "$failed" = 0 ] || fail "$failed of $requests requests failed around the reloads"
[ "${requests:-0}" -gt 500 ] || fail "only ${requests:-0} requests were made"
stop_server
finish
