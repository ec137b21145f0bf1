#!/usr/bin/env bash
# ops_reload.sh - hot reload under load: while a load generator keeps 4
# keep-alive connections busy, 20 new versions are published one after
# another. Checks: no request fails, every version is answering (response
# headers) within 2 s of its publish, the server's resident memory after the
# 20th reload is within 10% of after the 1st, and the reload counters agree.
#
# TSAN_CHECK=1 (tests/tsan.sh) only runs the scenario and leaves the race
# verdict to the caller; RELOADS=N changes the number of versions.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need_loadgen
RELOADS=${RELOADS:-20}

make_store
start_server --reload-interval 0.25 ${SERVER_ARGS:-}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# serving_version: the default variant's version as /readyz reports it.
serving_version() {
    curl -s --max-time 5 "$BASE/readyz" | sed -n 's/.*"version":\([0-9]*\).*/\1/p'
}

# publish SEED: trains and publishes a new version; sets VERSION and PUBLISHED
# (Unix time when rectrain returned, i.e. just after the commit).
publish() {
    "$RECTRAIN" --data "$DATA" --test "$T/data/test.tsv" --model vae --epochs 1 --hidden 32 \
        --latent 8 --seed "$1" --threads 1 --progress off --store "$T/store" --variant default \
        --keep 3 >"$T/publish.log" 2>&1 || { cat "$T/publish.log"; exit 1; }
    PUBLISHED=$(date +%s.%N)
    VERSION=$(sed -n 's/.*published [^ ]* version \([0-9]*\) .*/\1/p' "$T/publish.log" | tail -1)
    [ -n "$VERSION" ] || { echo "no version in: $(cat "$T/publish.log")"; exit 1; }
}

# wait_serving V: up to 5 s for /readyz to report version V.
wait_serving() {
    local i
    for i in $(seq 100); do
        [ "$(serving_version)" = "$1" ] && return 0
        sleep 0.05
    done
    fail "version $1 is not served 5 s after its publish (serving $(serving_version))"
    return 1
}

start_load 100
sleep 0.5

declare -A PUBLISHED_AT
RSS_FIRST= RSS_LAST=
start=$SECONDS
for k in $(seq "$RELOADS"); do
    publish $((100 + k))
    PUBLISHED_AT[$VERSION]=$PUBLISHED
    wait_serving "$VERSION" || break
    # Let the previous version's last requests finish before measuring.
    [ -n "${RSS_TRACE:-}" ] && echo "reload $k: VmRSS $(rss_kb) kB, $(grep -E "^(RssAnon|RssFile)" /proc/$SERVER_PID/status | tr -s " \t" " " | tr "\n" " ")"
    if [ "$k" = 1 ]; then sleep 0.3; RSS_FIRST=$(rss_kb); fi
    if [ "$k" = "$RELOADS" ]; then sleep 0.3; RSS_LAST=$(rss_kb); fi
done
echo "published $RELOADS versions in $((SECONDS - start)) s"
sleep 0.5
# No failed request; the load really ran.
stop_load 1000 "during the reloads"

# Every published version answered within 2 s of its publish.
worst=0
for v in "${!PUBLISHED_AT[@]}"; do
    first=$(awk -v v="$v" '$1 == "version" && $2 == "default" && $3 == v { print $4 }' "$T/load.out")
    if [ -z "$first" ]; then
        fail "version $v never answered a load-generator request"
        continue
    fi
    lag=$(echo "$first ${PUBLISHED_AT[$v]}" | awk '{ printf "%.3f", $1 - $2 }')
    awk -v l="$lag" 'BEGIN { exit !(l <= 2.0) }' || fail "version $v first answered $lag s after its publish"
    worst=$(echo "$worst $lag" | awk '{ print ($2 > $1) ? $2 : $1 }')
done
echo "slowest publish-to-first-answer: ${worst} s over ${#PUBLISHED_AT[@]} versions"

# Resident memory after the last reload within 10% of after the first.
# Sanitizer runtimes keep freed memory in quarantine: skip it there.
if [ -z "${TSAN_CHECK:-}" ] && ! nm -D "$RECSERVE" 2>/dev/null | grep -q __asan_init &&
    ! ldd "$RECSERVE" 2>/dev/null | grep -q 'lib[at]san'; then
    echo "VmRSS after reload 1: ${RSS_FIRST} kB, after reload $RELOADS: ${RSS_LAST} kB"
    awk -v a="${RSS_FIRST:-0}" -v b="${RSS_LAST:-0}" 'BEGIN { exit !(a > 0 && b <= a * 1.10 && b >= a * 0.90) }' ||
        fail "VmRSS grew from ${RSS_FIRST} kB to ${RSS_LAST} kB (more than 10%)"
else
    echo "VmRSS check skipped (sanitizer build): ${RSS_FIRST} kB -> ${RSS_LAST} kB"
fi

# The counters agree: the initial load plus one load per publish, no refusal.
req GET /metrics
loaded=$(sed -n 's/^recsys_model_reloads_total{variant="default",result="loaded"} //p' "$T/body")
refused=$(sed -n 's/^recsys_model_reloads_total{variant="default",result="refused"} //p' "$T/body")
[ "$loaded" = $((RELOADS + 1)) ] || fail "recsys_model_reloads_total loaded=$loaded, expected $((RELOADS + 1))"
[ "$refused" = 0 ] || fail "recsys_model_reloads_total refused=$refused, expected 0"
grep -q '^recsys_model_version{variant="default"} '"$VERSION"'$' "$T/body" ||
    fail "recsys_model_version is not $VERSION"
stop_server
finish
