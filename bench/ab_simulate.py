#!/usr/bin/env python3
"""ab_simulate.py - drives an A/B experiment on a running recserve with a
synthetic click model, then prints the experiment's report.

Every user of the test file asks GET /v1/users/{user}/recommendations (the
experiment assigns the variant); the simulated user views each listed item
and clicks it with probability --hit-click when it is one of their held-out
test items, else --base-click. Views and clicks go back through
POST /v1/events with the answer's request_id, so the server attributes them
to the variant that served the list. Besides, each test item the list did
not show is clicked with probability --organic-click (found elsewhere; a
click that is not a hit). A variant whose lists hold more of the users'
test items is truly better under this model.

    ab_simulate.py --base http://127.0.0.1:8080 --test test.tsv --experiment ab
                   [--seed 1] [--n 10] [--base-click 0.01] [--hit-click 0.6]
                   [--organic-click 0.05]
                   [--report-out FILE]

Prints one line per variant (users, conversion rate and interval, hit rate,
p value against the control) and writes the report JSON to --report-out.
"""
import argparse
import json
import random
import sys
import urllib.parse
import urllib.request


def call(base, path, body=None):
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--test", required=True, help="user<TAB>item lines of held-out items")
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--base-click", type=float, default=0.01)
    ap.add_argument("--hit-click", type=float, default=0.6)
    ap.add_argument("--organic-click", type=float, default=0.05)
    ap.add_argument("--report-out")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    held = {}
    for k, line in enumerate(open(a.test)):
        parts = line.rstrip("\n").split("\t")
        if k == 0 and parts[0] == "user":
            continue
        held.setdefault(parts[0], set()).add(parts[1])
    pending = []
    served = {}
    for user in sorted(held):
        d = call(a.base, "/v1/users/%s/recommendations?n=%d" % (urllib.parse.quote(user), a.n))
        served[d["variant"]] = served.get(d["variant"], 0) + 1
        listed = [x["id"] for x in d["items"]]
        for item in sorted(held[user] - set(listed)):
            if rng.random() < a.organic_click:
                pending.append({"user": user, "item": item, "type": "click", "request_id": d["request_id"]})
        for item in listed:
            pending.append({"user": user, "item": item, "type": "view", "request_id": d["request_id"]})
            p = a.hit_click if item in held[user] else a.base_click
            if rng.random() < p:
                pending.append({"user": user, "item": item, "type": "click", "request_id": d["request_id"]})
        while len(pending) >= 500:
            call(a.base, "/v1/events", {"events": pending[:500]})
            del pending[:500]
    if pending:
        call(a.base, "/v1/events", {"events": pending})
    report = call(a.base, "/v1/experiments/%s/report" % a.experiment)
    for v in report["variants"]:
        vs = v["vs_control"]
        print("%-10s users %5d  conversion %.3f [%.3f, %.3f]  hit rate %.3f  %s" % (
            v["variant"], v["users"], v["conversion_rate"] or 0, *(v["conversion_ci95"] or [0, 0]),
            v["hit_rate"] or 0,
            "control" if vs is None else "p = %.3g vs control%s" % (vs["p_value"], " (significant)" if vs["significant"] else "")))
    if a.report_out:
        json.dump({"served": served, "report": report}, open(a.report_out, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
