"""PyTorch reference for checkpoint parity (tests/pytorch/checkpoint-parity.spec.ts).

RNNModel is PyTorch's examples/word_language_model/model.py RNNModel, written out
(no dropout, no weight tying): Embedding -> nn.LSTM / nn.GRU / nn.RNN (batch_first=False)
-> Linear decoder. An Unroll checkpoint (step-N.safetensors) is parsed here by hand
(no `safetensors` package: 8-byte LE header length, JSON header, raw little-endian
bytes) and loaded with model.load_state_dict(state, strict=True).

  /usr/bin/python3 rnn_model.py CHECKPOINT TEXT --cell lstm|gru|rnn_tanh|rnn_relu \
      --embedding E --hidden H --layers L [--dtype float32|float64] \
      [--bidirectional --window W]

prints {"loss", "tokens", "vocab"} as JSON: mean cross-entropy of TEXT scored as one
stream from a zero hidden state, every position after the first predicted — what
`unroll eval --input` reports. A strict-loading failure exits 3 with PyTorch's message.

--bidirectional builds nn.LSTM/GRU/RNN(bidirectional=True) (weights
weight_ih_l{k}_reverse, …; decoder Linear(2H, V)) and scores TEXT in consecutive
chunks of W inputs, each from a zero state: an Unroll bidirectional model's windows
are independent sequences (tbptt.independentWindows), so that is what unroll eval does.
"""

import argparse
import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

UNKNOWN_TOKEN = "\ufffd"

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, bidirectional=False):
        super().__init__()
        self.ntoken = ntoken
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=0.0, bidirectional=bidirectional)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=0.0, bidirectional=bidirectional)
        self.directions = 2 if bidirectional else 1
        self.decoder = nn.Linear(self.directions * nhid, ntoken)
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.encoder(input)
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        n = self.nlayers * self.directions
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(n, bsz, self.nhid), weight.new_zeros(n, bsz, self.nhid))
        return weight.new_zeros(n, bsz, self.nhid)


def read_safetensors(path):
    """(state dict of tensors, metadata dict) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = blob[8 + n :]
    state = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        raw = bytearray(body[begin:end])
        t = torch.frombuffer(raw, dtype=dtype) if len(raw) > 0 else torch.empty(0, dtype=dtype)
        if sys.byteorder != "little" and t.element_size() > 1:
            raise SystemExit("big-endian host: byte-swapping is not implemented")
        state[name] = t.reshape(info["shape"]).clone()
    return state, metadata


def load_checkpoint(path, cell, embedding, hidden, layers, bidirectional=False):
    """An RNNModel holding the checkpoint's weights (strict load), and the vocab list."""
    state, metadata = read_safetensors(path)
    vocab = json.loads(metadata["vocab"])
    rnn_type = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}[cell]
    model = RNNModel(rnn_type, len(vocab), embedding, hidden, layers, bidirectional)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, vocab


def encode(text, vocab):
    """Code points -> ids through the vocab; characters not in it -> the U+FFFD id."""
    index = {t: i for i, t in enumerate(vocab)}
    unk = index[UNKNOWN_TOKEN]
    return [index.get(ch, unk) for ch in text]


@torch.no_grad()
def score(model, ids, dtype=torch.float32, window=None):
    """Mean cross-entropy over every position after the first: one stream, zero state
    (with `window`, every chunk of `window` inputs from a zero state)."""
    model = model.to(dtype)
    data = torch.tensor(ids, dtype=torch.long).view(-1, 1)  # [T, batch 1], batch_first=False
    inputs, targets = data[:-1], data[1:].view(-1)
    step = window or inputs.shape[0]
    nll = 0.0
    for start in range(0, inputs.shape[0], step):
        log_probs, _ = model(inputs[start : start + step], model.init_hidden(1))
        nll += F.nll_loss(log_probs.double(), targets[start : start + step], reduction="sum").item()
    return nll / targets.numel(), targets.numel()


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("text")
    p.add_argument("--cell", required=True, choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    p.add_argument("--embedding", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--window", type=int, help="score chunks of this many inputs, each from a zero state (required with --bidirectional)")
    a = p.parse_args(argv)
    if a.bidirectional and not a.window:
        p.error("--bidirectional needs --window (the spec's tbptt.window)")
    try:
        model, vocab = load_checkpoint(a.checkpoint, a.cell, a.embedding, a.hidden, a.layers, a.bidirectional)
    except RuntimeError as e:
        print(f"load_state_dict(strict=True) failed: {e}", file=sys.stderr)
        return 3
    with open(a.text, encoding="utf-8") as f:
        ids = encode(f.read(), vocab)
    loss, tokens = score(model, ids, getattr(torch, a.dtype), a.window if a.bidirectional else None)
    print(json.dumps({"loss": loss, "tokens": tokens, "bitsPerToken": loss / math.log(2), "vocab": len(vocab)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
