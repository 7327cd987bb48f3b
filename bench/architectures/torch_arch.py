"""PyTorch reference for bench/architectures: ms per training step of deep and
bidirectional LSTMs at bench/step's shapes.

nn.Embedding(V, E) -> nn.LSTM(E, H, num_layers, bidirectional) -> nn.Linear(D*H, V),
cross-entropy on every step, Adam lr 1e-3, time-major [T, B] like Unroll. A causal
LSTM carries its state (detached) from window to window; a bidirectional one starts
every window from zero, as Unroll's bidirectional nets do. Run by
bench/architectures/run.ts; prints one JSON object on the last line of stdout.

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/architectures/torch_arch.py \
      --archs bi1:1:1,deep2:2:0 --warmup 3 --iters 15 --cap 10
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "step"))
from torch_step import add_common_args, time_steps  # noqa: E402  (bench/step's shapes and timing)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", required=True, help="name:layers:bidirectional(0|1),...")
    add_common_args(ap, iters=15, cap=10.0)
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}

    for spec in a.archs.split(","):
        name, layers, bi = spec.split(":")
        bidirectional = bi == "1"
        emb = nn.Embedding(a.V, a.E)
        rnn = nn.LSTM(a.E, a.H, num_layers=int(layers), bidirectional=bidirectional)
        dec = nn.Linear(a.H * (2 if bidirectional else 1), a.V)
        opt = torch.optim.Adam(list(emb.parameters()) + list(rnn.parameters()) + list(dec.parameters()), lr=1e-3)
        state = None

        def step():
            nonlocal state
            x = torch.randint(0, a.V, (a.T, a.B))
            y = torch.randint(0, a.V, (a.T, a.B))
            opt.zero_grad(set_to_none=True)
            h, new_state = rnn(emb(x), None if bidirectional else state)
            loss = F.cross_entropy(dec(h).reshape(-1, a.V), y.reshape(-1))
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in new_state)
            return loss.item()

        out["results"][name] = time_steps(step, a)

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
