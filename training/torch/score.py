#!/usr/bin/env python3
"""
Scores fixed histories with a saved artifact in PyTorch, for the parity test against the TS forward
(TF.js) and the browser's fused path.

  python3 training/torch/score.py --model DIR --rows ROWS.json [--top 10]

ROWS.json: a list of input rows (model indices, left-padded to any length <= maxLen, 0 = padding).
Prints JSON: {"hidden": [[d floats] per row], "scores": [[numItems + 1 floats] per row], "top": [[ids] per row]}.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import load_model  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--rows", required=True)
    p.add_argument("--top", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(1)
    model, _, _ = load_model(a.model)
    rows = json.load(open(a.rows))
    out = {"hidden": [], "scores": [], "top": []}
    with torch.no_grad():
        for r in rows:
            ids = torch.tensor([r], dtype=torch.long)
            h = model.last_hidden(ids)[0]
            s = model.w("itemEmbedding") @ h
            s[0] = -float("inf")  # padding row never recommended
            out["hidden"].append(h.tolist())
            out["scores"].append(s[1:].tolist())
            out["top"].append((torch.topk(s, a.top).indices).tolist())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
