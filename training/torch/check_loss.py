"""The trainer's losses (train.py Loss, over target positions only, fused log-softmax) = the TS formulation (training/loss.ts, every position masked)."""
import sys, torch, math
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
import torch.nn.functional as F
from model import SasRec
from train import Loss, DEFAULTS
torch.manual_seed(0)
cfg = {"numItems": 500, "maxLen": 20, "hiddenDim": 16, "numBlocks": 2, "numHeads": 2, "ffnDim": 16, "dropout": 0.0}
m = SasRec(cfg)
x = torch.randint(0, 501, (8, 20)); y = torch.randint(0, 501, (8, 20)); y[:, :5] = 0
negs = torch.randint(1, 501, (64,)); negs[0] = y[0, 10]
pn = torch.randint(1, 501, (8, 20))
for kind in ["softmax", "gbce", "bpr", "bce"]:
    o = dict(DEFAULTS); o["loss"] = kind; o["l2"] = 0.01; o["bprWeight"] = 0.3 if kind != "bpr" else 0; o["bceWeight"] = 0.2 if kind != "bce" else 0
    new = float(Loss(m, o)(x, y, negs, pn))
    # Reference: the TS formulation over every position, masked.
    h = m(x).reshape(-1, 16); t = y.reshape(-1); E = m.w("itemEmbedding")
    pos = (h * E[t]).sum(-1); valid = (t != 0).float(); c = valid.sum()
    neg = h @ E[negs].t(); hits = t[:, None] == negs[None]
    def bpr(): keep = (~hits).float(); return (F.softplus(neg - pos[:, None]) * keep).sum(-1) / keep.sum(-1).clamp(min=1)
    def bce(): return F.softplus(-pos) + F.softplus((h * E[pn.reshape(-1)]).sum(-1))
    if kind == "softmax":
        per = torch.logaddexp(pos, torch.logsumexp(neg + hits.float() * -1e9, -1)) - pos
    elif kind == "gbce":
        k = 64; alpha = k / 499; beta = alpha * (0.75 * (1 - 1 / alpha) + 1 / alpha)
        per = F.softplus(-pos) * beta + (F.softplus(neg) * (~hits).float()).sum(-1)
    elif kind == "bpr": per = bpr()
    else: per = bce()
    ref = (per * valid).sum() / c
    if kind != "bpr": ref = ref + 0.3 * (bpr() * valid).sum() / c
    if kind != "bce": ref = ref + 0.2 * (bce() * valid).sum() / c
    ref = ref + 0.01 * (E[t].square().sum() + E[negs].square().sum() + E[x.reshape(-1)].square().sum()) / c
    assert abs(new - float(ref)) < 1e-5 * max(1, abs(float(ref))), (kind, new, float(ref))
    print(kind, "ok", new)
