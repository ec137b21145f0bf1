#!/usr/bin/env bash
# trainer_seen.sh - published seen-sets: a MovieLens-style ratings.csv
# (header userId,movieId,rating,timestamp; ratings 1-5) trained with
# --min-rating 4 and the default holdout split, published and served by a
# real recserve: 500 known users x top-10 contain no item the user rated
# (low-rated rows, held-out and validation items included). The same top-10
# with filter_history=false do contain rated items (the count is not 0 by
# construction of the data), and the manifest names the seen-set.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries

# 600 users, 300 items with long-tailed popularity; each user rates 25-60
# items, popular ones most often, about half of them below 4: without the
# seen-set the popular low-rated items are exactly what comes back.
python3 - "$T/ratings.csv" <<'EOF'
import random, sys
rng = random.Random(17)
items = list(range(1, 301))
weights = [1.0 / (i ** 0.8) for i in items]
with open(sys.argv[1], "w") as f:
    f.write("userId,movieId,rating,timestamp\n")
    for u in range(1, 601):
        taste = rng.randrange(3)
        n = rng.randint(25, 60)
        chosen = set()
        while len(chosen) < n:
            chosen.add(rng.choices(items, weights)[0])
        for i in sorted(chosen):
            liked = (i % 3 == taste) or rng.random() < 0.15
            rating = rng.choice([4, 4.5, 5]) if liked else rng.choice([1, 2, 2.5, 3, 3.5])
            f.write(f"{u},{i},{rating},{964982703 + rng.randrange(10**6)}\n")
EOF

"$RECTRAIN" --data "$T/ratings.csv" --min-rating 4 --model vae --epochs 3 --hidden 32 --latent 8 \
    --seed 3 --threads 1 --progress off --store "$T/store" --variant default >"$T/train.log" 2>&1 ||
    { cat "$T/train.log"; fail "training on ratings.csv failed"; finish; }
grep -E 'interactions kept|seen by the users' "$T/train.log"
grep -q 'seen by the users: ' "$T/train.log" || fail "the load report does not count the seen-set"
"$RECTRAIN" store show "$T/store" default >"$T/show.json" 2>&1
grep -q '"tensors": "users.seen"' "$T/show.json" || fail "the manifest does not name users.seen"
start_server

python3 - "$PORT" "$T/ratings.csv" "$T/counts" <<'EOF'
import csv, http.client, json, sys
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rated = {}
for row in csv.DictReader(open(path)):
    rated.setdefault(row["userId"], {})[row["movieId"]] = float(row["rating"])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
def top(user, flt):
    conn.request("GET", f"/v1/users/{user}/recommendations?n=10&filter_history={flt}")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (r.status, body[:200])
    return [it["id"] for it in json.loads(body)["items"]]
counts = {"true": [0, 0, 0, 0], "false": [0, 0, 0, 0]}  # items, rated, rated < 4, rated >= 4
for user in list(rated)[:500]:
    for flt in counts:
        ids = top(user, flt)
        c = counts[flt]
        c[0] += len(ids)
        for i in ids:
            if i in rated[user]:
                c[1] += 1
                c[2 if rated[user][i] < 4 else 3] += 1
with open(out, "w") as f:
    for flt, c in counts.items():
        print(f"filter_history={flt}: {c[0]} items for 500 users, {c[1]} already rated "
              f"({c[2]} below 4, {c[3]} rated 4 or more)")
        f.write(f"{flt} {c[0]} {c[1]}\n")
EOF
[ -s "$T/counts" ] || fail "querying the server failed"
read -r _ total rated < <(grep '^true' "$T/counts")
read -r _ _ rated_unfiltered < <(grep '^false' "$T/counts")
echo "seen items in 500 users' top-10: ${rated:-?} of ${total:-?} (unfiltered: ${rated_unfiltered:-?})"
[ "${total:-0}" = 5000 ] || fail "expected 5000 recommendations, got ${total:-0}"
[ "${rated:-1}" = 0 ] || fail "${rated:-?} recommended items were already rated by the user"
[ "${rated_unfiltered:-0}" -gt 0 ] ||
    fail "the check cannot fail: unfiltered top-10 hold no rated item"
stop_server
finish
