#!/usr/bin/env bash
# ops_monitoring.sh - the monitoring kit in deploy/ against a real server:
# the alert rules pass `promtool check rules` and their unit tests
# (`promtool test rules`), every Grafana panel's query parses (as a
# recording rule), every metric the rules and the dashboard name is one the
# server exports, and the server's /metrics passes `promtool check metrics`.
# Skips without promtool (Debian package prometheus).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need promtool

promtool check rules deploy/prometheus/recsys-alerts.yml >"$T/rules.log" 2>&1 ||
    fail "promtool check rules: $(cat "$T/rules.log")"
(cd deploy/prometheus && promtool test rules recsys-alerts.test.yml) >"$T/rtest.log" 2>&1 ||
    fail "promtool test rules: $(cat "$T/rtest.log")"
grep -h "SUCCESS" "$T/rules.log" "$T/rtest.log"

# Grafana's variables replaced by values, each query becomes a recording rule.
python3 - deploy/grafana/recsys-dashboard.json "$T/panels.yml" "$T/queries" <<'PY' || fail "dashboard JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["panels"] and d["uid"] and d["title"], "no panels, uid or title"
queries = []
for p in d["panels"]:
    assert p["targets"], "panel %r has no query" % p["title"]
    for t in p["targets"]:
        queries.append(t["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h")
                       .replace("$instance", ".*"))
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: panels\n    rules:\n")
    for i, q in enumerate(queries):
        out.write("      - record: panel_query_%d\n        expr: %s\n" % (i, json.dumps(q)))
open(sys.argv[3], "w").write("\n".join(queries) + "\n")
print("%d panels, %d queries" % (len(d["panels"]), len(queries)))
PY
promtool check rules "$T/panels.yml" >"$T/panels.log" 2>&1 ||
    fail "a dashboard query does not parse: $(cat "$T/panels.log")"

# A server with an experiment, so that every family of metrics is there.
make_store default candidate
cat >"$T/recserve.json" <<JSON
{"experiments": [{"name": "e", "salt": "s", "variants": [{"name": "default", "weight": 1}, {"name": "candidate", "weight": 1}]}]}
JSON
start_server --config "$T/recserve.json"
for u in 1 2 3 4 5; do curl -s -o /dev/null "$BASE/v1/users/u$u/recommendations"; done
curl -s "$BASE/metrics" >"$T/metrics"
promtool check metrics <"$T/metrics" >"$T/lint.log" 2>&1 || fail "promtool check metrics: $(cat "$T/lint.log")"
[ -s "$T/lint.log" ] && echo "promtool check metrics notes: $(head -5 "$T/lint.log")"
stop_server
exported=$(sed -n 's/^# TYPE \([a-z_:]*\) .*/\1/p' "$T/metrics" | sort -u)
used=$(cat "$T/queries" deploy/prometheus/recsys-alerts.yml | grep -o '\b\(recsys\|process\)_[a-z_]*' |
    sed 's/_\(bucket\|sum\|count\)$//' | sort -u)
missing=$(comm -13 <(echo "$exported") <(echo "$used"))
[ -z "$missing" ] || fail "the rules or the dashboard use metrics the server does not export: $missing"
echo "$(echo "$used" | wc -l) metric names used by the rules and the dashboard, all exported"
finish
