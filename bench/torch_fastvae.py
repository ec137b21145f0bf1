"""torch_fastvae.py TRAIN_TSV [--threads N] [--epochs E] - a PyTorch FastVAE
of the architecture rectrain trains with --model fastvae --sampler pop
(trainer/fastvae.h): item dropout 0.5 on the history, the encoder's item
embeddings summed and divided by sqrt(count), dropout 0.5, ReLU,
Linear(200 -> 2 x 32) giving mu | logvar, z, Linear(32 -> 200) giving the
user vector, item vectors apart from the encoder's; a sampled softmax per
user over its positives and T = 200 items drawn from Q(i) ∝ log(1 + count),
shared by the user's positives, with the log Q correction; KL weight 0.2;
Adam lr 1e-3 (dense, as the paper's reference code; --sparse: sparse
gradients and SparseAdam on the two item tables, lazy as rectrain's, which
is slower in PyTorch on the CPU), batches of 256 users. Timed on the same training file and thread count, for
bench/train_torch.sh: one line per epoch and the median seconds per epoch.

Needs Debian's python3-torch (for /usr/bin/python3); exits 77 without it.
"""
import argparse
import math
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("skipped: no PyTorch (apt-get install python3-torch)")
    sys.exit(77)

from torch_multvae import load


class FastVAE(torch.nn.Module):
    def __init__(self, n_items, sparse, hidden=200, latent=32, dropout=0.5):
        super().__init__()
        self.latent = latent
        self.E = torch.nn.EmbeddingBag(n_items, hidden, mode="sum", sparse=sparse)
        self.enc = torch.nn.Linear(hidden, 2 * latent)
        self.dec = torch.nn.Linear(latent, hidden)
        self.Q = torch.nn.Embedding(n_items, hidden, sparse=sparse)
        self.drop = torch.nn.Dropout(dropout)

    def user_vectors(self, items, offsets, weights):
        h = torch.relu(self.drop(self.E(items, offsets, per_sample_weights=weights)))
        mu, logvar = self.enc(h).split(self.latent, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


def batch_tensors(indptr, indices, batch, item_dropout, gen):
    """The encoder's input (kept items per user, weights 1/sqrt(kept), bag
    offsets) and the positives with their row in the batch, by tensor ops."""
    starts, lengths = indptr[batch], indptr[batch + 1] - indptr[batch]
    rows = torch.repeat_interleave(torch.arange(len(batch)), lengths)
    first = torch.cumsum(lengths, 0) - lengths
    pos = indices[torch.repeat_interleave(starts - first, lengths) + torch.arange(len(rows))]
    keep = torch.rand(len(pos), generator=gen) >= item_dropout
    kept = torch.bincount(rows[keep], minlength=len(batch))
    keep[first[kept == 0]] = True  # a user keeps at least one item
    kept = torch.bincount(rows[keep], minlength=len(batch))
    items, item_rows = pos[keep], rows[keep]
    offsets = torch.cumsum(kept, 0) - kept
    weights = 1.0 / torch.sqrt(kept[item_rows].float())
    return items, offsets, weights, pos, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--sparse", action="store_true",
                    help="sparse item-table gradients and SparseAdam (lazy, as rectrain)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    by_user, n_items = load(a.train)
    indptr = torch.tensor([0] + [len(h) for h in by_user]).cumsum(0)
    indices = torch.tensor([i for h in by_user for i in h])
    counts = torch.bincount(indices, minlength=n_items).float()
    pop = torch.log1p(counts)
    log_q = torch.log(pop / pop.sum())
    model = FastVAE(n_items, a.sparse)
    tables = list(model.E.parameters()) + list(model.Q.parameters())
    dense = [p for n, p in model.named_parameters() if not n.startswith(("E.", "Q."))]
    opt_dense = torch.optim.Adam(dense if a.sparse else dense + tables, lr=1e-3)
    opt_sparse = torch.optim.SparseAdam(tables, lr=1e-3) if a.sparse else None
    n_users, seconds = len(by_user), []
    print("torch %s, %d threads, %d users x %d items" % (torch.__version__, a.threads, n_users,
                                                         n_items))
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(n_users)
        t0 = time.time()
        model.train()
        for start in range(0, n_users, a.batch):
            batch = order[start:start + a.batch]
            items, offsets, weights, pos, pos_user = batch_tensors(indptr, indices, batch, 0.5, gen)
            u, mu, logvar = model.user_vectors(items, offsets, weights)
            samples = torch.multinomial(pop, len(batch) * a.samples, replacement=True,
                                        generator=gen).view(len(batch), a.samples)
            o_neg = torch.bmm(model.Q(samples), u.unsqueeze(2)).squeeze(2) - log_q[samples]
            o_pos = (model.Q(pos) * u[pos_user]).sum(1) - log_q[pos]
            lse_neg = torch.logsumexp(o_neg, dim=1)[pos_user]
            nll = (torch.logaddexp(o_pos, lse_neg) - o_pos).sum() / len(batch)
            kl = (-0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(dim=1)).mean()
            loss = nll + 0.2 * kl
            opt_dense.zero_grad()
            if opt_sparse:
                opt_sparse.zero_grad()
            loss.backward()
            opt_dense.step()
            if opt_sparse:
                opt_sparse.step()
        seconds.append(time.time() - t0)
        print("epoch %d  %.2f s" % (epoch, seconds[-1]), flush=True)
    print("median %.2f s per epoch" % statistics.median(seconds))


main()
