#!/usr/bin/env bash
# ops_ab.sh - experiments on one server: the config file is validated at
# start with clear errors; users and anonymous session keys are assigned
# stably; an explicit variant overrides; responses and /metrics say which
# variant and experiment served; GET /v1/users/{id}/assignment explains it;
# an experiment not yet started or naming an unpublished variant falls back
# to the default variant.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
make_store control candidate

# --- start-up validation: exit 2 and a message naming the problem --------
bad_config() { # EXPECTED_PATTERN JSON
    printf '%s\n' "$2" >"$T/bad.json"
    timeout 20 "$RECSERVE" --config "$T/bad.json" --listen 127.0.0.1:0 >"$T/out" 2>"$T/err"
    local rc=$?
    [ $rc -eq 2 ] || fail "config $2: exit $rc, expected 2 ($(tail -1 "$T/err"))"
    grep -qF -- "$1" "$T/err" || fail "config $2: stderr lacks '$1': $(cat "$T/err")"
}
EXP='"experiments":[{"name":"e","salt":"s","variants":[{"name":"control","weight":1}]}]'
bad_config 'unknown field "experiment"' '{"store":"store","experiment":[]}'
bad_config 'unknown variant "nope"' '{"store":"store","variants":["control"],"experiments":[{"name":"e","salt":"s","variants":[{"name":"nope","weight":1}]}]}'
bad_config 'not a positive number' '{"store":"store","experiments":[{"name":"e","salt":"s","variants":[{"name":"control","weight":0}]}]}'
bad_config 'duplicate experiment name' "{\"store\":\"store\",\"experiments\":[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"control\",\"weight\":1}]},{\"name\":\"e\",\"salt\":\"t\",\"variants\":[{\"name\":\"control\",\"weight\":1}]}]}"
bad_config 'duplicate variant "control"' '{"store":"store","variants":["control","control"]}'
bad_config 'not an RFC 3339' '{"store":"store","experiments":[{"name":"e","salt":"s","start":"tomorrow","variants":[{"name":"control","weight":1}]}]}'
bad_config 'is not after start' '{"store":"store","experiments":[{"name":"e","salt":"s","start":"2026-01-02T00:00:00Z","end":"2026-01-01T00:00:00Z","variants":[{"name":"control","weight":1}]}]}'
bad_config 'bad.json:2:0: string or' '{"store":"store",'
timeout 20 "$RECSERVE" --config "$T/missing.json" >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q "missing.json: No such file" "$T/err" || fail "a missing config file: $(cat "$T/err")"
printf '{"store":"store","admin":{"token_file":"short.token"}}\n' >"$T/tok.json"
echo short >"$T/short.token"
timeout 20 "$RECSERVE" --config "$T/tok.json" --listen 127.0.0.1:0 >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && grep -q "16..4096" "$T/err" || fail "a weak admin token is not refused: $(cat "$T/err")"

# --- a running experiment ----------------------------------------------------
cat >"$T/recserve.json" <<'EOF'
{
  "store": "store",
  "listen": "127.0.0.1:1",
  "variants": ["control", "candidate", "unpublished"],
  "default_variant": "control",
  "experiments": [
    {"name": "later", "salt": "later-salt", "start": "2999-01-01T00:00:00Z",
     "variants": [{"name": "candidate", "weight": 1}]},
    {"name": "split", "salt": "split-salt", "share": 0.5,
     "variants": [{"name": "control", "weight": 1}, {"name": "candidate", "weight": 1}]},
    {"name": "ghost", "salt": "ghost-salt",
     "variants": [{"name": "unpublished", "weight": 1}]}
  ]
}
EOF
# --listen on the command line overrides the file's (unusable) port 1.
rm -f "$T/port"
"$RECSERVE" --config "$T/recserve.json" --listen 127.0.0.1:0 --port-file "$T/port" --threads 2 \
    2>>"$T/server.log" &
SERVER_PID=$!
for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/server.log"; exit 1; }
PORT=$(cat "$T/port")
BASE=http://127.0.0.1:$PORT
grep -q "variant unpublished (from the config) has no published version yet" "$T/server.log" ||
    fail "no warning about the unpublished variant"

