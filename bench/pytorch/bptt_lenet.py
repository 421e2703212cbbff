#!/usr/bin/python3
"""BPTT training speed of the paper's MNIST network in PyTorch on CPU.

The BPTT twin of asf_lenet.py: the same network 20C5-P2-50C5-P2-200FC-10FC (no
biases, init N(0, sqrt(2/fan_in))), the same neurons and forward as asf's engine,
trained by back-propagation through time with autograd and a surrogate gradient
(what `asf train --method bptt` computes):

  forward   T steps with autograd on: signed Poisson input (gain 1/2),
            conv/avgpool/FC, IF neurons H = V + I, s = [H > Vth] (Vth 1, pooling
            neurons 0.75), hard reset V = H (1 - s) with s detached from the graph
            (snnTorch's convention and asf's default; --reset-grad keeps it, as
            SpikingJelly's detach_reset=False), V = leak V (pooling neurons never
            leak); output o = W_N sum_t s_{N-1}(t) / (T Vth).
  backward  autograd through the T steps; ds/dH is the surrogate's derivative:
            atan (SpikingJelly ATan, alpha 2): (alpha/2) / (1 + (pi/2 alpha x)^2)
            fast-sigmoid (SuperSpike, snnTorch slope 25): 1 / (1 + alpha |x|)^2
            with x = H - Vth; MSE (sum) loss, Adam lr 0.00085, weight decay 5e-4.

It prints the same table as asf_lenet.py (samples/s wall and CPU, forward and
backward ms per sample) and writes the same --tsv rows, so compare.sh can put it
beside `asf bench engine --method bptt`. --check-steps trains from scratch and
reports a test accuracy.

Use Debian's PyTorch: /usr/bin/python3 with `apt-get install python3-torch`.
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import asf_lenet  # noqa: E402  (data loading, library report; exits with a message without torch)
from asf_lenet import GAIN, LR, VTH, VTH_POOL, WEIGHT_DECAY, load_mnist, peak_rss_mb  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


class ATanSpike(torch.autograd.Function):
    """Heaviside forward, SpikingJelly's ATan surrogate backward."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return x.gt(0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return g * (a / 2) / (1 + (math.pi / 2 * a * x).square()), None


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, SuperSpike/snnTorch fast-sigmoid surrogate backward."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return x.gt(0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + ctx.alpha * x.abs()).square(), None


SURROGATES = {"atan": (ATanSpike, 2.0), "fast-sigmoid": (FastSigmoidSpike, 25.0)}


class BPTTModel(asf_lenet.CNNModel):
    """asf_lenet's network (same layers and init) run through time with autograd."""

    def __init__(self, surrogate="atan", slope=0.0, reset_grad=False, leak=1.0):
        super().__init__()
        fn, default = SURROGATES[surrogate]
        self.spike_fn, self.alpha = fn, slope if slope > 0 else default
        self.reset_grad, self.leak = reset_grad, leak

    def neuron(self, v, cur, vth, leak):
        h = v + cur
        s = self.spike_fn.apply(h - vth, self.alpha)
        sr = s if self.reset_grad else s.detach()
        return leak * (h * (1 - sr)), s

    def forward_bptt(self, x, steps):
        b = x.size(0)
        mem1, mem1s = torch.zeros(b, 20, 28, 28), torch.zeros(b, 20, 14, 14)
        mem2, mem2s = torch.zeros(b, 50, 14, 14), torch.zeros(b, 50, 7, 7)
        memf0 = torch.zeros(b, 200)
        count = torch.zeros(b, 200)
        absx, sgnx = torch.abs(x) * GAIN, torch.sign(x)
        for _ in range(steps):
            s = (absx > torch.rand_like(x)).float() * sgnx
            mem1, s = self.neuron(mem1, self.cnn1(s), VTH, self.leak)
            mem1s, s = self.neuron(mem1s, self.avgpool1(s), VTH_POOL, 1.0)
            mem2, s = self.neuron(mem2, self.cnn2(s), VTH, self.leak)
            mem2s, s = self.neuron(mem2s, self.avgpool2(s), VTH_POOL, 1.0)
            memf0, s = self.neuron(memf0, self.fc0(s.view(b, -1)), VTH, self.leak)
            count = count + s
        return self.fc1(count) / VTH / steps


