"""Sharded reading = one reader: for each world size, the ranks' users and items concatenated in rank order equal the whole file's.

  python3 training/torch/check_shards.py FILE FORMAT [WORLD ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import read_shard  # noqa: E402

path, fmt = sys.argv[1], sys.argv[2]
worlds = [int(w) for w in sys.argv[3:]] or [2, 3, 5, 8]
full = read_shard(path, fmt)
for w in worlds:
    users, items = [], []
    for r in range(w):
        s = read_shard(path, fmt, r, w)
        users += s.users
        items += s.items
    assert users == full.users and items == full.items, f"world {w}: shards differ from the whole file"
    print(f"world {w} ok: {len(users)} users")
