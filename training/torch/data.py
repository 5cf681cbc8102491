"""
Interaction logs -> per-user item sequences, the same rules as the TS reader (training/data.ts,
training/node-io.ts trainingSequences, src/model/inputs.ts modelSequence), plus a reader that shards
a large log across torchrun ranks.

Formats (as training/data.ts): `pairs` ("<user> <item>" per line, lines grouped by user), `lines`
("<user> <item> <item> ..."), `tianchi` (user, item, behaviour, YYYYMMDD, tab-separated). And `seqs`,
the binary form scenerec train hands over (training/torch/python.ts writeSeqs): every user's model
sequence as the TS reader built it, item indices into the run's --item-names; read without parsing.

Sharding: for `pairs` and `lines` each rank reads only its byte range of the file, aligned to whole
users (a user belongs to the rank whose range holds the user's first line), so no rank ever holds
the whole log. Ranges are contiguous and in file order, so the items' first-seen order (the model
index order) is the file order, as in the TS reader: the ranks exchange only their item lists and
counts to agree on the vocabulary. `tianchi` is sorted by date before it is grouped, so every rank
reads the whole file and keeps the users whose index modulo the world size is its rank.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

FORMATS = ("pairs", "lines", "tianchi")
# The `seqs` file: int32 little-endian [SEQS_MAGIC, SEQS_VERSION, users, steps, length per user..., items...].
SEQS_MAGIC, SEQS_VERSION = 0x53514553, 1
REPEAT_RULES = ("collapse", "collapse-raw", "keep")
_ID = re.compile(r"^[A-Za-z0-9_.:\-]+$")


class DataFormatError(Exception):
    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.name = "DataFormatError"


@dataclass
class Shard:
    """One rank's users: raw item-id sequences (strings), oldest first."""
    users: list = field(default_factory=list)
    items: list = field(default_factory=list)  # per user, list of item id strings


def _byte_ranges(path: str, world: int) -> list:
    size = os.path.getsize(path)
    return [(size * r // world, size * (r + 1) // world) for r in range(world)]


def _user_of(line: bytes, fmt: str) -> bytes | None:
    s = line.strip()
    if not s or s.startswith(b"#"):
        return None
    return s.split(None, 1)[0]


def _read_range(path: str, fmt: str, start: int, end: int):
    """Lines (number, text) of the users whose first line starts in [start, end)."""
    with open(path, "rb") as f:
        # Line numbers are only for messages: count the newlines before `start` once.
        line_no = 0
        if start > 0:
            f.seek(0)
            remaining = start
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 24))
                line_no += chunk.count(b"\n")
                remaining -= len(chunk)
            # Start at the first line beginning at or after `start`.
            f.seek(start - 1)
            if f.read(1) != b"\n":
                f.readline()
                line_no += 1
        pos = f.tell()
        prev_user = None
        if pos > 0 and fmt == "pairs":
            # The user of the last line before our range: if our first line continues it, skip it.
            prev_user = _last_user_before(path, pos, fmt)
        skipping = prev_user is not None
        while True:
            line = f.readline()
            if not line:
                return
            line_no += 1
            user = _user_of(line, fmt)
            if user is None:
                pos += len(line)
                continue
            if skipping:
                if user == prev_user:
                    pos += len(line)
                    continue
                skipping = False
            if pos >= end:
                # Past our range: finish the user whose lines straddle the boundary, then stop.
                if fmt != "pairs" or user != prev_user:
                    return
            yield line_no, line.decode("utf-8").strip()
            prev_user = user
            pos += len(line)


def _last_user_before(path: str, pos: int, fmt: str) -> bytes | None:
    with open(path, "rb") as f:
        back = min(pos, 1 << 16)
        while True:
            f.seek(pos - back)
            buf = f.read(back)
            lines = buf.split(b"\n")
            # The last element is '' (buf ends with a newline); look for the last complete non-empty line.
            for ln in reversed(lines[1:] if back < pos else lines):
                u = _user_of(ln, fmt)
                if u is not None:
                    return u
            if back >= pos:
                return None
            back = min(pos, back * 4)


