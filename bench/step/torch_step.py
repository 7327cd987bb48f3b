"""PyTorch reference for bench/step: ms per truncated-BPTT training step.

nn.Embedding(V, E) -> nn.LSTM / nn.GRU (H) -> nn.Linear(H, V), cross-entropy on
every step, Adam, state carried (detached) from window to window, time-major
[T, B] like Unroll. Run by bench/step/run.ts with /usr/bin/python3 (Debian's
python3-torch); prints one JSON object on the last line of stdout.

  /usr/bin/python3 bench/step/torch_step.py --threads 1 --cells lstm,gru \
      --warmup 3 --iters 20 --cap 20
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import time


def blas_info(torch):
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if re.search(r"blas|lapack|mkl|gomp", os.path.basename(path)):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return {"blas_info": m.group(1) if m else "?", "loaded": sorted(libs), "config": cfg}


def add_common_args(ap, iters, cap):
    """The problem's shapes, threads and the timing plan (shared with bench/architectures)."""
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--T", type=int, default=35)
    ap.add_argument("--V", type=int, default=128)
    ap.add_argument("--E", type=int, default=128)
    ap.add_argument("--H", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--cap", type=float, default=cap, help="seconds of timed steps per config")


def time_steps(step, a):
    """Step 0 (its loss returned), warm-up, then the median of up to a.iters timed steps within a.cap seconds."""
    loss0 = step()
    for _ in range(max(0, a.warmup - 1)):
        step()
    times = []
    cpu0 = time.process_time()
    started = time.perf_counter()
    while len(times) < a.iters and (not times or time.perf_counter() - started < a.cap):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "ms": statistics.median(times),
        "n": len(times),
        "loss0": loss0,
        "ln_V": math.log(a.V),
        "cpu_per_wall": (time.process_time() - cpu0) / (time.perf_counter() - started),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", default="lstm,gru")
    add_common_args(ap, iters=20, cap=20.0)
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}

    for cell in a.cells.split(","):
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        emb = nn.Embedding(a.V, a.E)
        rnn = rnn_cls(a.E, a.H)
        dec = nn.Linear(a.H, a.V)
        params = list(emb.parameters()) + list(rnn.parameters()) + list(dec.parameters())
        opt = torch.optim.Adam(params, lr=1e-3)
        state = None

        def step():
            nonlocal state
            x = torch.randint(0, a.V, (a.T, a.B))
            y = torch.randint(0, a.V, (a.T, a.B))
            opt.zero_grad(set_to_none=True)
            h, state = rnn(emb(x), state)
            loss = F.cross_entropy(dec(h).reshape(-1, a.V), y.reshape(-1))
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            return loss.item()

        out["results"][cell] = {**time_steps(step, a), "load": os.getloadavg()[0]}

    out["blas"] = blas_info(torch)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
