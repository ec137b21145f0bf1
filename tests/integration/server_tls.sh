#!/usr/bin/env bash
# server_tls.sh - HTTPS (libmicrohttpd with GnuTLS): recserve with
# --tls-cert/--tls-key answers over TLS with a test certificate made by
# openssl, refuses to start on a missing, mismatched or non-PEM key with a
# clear message, and the API, edge and hostile-client scenarios pass over
# TLS too (each re-run with RECSYS_TLS=1, see lib/server.sh).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need openssl
make_tls_cert
make_store
start_server --tls-cert "$T/tls/cert.pem" --tls-key "$T/tls/key.pem"
BASE=https://127.0.0.1:$PORT
req GET /v1/users/u1/recommendations
WHAT="a recommendation over HTTPS" expect 200
grep -q "listening on https://127.0.0.1:" "$T/server.log" || fail "the log does not say https"
got=$(curl -s -o /dev/null -w '%{ssl_verify_result} %{http_version}' "$BASE/healthz")
[ "$got" = "0 1.1" ] || fail "certificate verification / HTTP version over TLS: $got"
# Plain HTTP to the HTTPS port gets no HTTP answer.
plain=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/healthz")
[ "$plain" = 000 ] || fail "plain HTTP to the HTTPS port answered $plain"
stop_server

# Bad TLS settings stop the start with exit 2 (options) or 1 (files).
run_fails 2 "--tls-cert and --tls-key go together" --store "$T/store" --tls-cert "$T/tls/cert.pem"
run_fails 1 "TLS: .*nosuch.pem: No such file" --store "$T/store" --tls-cert "$T/tls/cert.pem" \
    --tls-key "$T/nosuch.pem"
echo "not a key" >"$T/notkey.pem"
run_fails 1 "holds no PEM private key" --store "$T/store" --tls-cert "$T/tls/cert.pem" \
    --tls-key "$T/notkey.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=other -keyout "$T/other.key" -out "$T/other.pem" >/dev/null 2>&1
chmod 600 "$T/other.key"
run_fails 1 "could not start the HTTPS server" --store "$T/store" --listen 127.0.0.1:0 \
    --tls-cert "$T/tls/cert.pem" --tls-key "$T/other.key"

# The other scenarios, over TLS.
for scenario in server_api server_edge server_hostile; do
    if RECSYS_TLS=1 bash "tests/integration/$scenario.sh" >"$T/$scenario.log" 2>&1; then
        echo "$scenario over TLS: $(tail -1 "$T/$scenario.log")"
    else
        fail "$scenario over TLS: $(grep -E '^FAIL' "$T/$scenario.log" | head -3)"
    fi
done
finish
