#!/usr/bin/env bash
# tests/soak/soak.sh - a soak of recserve under everything at once (not part
# of make test; about SOAK_SECONDS, default 600):
#   - saturating load on recommendations (loadgen: GET per user and POST
#     /v1/recommend, keep-alive);
#   - a publish every PUBLISH_EVERY seconds (30), picked up by the watcher;
#   - a trainer SIGKILLed while training or publishing every KILL_EVERY
#     seconds (120);
#   - SLOW slow clients (200) dripping headers or bodies (the request
#     deadline ends them), and a malformed request every 50 ms
#     (tests/soak/hostile.py).
# It passes when no well-formed request failed, the server's private
# resident memory (RssAnon) at the end is within 10% of what it was after the
# first minute, and the
# version served at the end is the store's current one. It prints the
# figures.
#
#   make && tests/soak/soak.sh            (SOAK_SECONDS=120 for a short run)
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
LOADGEN=${LOADGEN:-${BUILD:-build}/tools/loadgen}
[ -x "$LOADGEN" ] || skip "skipped: $LOADGEN is not built"
SECS=${SOAK_SECONDS:-600}
PUBLISH_EVERY=${PUBLISH_EVERY:-30}
KILL_EVERY=${KILL_EVERY:-120}
SLOW=${SLOW:-200}
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; cleanup' EXIT

mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 2000 --items 1000 >"$T/synth.log" 2>&1 ||
    skip "skipped: rectrain synth failed"
DATA=$T/data/train.tsv
publish() { # publish SEED [EPOCHS]
    "$RECTRAIN" --data "$DATA" --model vae --epochs "${2:-1}" --hidden 64 --latent 16 --seed "$1" \
        --threads 1 --progress off --store "$T/store" --variant default >>"$T/publish.log" 2>&1
}
publish 1 || { tail -3 "$T/publish.log"; exit 1; }
start_server --threads 2 --reload-interval 1 --timeout 10 --request-timeout 5 \
    --max-connections 1024 --max-per-address 0
# Private memory (RssAnon) is what a leak grows; the mapped store file's
# pages (RssFile) grow with every version read and are the kernel's to drop.
rss() { sed -n "s/^${1:-RssAnon}:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$SERVER_PID/status"; }

"$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=10' --users 2000 \
    --connections 3 --duration "$SECS" >"$T/load-get.out" 2>&1 &
PIDS+=($!)
"$LOADGEN" --port "$PORT" --path /v1/recommend --body '{"user":"u{u}","n":5}' --users 2000 \
    --connections 2 --duration "$SECS" >"$T/load-post.out" 2>&1 &
PIDS+=($!)
python3 tests/soak/hostile.py "$PORT" "$SECS" "$SLOW" >"$T/hostile.out" 2>&1 &
PIDS+=($!)

start=$SECONDS seed=100 published=1 killed=0 rss1=
next_publish=$PUBLISH_EVERY next_kill=$((KILL_EVERY / 2))
while [ $((SECONDS - start)) -lt "$SECS" ]; do
    now=$((SECONDS - start))
    [ -z "$rss1" ] && [ "$now" -ge 60 ] && rss1=$(rss) && echo "after the first minute: RssAnon $rss1 kB"
    if [ "$now" -ge "${next_sample:-0}" ]; then
        echo "t=${now}s RssAnon $(rss) kB, RssFile $(rss RssFile) kB, version $(curl -s "$BASE/metrics" |
            sed -n 's/^recsys_model_version{variant="default"} //p'), connections $(curl -s \
            "$BASE/metrics" | sed -n 's/^recsys_http_connections_open //p')"
        next_sample=$((now + 30))
    fi
    if [ "$now" -ge "$next_kill" ]; then
        # The trainer itself in the background (not a function's subshell,
        # whose death would leave rectrain running), long enough that the
        # signal lands while it trains or publishes.
        "$RECTRAIN" --data "$DATA" --model vae --epochs 200 --hidden 64 --latent 16 \
            --seed $((seed++)) --threads 1 --progress off --store "$T/store" --variant default \
            >>"$T/publish.log" 2>&1 &
        victim=$!
        sleep "$((RANDOM % 3)).$((RANDOM % 9 + 1))"
        kill -KILL "$victim" 2>/dev/null
        wait "$victim" 2>/dev/null
        [ $? -eq 137 ] && killed=$((killed + 1))
        next_kill=$((next_kill + KILL_EVERY))
    elif [ "$now" -ge "$next_publish" ]; then
        publish $((seed++)) && published=$((published + 1))
        next_publish=$((next_publish + PUBLISH_EVERY))
    else
        sleep 1
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { fail "recserve died"; break; }
done
wait "${PIDS[@]}" 2>/dev/null
PIDS=()
# One more publish, so that "the final version" is a fresh one.
publish $((seed++)) && published=$((published + 1))
sleep 3
rss2=$(rss)
file2=$(rss RssFile)
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }
current=$(metric 'recsys_store_current_version{variant="default"}')
served=$(metric 'recsys_model_version{variant="default"}')
req GET /v1/users/u1/recommendations
answered=$(header X-Recsys-Version)

echo "duration: ${SECS} s; publishes: $published; trainers SIGKILLed: $killed"
for f in load-get load-post; do echo "$f: $(tr '\n' ' ' <"$T/$f.out" | sed 's/version .*//')"; done
cat "$T/hostile.out"
echo "RssAnon: ${rss1:-?} kB after the first minute, $rss2 kB at the end (RssFile $file2 kB)"
echo "store current version $current, served $served, answered by $answered"
for f in load-get load-post; do
    failed=$(sed -n 's/^failed \([0-9]*\)$/\1/p' "$T/$f.out")
    [ "${failed:-x}" = 0 ] || fail "$f: ${failed:-?} well-formed requests failed"
done
[ "$SECS" -lt "$KILL_EVERY" ] || [ "$killed" -gt 0 ] || fail "no trainer was SIGKILLed while running"
grep -q "unanswered 0" "$T/hostile.out" || fail "malformed requests went unanswered"
if [ -n "$rss1" ] && [ "$rss2" -gt $((rss1 * 110 / 100)) ]; then
    fail "RssAnon grew more than 10% after the first minute ($rss1 -> $rss2 kB)"
fi
[ -n "$current" ] && [ "$served" = "$current" ] && [ "$answered" = "$current" ] ||
    fail "the final version $current is not the one served ($served, answered $answered)"
stop_server
finish
