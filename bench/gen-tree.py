#!/usr/bin/env python3
"""Deterministic release tree for berth's benchmarks.

usage: gen-tree.py OUT [--files N] [--seed S] [--change PCT] [--version V] [--big-gib G]

Writes OUT/berth.toml and about N files (default 15,000, ~80 MB) in nested directories with
mixed sizes: mostly small text-like files, some larger binary-like ones, a few executables
and empty files. With --change PCT, the same tree with PCT% of the files' contents changed
(same seed otherwise), i.e. the next release. --big-gib G makes G GiB of 16 MiB files
instead (for the peak-memory measurement).
"""
import argparse, os, random

WORDS = ("the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet function "
         "return value const let var import export class module package version config "
         "server client request response handler error warning info debug").split()


_CORPUS = " ".join(random.Random(7).choice(WORDS) for _ in range(400000)).encode()


def text(rng, size):
    """Text-like, compressible, and distinct per file: a slice of a word corpus at a random
    offset, with a unique header line."""
    start = rng.randrange(0, len(_CORPUS) - size - 1) if size < len(_CORPUS) - 1 else 0
    head = f"# {rng.getrandbits(64):016x}\n".encode()
    return (head + _CORPUS[start:start + size])[:size]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=15000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--change", type=float, default=0.0)
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--name", default="bench")
    ap.add_argument("--big-gib", type=float, default=0.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "berth.toml"), "w") as f:
        f.write(f'[package]\nname = "{a.name}"\nversion = "{a.version}"\n')
    rng = random.Random(a.seed)
    if a.big_gib:
        n = int(a.big_gib * 64)
        os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
        for i in range(n):
            with open(os.path.join(a.out, "data", f"blob{i:04}"), "wb") as f:
                f.write(random.Random(a.seed * 100003 + i).randbytes(16 << 20))
        return
    change_rng = random.Random(a.seed + 1)
    changed = set(change_rng.sample(range(a.files), int(a.files * a.change / 100)))
    dirs = ["."]
    for i in range(a.files // 40):
        parent = rng.choice(dirs)
        d = os.path.join(parent, f"d{i:04}") if parent.count("/") < 6 else f"d{i:04}"
        dirs.append(d)
        os.makedirs(os.path.join(a.out, "tree", d), exist_ok=True)
    os.makedirs(os.path.join(a.out, "bin"), exist_ok=True)
    for i in range(a.files):
        r = rng.random()
        if r < 0.01:
            size = 0
        elif r < 0.85:
            size = int(rng.lognormvariate(6.5, 1.2))  # median ~700 B
        elif r < 0.997:
            size = rng.randint(8 << 10, 32 << 10)
        else:
            size = rng.randint(128 << 10, 1 << 20)
        size = min(size, 1 << 20)
        binary = rng.random() < 0.3
        content_seed = rng.getrandbits(64)
        if i in changed:
            content_seed ^= 0x5EED
        crng = random.Random(content_seed)
        data = crng.randbytes(size) if binary else text(crng, size)
        if i % 500 == 0:
            path = os.path.join(a.out, "bin", f"tool{i}")
        else:
            path = os.path.join(a.out, "tree", rng.choice(dirs), f"f{i:05}.{'bin' if binary else 'txt'}")
        with open(path, "wb") as f:
            f.write(data)
        if i % 500 == 0:
            os.chmod(path, 0o755)


if __name__ == "__main__":
    main()