class Trainer:
    """One BPTT training step, timed in parts: forward (with graph), backward, Adam."""

    def __init__(self, model):
        self.model = model
        self.criterion = nn.MSELoss(reduction="sum")
        self.opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.reset_timers()

    def reset_timers(self):
        self.wall, self.cpu = [0.0] * 3, [0.0] * 3

    def step(self, x, y, steps):
        w, c = [time.perf_counter()], [time.process_time()]

        def lap():
            w.append(time.perf_counter())
            c.append(time.process_time())
        self.opt.zero_grad()
        out = self.model.forward_bptt(x, steps)
        target = torch.zeros_like(out).scatter_(1, y.unsqueeze(1), 1.0)
        loss = self.criterion(out, target)
        lap()
        loss.backward()
        lap()
        self.opt.step()
        lap()
        for i in range(3):
            self.wall[i] += w[i + 1] - w[i]
            self.cpu[i] += c[i + 1] - c[i]
        return loss.item(), (out.detach().argmax(1) == y).sum().item()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", default="asf-data/mnist", help="folder with the four MNIST IDX .gz files")
    p.add_argument("--T", default="20,100", help="comma-separated time steps to measure")
    p.add_argument("--batch", type=int, default=64, help="batch size")
    p.add_argument("--steps", type=int, default=5, help="measured training steps per T")
    p.add_argument("--warmup", type=int, default=2, help="warm-up steps per T before measuring")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=1, help="torch/numpy seed (init, shuffle, Poisson draws)")
    p.add_argument("--surrogate", choices=sorted(SURROGATES), default="atan", help="surrogate derivative")
    p.add_argument("--slope", type=float, default=0.0, help="surrogate slope alpha (0 = its default)")
    p.add_argument("--reset-grad", action="store_true", help="back-propagate through the reset too")
    p.add_argument("--mkldnn", choices=("on", "off"), default="on", help="oneDNN convolutions (PyTorch's CPU default)")
    p.add_argument("--check-steps", type=int, default=0, help="if > 0: train this many steps at --check-T and test")
    p.add_argument("--check-T", type=int, default=20, help="T for --check-steps")
    p.add_argument("--check-test", type=int, default=1000, help="test images evaluated after --check-steps")
    p.add_argument("--tsv", default="", help="also write the result rows, tab-separated, to this file")
    a = p.parse_args()
    try:
        ts = [int(v) for v in a.T.split(",") if v.strip()]
    except ValueError:
        raise SystemExit("bptt_lenet.py: --T %r: expected comma-separated integers such as 20,100" % a.T)
    if not ts or min(ts) < 1 or a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        raise SystemExit("bptt_lenet.py: --T, --batch, --steps, --threads must be >= 1 and --warmup >= 0")
    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    xtr, ytr = load_mnist(a.mnist_dir, "train")
    perm = torch.from_numpy(np.random.permutation(xtr.size(0)))
    nb = xtr.size(0) // a.batch

    def batch(k):
        idx = perm[(k % nb) * a.batch:(k % nb + 1) * a.batch]
        return xtr[idx].contiguous(), ytr[idx].contiguous()

    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    print("PyTorch %s, torch threads %d; BLAS/OpenMP libraries loaded: %s"
          % (torch.__version__, torch.get_num_threads(), ", ".join(asf_lenet.blas_libraries()) or "none found"))
    print("BPTT: surrogate %s, slope %g, reset %s" % (a.surrogate, a.slope or SURROGATES[a.surrogate][1],
                                                       "attached" if a.reset_grad else "detached"))
    rows = []
    k = 0
    for T in ts:
        torch.manual_seed(a.seed)
        tr = Trainer(BPTTModel(a.surrogate, a.slope, a.reset_grad))
        for _ in range(a.warmup):
            x, y = batch(k)
            k += 1
            tr.step(x, y, T)
        tr.reset_timers()
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            x, y = batch(k)
            k += 1
            tr.step(x, y, T)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        n = a.steps * a.batch
        rows.append(dict(T=T, sps=n / wall, cpu_est=n * a.threads / cpu, ms_batch=wall * 1e3 / a.steps,
                         fwd_cpu=tr.cpu[0] * 1e3 / n, bwd_cpu=tr.cpu[1] * 1e3 / n,
                         fwd_wall=tr.wall[0] * 1e3 / n, bwd_wall=tr.wall[1] * 1e3 / n, rss=peak_rss_mb()))
    if rows:
        print("\nPyTorch BPTT benchmark: 20C5-P2-50C5-P2-200FC-10FC on MNIST, batch %d, %d thread(s), "
              "%d warm-up + %d measured steps per T" % (a.batch, a.threads, a.warmup, a.steps))
        hdr = ("T", "samples/s", "cpu est.", "ms/batch", "fwd ms/s wall", "bwd ms/s wall", "fwd ms/s cpu",
               "bwd ms/s cpu", "peak RSS MB")
        print("  ".join("%13s" % h for h in hdr))
        for r in rows:
            print("  ".join("%13s" % v for v in (
                "%d" % r["T"], "%.1f" % r["sps"], "%.1f" % r["cpu_est"], "%.1f" % r["ms_batch"],
                "%.3f" % r["fwd_wall"], "%.3f" % r["bwd_wall"], "%.3f" % r["fwd_cpu"], "%.3f" % r["bwd_cpu"],
                "%.0f" % r["rss"])))
        if a.tsv:
            with open(a.tsv, "w") as f:
                f.write("T\tsamples_per_s\tcpu_est\tfwd_ms_cpu\tbwd_ms_cpu\n")
                for r in rows:
                    f.write("%d\t%.2f\t%.2f\t%.4f\t%.4f\n" % (r["T"], r["sps"], r["cpu_est"], r["fwd_cpu"], r["bwd_cpu"]))
    if a.check_steps > 0:
        T = a.check_T
        torch.manual_seed(a.seed + 1)
        model = BPTTModel(a.surrogate, a.slope, a.reset_grad)
        tr = Trainer(model)
        print("\ncorrectness check: %d BPTT steps of batch %d at T=%d from scratch" % (a.check_steps, a.batch, T))
        win_c = win_n = 0
        for k in range(a.check_steps):
            idx = perm[(k % nb) * a.batch:(k % nb + 1) * a.batch]
            loss, c = tr.step(xtr[idx], ytr[idx], T)
            win_c, win_n = win_c + c, win_n + a.batch
            if (k + 1) % 50 == 0 or k + 1 == a.check_steps:
                print("  step %4d  train acc (last %d batches) %6.2f%%  mse %.2f" % (k + 1, win_n // a.batch, 100.0 * win_c / win_n, loss))
                win_c = win_n = 0
        if a.check_test > 0:
            xte, yte = load_mnist(a.mnist_dir, "test")
            xte, yte = xte[:a.check_test], yte[:a.check_test]
            correct = 0
            with torch.no_grad():
                for i in range(0, xte.size(0), a.batch):
                    out = model.forward_bptt(xte[i:i + a.batch], T)
                    correct += (out.argmax(1) == yte[i:i + a.batch]).sum().item()
            print("  test accuracy on the first %d test images (T=%d): %.2f%%" % (xte.size(0), T, 100.0 * correct / xte.size(0)))


if __name__ == "__main__":
    main()
