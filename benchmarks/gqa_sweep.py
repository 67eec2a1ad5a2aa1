"""Grouped-query attention on the CPU, three ways, against transformers' (``repeat_kv`` then one
``scaled_dot_product_attention``): bit-equal over a sweep of shapes, and the time of one large call.

    python benchmarks/gqa_sweep.py --threads 1,2,3,4

The three ways: ``repeat`` (transformers': every key/value head copied ``g`` times), ``per-head`` (one
call per query head of a group on the key/value heads in place; ``agentprm_bench.attention`` before
10bb6e7) and ``enable_gqa`` (one call, torch maps query head i to key/value head i // g; the library
since 10bb6e7). All with a padding mask (B, 1, Q, K) that hides the first 3 keys of row 0 and is
causal over the last Q keys, as a prefill onto a cache. Per thread count, two sweeps (seeded random
inputs): A, fp32, head size 16, batch 1/3/8/64, 1-3 key/value heads, groups of 2-3, 1-40 queries,
16-1,100 keys; B, fp32 and bf16, head sizes 32/64, batch 1/5/16, 1-2 key/value heads, groups of 2/4,
1-1,500 queries, 7-1,600 keys. Prints, per thread count and sweep, how many shapes differ from
``repeat`` (and the query lengths among them), then a table of ms per call for 64 rows, 4 query heads
on 2 key/value heads, 8 queries, 3,000 keys, head size 32 (median of ``--repeats``).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

F = torch.nn.functional.scaled_dot_product_attention
SWEEP_A = ([torch.float32], [16], [1, 3, 8, 64], [1, 2, 3], [2, 3], [1, 2, 3, 5, 8, 40], [16, 49, 300, 1100])
SWEEP_B = ([torch.float32, torch.bfloat16], [32, 64], [1, 5, 16], [1, 2], [2, 4], [1, 3, 7, 300, 1500],
           [7, 300, 1600])


def repeat(q, k, v, mask, g):
    return F(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), attn_mask=mask)


def per_head(q, k, v, mask, g):
    b, h, n, d = q.shape
    grouped = q.reshape(b, h // g, g, n, d)  # query head j*g + r reads key/value head j
    return torch.stack([F(grouped[:, :, r], k, v, attn_mask=mask) for r in range(g)], 2).reshape(b, h, n, d)


def enable_gqa(q, k, v, mask, g):
    return F(q, k, v, attn_mask=mask, enable_gqa=True)


def inputs(dtype, d, b, kv, g, n, keys, gen):
    q = torch.randn(b, kv * g, n, d, generator=gen).to(dtype)
    k, v = (torch.randn(b, kv, keys, d, generator=gen).to(dtype) for _ in range(2))
    mask = torch.ones(b, 1, n, keys, dtype=torch.bool).tril(keys - n)
    mask[0, :, :, :3] = False
    return q, k, v, mask


def sweep(grid) -> dict[str, list[int]]:
    """Way -> the query lengths of the shapes where it differs from ``repeat``; and the shape count."""
    gen, differ, count = torch.Generator().manual_seed(0), {"per-head": [], "enable_gqa": []}, 0
    for dtype, d, b, kv, g, n, keys in itertools.product(*grid):
        if n > keys:
            continue
        q, k, v, mask = inputs(dtype, d, b, kv, g, n, keys, gen)
        want, count = repeat(q, k, v, mask, g), count + 1
        for name, way in (("per-head", per_head), ("enable_gqa", enable_gqa)):
            if not torch.equal(way(q, k, v, mask, g), want):
                differ[name].append(n)
    return differ, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    print("| threads | sweep | shapes | per-head differs | enable_gqa differs |\n|---|---|---|---|---|")
    for t in counts:
        torch.set_num_threads(t)
        for label, grid in (("A", SWEEP_A), ("B", SWEEP_B)):
            differ, count = sweep(grid)
            cells = [f"{len(v)} (queries {sorted(set(v))})" if v else "0" for v in differ.values()]
            print(f"| {t} | {label} | {count} | {cells[0]} | {cells[1]} |", flush=True)
    gen = torch.Generator().manual_seed(0)
    q, k, v, mask = inputs(torch.float32, 32, 64, 2, 2, 8, 3000, gen)
    print("\n| threads | repeat ms | per-head ms | enable_gqa ms |\n|---|---|---|---|")
    for t in counts:
        torch.set_num_threads(t)
        row = []
        for way in (repeat, per_head, enable_gqa):
            way(q, k, v, mask, 2)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                way(q, k, v, mask, 2)
                times.append(time.perf_counter() - t0)
            row.append(f"{1000 * statistics.median(times):.1f}")
        print(f"| {t} | {' | '.join(row)} |", flush=True)


if __name__ == "__main__":
    main()
