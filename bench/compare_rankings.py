#!/usr/bin/python3
"""Compares what a running recserve serves for known users with the trainer's
own ranking (rectrain --rankings-out FILE): same top-N items in the same order
(up to swaps of scores within TOL) and every score within TOL. An item-item
model's popularity fill-up (the last retrieval.filled items, server/recommend.h)
carries popularity counts as scores, not the trainer's: those items are
compared by id and order only.

usage: compare_rankings.py BASE_URL RANKINGS.jsonl [--tol 1e-4] [--users N]
(--users: fail unless exactly N users were compared)
"""
import json, sys, urllib.parse, urllib.request

def main():
    base, path = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
    expect = int(sys.argv[sys.argv.index("--users") + 1]) if "--users" in sys.argv else None
    users = differ = 0
    worst = 0.0
    for line in open(path):
        want = json.loads(line)
        n = len(want["items"])
        url = "%s/v1/users/%s/recommendations?n=%d" % (base, urllib.parse.quote(want["user"], safe=""), n)
        got = json.load(urllib.request.urlopen(url, timeout=30))
        users += 1
        served = [(x["id"], x["score"]) for x in got["items"]]
        ref = dict(zip(want["items"], want["scores"]))
        ok = got.get("fallback") is None and len(served) == n
        filled = (got.get("retrieval") or {}).get("filled", 0)
        for k, (item, score) in enumerate(served):
            if not ok:
                break
            if k >= n - filled:
                ok = item == want["items"][k]
                continue
            if item in ref:
                worst = max(worst, abs(score - ref[item]))
            if item != want["items"][k]:
                # a swap is fine only between near-equal scores
                if abs(score - want["scores"][k]) > tol:
                    ok = False
            elif abs(score - ref[item]) > tol:
                ok = False
        if not ok:
            differ += 1
            print("differs: user", want["user"])
    print("%d users compared, %d differ, largest score difference %.3g (tolerance %g)"
          % (users, differ, worst, tol))
    if expect is not None and users != expect:
        print("expected %d users" % expect)
        differ += 1
    sys.exit(1 if differ or users == 0 else 0)

if __name__ == "__main__":
    main()
