# tests/integration/lib/server.sh - shared steps of the server_*.sh scenarios
# (sourced, not run): prerequisites, a small trained store, starting
# bin/recserve on a free loopback port, and curl helpers.
#
# Scenarios exit 0 (pass), 77 (skip; the reason is the last line printed) or
# 1 (fail). The server is always killed on exit.

BINDIR=${BINDIR:-bin}
RECSERVE=$BINDIR/recserve
RECTRAIN=$BINDIR/rectrain
T=$(mktemp -d "${TMPDIR:-/tmp}/recserve-test.XXXXXX")
SERVER_PID=
FAILS=0

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

skip() {
    echo "$*"
    exit 77
}

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || skip "skipped: $tool is not installed"
    done
}

need_binaries() {
    [ -x "$RECSERVE" ] || skip "skipped: $RECSERVE is not built"
    [ -x "$RECTRAIN" ] || skip "skipped: $RECTRAIN is not built"
    need curl python3
}

# run_fails EXPECTED_STATUS PATTERN ARGS...: recserve exits with the status
# and its stderr matches the pattern (an extended regular expression).
run_fails() {
    local want=$1 pattern=$2
    shift 2
    timeout 20 "$RECSERVE" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    [ $rc -eq "$want" ] || fail "recserve $*: exit $rc, expected $want ($(tail -1 "$T/err"))"
    grep -qE -- "$pattern" "$T/err" || fail "recserve $*: stderr lacks /$pattern/: $(cat "$T/err")"
}

