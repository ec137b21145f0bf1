#!/usr/bin/python3
"""A harder retrieval set than the shared gen_vectors.py, same file format.

gen_vectors.py draws items around 1,024 centres with Zipf(1.1) cluster
sizes and queries near one to three centres scaled by 4: the top items of
a query sit in a few dense cells, which an inverted multi-index likes.
Trained recommenders look less kind: more, flatter tastes and user vectors
that are averages of what the user consumed. By default this draws
  - C = 2048 centres ~ N(0, I/d), cluster sizes Zipf(0.8) (flatter)
  - item i: centre[c_i] + N(0, 0.6^2 I/d), scaled by exp(0.3 N(0, 1))
  - query q: the mean of 2..12 items from each of 1..3 tastes (a user's
    history), plus N(0, 0.2^2 I/d), normalised to norm 4
in d = 96. The options change each of these; with --clusters 4096 --zipf
0.7 --centre 0.8 --spread 0.7 (overlapping clusters) the set is harder
still (see README, Measured).
Writes items.f32 (M x d), queries.f32 (Q x d), little-endian float32,
row-major, and meta.json, as gen_vectors.py does. Needs numpy.

usage: gen_hard.py OUT_DIR [--items 1000000] [--dim 96] [--queries 1000] [--seed 11]
         [--clusters C] [--zipf S] [--centre A] [--spread B] [--norm-spread G] [--tastes T]
"""
import argparse, json, os
import numpy as np

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out'); ap.add_argument('--items', type=int, default=1000000)
    ap.add_argument('--dim', type=int, default=96); ap.add_argument('--queries', type=int, default=1000)
    ap.add_argument('--seed', type=int, default=11)
    ap.add_argument('--clusters', type=int, default=2048); ap.add_argument('--zipf', type=float, default=0.8)
    ap.add_argument('--centre', type=float, default=1.0); ap.add_argument('--spread', type=float, default=0.6)
    ap.add_argument('--norm-spread', type=float, default=0.3); ap.add_argument('--tastes', type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    d, C = a.dim, a.clusters
    centres = rng.standard_normal((C, d)).astype(np.float32) / np.sqrt(d)
    w = 1.0 / np.arange(1, C + 1) ** a.zipf; w /= w.sum()
    os.makedirs(a.out, exist_ok=True)
    assign = rng.choice(C, size=a.items, p=w)
    items = np.empty((a.items, d), np.float32)
    for s in range(0, a.items, 100000):
        n = min(100000, a.items - s)
        x = a.centre * centres[assign[s:s + n]] + a.spread * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
        x *= np.exp(a.norm_spread * rng.standard_normal((n, 1))).astype(np.float32)
        items[s:s + n] = x
    items.astype('<f4').tofile(os.path.join(a.out, 'items.f32'))
    # Items by cluster, to draw a user's history from a few tastes.
    order = np.argsort(assign, kind='stable')
    starts = np.searchsorted(assign[order], np.arange(C + 1))
    q = np.zeros((a.queries, d), np.float32)
    for j in range(a.queries):
        tastes = rng.choice(C, size=rng.integers(1, a.tastes + 1), p=w)
        picked = []
        for t in tastes:
            members = order[starts[t]:starts[t + 1]]
            if len(members): picked.append(rng.choice(members, size=rng.integers(2, 13)))
        hist = np.concatenate(picked) if picked else rng.integers(0, a.items, size=5)
        v = items[hist].mean(0) + 0.2 * rng.standard_normal(d).astype(np.float32) / np.sqrt(d)
        q[j] = 4.0 * v / np.linalg.norm(v)
    q.astype('<f4').tofile(os.path.join(a.out, 'queries.f32'))
    json.dump({'items': a.items, 'dim': d, 'queries': a.queries, 'seed': a.seed,
               'generator': 'bench/gen_hard.py v1'}, open(os.path.join(a.out, 'meta.json'), 'w'))

if __name__ == '__main__':
    main()
