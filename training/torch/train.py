#!/usr/bin/env python3
"""
The PyTorch trainer of scenerec's SASRec model, on one process or many (torchrun + DistributedDataParallel).

  python3 training/torch/train.py --data F --format pairs|lines|tianchi --out DIR [options]
  torchrun --standalone --nproc_per_node N training/torch/train.py --data F --format pairs --out DIR [options]

Same architecture, options (names and defaults), loss, batching and artifact as the TS trainer
(training/train.ts, scripts/train.ts); what differs is listed in docs/training-torch.md. Each rank
reads its own part of the log (data.py), trains on its share of every global batch (--batch is the
global batch, split over the ranks), and the gradients are averaged by DDP: gloo on CPUs, NCCL on GPUs.
Rank 0 writes model.json + weights.bin + vocab.json + training.json, which the browser SDK serves unchanged.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time


def _threads_flag(argv) -> int:
    for i, x in enumerate(argv):
        if x == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if x.startswith("--threads="):
            return int(x.split("=", 1)[1])
    return 1


# OpenBLAS (Debian's BLAS for torch) runs its own thread pool: size it before torch loads it, as --threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(1, _threads_flag(sys.argv[1:]))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import (DataFormatError, read_seqs, Mulberry32, REPEAT_RULES, build_examples, build_vocab, collapsed_counts,  # noqa: E402
                  first_seen_items, leave_one_out, read_shard, sequences_for)
from model import SasRec, load_model, pad_history, save_model  # noqa: E402

# = DEFAULT_TRAIN_OPTIONS of training/train.ts (tests/unit/torch-parity.test.ts checks they agree).
DEFAULTS = {
    "maxLen": 50, "hiddenDim": 64, "numBlocks": 2, "numHeads": 1, "ffnDim": 64, "dropout": 0.5,
    "batchSize": 128, "learningRate": 1e-3, "negatives": 2048, "loss": "softmax", "gbceT": 0.75, "l2": 0,
    "bceWeight": 0, "bprWeight": 0, "epochs": 32, "seed": 42, "evalEvery": 2, "evalUsers": 5000,
    "validProtocol": "full", "patience": 0, "maxSteps": 0, "sse": 0.1, "lrSchedule": "cosine", "fitValidation": False,
    "holdOut": "every-user",
}
# Flag -> option, as scripts/train.ts names them.
FLAGS = {
    "max-len": "maxLen", "hidden": "hiddenDim", "blocks": "numBlocks", "heads": "numHeads", "ffn": "ffnDim",
    "dropout": "dropout", "batch": "batchSize", "lr": "learningRate", "negatives": "negatives", "loss": "loss",
    "gbce-t": "gbceT", "l2": "l2", "bce-weight": "bceWeight", "bpr-weight": "bprWeight", "epochs": "epochs",
    "seed": "seed", "eval-every": "evalEvery", "eval-users": "evalUsers", "patience": "patience",
    "max-steps": "maxSteps", "sse": "sse", "lr-schedule": "lrSchedule", "valid-protocol": "validProtocol",
    "hold-out": "holdOut",
}
LOSSES = ("softmax", "gbce", "bce", "bpr")
HOLD_OUTS = ("every-user", "validation-sample")
VALID_PROTOCOLS = ("full", "sampled-100")
# What each flag does (as npm run train -- --help says it).
FLAG_HELP = {
    "epochs": "epochs of the schedule", "lr": "Adam learning rate, the peak of the schedule",
    "lr-schedule": "constant | cosine: cosine decays the rate to 0 by the last epoch",
    "batch": "global batch (examples a step, split over the ranks)",
    "eval-every": "validate every N epochs and keep the best-validation weights; 0 = never, keep the last",
    "eval-users": "users sampled (seeded) for validation; 0 = all users with a validation item",
    "valid-protocol": "full | sampled-100: rank the validation item against every unseen item or 100 sampled ones",
    "patience": "stop after N validations without improvement; 0 = no early stopping, the whole schedule runs",
    "max-steps": "stop after N steps in total, for smoke runs; 0 = no limit",
    "loss": "softmax | gbce | bce | bpr", "negatives": "uniform negatives shared by a batch; at the number of items or above, every item once (the full softmax)",
    "gbce-t": "gBCE calibration t in [0, 1]", "bce-weight": "add the paper's one-negative BCE with this weight",
    "bpr-weight": "add a pairwise term over the negatives with this weight",
    "l2": "L2 penalty on the embedding rows a batch touches", "dropout": "dropout in the blocks and on the input embeddings",
    "sse": "probability of replacing each training input id by a random item (SSE-SE)",
    "max-len": "history steps read", "hidden": "hidden size", "blocks": "transformer blocks", "heads": "attention heads",
    "ffn": "feed-forward width", "seed": "the run's seed",
    "hold-out": "every-user | validation-sample: whose last two items are held out (every user's, or only the --eval-users sample's: the others train on the whole sequence)",
}
# Steps skipped before the step time is measured for the estimate, and steps measured (training/train.ts's).
ESTIMATE_WARMUP, ESTIMATE_STEPS = 2, 20


class UsageError(Exception):
    pass


# The shape flags a warm start needs equal (training/warm-start.ts SHAPE_FLAGS).
SHAPE_FLAGS = ("hidden", "blocks", "heads", "ffn", "max-len")


def read_init_header(folder: str) -> dict:
    """The scenerec header of an --init-from folder; refuses what is no sasrec model (training/warm-start.ts's messages)."""
    mj = os.path.join(folder, "model.json")
    if not os.path.exists(mj):
        raise UsageError(f"--init-from {folder}: no model.json there; pass the folder an earlier `scenerec train --out` wrote (model.json, weights.bin, vocab.json)")
    try:
        with open(mj, encoding="utf-8") as f:
            header = (json.load(f).get("userDefinedMetadata") or {}).get("scenerec")
    except ValueError as e:
        raise UsageError(f"--init-from {folder}: cannot read the model ({e}); pass a complete model folder (model.json, weights.bin, vocab.json)")
    if not header or "config" not in header:
        raise UsageError(f"--init-from {folder}: model.json has no scenerec header; pass a folder a scenerec trainer wrote")
    arch = header.get("architecture", "sasrec")
    if arch != "sasrec":
        raise UsageError(f"--init-from {folder} is a {arch} model and this run trains sasrec: the PyTorch trainer trains sasrec only; "
                         f"continue it with scenerec train --init-from (the TF.js trainer), or train without --init-from")
    return header


def check_warm_shape(prev_cfg: dict, o: dict, folder: str) -> None:
    diff = [f for f in SHAPE_FLAGS if prev_cfg[FLAGS[f]] != o[FLAGS[f]]]
    if diff:
        want = " ".join(f"--{f} {prev_cfg[FLAGS[f]]}" for f in diff)
        got = " ".join(f"--{f} {o[FLAGS[f]]}" for f in diff)
        raise UsageError(f"--init-from {folder} has another model shape ({want}; this run: {got}): pass {want} "
                         f"(or leave these flags out: they default to the earlier model's), or train without --init-from")


def warm_start(model: SasRec, folder: str, item_ids: list) -> dict:
    """training/warm-start.ts warmStartWeights: item rows matched by id (row 0 as well), every other weight copied
    (shapes are checked equal), new items keep the cold start's rows. Returns the WarmStartReport."""
    try:
        prev, prev_vocab, header = load_model(folder)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"--init-from {folder}: cannot read the model ({e}); pass a complete model folder (model.json, weights.bin, vocab.json)")
    index = {iid: j for j, iid in enumerate(prev_vocab["itemIds"]) if j > 0}
    rows_into = [i for i, iid in enumerate(item_ids) if i > 0 and iid in index]
    copied = []
    with torch.no_grad():
        table, old = model.w("itemEmbedding"), prev.w("itemEmbedding")
        table[0].copy_(old[0])
        if rows_into:
            table[torch.tensor(rows_into)] = old[torch.tensor([index[item_ids[i]] for i in rows_into])]
        for name, w in model.named_weights():
            if name != "itemEmbedding":
                w.copy_(prev.w(name))
                copied.append(name)
    kept = len(rows_into)
    return {"from": folder, "modelVersion": header["modelVersion"], "architecture": "sasrec",
            "items": {"kept": kept, "added": len(item_ids) - 1 - kept, "dropped": len(prev_vocab["itemIds"]) - 1 - kept},
            "copied": copied, "remapped": ["itemEmbedding"], "fresh": []}