def _parse_line(fmt: str, line: str, file: str, line_no: int):
    def bad(why):
        return DataFormatError(file, line_no, f'{why} (format "{fmt}"): "{line[:80]}"')
    if fmt == "tianchi":
        fields = line.split("\t")
        if len(fields) != 4:
            raise bad("expected 4 tab-separated fields: user_id, item_id, behaviour, date")
        if not _ID.match(fields[0]) or not _ID.match(fields[1]):
            raise bad("ids must be letters, digits, _ . : -")
        if fields[2] not in ("1", "2", "3", "4"):
            raise bad("behaviour must be 1 (click), 2 (favourite), 3 (cart) or 4 (purchase)")
        if not re.match(r"^\d{8}$", fields[3]):
            raise bad("date must be YYYYMMDD")
        return fields[0], [fields[1]], int(fields[3])
    fields = line.split()
    if fmt == "pairs":
        if len(fields) != 2:
            raise bad('expected "<user_id> <item_id>"')
        if not _ID.match(fields[0]) or not _ID.match(fields[1]):
            raise bad("ids must be letters, digits, _ . : -")
        return fields[0], [fields[1]], 0
    if len(fields) < 2:
        raise bad('expected "<user_id> <item_id> [<item_id> ...]"')
    if not all(_ID.match(x) for x in fields):
        raise bad("ids must be letters, digits, _ . : -")
    return fields[0], fields[1:], 0


def read_shard(path: str, fmt: str, rank: int = 0, world: int = 1) -> Shard:
    """The users of `rank`'s part of the log (all users when world = 1), in file order."""
    if fmt not in FORMATS:
        raise DataFormatError("(arguments)", 0, f'unknown format "{fmt}"; use one of {", ".join(FORMATS)}')
    if not os.path.exists(path):
        raise DataFormatError(path, 0, "cannot read file: no such file")
    shard = Shard()
    index = {}
    if fmt == "tianchi":
        events = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                s = line.strip()
                if not s or s.startswith("#"):
                    continue
                u, items, date = _parse_line(fmt, s, path, n)
                events.append((date, len(events), u, items[0]))
        events.sort()
        order = {}
        for _, _, u, it in events:
            k = order.setdefault(u, len(order))
            if k % world != rank:
                continue
            if u not in index:
                index[u] = len(shard.users); shard.users.append(u); shard.items.append([])
            shard.items[index[u]].append(it)
        return shard
    start, end = _byte_ranges(path, world)[rank]
    seen_pairs = set()
    last = None
    for n, line in _read_range(path, fmt, start, end):
        u, items, _ = _parse_line(fmt, line, path, n)
        if fmt == "pairs" and u != last:
            if u in seen_pairs:
                raise DataFormatError(path, n, f"user {u} appears again after other users; lines must be grouped by user")
            seen_pairs.add(u)
        last = u
        if u not in index:
            index[u] = len(shard.users); shard.users.append(u); shard.items.append([])
        shard.items[index[u]].extend(items)
    return shard


