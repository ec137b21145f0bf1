#!/usr/bin/env bash
# events_ab.sh - A/B outcomes through the real server (bench/ab_simulate.py):
# an experiment splits 2,000 users between "control", a Mult-VAE trained on
# the training file with its item ids shuffled (its lists carry no signal),
# and "candidate", trained on the real file; a synthetic click model clicks
# listed items that are the user's held-out test items more often. The
# report must show the candidate better with p < 0.05, and its figures must
# agree with what was sent (impressions = requests routed, users, events by
# type = attributed events, hits <= positive events) and with /metrics.
# (The A/A calibration over 200 seeds - 5% +- 3% declared different - is a
# unit test of the same statistics through the same counters:
# tests/unit/test_server_outcomes.c.)
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 2000 --items 300 >"$T/synth.log" 2>&1 ||
    skip "skipped: rectrain synth failed: $(tail -1 "$T/synth.log")"
# The control's data: every item id replaced by another, at random.
python3 - "$T/data/train.tsv" "$T/shuffled.tsv" <<'PY'
import random, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
head, rows = rows[0], rows[1:]
items = sorted({r[1] for r in rows})
perm = items[:]
random.Random(7).shuffle(perm)
m = dict(zip(items, perm))
with open(sys.argv[2], "w") as f:
    f.write("\t".join(head) + "\n")
    for r in rows:
        f.write("%s\t%s\n" % (r[0], m[r[1]]))
PY
train() { # VARIANT FILE
    "$RECTRAIN" --data "$2" --model vae --epochs 5 --hidden 64 --latent 16 --seed 1 --threads 1 \
        --progress off --store "$T/store" --variant "$1" >"$T/train-$1.log" 2>&1 ||
        skip "skipped: rectrain could not train $1: $(tail -1 "$T/train-$1.log")"
}
train control "$T/shuffled.tsv"
train candidate "$T/data/train.tsv"
cat >"$T/recserve.json" <<'JSON'
{"store": "store", "default_variant": "control",
 "experiments": [{"name": "ab", "salt": "ab-salt",
   "variants": [{"name": "control", "weight": 1}, {"name": "candidate", "weight": 1}]}]}
JSON
start_server --config "$T/recserve.json" --events-dir "$T/events" --impressions 100000

python3 bench/ab_simulate.py --base "$BASE" --test "$T/data/test.tsv" --experiment ab --seed 1 \
    --report-out "$T/report.json" >"$T/sim.out" 2>&1 || fail "the simulation failed: $(cat "$T/sim.out")"
cat "$T/sim.out"
curl -s "$BASE/metrics" >"$T/metrics"
python3 - "$T/report.json" "$T/metrics" <<'PY' || fail "the report (above)"
import json, sys
d = json.load(open(sys.argv[1]))
served, r = d["served"], d["report"]
metrics = {}
for line in open(sys.argv[2]):
    if line.startswith("recsys_outcome_"):
        k, v = line.rsplit(" ", 1)
        metrics[k] = float(v)
bad = []
arms = {v["variant"]: v for v in r["variants"]}
c, t = arms["control"], arms["candidate"]
if r["control"] != "control" or c["vs_control"] is not None:
    bad.append("the control is not the first variant")
if not (t["vs_control"]["p_value"] < 0.05 and t["vs_control"]["significant"]):
    bad.append("the candidate is not significantly better: %r" % t["vs_control"])
if not t["conversion_rate"] > c["conversion_rate"] or not t["vs_control"]["difference"] > 0:
    bad.append("the candidate does not convert more")
if not t["hit_rate"] > c["hit_rate"]:
    bad.append("the candidate's hit rate is not higher")
for name, v in arms.items():
    if v["impressions"] != served.get(name, 0) or v["users"] != served.get(name, 0):
        bad.append("%s: %d impressions, %d users for %d requests" % (name, v["impressions"], v["users"], served.get(name, 0)))
    if sum(v["events"].values()) != v["attributed_events"] or v["hits"] > v["positive_events"] \
            or v["positive_events"] != v["events"]["click"]:
        bad.append("%s: events by type do not add up" % name)
    if v["events"]["view"] != 10 * v["impressions"]:
        bad.append("%s: %d views for %d lists of 10" % (name, v["events"]["view"], v["impressions"]))
    lo, hi = v["conversion_ci95"]
    if not lo <= v["conversion_rate"] <= hi:
        bad.append("%s: the interval does not hold the rate" % name)
    for series, field in (("impressions", "impressions"), ("users", "users"),
                          ("converted_users", "converted_users"), ("hits", "hits"),
                          ("attributed_events", "attributed_events"), ("positive_events", "positive_events")):
        key = 'recsys_outcome_%s_total{experiment="ab",variant="%s"}' % (series, name)
        if metrics.get(key) != v[field]:
            bad.append("%s: /metrics %s = %r, the report %r" % (name, series, metrics.get(key), v[field]))
print("\n".join(bad) if bad else "report: the candidate wins (p = %.2g), figures consistent with /metrics"
      % t["vs_control"]["p_value"])
sys.exit(1 if bad else 0)
PY
stop_server
finish