def describe_warm_start(r: dict) -> str:
    """training/warm-start.ts describeWarmStart."""
    i = r["items"]
    return (f"warm start from {r['from']} ({r['architecture']} {r['modelVersion']}): items {i['kept']} kept, {i['added']} added, "
            f"{i['dropped']} dropped; {len(r['copied'])} other weights copied")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="interaction log")
    p.add_argument("--format", help="pairs | lines | tianchi (as npm run train), or seqs (scenerec train's binary hand-over, with --item-names)")
    p.add_argument("--out", help="output folder: model.json, weights.bin, vocab.json, training.json")
    for flag, key in FLAGS.items():
        d = DEFAULTS[key]
        kind = str if isinstance(d, str) else (int if isinstance(d, int) and not isinstance(d, bool) and key not in ("l2", "sse", "bceWeight", "bprWeight") else float)
        p.add_argument(f"--{flag}", type=kind, default=d, help=f"{FLAG_HELP.get(flag, 'as npm run train')} (default {d})")
    p.add_argument("--fit-validation", action="store_true", help="refit on training + validation items (test items unseen); needs --eval-every 0")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"], help="weight storage in weights.bin (float16)")
    p.add_argument("--repeats", default="collapse", choices=list(REPEAT_RULES), help="repeat rule of src/model/inputs.ts (collapse: as the SDK serves)")
    p.add_argument("--min-item-count", type=int, default=1, help="drop items with fewer steps (1: keep all)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when available")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op CPU threads per process (1; use more processes for more cores: see docs/training-torch.md)")
    p.add_argument("--time-limit", type=float, default=0, help="stop after the epoch that passes this many seconds of training (0: none)")
    p.add_argument("--tag", default=None, help="modelVersion prefix (default: the --out folder's name)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where each epoch's checkpoint goes (default .checkpoints/<out name>, as npm run train; one torch-rank<r>.pt per process)")
    p.add_argument("--resume", action="store_true",
                   help="continue exactly where the last checkpoint stopped (same options and process count; only --epochs may change)")
    p.add_argument("--init-from", default=None,
                   help="warm start from an earlier sasrec model folder: known items keep their vectors, new items start as a cold start's; "
                        "the shape flags default to that model's (as npm run train --init-from)")
    p.add_argument("--item-names", default=None,
                   help="a JSON array: the log's item ids are indices into it, and the model's vocabulary gets these names "
                        "(how scenerec train hands over a log it read: any id string survives, the log stays whitespace-split)")
    p.add_argument("--print-defaults", action="store_true", help="print the option defaults as JSON and exit")
    a = p.parse_args(argv)
    if a.print_defaults:
        return a, None
    for req in ("data", "format", "out"):
        if getattr(a, req) is None:
            raise UsageError(f"--{req} is required")
    o = {key: getattr(a, flag.replace("-", "_")) for flag, key in FLAGS.items()}
    o["fitValidation"] = bool(a.fit_validation)
    if a.init_from is not None:
        if a.resume:
            raise UsageError("--init-from starts a new run from a model, --resume continues a checkpoint: pass one of them")
        prev = read_init_header(a.init_from)
        given = {x[2:].split("=", 1)[0] for x in argv if x.startswith("--")}
        for flag in SHAPE_FLAGS:  # a warm start's shape flags default to the earlier model's
            if flag not in given:
                o[FLAGS[flag]] = prev["config"][FLAGS[flag]]
        check_warm_shape(prev["config"], o, a.init_from)
    if o["lrSchedule"] not in ("constant", "cosine"):
        raise UsageError("--lr-schedule must be constant or cosine")
    if o["validProtocol"] not in VALID_PROTOCOLS:
        raise UsageError(f"--valid-protocol must be one of {', '.join(VALID_PROTOCOLS)}")
    if o["holdOut"] not in HOLD_OUTS:
        raise UsageError(f"--hold-out must be one of {', '.join(HOLD_OUTS)}")
    if o["loss"] not in LOSSES:
        raise UsageError("--loss must be softmax, gbce, bce or bpr")
    if o["fitValidation"] and o["evalEvery"] > 0:
        raise UsageError("--fit-validation trains on the validation items: pass --eval-every 0 (and the epoch count an earlier run chose)")
    if o["sse"] >= 1 or o["dropout"] >= 1 or o["gbceT"] > 1:
        raise UsageError("--sse and --dropout must be below 1, --gbce-t in [0, 1]")
    for k, v in o.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and (not math.isfinite(v) or v < 0):
            raise UsageError(f"{k} must be a non-negative number")
    if o["hiddenDim"] % o["numHeads"] != 0:
        raise UsageError("hiddenDim must be divisible by numHeads")
    return a, o


