"""PyTorch's word_language_model training loop on the same characters as `unroll train`.

The equivalent of examples/sotu-char-lstm.yaml in PyTorch's word_language_model setup:
the text batchified into 32 streams (as `batchify`), windows of 35 (`get_batch`),
hidden state carried detached (`repackage_hidden`), RNNModel (Embedding 64 -> LSTM 256 x 2
-> Linear, no dropout), cross-entropy, Adam lr 0.002, clip_grad_norm_ 1.0. Reports tokens/s
over the timed steps. Run by bench/native/e2e.ts with Debian's /usr/bin/python3.

  /usr/bin/python3 bench/native/torch_wlm.py --text FILE --threads 1 --steps 60
"""
import argparse
import json
import time

import torch
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.encoder(x), hidden)
        return self.decoder(out), hidden


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    text = open(a.text, encoding="utf-8").read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    S, T = 32, 35
    n = ids.numel() // S
    data = ids[: n * S].view(S, n).t().contiguous()  # [n, S] time-major, as batchify
    model = RNNModel(len(vocab), 64, 256, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.002)
    crit = nn.CrossEntropyLoss()
    hidden = (torch.zeros(2, S, 256), torch.zeros(2, S, 256))
    tokens = 0
    t0 = None
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            t0 = time.perf_counter()
            tokens = 0
        i = (step * T) % (n - 1 - T)
        x, y = data[i : i + T], data[i + 1 : i + 1 + T]
        hidden = tuple(h.detach() for h in hidden)
        opt.zero_grad()
        out, hidden = model(x, hidden)
        loss = crit(out.view(-1, len(vocab)), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += S * T
    elapsed = time.perf_counter() - t0
    print(json.dumps({"threads": a.threads, "steps": a.steps, "tokensPerSecond": tokens / elapsed, "loss": loss.item()}))


if __name__ == "__main__":
    main()
