#!/usr/bin/env python3
"""All-reduce anchor: torch.distributed with the gloo backend (what CPU DDP uses).

Starts --peers processes on this machine, each joining a gloo process group over
TCP on 127.0.0.1, and times --iters all_reduce(SUM) calls of a float32 tensor of
--size bytes after --warmup untimed ones, with a barrier before each timed call.
Prints, like `asf bench allreduce`, the mean and best time, algbw = S/t and
busbw = algbw * 2(W-1)/W in GB/s (1e9 B/s), and the float32 elements reduced
per second (S/4/t), the figure to set against asf's per element.

    /usr/bin/python3 bench/pytorch/gloo_allreduce.py --peers 2 --size 4MiB
    /usr/bin/python3 bench/pytorch/gloo_allreduce.py --peers 4 --size 64MiB --iters 10
"""
import argparse
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def parse_size(s):
    units = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 10**6), ("GB", 10**9), ("B", 1)]
    for suf, mult in units:
        if s.upper().endswith(suf.upper()):
            return int(s[: -len(suf)]) * mult
    return int(s)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer(rank, args, port, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.peers)
    n = args.size // 4
    g = torch.Generator().manual_seed(rank + 1)
    src = torch.randn(n, generator=g, dtype=torch.float32)
    buf = src.clone()
    times = []
    for it in range(args.warmup + args.iters):
        buf.copy_(src)
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        d = time.perf_counter() - t0
        if it >= args.warmup:
            times.append(d)
    # Every peer's time of a reduction is when it finished; the slowest is the
    # reduction's time.
    t = torch.tensor(times, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if rank == 0:
        out.put(t.tolist())
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=int, default=2)
    ap.add_argument("--size", default="64MiB", help="tensor size in bytes (B, KiB, MiB, GiB, KB, MB, GB)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    args.size = parse_size(args.size)
    if args.peers < 2 or args.size < 4 or args.iters < 1:
        sys.exit("gloo_allreduce.py: want --peers >= 2, --size >= 4 bytes, --iters >= 1")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=peer, args=(r, args, port, out)) for r in range(args.peers)]
    for p in procs:
        p.start()
    times = out.get()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"gloo_allreduce.py: a peer exited with {p.exitcode}")
    w, s = args.peers, (args.size // 4) * 4
    mean, best = sum(times) / len(times), min(times)
    alg = s / mean / 1e9
    bus = alg * 2 * (w - 1) / w
    print(f"gloo all_reduce float32 on 127.0.0.1: torch {torch.__version__}, {w} processes, 1 thread each, {args.iters} timed + {args.warmup} warm-up")
    print(f"{'peers':>5} {'size(B)':>10} {'mean(ms)':>8} {'best(ms)':>8} {'algbw':>7} {'busbw':>7} {'bestbus':>8} {'elems/s':>10}")
    print(f"{w:5d} {s:10d} {mean*1e3:8.1f} {best*1e3:8.1f} {alg:7.3f} {bus:7.3f} {s/best/1e9*2*(w-1)/w:8.3f} {s/4/mean:10.4g}")


if __name__ == "__main__":
    main()
