"""
The SASRec model of src/model/sasrec.ts in PyTorch, weight for weight (same names, shapes and
`y = x @ kernel + bias` layout as docs/model-format.md), and the artifact format of
src/model/artifacts.ts + training/node-io.ts saveModel (model.json + weights.bin + vocab.json), so
the browser SDK serves what this trainer writes unchanged.
"""
from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

MODEL_FORMAT = "scenerec-sasrec"
MODEL_FORMAT_VERSION = 1
LN_EPSILON = 1e-6  # = LN_EPSILON of src/model/sasrec.ts


def weight_shapes(cfg: dict) -> list:
    """src/model/sasrec.ts weightShapes for architecture 'sasrec': names and shapes, artifact order."""
    d, f = cfg["hiddenDim"], cfg["ffnDim"]
    shapes = [("itemEmbedding", [cfg["numItems"] + 1, d]), ("positionEmbedding", [cfg["maxLen"], d])]
    for b in range(cfg["numBlocks"]):
        p = f"block{b}/"
        shapes += [
            (f"{p}attnNorm/gamma", [d]), (f"{p}attnNorm/beta", [d]),
            (f"{p}query/kernel", [d, d]), (f"{p}query/bias", [d]),
            (f"{p}key/kernel", [d, d]), (f"{p}key/bias", [d]),
            (f"{p}value/kernel", [d, d]), (f"{p}value/bias", [d]),
            (f"{p}attnOut/kernel", [d, d]), (f"{p}attnOut/bias", [d]),
            (f"{p}ffnNorm/gamma", [d]), (f"{p}ffnNorm/beta", [d]),
            (f"{p}ffn1/kernel", [d, f]), (f"{p}ffn1/bias", [f]),
            (f"{p}ffn2/kernel", [f, d]), (f"{p}ffn2/bias", [d]),
        ]
    shapes += [("finalNorm/gamma", [d]), ("finalNorm/beta", [d])]
    return shapes


def _key(name: str) -> str:
    # Module parameter names may not contain '.'; '/' becomes '__' and back.
    return name.replace("/", "__")


