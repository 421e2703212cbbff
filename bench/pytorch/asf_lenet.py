#!/usr/bin/python3
"""ASF-BP training speed of the paper's MNIST network in PyTorch on CPU.

This is the authors' formulation (neural-lab/ASF-BP, lenet5.py) of
20C5-P2-50C5-P2-200FC-10FC, rewritten for CPU and for timing:

  forward   T steps on dense spike tensors, under no_grad: signed Poisson input
            with gain 1/2, conv/avgpool/FC, IF neurons (hard reset to 0, Vth 1,
            pooling neurons Vth 0.75), accumulating FI (input current) and FO
            (spike count) per layer; adaptive scales S_n updated after the batch
            (an epoch-0 "scale epoch" of the reference: epoch % hz == 0).
  backward  the equivalent network on the accumulated flows via autograd,
            h = FO + M*(a - a.detach()), M = S*[FI > 0], output W*FO/(T*Vth),
            MSE (sum) loss, Adam lr 0.00085 with weight decay 5e-4 (L2).

It reads MNIST from the IDX .gz files (as `asf data fetch mnist` places them),
measures training samples/s on real batches at each T (wall clock and process
CPU time), splits the time into forward (time loop) and backward (equivalent
network + autograd) and optimizer step, and can train a few hundred steps to
check that the model learns (--check-steps).

Use Debian's PyTorch: /usr/bin/python3 with `apt-get install python3-torch`.
"""

import argparse
import gzip
import math
import os
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - environment check
    sys.exit("asf_lenet.py: %s cannot import torch/numpy (%s): apt-get install python3-torch "
             "(and run it with /usr/bin/python3)" % (sys.executable, e))

VTH = 1.0  # conv/FC neuron threshold (ref --vth default)
VTH_POOL = 0.75  # pooling neuron threshold (ref)
GAIN = 0.5  # Poisson gain for [0,1] MNIST pixels (ref: abs(x)/2)
LR = 0.00085  # ref lenet5 --lr
WEIGHT_DECAY = 5e-4  # ref: Adam(..., weight_decay=5e-4)


# ---------------------------------------------------------------- data (IDX)