# Half the users are in "split" (control or candidate), the other half fall
# through to "ghost", whose variant is not published: they get the default.
# (One Python process does the 200 users' requests: much faster than a
# process per request.)
python3 - "$BASE" >"$T/users.out" 2>&1 <<'PY' || fail "per-user checks: $(cat "$T/users.out")"
import json, sys, urllib.request
base = sys.argv[1]
def get(path, body=None):
    req = urllib.request.Request(base + path, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.headers, json.load(r)
counts = {"split": 0, "ghost": 0, "candidate": 0}
for u in range(1, 201):
    user = f"u{u}"
    _, a = get(f"/v1/users/{user}/assignment")
    exp, var = a["experiment"], a["variant"]
    assert exp in ("split", "ghost"), f"{user}: {a}"
    counts[exp] += 1
    if exp == "split":
        assert var == a["assigned_variant"] and not a["fell_back"], f"{user}: {a}"
        counts["candidate"] += var == "candidate"
    else:
        assert var == "control" and a["fell_back"], f"{user}: ghost users fall back: {a}"
    # The recommendation goes to the same variant and says why, on GET and POST.
    h, r = get(f"/v1/users/{user}/recommendations?n=2")
    assert h["X-Recsys-Variant"] == var and r["variant"] == var, f"{user}: {h['X-Recsys-Variant']} vs {var}"
    assert r["experiment"] == exp, f"{user}: body experiment {r['experiment']}, expected {exp}"
    h, r = get("/v1/recommend", {"user": user, "history": ["i1", "i2"], "n": 2})
    assert h["X-Recsys-Variant"] == var, f"{user}: POST answered by {h['X-Recsys-Variant']}"
    print(user, exp, var)
print(f"200 users: {counts['split']} in split ({counts['candidate']} candidate), "
      f"{counts['ghost']} fell through to ghost")
assert 70 < counts["split"] < 130, "share 0.5"
assert 20 < counts["candidate"] < counts["split"] - 20, "split 50/50"
PY
tail -1 "$T/users.out"
GHOST_USER=$(awk '$2 == "ghost" { print $1; exit }' "$T/users.out")

# Anonymous callers: the session key decides, stably; no key: the default.
for s in a b c d e f g h; do
    post_json /v1/recommend "{\"history\":[\"i1\",\"i5\"],\"session\":\"sess-$s\"}"
    first=$(header X-Recsys-Variant)
    post_json /v1/recommend "{\"history\":[\"i9\"],\"session\":\"sess-$s\"}"
    [ "$(header X-Recsys-Variant)" = "$first" ] || fail "session sess-$s changed variant"
    req GET "/v1/users/sess-$s/assignment"
    grep -q "\"variant\":\"$first\"" "$T/body" || fail "session sess-$s: assignment disagrees"
done
post_json /v1/recommend '{"history":["i1"]}'
[ "$(header X-Recsys-Variant)" = control ] && grep -q '"experiment":null' "$T/body" ||
    fail "a keyless request is not served by the default variant"

# An explicit variant overrides the experiment (QA).
for u in 1 2 3 4 5 6; do
    req GET "/v1/users/u$u/recommendations?variant=candidate"
    [ "$(header X-Recsys-Variant)" = candidate ] && grep -q '"experiment":null' "$T/body" ||
        fail "u$u: variant=candidate not honoured"
done

# /v1/models lists the experiments; /metrics labels by variant.
WHAT=models; req GET /v1/models
expect 200 && {
    got=$(jq_py '[(e["name"], e["active"]) for e in d["experiments"]], d["experiments"][1]["variants"][1]["buckets"], d["admin"]')
    [ "$got" = "[('later', False), ('split', True), ('ghost', True)] [5000, 10000] disabled" ] ||
        fail "$WHAT: experiments, buckets or admin: $got"
}
req GET /metrics
for v in control candidate; do
    grep -q "^recsys_http_requests_total{route=\"/v1/users/{id}/recommendations\",status=\"200\",variant=\"$v\"} " "$T/body" ||
        fail "no request series labelled variant=$v"
done
grep -q '^recsys_ab_assignments_total{experiment="split",variant="candidate"} [1-9]' "$T/body" ||
    fail "no assignment counter for split/candidate"
grep -q '^recsys_ab_fallbacks_total{experiment="ghost",variant="unpublished"} [1-9]' "$T/body" ||
    fail "no fallback counter for ghost"

# Publishing the missing variant: the watcher loads it and its users move.
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 16 --latent 4 --threads 1 \
    --progress off --store "$T/store" --variant unpublished >"$T/train-u.log" 2>&1 ||
    skip "skipped: could not train variant unpublished"
for i in $(seq 60); do
    req GET "/v1/users/$GHOST_USER/recommendations"
    [ "$(header X-Recsys-Variant)" = unpublished ] && break
    sleep 0.05
done
[ "$(header X-Recsys-Variant)" = unpublished ] || fail "$GHOST_USER still not served by the newly published variant"
stop_server
finish
