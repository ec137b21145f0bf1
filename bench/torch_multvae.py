"""torch_multvae.py TRAIN_TSV [--threads N] [--epochs E] - a PyTorch Mult-VAE
of the architecture rectrain trains with its defaults (Liang et al. 2018:
input dropout 0.5 on the L2-normalised history, I-600-200-600-I with tanh,
a Gaussian latent of 200, multinomial log-likelihood, KL annealed to 0.2
over 200,000 updates, Adam lr 1e-3, batches of 500 users), timed on the same
training file and thread count, for bench/train_torch.sh. Prints one line
per epoch ("epoch E  S s") and the median seconds per epoch. The input
rows are built per batch as dense float tensors, as the reference code does.

Needs Debian's python3-torch (for /usr/bin/python3); exits 77 without it.
"""
import argparse
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("skipped: no PyTorch (apt-get install python3-torch)")
    sys.exit(77)


def load(path):
    users, items, rows = {}, {}, []
    with open(path) as f:
        for k, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if k == 0 and parts[0] == "user":
                continue
            u = users.setdefault(parts[0], len(users))
            i = items.setdefault(parts[1], len(items))
            rows.append((u, i))
    by_user = [[] for _ in users]
    for u, i in rows:
        by_user[u].append(i)
    return by_user, len(items)


class MultVAE(torch.nn.Module):
    def __init__(self, n_items, hidden=600, latent=200, dropout=0.5):
        super().__init__()
        self.latent = latent
        self.enc = torch.nn.Linear(n_items, hidden)
        self.mu_logvar = torch.nn.Linear(hidden, 2 * latent)
        self.dec1 = torch.nn.Linear(latent, hidden)
        self.dec2 = torch.nn.Linear(hidden, n_items)
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, x):
        h = torch.nn.functional.normalize(x, dim=1)
        h = torch.tanh(self.enc(self.drop(h)))
        mu, logvar = self.mu_logvar(h).split(self.latent, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec2(torch.tanh(self.dec1(z))), mu, logvar


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    by_user, n_items = load(a.train)
    model = MultVAE(n_items)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n_users, step, seconds = len(by_user), 0, []
    print("torch %s, %d threads, %d users x %d items" % (torch.__version__, a.threads, n_users, n_items))
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(n_users).tolist()
        t0 = time.time()
        model.train()
        for start in range(0, n_users, a.batch):
            batch = order[start:start + a.batch]
            x = torch.zeros(len(batch), n_items)
            for r, u in enumerate(batch):
                x[r, by_user[u]] = 1.0
            logits, mu, logvar = model(x)
            nll = -(torch.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
            kl = (-0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(dim=1)).mean()
            beta = min(0.2, step / 200000.0)
            loss = nll + beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        seconds.append(time.time() - t0)
        print("epoch %d  %.2f s" % (epoch, seconds[-1]), flush=True)
    print("median %.2f s per epoch" % statistics.median(seconds))


if __name__ == "__main__":
    main()