def _read_idx(path, magic, ndim):
    """Read one gzip-compressed (or plain) IDX file; returns a uint8 array."""
    if not os.path.isfile(path):
        raise SystemExit("asf_lenet.py: %s: file not found (run `go run ./cmd/asf data fetch mnist` "
                         "or pass --mnist-dir)" % path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 + 4 * ndim:
        raise SystemExit("asf_lenet.py: %s: %d bytes, too short for an IDX header of %d dimensions"
                         % (path, len(data), ndim))
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        raise SystemExit("asf_lenet.py: %s: IDX magic 0x%08x, expected 0x%08x" % (path, got, magic))
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    want = 4 + 4 * ndim + int(np.prod(dims))
    if len(data) != want:
        raise SystemExit("asf_lenet.py: %s: %d bytes, header %s says %d" % (path, len(data), dims, want))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(mnist_dir, split):
    """Images as float32 [N,1,28,28] in [0,1] (ToTensor), labels as int64 [N]."""
    prefix = "train" if split == "train" else "t10k"
    img = _read_idx(os.path.join(mnist_dir, prefix + "-images-idx3-ubyte.gz"), 0x00000803, 3)
    lab = _read_idx(os.path.join(mnist_dir, prefix + "-labels-idx1-ubyte.gz"), 0x00000801, 1)
    if img.shape[0] != lab.shape[0]:
        raise SystemExit("asf_lenet.py: %s: %d images but %d labels" % (mnist_dir, img.shape[0], lab.shape[0]))
    x = torch.from_numpy(img.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(lab.astype(np.int64))
    return x, y


# ---------------------------------------------------------------- model

def if_neuron(mem, threshold, leak):
    """The ref LIF_sNeuron/Pooling_sNeuron: spike where mem > threshold, hard reset to 0, leak."""
    ex = F.threshold(mem, threshold, 0.0)  # mem where mem > threshold, else 0
    mem = mem - ex  # hard reset
    out = ex.gt(0).float()  # ref SpikingNN forward; its backward is never used (no_grad)
    if leak != 1.0:
        mem = leak * mem
    return mem, out


def ave(fo, fi):
    """Ref ave(): sum FO / sum FI over elements with FI >= FO; 1 if that sum < 1e-3."""
    c = fi >= fo
    d = fi[c].sum()
    if d < 1e-3:
        return 1.0
    return (fo[c].sum() / d).item()


def ave_p(fo, fi):
    """Ref ave_p() for pooling neurons: over all elements."""
    d = fi.sum()
    if d < 1e-3:
        return 1.0
    return (fo.sum() / d).item()


class CNNModel(nn.Module):
    """20C5-P2-50C5-P2-200FC-10FC without biases, ref init N(0, sqrt(2/fan_in))."""

    def __init__(self):
        super().__init__()
        self.cnn1 = nn.Conv2d(1, 20, kernel_size=5, stride=1, padding=2, bias=False)
        self.avgpool1 = nn.AvgPool2d(kernel_size=2)
        self.cnn2 = nn.Conv2d(20, 50, kernel_size=5, stride=1, padding=2, bias=False)
        self.avgpool2 = nn.AvgPool2d(kernel_size=2)
        self.fc0 = nn.Linear(50 * 7 * 7, 200, bias=False)
        self.fc1 = nn.Linear(200, 10, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.in_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0.0, math.sqrt(2.0 / m.weight.size(1)))
        # Adaptive scales S_n (ref globals scale1..scale5), one per spiking layer.
        self.scales = [1.0] * 5

    def simulate(self, x, steps, leak=1.0):
        """The time loop (ref forward under no_grad). Returns FO_0, FO_n and FI_n per layer."""
        b = x.size(0)
        with torch.no_grad():
            mem1 = torch.zeros(b, 20, 28, 28)
            mem1s = torch.zeros(b, 20, 14, 14)
            mem2 = torch.zeros(b, 50, 14, 14)
            mem2s = torch.zeros(b, 50, 7, 7)
            memf0 = torch.zeros(b, 200)
            fo0 = torch.zeros(b, 1, 28, 28)
            fo = [torch.zeros(b, 20, 28, 28), torch.zeros(b, 20, 14, 14), torch.zeros(b, 50, 14, 14),
                  torch.zeros(b, 50, 7, 7), torch.zeros(b, 200)]
            fi = [torch.zeros_like(t) for t in fo]
            absx, sgnx = torch.abs(x) * GAIN, torch.sign(x)
            for _ in range(steps):
                # Poisson input: sign(x) * [|x|/2 > u]
                s = (absx > torch.rand_like(x)).float() * sgnx
                fo0 = fo0 + s
                cur = self.cnn1(s)
                mem1 = mem1 + cur
                mem1, s = if_neuron(mem1, VTH, leak)
                fi[0] = fi[0] + cur
                fo[0] = fo[0] + s
                cur = self.avgpool1(s)
                mem1s = mem1s + cur
                mem1s, s = if_neuron(mem1s, VTH_POOL, 1.0)
                fi[1] = fi[1] + cur
                fo[1] = fo[1] + s
                cur = self.cnn2(s)
                mem2 = mem2 + cur
                mem2, s = if_neuron(mem2, VTH, leak)
                fi[2] = fi[2] + cur
                fo[2] = fo[2] + s
                cur = self.avgpool2(s)
                mem2s = mem2s + cur
                mem2s, s = if_neuron(mem2s, VTH_POOL, 1.0)
                fi[3] = fi[3] + cur
                fo[3] = fo[3] + s
                cur = self.fc0(s.view(b, -1))
                memf0 = memf0 + cur
                memf0, s = if_neuron(memf0, VTH, leak)
                fi[4] = fi[4] + cur
                fo[4] = fo[4] + s
        return fo0, fo, fi

    @torch.no_grad()
    def scale_masks(self, fo, fi, update_scales=True):
        """Ref end of forward: the scale update (in scale epochs) and M_n = S_n*[FI_n > 0]."""
        if update_scales:
            r = [ave(fo[0], fi[0]), ave_p(fo[1], fi[1]), ave(fo[2], fi[2]),
                 ave_p(fo[3], fi[3]), ave(fo[4], fi[4])]
            self.scales = [0.6 * rn + 0.4 * sn for rn, sn in zip(r, self.scales)]
        return [sn * f.gt(0).float() for sn, f in zip(self.scales, fi)]  # ref grad_cal

    def equivalent(self, fo0, fo, masks, steps):
        """The equivalent network on accumulated flows (ref forward under enable_grad)."""
        def h(a, n):
            out = a * masks[n]
            return out - out.detach() + fo[n].detach()
        t = h(self.cnn1(fo0.detach()), 0)
        t = h(self.avgpool1(t), 1)
        t = h(self.cnn2(t), 2)
        t = h(self.avgpool2(t), 3)
        t = h(self.fc0(t.view(t.size(0), -1)), 4)
        return self.fc1(t) / VTH / steps

    @torch.no_grad()
    def evaluate(self, x, steps, leak=1.0):
        """Ref tst(): the same time loop with the output layer integrating."""
        b = x.size(0)
        mem1, mem1s = torch.zeros(b, 20, 28, 28), torch.zeros(b, 20, 14, 14)
        mem2, mem2s = torch.zeros(b, 50, 14, 14), torch.zeros(b, 50, 7, 7)
        memf0, memf1 = torch.zeros(b, 200), torch.zeros(b, 10)
        absx, sgnx = torch.abs(x) * GAIN, torch.sign(x)
        for _ in range(steps):
            s = (absx > torch.rand_like(x)).float() * sgnx
            mem1, s = if_neuron(mem1 + self.cnn1(s), VTH, leak)
            mem1s, s = if_neuron(mem1s + self.avgpool1(s), VTH_POOL, 1.0)
            mem2, s = if_neuron(mem2 + self.cnn2(s), VTH, leak)
            mem2s, s = if_neuron(mem2s + self.avgpool2(s), VTH_POOL, 1.0)
            memf0, s = if_neuron(memf0 + self.fc0(s.view(b, -1)), VTH, leak)
            memf1 = memf1 + self.fc1(s)
        return memf1 / VTH / steps


class Trainer:
    """One training step of the ref train() loop, timed in parts."""

    def __init__(self, model):
        self.model = model
        self.criterion = nn.MSELoss(reduction="sum")
        self.criterion_en = nn.CrossEntropyLoss()
        self.opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        # forward (time loop), scales (update + masks), backward (equivalent net + autograd), optimizer
        self.reset_timers()

    def reset_timers(self):
        self.wall, self.cpu = [0.0] * 4, [0.0] * 4

    def step(self, x, y, steps, leak=1.0, update_scales=True):
        w, c = [time.perf_counter()], [time.process_time()]

        def lap():
            w.append(time.perf_counter())
            c.append(time.process_time())
        self.opt.zero_grad()
        fo0, fo, fi = self.model.simulate(x, steps, leak)
        lap()
        masks = self.model.scale_masks(fo, fi, update_scales)
        lap()
        out = self.model.equivalent(fo0, fo, masks, steps)
        target = torch.zeros_like(out).scatter_(1, y.unsqueeze(1), 1.0)
        loss = self.criterion(out, target)
        loss_en = self.criterion_en(out.detach(), y)
        loss.backward()
        lap()
        self.opt.step()
        lap()
        for i in range(4):
            self.wall[i] += w[i + 1] - w[i]
            self.cpu[i] += c[i + 1] - c[i]
        correct = (out.detach().argmax(1) == y).sum().item()
        firing = sum(int((f > 0).sum()) for f in fo) / sum(f.numel() for f in fo)
        return loss.item(), loss_en.item(), correct, firing


# ---------------------------------------------------------------- main

def blas_libraries():
    """Shared libraries mapped into this process that provide BLAS/LAPACK/OpenMP."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                base = os.path.basename(p)
                if any(k in base for k in ("blas", "lapack", "mkl", "gomp", "omp.so", "dnnl")):
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    return sorted(libs)


def peak_rss_mb():
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:
        return float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", default="asf-data/mnist", help="folder with the four MNIST IDX .gz files")
    p.add_argument("--T", default="20,100", help="comma-separated time steps to measure")
    p.add_argument("--batch", type=int, default=64, help="batch size")
    p.add_argument("--steps", type=int, default=10, help="measured training steps per T")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps per T before measuring")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=1, help="torch/numpy seed (init, shuffle, Poisson draws)")
    p.add_argument("--check-steps", type=int, default=0,
                   help="if > 0: train this many steps at --check-T from scratch and report accuracy")
    p.add_argument("--check-T", type=int, default=20, help="T for --check-steps")
    p.add_argument("--check-test", type=int, default=1000, help="test images evaluated after --check-steps")
    p.add_argument("--mkldnn", choices=("on", "off"), default="on",
                   help="oneDNN convolutions (PyTorch's CPU default: on); off = im2col + BLAS sgemm")
    p.add_argument("--scale-update", choices=("on", "off"), default="on",
                   help="update the scales after every batch (on: a scale epoch, as epoch 0 of the ref and asf's bench)")
    p.add_argument("--no-bench", action="store_true", help="skip the timing (with --check-steps)")
    p.add_argument("--tsv", default="", help="also write the result rows, tab-separated, to this file")
    a = p.parse_args()
    try:
        ts = [int(v) for v in a.T.split(",") if v.strip()]
    except ValueError:
        raise SystemExit("asf_lenet.py: --T %r: expected comma-separated integers such as 20,100" % a.T)
    if not ts or min(ts) < 1 or a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        raise SystemExit("asf_lenet.py: --T, --batch, --steps, --threads must be >= 1 and --warmup >= 0")

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

    # Make BLAS/OpenMP load before listing them.
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    print("PyTorch %s (Python %s, %s), torch threads %d, interop threads %d"
          % (torch.__version__, sys.version.split()[0], sys.executable, torch.get_num_threads(),
             torch.get_num_interop_threads()))
    print(torch.__config__.parallel_info().rstrip())
    cfg = torch.__config__.show()
    blas_info = [kv for kv in cfg.replace("\n", ",").split(",") if "BLAS_INFO" in kv or "CPU capability" in kv]
    print("build:", "; ".join(s.strip(" -") for s in blas_info))
    print("BLAS/LAPACK/OpenMP libraries loaded:", ", ".join(blas_libraries()) or "none found")
    print("oneDNN (mkldnn) available: %s, used for convolutions: %s"
          % (torch.backends.mkldnn.is_available(), torch.backends.mkldnn.enabled))
    print("env: " + " ".join("%s=%s" % (v, os.environ.get(v, "(unset)")) for v in
                             ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "LD_LIBRARY_PATH")))

    if a.no_bench:
        ts = []
    rows = []
    k = 0
    for T in ts:
        torch.manual_seed(a.seed)
        model = CNNModel()
        tr = Trainer(model)
        for _ in range(a.warmup):
            x, y = batch(k)
            k += 1
            tr.step(x, y, T, update_scales=a.scale_update == "on")
        tr.reset_timers()
        correct = firing = 0.0
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            x, y = batch(k)
            k += 1
            _, _, c, fr = tr.step(x, y, T, update_scales=a.scale_update == "on")
            correct += c
            firing += fr
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        n = a.steps * a.batch
        rows.append(dict(T=T, sps=n / wall, cpu_est=n * a.threads / cpu, ms_batch=wall * 1e3 / a.steps,
                         cpu_util=cpu / wall,
                         fwd_wall=tr.wall[0] * 1e3 / n, scale_wall=tr.wall[1] * 1e3 / a.steps,
                         bwd_wall=tr.wall[2] * 1e3 / n, opt_wall=tr.wall[3] * 1e3 / a.steps,
                         fwd_cpu=tr.cpu[0] * 1e3 / n, scale_cpu=tr.cpu[1] * 1e3 / a.steps,
                         bwd_cpu=tr.cpu[2] * 1e3 / n, opt_cpu=tr.cpu[3] * 1e3 / a.steps,
                         acc=100.0 * correct / n, firing=100.0 * firing / a.steps, rss=peak_rss_mb()))

    if rows:
        report(a, rows)
    if a.check_steps > 0:
        check(a, xtr, ytr, perm, nb)


def report(a, rows):
    """Print the result table (and write --tsv)."""
    print("\nPyTorch ASF-BP benchmark: 20C5-P2-50C5-P2-200FC-10FC on MNIST, batch %d, %d thread(s), "
          "%d warm-up + %d measured steps per T" % (a.batch, a.threads, a.warmup, a.steps))
    print("  samples/s = wall clock; cpu est. = samples per process-CPU-second x threads (as asf's column);")
    print("  fwd = time loop, bwd = equivalent network + autograd backward, in ms per sample (wall, process CPU);")
    print("  scale = scale update (%s) + masks, opt = Adam step, in wall ms per batch; fired = share of FO > 0"
          % a.scale_update)
    hdr = ("T", "samples/s", "cpu est.", "ms/batch", "cpu util", "fwd ms/s wall", "bwd ms/s wall", "fwd ms/s cpu",
           "bwd ms/s cpu", "bwd share", "scale ms/b", "opt ms/b", "fired", "peak RSS MB")
    print("  ".join("%13s" % h for h in hdr))
    for r in rows:
        share = 100.0 * r["bwd_cpu"] / (r["fwd_cpu"] + r["bwd_cpu"])
        vals = ("%d" % r["T"], "%.1f" % r["sps"], "%.1f" % r["cpu_est"], "%.1f" % r["ms_batch"],
                "%.2f" % r["cpu_util"], "%.3f" % r["fwd_wall"], "%.3f" % r["bwd_wall"], "%.3f" % r["fwd_cpu"],
                "%.3f" % r["bwd_cpu"], "%.1f%%" % share, "%.1f" % r["scale_wall"], "%.1f" % r["opt_wall"], "%.1f%%" % r["firing"],
                "%.0f" % r["rss"])
        print("  ".join("%13s" % v for v in vals))
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("T\tsamples_per_s\tcpu_est\tfwd_ms_cpu\tbwd_ms_cpu\n")
            for r in rows:
                f.write("%d\t%.2f\t%.2f\t%.4f\t%.4f\n" % (r["T"], r["sps"], r["cpu_est"], r["fwd_cpu"], r["bwd_cpu"]))


def check(a, xtr, ytr, perm, nb):
    """Train from scratch and print running training accuracy and a test accuracy."""
    T = a.check_T
    torch.manual_seed(a.seed + 1)
    model = CNNModel()
    tr = Trainer(model)
    print("\ncorrectness check: training %d steps of batch %d at T=%d from scratch (epoch-0 recipe)"
          % (a.check_steps, a.batch, T))
    win_c = win_n = 0
    t0 = time.perf_counter()
    for k in range(a.check_steps):
        idx = perm[(k % nb) * a.batch:(k % nb + 1) * a.batch]
        loss, loss_en, c, fr = tr.step(xtr[idx], ytr[idx], T)
        win_c += c
        win_n += a.batch
        if (k + 1) % 50 == 0 or k + 1 == a.check_steps:
            print("  step %4d  train acc (last %d batches) %6.2f%%  mse %.2f  ce %.4f  fired %.1f%%  scales %s  %.0fs"
                  % (k + 1, win_n // a.batch, 100.0 * win_c / win_n, loss, loss_en, 100 * fr,
                     " ".join("%.3f" % s for s in model.scales), time.perf_counter() - t0))
            win_c = win_n = 0
    if a.check_test > 0:
        xte, yte = load_mnist(a.mnist_dir, "test")
        xte, yte = xte[:a.check_test], yte[:a.check_test]
        correct = 0
        for i in range(0, xte.size(0), a.batch):
            out = model.evaluate(xte[i:i + a.batch], T)
            correct += (out.argmax(1) == yte[i:i + a.batch]).sum().item()
        print("  test accuracy on the first %d test images (T=%d, ref tst()): %.2f%%"
              % (xte.size(0), T, 100.0 * correct / xte.size(0)))


if __name__ == "__main__":
    main()