def read_seqs(path: str, num_names: int, rank: int = 0, world: int = 1):
    """A `seqs` file's users of `rank` (a contiguous range, balanced by steps): (sequences, first user, users in all,
    item counts of the range). The file is mapped, not read whole; its indices are checked against the names."""
    import numpy as np
    if not os.path.exists(path):
        raise DataFormatError(path, 0, "cannot read file: no such file")
    a = np.memmap(path, dtype="<i4", mode="r")
    if len(a) < 4 or int(a[0]) != SEQS_MAGIC or int(a[1]) != SEQS_VERSION:
        raise DataFormatError(path, 0, f"not a version {SEQS_VERSION} seqs file (scenerec train writes them)")
    users, steps = int(a[2]), int(a[3])
    if users < 0 or steps < 0 or len(a) != 4 + users + steps:
        raise DataFormatError(path, 0, f"a seqs file of {users} users and {steps} steps has {len(a) - 4} values after its header")
    lens = np.asarray(a[4:4 + users], dtype=np.int64)
    offsets = np.zeros(users + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    if users and (lens.min() < 0 or offsets[-1] != steps):
        raise DataFormatError(path, 0, "the sequence lengths do not add up to the steps")
    starts = offsets[:-1]
    lo = int(np.searchsorted(starts, steps * rank // world, "left")) if rank > 0 else 0
    hi = int(np.searchsorted(starts, steps * (rank + 1) // world, "left")) if rank < world - 1 else users
    items = np.asarray(a[4 + users + offsets[lo]:4 + users + offsets[hi]], dtype=np.int64)
    if len(items) and (items.min() < 1 or items.max() >= num_names):
        raise DataFormatError(path, 0, f"an item index outside 1..{num_names - 1} (the --item-names)")
    base = offsets[lo]
    seqs = [items[offsets[u] - base:offsets[u + 1] - base].tolist() for u in range(lo, hi)]
    return seqs, lo, users, np.bincount(items, minlength=num_names)


def model_sequence(items, model_of, repeats: str = "collapse") -> list:
    """src/model/inputs.ts modelSequence (ids only): unknown items dropped, repeats per the rule."""
    ids = []
    for i, it in enumerate(items):
        m = model_of(it)
        if m is None:
            continue
        if repeats == "collapse":
            rep = bool(ids) and ids[-1] == m
        elif repeats == "collapse-raw":
            rep = i > 0 and items[i - 1] == it
        else:
            rep = False
        if not rep:
            ids.append(m)
    return ids


def first_seen_items(shard: Shard) -> list:
    """Item ids in first-seen order over the shard's users (file order for pairs / lines)."""
    seen = {}
    for items in shard.items:
        for it in items:
            if it not in seen:
                seen[it] = True
    return list(seen)


def collapsed_counts(shard: Shard, repeats: str) -> dict:
    """Steps per item over the shard's sequences with every item known (what min-item-count counts)."""
    counts = {}
    for items in shard.items:
        for m in model_sequence(items, lambda x: x, repeats):
            counts[m] = counts.get(m, 0) + 1
    return counts


def build_vocab(ordered_items: list, counts: dict, min_item_count: int) -> list:
    """itemIds (index 0 = ''): the items with at least `min_item_count` steps, first-seen order."""
    return [""] + [it for it in ordered_items if min_item_count <= 1 or counts.get(it, 0) >= min_item_count]


def sequences_for(shard: Shard, item_ids: list, repeats: str) -> list:
    index = {it: i for i, it in enumerate(item_ids) if i > 0}
    return [model_sequence(items, index.get, repeats) for items in shard.items]


def leave_one_out(seqs: list):
    """training/data.ts leaveOneOut: last item test, second last validation, the rest training."""
    train, valid, test = [], [], []
    for s in seqs:
        if len(s) < 3:
            train.append(s); valid.append(0); test.append(0)
        else:
            train.append(s[:-2]); valid.append(s[-2]); test.append(s[-1])
    return train, valid, test


def build_examples(train: list, valid: list, max_len: int, fit_validation: bool = False) -> list:
    """training/train.ts buildExamples (over fittedSplit): (inputs, targets) of the most recent max_len steps."""
    out = []
    for s, v in zip(train, valid):
        if fit_validation and v:
            s = s + [v]
        if len(s) < 2:
            continue
        take = min(len(s) - 1, max_len)
        out.append((s[len(s) - 1 - take:len(s) - 1], s[len(s) - take:]))
    return out


class Mulberry32:
    """training/rng.ts Rng, bit for bit: the evaluator's sampled negatives come from it."""
    def __init__(self, seed: int):
        s = seed & 0xFFFFFFFF
        self.state = s or 0x9E3779B9

    def next(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    def int(self, lo: int, hi: int) -> int:
        return lo + math.floor(self.next() * (hi - lo))

    def shuffle(self, a: list) -> list:
        for i in range(len(a) - 1, 0, -1):
            j = math.floor(self.next() * (i + 1))
            a[i], a[j] = a[j], a[i]
        return a


def _imul(a: int, b: int) -> int:
    return (a * b) & 0xFFFFFFFF