def log(rank, *msg):
    if rank == 0:
        print(*msg, flush=True)


def setup():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def all_gather(obj, world):
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


class Loss(torch.nn.Module):
    """The TS trainer's losses (training/loss.ts sampledSoftmaxLoss) inside forward, so DDP sees every use of the weights."""
    def __init__(self, model: SasRec, o: dict):
        super().__init__()
        self.model = model
        self.o = o

    def forward(self, inputs, targets, negs, pos_negs=None, denom=None):
        """`denom`: what the per-position sums are divided by (default: this batch's target count). With
        N ranks, the global target count / N: DDP's gradient average then equals the global batch's mean."""
        o = self.o
        cfg = self.model.cfg
        d = cfg["hiddenDim"]
        h = self.model(inputs).reshape(-1, d)
        t = targets.reshape(-1)
        table = self.model.w("itemEmbedding")
        # Only positions with a target: padding ones weigh 0 in the TS loss, so leaving them out changes nothing but the cost.
        keep = (t != 0).nonzero().squeeze(1)
        h, t = h[keep], t[keep]
        pos_emb = F.embedding(t, table)
        neg_emb = F.embedding(negs, table)
        pos = (h * pos_emb).sum(-1)
        valid = torch.ones_like(pos)
        count = valid.sum().clamp(min=1) if denom is None else denom
        full = negs.shape[0] == cfg["numItems"]  # every item once (batch_negatives): the full softmax
        # Accidental hits [BL, K]; the full softmax's cross-entropy over the items does not need them.
        hits = None if full and o["loss"] == "softmax" and o["bprWeight"] <= 0 else t.unsqueeze(1) == negs.unsqueeze(0)
        neg = h @ neg_emb.t()

        def bpr():
            keep = (~hits).to(h.dtype)
            return (F.softplus(neg - pos.unsqueeze(1)) * keep).sum(-1) / keep.sum(-1).clamp(min=1)

        def bce():
            nl = (h * F.embedding(pos_negs.reshape(-1)[keep], table)).sum(-1)
            return F.softplus(-pos) + F.softplus(nl)

        kind = o["loss"]
        if kind == "bce":
            per = bce()
        elif kind == "bpr":
            per = bpr()
        elif kind == "gbce":
            k = negs.shape[0]
            alpha = k / max(cfg["numItems"] - 1, 1)
            beta = alpha * (o["gbceT"] * (1 - 1 / alpha) + 1 / alpha)
            per = F.softplus(-pos) * beta + (F.softplus(neg) * (~hits).to(h.dtype)).sum(-1)
        elif full:
            # The classes are the items themselves: column j is item j + 1.
            per = F.cross_entropy(neg, t - 1, reduction="none")
        else:
            # -log softmax of the positive over [positive, negatives], accidental hits out: one fused log-softmax.
            logits = torch.cat([pos.unsqueeze(1), neg.masked_fill(hits, -1e9)], 1)
            per = F.cross_entropy(logits, torch.zeros_like(t), reduction="none")
        loss = (per * valid).sum() / count
        if kind != "bpr" and o["bprWeight"] > 0:
            loss = loss + o["bprWeight"] * (bpr() * valid).sum() / count
        if kind != "bce" and o["bceWeight"] > 0:
            loss = loss + o["bceWeight"] * (bce() * valid).sum() / count
        if o["l2"] > 0:
            pen = F.embedding(targets.reshape(-1), table).square().sum() + neg_emb.square().sum() + F.embedding(inputs.reshape(-1), table).square().sum()
            loss = loss + o["l2"] * pen / count
        return loss


