"""PyTorch side of bench/native: ms per training step of the same problem.

nn.Embedding(V, E) -> nn.LSTM / nn.GRU(E, H) -> nn.Linear(H, V), cross-entropy
(mean) on every step, Adam, state carried detached across windows, time-major.
Run by bench/native/run.ts with Debian's /usr/bin/python3 (python3-torch);
prints one JSON object on the last line of stdout, including which BLAS
libraries the process actually mapped.

  /usr/bin/python3 bench/native/torch_step.py --threads 1 --cells lstm,gru --iters 30
"""
import argparse
import json
import os
import re
import time


def mapped_blas():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and re.search(r"blas|lapack|mkl|gomp", os.path.basename(parts[-1])):
                libs.add(os.path.realpath(parts[-1]))
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--T", type=int, default=35)
    ap.add_argument("--V", type=int, default=128)
    ap.add_argument("--E", type=int, default=128)
    ap.add_argument("--H", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=30)
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
    for cell in a.cells.split(","):
        emb = nn.Embedding(a.V, a.E)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](a.E, a.H)
        dec = nn.Linear(a.H, a.V)
        params = list(emb.parameters()) + list(rnn.parameters()) + list(dec.parameters())
        opt = torch.optim.Adam(params, lr=1e-3)
        state = None
        g = torch.Generator().manual_seed(1)
        batches = [(torch.randint(0, a.V, (a.T, a.B), generator=g), torch.randint(0, a.V, (a.T, a.B), generator=g)) for _ in range(8)]

        def step(i):
            nonlocal state
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            h, state = rnn(emb(x), state)
            loss = F.cross_entropy(dec(h).reshape(-1, a.V), y.reshape(-1))
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            return loss.item()

        for i in range(a.warmup):
            step(i)
        times = []
        for i in range(a.iters):
            t0 = time.perf_counter()
            step(i)
            times.append((time.perf_counter() - t0) * 1e3)
        times.sort()
        out["results"][cell] = {"median_ms": times[len(times) // 2], "min_ms": times[0], "n": len(times)}
    out["blas"] = mapped_blas()
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    out["blas_info"] = m.group(1) if m else "?"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