class SasRec(torch.nn.Module):
    def __init__(self, cfg: dict, seed: int = 42):
        super().__init__()
        self.cfg = dict(cfg)
        g = torch.Generator().manual_seed(seed)
        self.params = torch.nn.ParameterDict()
        for name, shape in weight_shapes(cfg):
            if name.endswith("/gamma"):
                t = torch.ones(shape)
            elif name.endswith("/beta") or name.endswith("/bias"):
                t = torch.zeros(shape)
            else:
                # Truncated normal(0, 0.02) cut at two standard deviations, as tf.truncatedNormal.
                t = torch.empty(shape)
                torch.nn.init.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, generator=g) if _trunc_has_generator() else _trunc(t, g)
                if name == "itemEmbedding":
                    t[0].zero_()
            self.params[_key(name)] = torch.nn.Parameter(t)

    def w(self, name: str) -> torch.Tensor:
        return self.params[_key(name)]

    def named_weights(self) -> list:
        return [(name, self.w(name)) for name, _ in weight_shapes(self.cfg)]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """The state at every position, [B, L, d] (src/model/sasrec.ts forward)."""
        cfg = self.cfg
        B, L = ids.shape
        d, H = cfg["hiddenDim"], cfg["numHeads"]
        hd = d // H
        p_drop = cfg["dropout"] if self.training else 0.0

        def drop(x):
            return F.dropout(x, p_drop, True) if p_drop > 0 else x

        mask = (ids != 0).to(torch.float32).unsqueeze(-1)
        pos = self.w("positionEmbedding")[cfg["maxLen"] - L:]
        x = F.embedding(ids, self.w("itemEmbedding")) * math.sqrt(d) + pos
        x = drop(x) * mask
        causal = torch.tril(torch.ones(L, L, device=ids.device))
        key_valid = (ids != 0).to(torch.float32).reshape(B, 1, 1, L)
        allowed = causal.reshape(1, 1, L, L) * key_valid
        allowed = torch.maximum(allowed, torch.eye(L, device=ids.device).reshape(1, 1, L, L))
        bias = (1 - allowed) * -1e9

        def split(t):
            return t.reshape(B, L, H, hd).transpose(1, 2)

        def dense(t, p):
            return t @ self.w(p + "/kernel") + self.w(p + "/bias")

        for b in range(cfg["numBlocks"]):
            p = f"block{b}/"
            n = F.layer_norm(x, (d,), self.w(p + "attnNorm/gamma"), self.w(p + "attnNorm/beta"), LN_EPSILON)
            q, k, v = split(dense(n, p + "query")), split(dense(n, p + "key")), split(dense(n, p + "value"))
            probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, -1)
            ctx = (drop(probs) @ v).transpose(1, 2).reshape(B, L, d)
            x = x + drop(dense(ctx, p + "attnOut"))
            n2 = F.layer_norm(x, (d,), self.w(p + "ffnNorm/gamma"), self.w(p + "ffnNorm/beta"), LN_EPSILON)
            h = torch.relu(dense(n2, p + "ffn1"))
            x = (x + drop(dense(drop(h), p + "ffn2"))) * mask
        return F.layer_norm(x, (d,), self.w("finalNorm/gamma"), self.w("finalNorm/beta"), LN_EPSILON)

    def last_hidden(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward(ids)[:, -1, :]

    def scores(self, ids: torch.Tensor) -> torch.Tensor:
        """hidden · itemEmbedding[r] for every row r (row 0, padding, included), [B, numItems + 1]."""
        return self.last_hidden(ids) @ self.w("itemEmbedding").t()


def _trunc_has_generator() -> bool:
    import inspect
    return "generator" in inspect.signature(torch.nn.init.trunc_normal_).parameters


def _trunc(t: torch.Tensor, g: torch.Generator) -> None:
    # torch < 2.1 has no generator argument: resample outside two standard deviations by hand.
    flat = t.view(-1)
    out = torch.empty(0)
    while out.numel() < flat.numel():
        s = torch.randn(flat.numel() * 2, generator=g) * 0.02
        out = torch.cat([out, s[s.abs() <= 0.04]])
    flat.copy_(out[: flat.numel()])


def pad_history(history, max_len: int) -> list:
    """src/model/sasrec.ts padHistory: the most recent max_len ids, left-padded with 0."""
    h = list(history)[-max_len:] if max_len > 0 else []
    return [0] * (max_len - len(h)) + h


# ---- artifacts ----

def _json_js(obj) -> str:
    """JSON.stringify(obj) (compact), so the content hash is computed over the same bytes as the TS trainer would."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def save_model(out_dir: str, model: SasRec, vocab: dict, weight_dtype: str, tag: str) -> dict:
    """training/node-io.ts saveModel: writes model.json, weights.bin, vocab.json; returns the header."""
    os.makedirs(out_dir, exist_ok=True)
    specs, chunks = [], []
    for name, t in model.named_weights():
        a = t.detach().to("cpu", torch.float32).contiguous().numpy()
        if weight_dtype == "float16":
            chunks.append(a.astype("<f2").tobytes())  # round to nearest even, as float32ToFloat16Bits
            specs.append({"name": name, "shape": list(a.shape), "dtype": "float32", "quantization": {"dtype": "float16"}})
        else:
            chunks.append(a.astype("<f4").tobytes())
            specs.append({"name": name, "shape": list(a.shape), "dtype": "float32"})
    data = b"".join(chunks)
    vocab_json = _json_js(vocab).encode("utf-8")
    c = model.cfg
    header = {
        "format": MODEL_FORMAT, "formatVersion": MODEL_FORMAT_VERSION,
        "modelVersion": f"{tag}-{hashlib.sha256(data + vocab_json).hexdigest()[:12]}",
        "architecture": "sasrec",
        "config": {k: c[k] for k in ("numItems", "maxLen", "hiddenDim", "numBlocks", "numHeads", "ffnDim", "dropout")},
        "vocabPath": "vocab.json", "weightDtype": weight_dtype,
    }
    model_json = {
        "format": "layers-model", "generatedBy": "scenerec", "convertedBy": None,
        "userDefinedMetadata": {"scenerec": header},
        "weightsManifest": [{"paths": ["weights.bin"], "weights": specs}],
    }
    with open(os.path.join(out_dir, "model.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(model_json, indent=1))
    with open(os.path.join(out_dir, "vocab.json"), "wb") as f:
        f.write(vocab_json)
    with open(os.path.join(out_dir, "weights.bin"), "wb") as f:
        f.write(data)
    return {"header": header, "bytes": len(data) + len(vocab_json)}


def load_model(model_dir: str) -> tuple:
    """Reads an artifact folder (float32 or float16 weights) into a SasRec in eval mode; returns (model, vocab)."""
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        mj = json.load(f)
    header = (mj.get("userDefinedMetadata") or {}).get("scenerec")
    if not header or header.get("format") != MODEL_FORMAT:
        raise ValueError(f"{model_dir}/model.json has no userDefinedMetadata.scenerec header: not a scenerec model")
    if header.get("architecture", "sasrec") != "sasrec":
        raise ValueError(f"architecture {header['architecture']!r}: the PyTorch trainer reads 'sasrec' models only")
    cfg = header["config"]
    model = SasRec(cfg)
    expected = dict(weight_shapes(cfg))
    for group in mj["weightsManifest"]:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"])) if spec["shape"] else 1
            q = (spec.get("quantization") or {}).get("dtype")
            dt, size = ("<f2", 2) if q == "float16" else ("<f4", 4)
            if q not in (None, "float16") or spec["dtype"] != "float32":
                raise ValueError(f"weight {spec['name']}: dtype {spec['dtype']}/{q} is not read here")
            a = np.frombuffer(buf, dtype=dt, count=n, offset=off).astype(np.float32).reshape(spec["shape"])
            off += n * size
            if spec["name"] not in expected or list(expected[spec["name"]]) != list(spec["shape"]):
                raise ValueError(f"weight {spec['name']} {spec['shape']} does not match the header's config")
            with torch.no_grad():
                model.w(spec["name"]).copy_(torch.from_numpy(a.copy()))
    with open(os.path.join(model_dir, header.get("vocabPath", "vocab.json")), encoding="utf-8") as f:
        vocab = json.load(f)
    model.eval()
    return model, vocab, header
