#!/usr/bin/env bash
# store_readonly.sh - a replica that may only read the store (files owned by
# the publishing user, a read-only mount): recserve opens it without LMDB's
# lock file, says so in the log, and serves; an unreadable data.mdb is an
# error that names data.mdb, not the map size. Runs the server as user
# nobody when started as root (root ignores file modes), else relies on the
# modes alone.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
if [ "$(id -u)" = 0 ]; then
    need setpriv
    AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    id nobody >/dev/null 2>&1 || skip "skipped: no user nobody to run the server as"
else
    AS=()
fi

make_store
chmod 755 "$T"
cp "$RECSERVE" "$T/recserve"
chmod 644 "$T"/store/*
rm -f "$T/store/lock.mdb"
chmod 555 "$T/store"
RECSERVE=("${AS[@]}" "$T/recserve")

trap 'chmod -R u+w "$T" 2>/dev/null; cleanup' EXIT
run_as() { # run_as ARGS...: the server as the reading user, briefly
    timeout 20 "${RECSERVE[@]}" "$@" >"$T/out" 2>"$T/err"
}

# Serves, and says it reads without the lock file.
# The port file must be writable by the reading user: a directory of its own.
mkdir -p "$T/run" && chmod 777 "$T/run"
"${RECSERVE[@]}" --store "$T/store" --listen 127.0.0.1:0 --port-file "$T/run/port" \
    >/dev/null 2>"$T/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
    [ -s "$T/run/port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
[ -s "$T/run/port" ] || { cat "$T/server.log"; fail "recserve did not start on a read-only store"; finish; }
BASE=http://127.0.0.1:$(cat "$T/run/port")
req GET /v1/users/u1/recommendations
WHAT="a recommendation from a read-only store" expect 200
grep -q "lock.mdb is not writable by this process: reading without LMDB's lock file" "$T/server.log" ||
    fail "the log does not say the store is read without its lock file: $(cat "$T/server.log")"
[ ! -e "$T/store/lock.mdb" ] || fail "a lock.mdb appeared in the read-only store"
stop_server

# Unreadable data: the error names the file.
chmod 755 "$T/store"
chmod 600 "$T/store/data.mdb"
if [ ${#AS[@]} -gt 0 ]; then
    run_as --store "$T/store" --listen 127.0.0.1:0
    rc=$?
    [ $rc -ne 0 ] || fail "recserve started on an unreadable data.mdb"
    grep -q "cannot read data.mdb: Permission denied" "$T/err" ||
        fail "unreadable data.mdb: the error does not name it: $(cat "$T/err")"
fi
chmod 644 "$T/store/data.mdb"
finish