def batch_negatives(count, num_items, gen):
    """training/train.ts batchNegatives: `count` uniform draws, or every item once when `count` reaches the
    number of items (the full softmax)."""
    if count >= num_items:
        return torch.arange(1, num_items + 1)
    return torch.randint(1, num_items + 1, (count,), generator=gen)


def position_negatives(inputs, targets, num_items, gen, device):
    """One uniform negative per target position outside the example's own items (redrawn up to 20 times)."""
    B, L = targets.shape
    own = torch.cat([inputs, targets], 1)
    negs = torch.randint(1, num_items + 1, (B, L), generator=gen).to(device)
    for _ in range(20):
        clash = (negs.unsqueeze(-1) == own.unsqueeze(1)).any(-1)
        if not clash.any():
            break
        redraw = torch.randint(1, num_items + 1, (B, L), generator=gen).to(device)
        negs = torch.where(clash, redraw, negs)
    return negs * (targets != 0)


def validation_label(protocol, users, sampled):
    """training/train.ts validationLabel: what the validation measures, as the trainers print it."""
    what = "full-ranking NDCG@10" if protocol == "full" else "sampled-100 NDCG@10 (the validation item against 100 sampled items)"
    return f"validation: {what} over " + (f"{users:,} sampled users" if sampled else f"all {users:,} users with a validation item")


def format_estimate(e):
    """training/train.ts formatEstimate."""
    t = e["totalSeconds"]
    total = f"{t / 3600:.1f} h" if t >= 5400 else f"{round(t / 60)} min" if t >= 90 else f"{round(t)} s"
    v = f"; {e['validations']} validation{'' if e['validations'] == 1 else 's'} of ≈ {e['secondsPerValidation']:.1f} s" if e["validations"] > 0 else ""
    return (f"≈ {total} for {e['epochs']} epochs of {e['stepsPerEpoch']} steps "
            f"({e['secondsPerStep']:.3f} s a step over {e['measuredSteps']} measured steps{v})")


