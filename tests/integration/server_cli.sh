#!/usr/bin/env bash
# server_cli.sh - recserve's command line: --help, clear start-up errors
# (missing store, store without a loadable variant, bad port, unknown
# default variant), the default-variant rule with several variants, a broken
# variant skipped while the others serve, and explicit variant selection.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries

"$RECSERVE" --help >"$T/help" || fail "--help failed"
for opt in --store --listen --threads --max-body --timeout --max-connections --default-variant \
    --max-n --max-history --max-exclude --shutdown-grace --no-verify --port-file --log-level \
    --print-routes --version --help --retrieval --midx-k --midx-budget; do
    grep -qe "$opt" "$T/help" || fail "--help does not document $opt"
done
"$RECSERVE" --version | grep -q '^recserve ' || fail "--version"

run_fails 2 "--store DIR is required"
run_fails 2 "unknown option --bogus" --store x --bogus
run_fails 1 "No such file or directory" --store "$T/no-such-store"
mkdir -p "$T/empty"
run_fails 1 "no store" --store "$T/empty"

make_store alpha beta
run_fails 2 "port must be a number" --store "$T/store" --listen 127.0.0.1:70000
run_fails 2 "port must be a number" --store "$T/store" --listen 127.0.0.1:http
run_fails 2 "bad address" --store "$T/store" --listen nosuchhost:80
run_fails 1 "--default-variant gamma: no such variant" --store "$T/store" --listen 127.0.0.1:0 \
    --default-variant gamma
# A port already taken.
start_server
run_fails 1 "could not start" --store "$T/store" --listen "127.0.0.1:$PORT"

# Two variants, neither named "default": the first by name is the default.
WHAT="default variant"; req GET /readyz
expect 200 && { [ "$(jq_py 'd["default_variant"]')" = alpha ] || fail "$WHAT: $(cat "$T/body")"; }
USER_ID=$(awk -F'\t' 'NR > 1 { print $1; exit }' "$DATA")
WHAT="variant=beta"; req GET "/v1/users/$USER_ID/recommendations?variant=beta&n=3"
expect 200 && { [ "$(header X-Recsys-Variant)" = beta ] || fail "$WHAT: header $(header X-Recsys-Variant)"; }
WHAT="no variant"; req GET "/v1/users/$USER_ID/recommendations?n=3"
expect 200 && { [ "$(header X-Recsys-Variant)" = alpha ] || fail "$WHAT: header $(header X-Recsys-Variant)"; }
WHAT="models"; req GET /v1/models
expect 200 && { [ "$(jq_py '",".join(m["variant"] for m in d["models"])')" = alpha,beta ] || fail "$WHAT"; }
stop_server

# --default-variant picks another one.
start_server --default-variant beta
WHAT="--default-variant beta"; req GET /readyz
expect 200 && { [ "$(jq_py 'd["default_variant"]')" = beta ] || fail "$WHAT"; }
stop_server

# A variant named "default" wins; a broken variant is skipped, not fatal.
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 16 --latent 4 --threads 1 \
    --progress off --store "$T/store" --variant default >"$T/train-default.log" 2>&1 ||
    skip "skipped: could not train the 'default' variant: $(tail -1 "$T/train-default.log")"
if [ -x "${BUILD:-build}/tools/store_tool" ]; then
    "${BUILD:-build}/tools/store_tool" publish "$T/store" broken 2 >/dev/null ||
        fail "store_tool could not publish the broken variant"
fi
start_server
WHAT="variant named default"; req GET /readyz
expect 200 && { [ "$(jq_py 'd["default_variant"]')" = default ] || fail "$WHAT"; }
WHAT="broken variant"; req GET /v1/models
expect 200 && { [ "$(jq_py 'len(d["models"])')" = 3 ] || fail "$WHAT: $(jq_py '[m["variant"] for m in d["models"]]')"; }
if [ -x "${BUILD:-build}/tools/store_tool" ]; then
    grep -q "skipping variant broken" "$T/server.log" || fail "no log line about the broken variant"
    WHAT="broken variant asked for"; req GET "/v1/users/$USER_ID/recommendations?variant=broken"
    expect 404 unknown_variant
fi
stop_server

# --map-size: the store's map is that much address space, not 64 GiB.
if [ -r /proc/self/status ]; then
    start_server --map-size 256M
    WHAT="--map-size 256M"; req GET /readyz; expect 200
    # The size of data.mdb's mapping itself (VmSize would count a
    # sanitizer's shadow memory, terabytes under ASan).
    map=$(python3 -c '
import sys
total = 0
for line in open("/proc/%s/maps" % sys.argv[1]):
    fields = line.split()
    if fields[-1].endswith("/data.mdb"):
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        total += hi - lo
print(total)' "$SERVER_PID")
    [ "${map:-0}" -gt 0 ] && [ "$map" -le $((256 << 20)) ] ||
        fail "$WHAT: data.mdb is mapped over ${map:-?} bytes (a 64 GiB map was not replaced)"
    stop_server
fi

# --check-config: valid files pass without a store or a port; the first
# error exits 2 and names the field; a missing token file is an error.
(umask 077 && echo "check-config-token-0123456789" >"$T/token")
cat >"$T/check.json" <<EOF
{"store": "$T/no-store-needed", "variants": ["a", "b"], "admin": {"token_file": "$T/token"},
 "experiments": [{"name": "e", "salt": "s", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}]}
EOF
timeout 20 "$RECSERVE" --config "$T/check.json" --check-config --listen 127.0.0.1:1 >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] || fail "--check-config of a valid file: exit $rc: $(cat "$T/err")"
grep -q "config valid: .*(http), listed variants, 1 experiment(s), 0 pin(s), admin enabled" "$T/out" ||
    fail "--check-config summary: $(cat "$T/out")"
sed 's/"weight": 1}]/"weight": 0}]/' "$T/check.json" >"$T/check-bad.json"
run_fails 2 'experiments\[0\] \(e\)\.variants\[1\]\.weight' --config "$T/check-bad.json" --check-config
rm "$T/token"
run_fails 2 'token.*No such file' --config "$T/check.json" --check-config
finish
