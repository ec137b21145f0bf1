#!/usr/bin/env bash
# ops_deploy.sh - static checks of deploy/: the systemd unit passes
# systemd-analyze verify (when available), the nginx snippet passes nginx -t
# (when available), the scripts parse, the Containerfile copies files that
# exist, and the example config starts a server that listens on loopback.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
checked=()

bash -n deploy/ship-store.sh || fail "deploy/ship-store.sh does not parse"
bash -n tests/tsan.sh || fail "tests/tsan.sh does not parse"
deploy/ship-store.sh --help >/dev/null 2>"$T/help"
[ $? -eq 2 ] && grep -q "STORE_LINK" "$T/help" || fail "ship-store.sh --help"

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$T/units"
    sed "s|/usr/local/bin/recserve|$PWD/$RECSERVE|" deploy/systemd/recserve@.service \
        >"$T/units/recserve@8081.service"
    (cd "$T/units" && systemd-analyze verify ./recserve@8081.service) >"$T/verify.log" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$T/verify.log")"
    grep -v "^$" "$T/verify.log" | grep -qv "Cannot add dependency\|Failed to .* bus" &&
        echo "systemd-analyze said: $(cat "$T/verify.log")"
    checked+=(systemd)
fi

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$NGINX" ]; then
    mkdir -p "$T/nginx/tmp"
    cat >"$T/nginx/nginx.conf" <<EOF
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events {}
http {
    client_body_temp_path $T/nginx/tmp/body;
    proxy_temp_path $T/nginx/tmp/proxy;
    fastcgi_temp_path $T/nginx/tmp/fastcgi;
    uwsgi_temp_path $T/nginx/tmp/uwsgi;
    scgi_temp_path $T/nginx/tmp/scgi;
    include $PWD/deploy/nginx/recsys.conf;
    include $T/nginx/recsys-tls.conf;
}
EOF
    # The TLS server with a test certificate and unprivileged ports.
    make_tls_cert
    cp deploy/nginx/recsys-proxy.conf "$T/nginx/"
    sed -e "s|/etc/recsys/tls/fullchain.pem|$T/tls/cert.pem|" \
        -e "s|/etc/recsys/tls/privkey.pem|$T/tls/key.pem|" \
        -e "s/listen 443 /listen 127.0.0.1:18443 /; s/listen \[::\]:443 /listen [::1]:18443 /" \
        -e "s/listen 80;/listen 127.0.0.1:18081;/; s/listen \[::\]:80;/listen [::1]:18081;/" \
        deploy/nginx/recsys-tls.conf >"$T/nginx/recsys-tls.conf"
    "$NGINX" -t -q -e "$T/nginx/error.log" -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx.log" 2>&1 ||
        fail "nginx -t: $(cat "$T/nginx.log")"
    checked+=(nginx)
fi

# Every COPY source of the Containerfile exists (build-stage paths aside).
awk '/^COPY / && !/--from=/ { for (i = 2; i < NF; i++) print $i }' deploy/Containerfile |
    while read -r src; do
        [ "$src" = . ] || [ -e "$src" ] || echo "missing $src"
    done >"$T/copy.log"
[ -s "$T/copy.log" ] && fail "Containerfile: $(cat "$T/copy.log")"
grep -q "OPT=-O2" deploy/Containerfile || fail "the Containerfile must not build with -march=native"

# The example config, pointed at a test store and without its token file,
# starts a server on the loopback address it names.
make_store default candidate
sed -e "s|\"/var/lib/recsys/store\"|\"$T/store\"|" -e '/"admin"/,/}/d' \
    -e 's|"listen": "127.0.0.1:8080"|"listen": "127.0.0.1:0"|' etc/recserve.json >"$T/example.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/example.json" ||
    fail "could not adapt etc/recserve.json"
rm -f "$T/port"
"$RECSERVE" --config "$T/example.json" --port-file "$T/port" 2>>"$T/server.log" &
SERVER_PID=$!
for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/server.log"; fail "the example config does not start"; finish; }
grep -q "listening on http://127.0.0.1:" "$T/server.log" || fail "not listening on loopback"
BASE=http://127.0.0.1:$(cat "$T/port")
req GET /v1/models
[ "$(jq_py 'len(d["experiments"])')" = 1 ] || fail "the example experiment is not loaded"
stop_server

# The image's entrypoint and config: no secret mounted, admin disabled; a
# token secret enables the admin routes.
sh -n deploy/container-entrypoint.sh || fail "deploy/container-entrypoint.sh does not parse"
[ -f .containerignore ] && grep -qx build .containerignore || fail ".containerignore does not leave out build/"
sed "s|/var/lib/recsys/store|$T/store|" deploy/container.json >"$T/container.json"
entry() { # entry TOKEN_FILE: the entrypoint as the image runs it, on loopback
    rm -f "$T/port"
    RECSERVE=$RECSERVE RECSYS_ADMIN_TOKEN_FILE=$1 sh deploy/container-entrypoint.sh \
        --config "$T/container.json" --listen 127.0.0.1:0 --port-file "$T/port" 2>>"$T/server.log" &
    SERVER_PID=$!
    for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
    BASE=http://127.0.0.1:$(cat "$T/port")
}
entry "$T/no-such-secret"
req POST /v1/admin/reload
WHAT="admin without a mounted secret" expect 403 admin_disabled
stop_server
(umask 077 && echo "container-secret-token-0123456789" >"$T/secret")
entry "$T/secret"
req POST /v1/admin/reload
WHAT="admin with a mounted secret, no token sent" expect 401 unauthorized
stop_server
echo "checked with: ${checked[*]:-no systemd-analyze, no nginx}"
finish
