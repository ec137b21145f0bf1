#!/usr/bin/env python3
"""prorec_noise.py - ProRec's controlled noise experiment.

  prorec_noise.py inject TRAIN TEST OUT_TRAIN OUT_INJECTED [--share 0.1] [--seed 2026]
      OUT_TRAIN = TRAIN's lines plus share x (TRAIN's interactions) false
      positives, each a uniformly random user of TRAIN paired with a
      uniformly random item of TRAIN the user has not rated (in TRAIN or
      TEST); OUT_INJECTED lists them (user<TAB>item). Same inputs and seed,
      same bytes.

  prorec_noise.py score DENOISE_OUT INJECTED
      From rectrain --denoise-out: the share of injected interactions
      flagged (the hit ratio) against the share of clean ones flagged.
"""
import random
import sys


def pairs(path):
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                yield cols[0], cols[1]


def inject(train, test, out_train, out_injected, share, seed):
    rated = set(pairs(train)) | set(pairs(test))
    users, items, seen_u, seen_i = [], [], set(), set()
    n = 0
    for u, i in pairs(train):
        n += 1
        if u not in seen_u:
            seen_u.add(u)
            users.append(u)
        if i not in seen_i:
            seen_i.add(i)
            items.append(i)
    rng = random.Random(seed)
    want, injected = int(round(share * n)), []
    while len(injected) < want:
        pair = (users[rng.randrange(len(users))], items[rng.randrange(len(items))])
        if pair in rated:
            continue
        rated.add(pair)
        injected.append(pair)
    with open(train) as f, open(out_train, "w") as out:
        for line in f:
            out.write(line if line.endswith("\n") else line + "\n")
        for u, i in injected:
            out.write(f"{u}\t{i}\n")
    with open(out_injected, "w") as out:
        for u, i in injected:
            out.write(f"{u}\t{i}\n")
    print(f"{n} interactions, {len(injected)} injected ({100.0 * len(injected) / n:.2f}%), "
          f"seed {seed}")


def score(denoise_out, injected_path):
    injected = set(pairs(injected_path))
    counts = {True: [0, 0], False: [0, 0]}  # is injected -> [flagged, total]
    with open(denoise_out) as f:
        next(f)
        for line in f:
            u, i, _, _, flagged = line.rstrip("\n").split("\t")
            c = counts[(u, i) in injected]
            c[0] += flagged == "yes"
            c[1] += 1
    (fi, ni), (fc, nc) = counts[True], counts[False]
    hi, hc = fi / max(ni, 1), fc / max(nc, 1)
    print(f"injected flagged {fi}/{ni} = {hi:.4f}; clean flagged {fc}/{nc} = {hc:.4f}; "
          f"ratio {hi / hc if hc else float('inf'):.2f}")


def main(argv):
    if len(argv) >= 5 and argv[0] == "inject":
        opts = dict(zip(argv[5::2], argv[6::2]))
        inject(*argv[1:5], float(opts.get("--share", 0.1)), int(opts.get("--seed", 2026)))
    elif len(argv) == 3 and argv[0] == "score":
        score(argv[1], argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