@torch.no_grad()
def evaluate(model, cases, num_items, protocol, seed, device, world):
    """HR@10 / NDCG@10 of the held-out item over this rank's cases, summed over the ranks. Cases run in groups
    of similar length, each padded to its longest (padding is masked and positions right-aligned, so the states
    are those of maxLen rows up to float rounding)."""
    model.eval()
    hr = ndcg = 0.0
    n = 0
    L = model.cfg["maxLen"]
    table = model.w("itemEmbedding")
    cases = sorted(cases, key=lambda c: len(c[1]))
    for i in range(0, len(cases), 256):
        batch = cases[i:i + 256]
        width = max(1, min(L, len(batch[-1][1])))
        ids = torch.tensor([pad_history(c[1], width) for c in batch], dtype=torch.long, device=device)
        h = model.last_hidden(ids)
        if protocol == "full":
            # Every item the user has not interacted with: the user's items (but the target) and padding masked out.
            s = h @ table.t()
            rows, cols = [], []
            for r, (_, inp, target) in enumerate(batch):
                seen = set(inp) - {target}
                rows += [r] * len(seen); cols += list(seen)
            s[:, 0] = -float("inf")
            if rows:
                s[torch.tensor(rows, device=device), torch.tensor(cols, device=device)] = -float("inf")
            t = torch.tensor([c[2] for c in batch], device=device)
            ranks = (s > s.gather(1, t.unsqueeze(1))).sum(1).tolist()
        else:
            ranks = []
            for r, (gu, inp, target) in enumerate(batch):
                seen = set(inp)
                # 100 distinct unseen items, seeded by the user's global index: the same for any world size.
                g = np.random.default_rng([seed, gu])
                chosen = []
                avail = num_items - len(seen | {target})
                cs = set()
                while len(chosen) < min(100, avail):
                    x = int(g.integers(1, num_items + 1))
                    if x == target or x in seen or x in cs:
                        continue
                    cs.add(x); chosen.append(x)
                cand = torch.tensor([target] + chosen, device=device)
                sc = table[cand] @ h[r]
                ranks.append(int((sc[1:] > sc[0]).sum()))
        for rank in ranks:
            if rank < 10:
                hr += 1
                ndcg += 1 / math.log2(rank + 2)
            n += 1
    t = torch.tensor([hr, ndcg, n], dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    model.train()
    hr, ndcg, n = t.tolist()
    return {"hr@10": hr / max(n, 1), "ndcg@10": ndcg / max(n, 1), "users": int(n), "protocol": protocol, "target": "valid"}


def read_item_names(names_file: str) -> list:
    """--item-names: a JSON array of strings (index 0 unused)."""
    try:
        with open(names_file, encoding="utf-8") as f:
            names = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--item-names {names_file}: cannot read a JSON array of item ids ({e})")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError(f"--item-names {names_file}: must be a JSON array of strings")
    return names


def named_items(item_ids: list, names_file: str) -> list:
    """--item-names with a text log: its item ids are indices into the names; each becomes its name."""
    names = read_item_names(names_file)
    out = [""]
    for iid in item_ids[1:]:
        k = int(iid) if iid.isdigit() else -1
        if not 0 < k < len(names):
            raise UsageError(f"--item-names {names_file}: the log's item id {iid} is no index into its {len(names)} names")
        out.append(names[k])
    return out


def main(argv=None):
    a, o = parse_args(sys.argv[1:] if argv is None else argv)
    if a.print_defaults:
        print(json.dumps(DEFAULTS))
        return
    world, rank, local = setup()
    use_cuda = a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available())
    if a.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this PyTorch")
    device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    threads = max(1, a.threads)
    torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed = o["seed"]
    torch.manual_seed(seed * 1000 + rank)

    t0 = time.time()
    if a.format == "seqs":
        # Model sequences the TS reader built (scenerec train): the vocabulary is the names, in their order.
        if a.item_names is None:
            raise UsageError("--format seqs needs --item-names (the file's item indices point into it)")
        item_ids = [""] + read_item_names(a.item_names)[1:]
        num_items = len(item_ids) - 1
        seqs, user_offset, num_users, counts = read_seqs(a.data, len(item_ids), rank, world)
        pop = torch.from_numpy(counts.astype(np.float64))
        pop[0] = 0
    else:
        shard = read_shard(a.data, a.format, rank, world)
        parts = all_gather((first_seen_items(shard), collapsed_counts(shard, a.repeats), len(shard.users)), world)
        ordered, counts, seen = [], {}, set()
        for items, c, _ in parts:
            for it in items:
                if it not in seen:
                    seen.add(it); ordered.append(it)
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
        if a.item_names is not None:
            # The ids are indices into the names: keep that order, so the rows are laid out as the names are.
            ordered.sort(key=lambda iid: int(iid) if iid.isdigit() else -1)
        item_ids = build_vocab(ordered, counts, a.min_item_count)
        num_items = len(item_ids) - 1
        seqs = sequences_for(shard, item_ids, a.repeats)
        if a.item_names is not None:
            item_ids = named_items(item_ids, a.item_names)
        user_offset = sum(p[2] for p in parts[:rank])
        num_users = sum(p[2] for p in parts)
        pop = torch.zeros(num_items + 1, dtype=torch.float64)
        for s in seqs:
            if s:
                pop += torch.bincount(torch.tensor(s), minlength=num_items + 1).to(torch.float64)
    if world > 1:
        pop = pop.to(device); dist.all_reduce(pop); pop = pop.cpu()
    num_interactions = int(pop.sum())
    train, valid, test = leave_one_out(seqs)
    log(rank, f"data: {a.data} ({a.format}) {num_users} users, {num_items} items, {num_interactions} interactions; "
              f"read in {time.time() - t0:.1f} s; {world} process(es) on {device.type}, {threads} thread(s) each")
    log(rank, f"options: {json.dumps(o)}")

    # Validation users: a fixed sample (seed + 1) over every user with a validation item, by file order.
    local_valid = [u for u in range(len(seqs)) if valid[u] > 0]
    counts_valid = [p for p in all_gather(len(local_valid), world)]
    total_valid = sum(counts_valid)
    voff = sum(counts_valid[:rank])
    sampled_valid = o["evalUsers"] > 0 and total_valid > o["evalUsers"]
    if sampled_valid:
        # The TS trainer's sample (training/train.ts heldOutSplit: Rng(seed + 1) shuffles the users with a validation
        # item), so npm run eval --hold-out validation-sample ranks the users this run held out, whichever trainer ran.
        pick = np.sort(np.array(Mulberry32(seed + 1).shuffle(list(range(total_valid)))[: o["evalUsers"]]))
        mine = [int(x) - voff for x in pick if voff <= x < voff + len(local_valid)]
    else:
        mine = list(range(len(local_valid)))
    cases = [(user_offset + local_valid[j], train[local_valid[j]], valid[local_valid[j]]) for j in mine]
    if o["holdOut"] == "validation-sample" and sampled_valid:
        # Only the sampled users keep their last two items out (training/train.ts heldOutSplit).
        held = set(local_valid[j] for j in mine)
        train_fit = [t if u in held else seqs[u] for u, t in enumerate(train)]
        valid_fit = [v if u in held else 0 for u, v in enumerate(valid)]
        examples = build_examples(train_fit, valid_fit, o["maxLen"], o["fitValidation"])
    else:
        examples = build_examples(train, valid, o["maxLen"], o["fitValidation"])
    if o["evalEvery"] > 0:
        validation_line = validation_label(o["validProtocol"], min(total_valid, o["evalUsers"]) if sampled_valid else total_valid, sampled_valid)
    else:
        validation_line = "validation: none (--eval-every 0): the last epoch's weights are kept"
    log(rank, validation_line)

    def validations(frm, to):
        """Validations in epochs (frm, to]: every evalEvery-th and the last one."""
        if o["evalEvery"] <= 0:
            return 0
        return sum(1 for e in range(frm + 1, to + 1) if e % o["evalEvery"] == 0 or e == to)

    L = o["maxLen"]
    lens = np.array([len(x) for x, _ in examples], dtype=np.int64)
    inp = np.zeros((len(examples), L), dtype=np.int64)
    tgt = np.zeros((len(examples), L), dtype=np.int64)
    for i, (x, y) in enumerate(examples):
        inp[i, L - len(x):] = x
        tgt[i, L - len(y):] = y
    # Each rank's share of the global batch is proportional to its examples, so every rank has about the
    # same number of batches and an epoch takes the one-process number of steps (ranges balance bytes, not users).
    n_examples = all_gather(len(examples), world)
    local_batch = max(1, round(o["batchSize"] * len(examples) / max(sum(n_examples), 1)))

    cfg = {"numItems": num_items, "maxLen": L, "hiddenDim": o["hiddenDim"], "numBlocks": o["numBlocks"],
           "numHeads": o["numHeads"], "ffnDim": o["ffnDim"], "dropout": o["dropout"]}
    model = SasRec(cfg, seed)  # same init on every rank (seeded), DDP broadcasts rank 0's anyway
    warm = warm_start(model, a.init_from, item_ids) if a.init_from is not None else None
    if warm:
        log(rank, describe_warm_start(warm))
    model = model.to(device)
    net = Loss(model, o)
    ddp = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    opt = torch.optim.Adam(model.parameters(), lr=o["learningRate"], betas=(0.9, 0.999), eps=1e-7)  # tf.train.adam's
    gen = torch.Generator().manual_seed(seed * 7919 + rank)

    def batches_for(epoch):
        g = np.random.default_rng([seed, rank, epoch])
        key = lens + g.random(len(lens)) * 4
        order = np.argsort(key, kind="stable")
        bs = [order[i:i + local_batch] for i in range(0, len(order), local_batch)]
        return [bs[j] for j in g.permutation(len(bs))]

    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state = {"epoch": 0, "step": 0, "bestNdcg": -1.0, "bestEpoch": 0, "stale": 0, "log": [], "trainSeconds": 0.0, "initFrom": warm}
    ckpt_dir = a.checkpoint_dir or os.path.join(".checkpoints", os.path.basename(os.path.abspath(a.out)))
    ckpt_file = os.path.join(ckpt_dir, f"torch-rank{rank}.pt")
    if a.resume:
        if not os.path.exists(ckpt_file):
            raise UsageError(f"--resume: no PyTorch checkpoint {ckpt_file} (a TF.js trainer's checkpoint resumes with --trainer tfjs)")
        ck = torch.load(ckpt_file)
        if ck["world"] != world:
            raise UsageError(f"--resume: the checkpoint was written by {ck['world']} process(es), this run has {world}: resume with the same count")
        differing = [k for k in o if k != "epochs" and ck["options"].get(k) != o[k]]
        if differing:
            raise UsageError(f"--resume: options {', '.join(differing)} differ from the checkpoint's; pass the same options (only --epochs may change)")
        if ck["numItems"] != num_items or ck["examples"] != len(examples):
            raise UsageError("--resume: the data differ from the checkpoint's (items or training examples): resume on the same log")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        best = ck["best"]
        state = ck["state"]
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torchRng"])  # dropout draws from torch's global generator
        if use_cuda and ck.get("cudaRng") is not None:
            torch.cuda.set_rng_state(ck["cudaRng"])
        log(rank, f"resuming from {ckpt_dir}: {state['epoch']} epochs done, step {state['step']}")
    if warm and o["evalEvery"] > 0:
        # The warm start validated before training (training/train.ts): if no epoch beats it, it is what ships.
        m = evaluate(model, cases, num_items, o["validProtocol"], seed + 2, device, world)
        state.update(bestNdcg=m["ndcg@10"], bestEpoch=0)
        state["log"].append({"epoch": 0, "loss": None, "seconds": 0.0, "cpuSeconds": 0.0, "steps": 0, "valid": m})
        log(rank, f"epoch 0 (the warm start, before training): valid {'full-ranking' if m['protocol'] == 'full' else 'sampled-100'} "
                  f"NDCG@10 {m['ndcg@10']:.4f} HR@10 {m['hr@10']:.4f} ({m['users']} users)")
    stop = False
    estimated = False
    while state["epoch"] < o["epochs"] and not stop:
        te, ce = time.time(), time.process_time()
        tm = te
        bl = batches_for(state["epoch"])
        n_steps = torch.tensor([len(bl)], device=device)
        if world > 1:
            dist.all_reduce(n_steps, op=dist.ReduceOp.MAX)  # every rank takes the same number of steps
        n_steps = int(n_steps.item())
        loss_sum, loss_n = 0.0, 0
        for bi in range(n_steps):
            idx = bl[bi % len(bl)] if bl else np.zeros(0, dtype=np.int64)
            blen = max(1, int(lens[idx].max())) if len(idx) else 1
            x = torch.from_numpy(inp[idx, L - blen:])
            y = torch.from_numpy(tgt[idx, L - blen:])
            if o["sse"] > 0:
                rep = (x != 0) & (torch.rand(x.shape, generator=gen) < o["sse"])
                x = torch.where(rep, torch.randint(1, num_items + 1, x.shape, generator=gen), x)
            negs = batch_negatives(o["negatives"], num_items, gen)
            pn = position_negatives(x, y, num_items, gen, "cpu") if (o["loss"] == "bce" or o["bceWeight"] > 0) else None
            x, y, negs = x.to(device), y.to(device), negs.to(device)
            if pn is not None:
                pn = pn.to(device)
            if o["lrSchedule"] == "cosine":
                progress = (state["epoch"] + bi / n_steps) / o["epochs"]
                for grp in opt.param_groups:
                    grp["lr"] = o["learningRate"] * 0.5 * (1 + math.cos(math.pi * progress))
            denom = None
            if world > 1:
                denom = (y != 0).sum().to(torch.float32).reshape(1)
                dist.all_reduce(denom)
                denom = (denom / world).clamp(min=1 / world)[0]
            loss = ddp(x, y, negs, pn, denom)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise RuntimeError(f"loss became {lv} at step {state['step']}; lower --lr")
            loss_sum += lv; loss_n += 1
            state["step"] += 1
            if not estimated:
                done, warm = bi + 1, min(ESTIMATE_WARMUP, n_steps - 1)
                if done == warm:
                    tm = time.time()
                if done - warm >= ESTIMATE_STEPS or done == n_steps:
                    estimated = True
                    tp = time.time()
                    per_step = (tp - tm) / (done - warm)
                    steps = n_steps * o["epochs"]
                    if o["maxSteps"] > 0:
                        steps = min(steps, o["maxSteps"])
                    last_epoch = min(o["epochs"], math.ceil(steps / n_steps))
                    n_valid = validations(0, last_epoch)
                    per_valid = 0.0
                    if n_valid > 0:
                        # One validation timed on a slice of this rank's users, scaled to all of them (the
                        # slice's second run: the first pays one-off costs a whole validation pays once).
                        sl = cases[:256]
                        evaluate(model, sl, num_items, o["validProtocol"], seed + 2, device, 1)
                        tv = time.time()
                        evaluate(model, sl, num_items, o["validProtocol"], seed + 2, device, 1)
                        per_valid = (time.time() - tv) * len(cases) / max(len(sl), 1)
                    est = {"epochs": last_epoch, "stepsPerEpoch": n_steps, "secondsPerStep": per_step, "measuredSteps": done - warm,
                           "validations": n_valid, "secondsPerValidation": per_valid, "totalSeconds": per_step * steps + n_valid * per_valid}
                    log(rank, f"time: {format_estimate(est)}")
                    te += time.time() - tp  # the timed validation slice is not training time
            if o["maxSteps"] > 0 and state["step"] >= o["maxSteps"]:
                stop = True
                break
        if use_cuda:
            torch.cuda.synchronize()
        state["epoch"] += 1
        seconds = time.time() - te
        state["trainSeconds"] += seconds
        # CPU seconds of every process together: on a shared machine wall time says more about the neighbours.
        mean = torch.tensor([loss_sum, loss_n, time.process_time() - ce], dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(mean)
        entry = {"epoch": state["epoch"], "loss": float(mean[0] / mean[1].clamp(min=1)), "seconds": seconds,
                 "cpuSeconds": float(mean[2]), "steps": loss_n}
        if a.time_limit > 0 and state["trainSeconds"] >= a.time_limit:
            stop = True
        last = state["epoch"] >= o["epochs"] or stop
        if o["evalEvery"] > 0 and (state["epoch"] % o["evalEvery"] == 0 or last):
            m = evaluate(model, cases, num_items, o["validProtocol"], seed + 2, device, world)
            entry["valid"] = m
            if m["ndcg@10"] > state["bestNdcg"]:
                state.update(bestNdcg=m["ndcg@10"], bestEpoch=state["epoch"], stale=0)
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["stale"] += 1
                if o["patience"] > 0 and state["stale"] >= o["patience"]:
                    stop = True
        elif o["evalEvery"] == 0:
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            state["bestEpoch"] = state["epoch"]
        state["log"].append(entry)
        # Each process writes its own (its generator differs); written whole, then renamed, so a kill leaves the last one.
        os.makedirs(ckpt_dir, exist_ok=True)
        torch.save({"options": o, "world": world, "numItems": num_items, "examples": len(examples), "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "best": best, "state": state, "generator": gen.get_state(),
                    "torchRng": torch.get_rng_state(), "cudaRng": torch.cuda.get_rng_state() if use_cuda else None}, ckpt_file + ".tmp")
        os.replace(ckpt_file + ".tmp", ckpt_file)
        v = entry.get("valid")
        vs = (f" valid {'full-ranking' if v['protocol'] == 'full' else 'sampled-100'} NDCG@10 {v['ndcg@10']:.4f} HR@10 {v['hr@10']:.4f}"
              f" ({v['users']} users)") if v else ""
        log(rank, f"epoch {state['epoch']}/{o['epochs']} loss {entry['loss']:.4f} {seconds:.1f} s ({entry['cpuSeconds']:.1f} CPU s){vs} (best epoch {state['bestEpoch']})")

    if rank == 0:
        model.load_state_dict(best)
        vocab = {"itemIds": item_ids, "popularity": [int(x) for x in pop.tolist()]}
        tag = a.tag or os.path.basename(os.path.abspath(a.out))
        saved = save_model(a.out, model, vocab, a.dtype, tag)
        summary = {
            "command": "torchrun ... training/torch/train.py " + " ".join(sys.argv[1:]) if world > 1 else "python3 training/torch/train.py " + " ".join(sys.argv[1:]),
            "trainer": "pytorch", "modelVersion": saved["header"]["modelVersion"],
            "data": {"file": a.data, "format": a.format, "repeats": a.repeats, "users": num_users, "items": num_items, "interactions": num_interactions},
            "options": o, "initFrom": state.get("initFrom"), "validProtocol": o["validProtocol"], "validation": validation_line, "weightDtype": a.dtype, "artifactBytes": saved["bytes"],
            "trainSeconds": round(state["trainSeconds"], 2), "epochs": state["epoch"], "bestEpoch": state["bestEpoch"], "steps": state["step"],
            "log": state["log"],
            "machine": {"processes": world, "device": device.type, "threadsPerProcess": threads, "cpus": os.cpu_count(),
                        "torch": torch.__version__, "python": sys.version.split()[0],
                        "gpu": torch.cuda.get_device_name(device) if use_cuda else None},
        }
        with open(os.path.join(a.out, "training.json"), "w") as f:
            json.dump(summary, f, indent=1)
        log(rank, f"saved {a.out} ({saved['bytes'] / 1e6:.2f} MB, {a.dtype}, version {saved['header']['modelVersion']}); "
                  f"trained {state['epoch']} epochs in {state['trainSeconds']:.1f} s, best epoch {state['bestEpoch']}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main()
    except (UsageError, DataFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