# make_store [VARIANT...]: a synthetic data set and a small Mult-VAE per
# variant, published into $T/store. Sets DATA (the train file). With
# CATALOG=1 every version also carries an item catalogue ($T/data/items.jsonl:
# the n-th item id of the train file has category "a" when n is odd, "b"
# when n % 3 == 0, always "all", and a price n % 50).
make_store() {
    mkdir -p "$T/data"
    "$RECTRAIN" synth --out "$T/data" --users 300 --items 200 >"$T/synth.log" 2>&1 ||
        skip "skipped: 'rectrain synth' failed or is not available: $(tail -1 "$T/synth.log")"
    DATA=$T/data/train.tsv
    local items=()
    if [ -n "${CATALOG:-}" ]; then
        awk -F'\t' 'NR > 1 && !seen[$2]++ {
            n++; c = "\"all\""
            if (n % 2) c = c ",\"a\""
            if (n % 3 == 0) c = c ",\"b\""
            printf "{\"id\": \"%s\", \"categories\": [%s], \"price\": %d}\n", $2, c, n % 50
        }' "$DATA" >"$T/data/items.jsonl"
        items=(--items "$T/data/items.jsonl")
    fi
    local variants=("$@")
    [ ${#variants[@]} -gt 0 ] || variants=(default)
    local seed=1
    for v in "${variants[@]}"; do
        "$RECTRAIN" --data "$DATA" --test "$T/data/test.tsv" --model vae --epochs 2 \
            --hidden 32 --latent 8 --seed $seed --threads 1 --progress off "${items[@]}" \
            --store "$T/store" --variant "$v" >"$T/train-$v.log" 2>&1 ||
            skip "skipped: rectrain could not train/publish variant $v: $(tail -1 "$T/train-$v.log")"
        seed=$((seed + 1))
    done
}

# RECSYS_TLS=1 runs a scenario over HTTPS: start_server gives recserve a
# self-signed certificate for 127.0.0.1 (made with openssl), BASE becomes
# https://..., and curl and Python verify against it through CURL_CA_BUNDLE,
# SSL_CERT_FILE and RECSYS_TLS_CA (lib/rawhttp.py wraps its raw sockets).
tls_args=()
make_tls_cert() {
    [ -s "$T/tls/cert.pem" ] && return 0
    need openssl
    mkdir -p "$T/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" >"$T/tls/openssl.log" 2>&1 ||
        skip "skipped: openssl could not make a test certificate: $(tail -1 "$T/tls/openssl.log")"
    chmod 600 "$T/tls/key.pem"
    export CURL_CA_BUNDLE=$T/tls/cert.pem SSL_CERT_FILE=$T/tls/cert.pem RECSYS_TLS_CA=$T/tls/cert.pem
}
if [ "${RECSYS_TLS:-0}" = 1 ]; then
    make_tls_cert
    tls_args=(--tls-cert "$T/tls/cert.pem" --tls-key "$T/tls/key.pem")
fi
SCHEME=http
[ ${#tls_args[@]} -eq 0 ] || SCHEME=https

# start_server [ARGS...]: starts recserve on a free loopback port; sets PORT
# and BASE. Fails the scenario when it does not come up within 20 s (60 s
# under a wrapper). SERVER_WRAPPER (e.g. "valgrind -q") runs it under a tool.
start_server() {
    rm -f "$T/port"
    local limit=200
    [ -z "${SERVER_WRAPPER:-}" ] || limit=600
    # shellcheck disable=SC2086
    ${SERVER_WRAPPER:-} "$RECSERVE" --store "$T/store" --listen 127.0.0.1:0 --port-file "$T/port" --threads 2 \
        "${tls_args[@]}" "$@" 2>>"$T/server.log" &
    SERVER_PID=$!
    local i
    for i in $(seq $limit); do
        [ -s "$T/port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$T/port" ]; then
        echo "server did not start; its log:"
        cat "$T/server.log"
        exit 1
    fi
    PORT=$(cat "$T/port")
    BASE=$SCHEME://127.0.0.1:$PORT
}

# stop_server: SIGTERM, then the exit status must be 0 within 15 s (60 s
# under a wrapper).
stop_server() {
    kill -TERM "$SERVER_PID"
    local i rc limit=150
    [ -z "${SERVER_WRAPPER:-}" ] || limit=600
    for i in $(seq $limit); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        fail "server still running 15 s after SIGTERM"
        return
    fi
    wait "$SERVER_PID"
    rc=$?
    [ $rc -eq 0 ] || fail "server exited with status $rc after SIGTERM (expected 0)"
    SERVER_PID=
}

# req METHOD PATH [CURL ARGS...]: sets STATUS; body in $T/body, headers in
# $T/headers.
req() {
    local method=$1 path=$2
    shift 2
    STATUS=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 20 \
        -X "$method" "$@" "$BASE$path")
}

# post_json PATH BODY: POST with Content-Type application/json.
post_json() {
    req POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}

# expect STATUS [ERROR_CODE]: checks the last response.
expect() {
    local want=$1 code=${2:-} what=${WHAT:-request}
    if [ "$STATUS" != "$want" ]; then
        fail "$what: status $STATUS, expected $want; body: $(head -c 300 "$T/body")"
        return 1
    fi
    if [ -n "$code" ]; then
        # Bodies are compact JSON, so the code is found without a JSON tool.
        local got
        got=$(grep -o '"code":"[a-z_]*"' "$T/body" | head -1 | cut -d'"' -f4)
        if [ "$got" != "$code" ]; then
            fail "$what: error code '$got', expected '$code'; body: $(head -c 300 "$T/body")"
            return 1
        fi
    fi
    return 0
}

# header NAME: value of a header of the last response.
header() {
    grep -i "^$1:" "$T/headers" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

# jq_py EXPR: evaluates a Python expression with d = the last JSON body.
jq_py() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$T/body"
}

# beats_popularity NAME CSV: the last ndcg@50 of a --metrics-out CSV is at
# least 1.2x what --model popularity scores on $T/data's split.
beats_popularity() {
    "$RECTRAIN" --data "$T/data/train.tsv" --test "$T/data/test.tsv" --model popularity \
        --epochs 1 --threads 1 --progress off --metrics-out "$T/pop.csv" 2>/dev/null
    local ndcg='NR == 1 { for (i = 1; i <= NF; i++) if ($i == "ndcg@50") c = i } END { print $c }'
    local got pop
    got=$(awk -F, "$ndcg" "$2"); pop=$(awk -F, "$ndcg" "$T/pop.csv")
    echo "ndcg@50: $1 $got, popularity $pop"
    awk -v a="$got" -v b="$pop" 'BEGIN { exit !(a > 1.2 * b) }' || fail "$1 does not beat popularity"
}

# The load generator (tests/tools/loadgen) for scenarios under load.
# need_loadgen: skips without it, and kills a running load on exit.
LOAD_PID=
need_loadgen() {
    LOADGEN=${LOADGEN:-${BUILD:-build}/tools/loadgen}
    [ -x "$LOADGEN" ] || skip "skipped: $LOADGEN is not built"
    trap '[ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null; cleanup' EXIT
}

# start_load SECONDS [LOADGEN ARGS...]: 4 keep-alive connections asking
# known users' recommendations (or the path given) in the background, its
# summary in $T/load.out.
start_load() {
    local seconds=$1
    shift
    "$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=10' --users 300 \
        --connections 4 --duration "$seconds" "$@" >"$T/load.out" 2>"$T/load.err" &
    LOAD_PID=$!
}

# stop_load MIN_REQUESTS WHAT: stops it, prints its summary, and fails the
# scenario unless no request failed and at least MIN_REQUESTS were made.
# Sets LOAD_REQUESTS. loadgen's "version VARIANT N FIRST LAST COUNT" lines
# say when each version answered (load_seen).
stop_load() {
    kill -INT "$LOAD_PID"
    wait "$LOAD_PID"
    LOAD_PID=
    cat "$T/load.out"
    local failed
    failed=$(awk '$1 == "failed" { print $2 }' "$T/load.out")
    LOAD_REQUESTS=$(awk '$1 == "requests" { print $2 }' "$T/load.out")
    [ "$failed" = 0 ] || fail "$failed of $LOAD_REQUESTS requests failed $2"
    [ "${LOAD_REQUESTS:-0}" -gt "$1" ] || fail "only ${LOAD_REQUESTS:-0} requests were made $2"
}

# load_seen VERSION FIELD SINCE: seconds from SINCE to when the load first
# (FIELD 4) or last (FIELD 5) saw variant default at VERSION; empty: never.
load_seen() {
    awk -v v="$1" -v f="$2" -v t="$3" \
        '$1 == "version" && $2 == "default" && $3 == v { printf "%.3f", $f - t }' "$T/load.out"
}

# start_nginx DIR LB_PORT: runs nginx (unprivileged: as root it drops to
# nobody) with DIR/recsys.conf, an adapted deploy/nginx/recsys.conf listening
# on LB_PORT, beside the shipped recsys-proxy.conf. Waits until it answers
# /readyz 200 (else fails the scenario); sets NGINX_PID and LB.
start_nginx() {
    local n=$1
    NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
    mkdir -p "$n/tmp"
    cp deploy/nginx/recsys-proxy.conf "$n/"
    cat >"$n/nginx.conf" <<EOF
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    include $n/recsys.conf;
}
EOF
    # Unprivileged: as root, drop to nobody (it must reach and own its files).
    local run_as=()
    if [ "$(id -u)" = 0 ]; then
        command -v setpriv >/dev/null || skip "skipped: running as root without setpriv to drop privileges"
        chmod 711 "$T"
        chown -R 65534:65534 "$n"
        run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    fi
    "${run_as[@]}" "$NGINX" -e "$n/error.log" -p "$n" -c "$n/nginx.conf" -t >"$T/nginx-t.log" 2>&1 ||
        { cat "$T/nginx-t.log"; fail "nginx -t refuses the configuration"; finish; }
    "${run_as[@]}" "$NGINX" -e "$n/error.log" -p "$n" -c "$n/nginx.conf" -g 'daemon off;' \
        >>"$T/nginx.out" 2>&1 &
    NGINX_PID=$!
    LB=http://127.0.0.1:$2
    for _ in $(seq 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$LB/readyz")" = 200 ] && break
        sleep 0.1
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$LB/readyz")" = 200 ] ||
        { cat "$n/error.log" "$T/nginx.out"; fail "nginx does not answer"; finish; }
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS check(s) failed; server log:"
        tail -20 "$T/server.log"
        exit 1
    fi
    echo "all checks passed"
    exit 0
}
