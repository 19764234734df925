#!/usr/bin/env python3
"""PyTorch peer of tsedarts, written from docs/numerics.md (not from the DARTS code).

Four uses:
  timing   python3 bench/peer_pytorch.py --algo darts1 --batch 64 --layers 8 --channels 16 --threads 2
           prints "step: <seconds> s/step" for the same search step tsedarts benchmarks
  train    python3 bench/peer_pytorch.py --train-step --genotype DARTS_V2 --batch 96 --layers 20 --channels 36
           the same, for the retraining step `tsedarts bench train` times (auxiliary
           head, drop path, gradient clipping, SGD)
           Both timing modes take --device cpu|cuda, --steps, --warmup, --threads and
           --deterministic (deterministic algorithms, cuDNN autotuning and TF32 off).
  counts   python3 bench/peer_pytorch.py --count-eval DARTS_V2 --layers 20 --channels 36
  oracle   python3 bench/peer_pytorch.py --oracle DIR
           loads tsedarts' safetensors export of a supernet and one batch with
           tsedarts' loss and gradients, recomputes them, compares.
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


# ----------------------------------------------------------------- modules

class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, affine):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                                nn.BatchNorm2d(cout, affine=affine))

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    def __init__(self, c, k, stride, affine):
        super().__init__()
        p = k // 2
        self.op = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, 1, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c, k, stride, affine):
        super().__init__()
        p = (k // 2) * 2
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, p, dilation=2, groups=c, bias=False),
                                nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout, affine):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def make_op(name, c, stride, affine, search):
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = nn.MaxPool2d(3, stride, 1) if name == "max_pool_3x3" else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False)) if search else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name.startswith("sep_conv"):
        return SepConv(c, int(name[-1]), stride, affine)
    return DilConv(c, int(name[-1]), stride, affine)


class MixedOp(nn.Module):
    """names: the edge's candidate ops (PDARTS stages keep a subset); a
    stride-1 skip_connect is multiplied by the edge's dropout mask when one
    is given (PDARTS' nn.Dropout, with the 1/(1-p) scale in the mask)."""

    def __init__(self, c, stride, names=OPS):
        super().__init__()
        self.names, self.stride = list(names), stride
        self._ops = nn.ModuleList([make_op(n, c, stride, False, True) for n in self.names])

    def forward(self, x, w, mask=None):
        def term(wk, name, op):
            y = op(x)
            if mask is not None and name == "skip_connect" and self.stride == 1:
                y = y * mask
            return wk * y
        return sum(term(wk, n, op) for wk, n, op in zip(w, self.names, self._ops))


class SearchCell(nn.Module):
    def __init__(self, cpp, cp, c, reduction, reduction_prev, edge_ops=None):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(cpp, c, False) if reduction_prev else ReLUConvBN(cpp, c, 1, 1, 0, False)
        self.preprocess1 = ReLUConvBN(cp, c, 1, 1, 0, False)
        self._ops = nn.ModuleList()
        for i in range(4):
            for j in range(2 + i):
                names = edge_ops[len(self._ops)] if edge_ops else OPS
                self._ops.append(MixedOp(c, 2 if reduction and j < 2 else 1, names))

    def forward(self, s0, s1, weights, masks=None):
        masks = masks or {}
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for i in range(4):
            states.append(sum(self._ops[offset + j](h, weights[offset + j], masks.get(offset + j))
                              for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[-4:], dim=1)


class Supernet(nn.Module):
    """edge_ops: {"normal": 14 lists of op names, "reduce": ...} for a PDARTS
    stage (alpha column j = the edge's j-th op), None for every op."""

    def __init__(self, C, layers, in_ch=3, classes=10, edge_ops=None):
        super().__init__()
        c = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        cpp, cp, c = c, c, C
        self.cells = nn.ModuleList()
        red_prev = False
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red:
                c *= 2
            self.cells.append(SearchCell(cpp, cp, c, red, red_prev, edge_ops and edge_ops["reduce" if red else "normal"]))
            red_prev = red
            cpp, cp = cp, 4 * c
        self.classifier = nn.Linear(cp, classes)
        n_ops = len(edge_ops["normal"][0]) if edge_ops else 8
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(14, n_ops))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(14, n_ops))

    def weights(self):
        return [p for n, p in self.named_parameters() if not n.startswith("alphas")]

    def forward(self, x, masks=None):
        """masks: {(cell, edge): skip-dropout mask} (PDARTS), or None."""
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            w = F.softmax(self.alphas_reduce if cell.reduction else self.alphas_normal, dim=-1)
            cell_masks = {e: m for (c, e), m in masks.items() if c == i} if masks else None
            s0, s1 = s1, cell(s0, s1, w, cell_masks)
        return self.classifier(global_pool(s1))


def global_pool(x):
    """The global average pool as a mean: adaptive_avg_pool2d's CUDA backward
    has no deterministic implementation, so --deterministic would refuse it."""
    return x.mean((2, 3))


# --------------------------------------------------- evaluation network

def drop_path(x, drop_prob):
    """Drops an op's output for whole samples: one Bernoulli keep per sample,
    the kept ones scaled by 1/keep so the mean is unchanged (tsedarts' masks
    hold the same 0 or 1/keep)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask.div_(keep)


class EvalCell(nn.Module):
    def __init__(self, genotype, cpp, cp, c, reduction, reduction_prev):
        super().__init__()
        self.preprocess0 = FactorizedReduce(cpp, c, True) if reduction_prev else ReLUConvBN(cpp, c, 1, 1, 0, True)
        self.preprocess1 = ReLUConvBN(cp, c, 1, 1, 0, True)
        ops = genotype["reduce" if reduction else "normal"]
        self.indices = [i for _, i in ops]
        self._ops = nn.ModuleList([make_op(n, c, 2 if reduction and i < 2 else 1, True, False) for n, i in ops])

    def forward(self, s0, s1, drop_prob=0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]

        def edge(k):
            h = self._ops[k](states[self.indices[k]])
            # every op but an identity is droppable (evalnet.c counts the same masks)
            if self.training and drop_prob > 0 and not isinstance(self._ops[k], nn.Identity):
                h = drop_path(h, drop_prob)
            return h
        for i in range(4):
            states.append(edge(2 * i) + edge(2 * i + 1))
        return torch.cat(states[2:], dim=1)


class AuxHead(nn.Module):
    def __init__(self, c, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(768, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class EvalNet(nn.Module):
    def __init__(self, genotype, C, layers, auxiliary, in_ch=3, classes=10):
        super().__init__()
        c = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        cpp, cp, c = c, c, C
        self.cells = nn.ModuleList()
        self.aux_at = 2 * layers // 3
        red_prev = False
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red:
                c *= 2
            self.cells.append(EvalCell(genotype, cpp, cp, c, red, red_prev))
            red_prev = red
            cpp, cp = cp, 4 * c
            if i == self.aux_at:
                c_aux = cp
        self.auxiliary_head = AuxHead(c_aux, classes) if auxiliary else None
        self.classifier = nn.Linear(cp, classes)

    def forward(self, x, drop_prob=0.0):
        """(logits, auxiliary logits); the head runs in training only, on
        the output of cell 2 layers / 3, as in tsedarts' training graphs."""
        s0 = s1 = self.stem(x)
        logits_aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_prob)
            if i == self.aux_at and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(global_pool(s1)), logits_aux


def load_genotype(name):
    here = os.path.dirname(os.path.abspath(__file__))
    path = name if os.path.exists(name) else os.path.join(here, "..", "genotypes", name + ".genotype")
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            parts = [p.strip() for p in line.split("|")]
            cell = lambda s: [(t.split(":")[0], int(t.split(":")[1])) for t in s.split(":", 1)[1].split()]
            return {"normal": cell(parts[1]), "reduce": cell(parts[2])}
    raise SystemExit(f"no genotype in {path}")


# ------------------------------------------------------------ safetensors

def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    types = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        buf = bytearray(data[8 + n + lo:8 + n + hi])
        out[name] = torch.frombuffer(buf, dtype=types[e["dtype"]]).reshape(e["shape"]) if hi > lo else torch.zeros(e["shape"], dtype=types[e["dtype"]])
    return out


# ------------------------------------------------------------------ steps

def search_step(model, algo, x, y, xv, yv, w_opt, a_opt, lr):
    def loss_of(xb, yb):
        return F.cross_entropy(model(xb), yb)
    if algo == "darts1":
        a_opt.zero_grad()
        loss_of(xv, yv).backward()
        a_opt.step()
        w_opt.zero_grad()
        loss_of(x, y).backward()
        nn.utils.clip_grad_norm_(model.weights(), 5.0)
        w_opt.step()
    elif algo == "tse":
        # one rollout step (weights and alphas) and one retraining step
        w_opt.zero_grad()
        loss_of(x, y).backward()
        w_opt.step()
        w_opt.zero_grad()
        loss_of(x, y).backward()
        w_opt.step()
    elif algo == "darts2":
        ws = model.weights()
        saved = [p.detach().clone() for p in ws]
        g = torch.autograd.grad(loss_of(x, y), ws)
        with torch.no_grad():
            for p, gi, s in zip(ws, g, saved):
                buf = w_opt.state.get(p, {}).get("momentum_buffer")
                p.sub_(lr * ((0.9 * buf if buf is not None else 0) + gi + 3e-4 * s))
        alphas = [model.alphas_normal, model.alphas_reduce]
        lv = loss_of(xv, yv)
        ga = torch.autograd.grad(lv, alphas + ws)
        dalpha, v = ga[:2], ga[2:]
        R = 0.01 / torch.cat([t.flatten() for t in v]).norm()
        grads = []
        for sign in (1, -1):
            with torch.no_grad():
                for p, s, vi in zip(ws, saved, v):
                    p.copy_(s + sign * R * vi)
            grads.append(torch.autograd.grad(loss_of(x, y), alphas))
        with torch.no_grad():
            for p, s in zip(ws, saved):
                p.copy_(s)
        for a, d, gp, gm in zip(alphas, dalpha, grads[0], grads[1]):
            a.grad = d - lr * (gp - gm) / (2 * R)
        a_opt.step()
        w_opt.zero_grad()
        loss_of(x, y).backward()
        nn.utils.clip_grad_norm_(ws, 5.0)
        w_opt.step()


# The retraining step of `tsedarts bench train` (train_config.c defaults,
# evalnet.h, train.c train_bench): the loss CE + 0.4 CE_aux, gradients
# clipped to norm 5, SGD lr 0.025, momentum 0.9 (not Nesterov), weight decay
# 3e-4 on every weight. Drop path grows linearly from 0 to 0.2 over 600
# epochs and train_bench times epoch 1, so each op is dropped with
# probability 0.2 / 600; the masks cost the same whatever the probability.
AUX_WEIGHT = 0.4
DROP_PATH_PROB, TRAIN_EPOCHS, BENCH_EPOCH = 0.2, 600, 1
TRAIN_LR, TRAIN_MOMENTUM, TRAIN_WEIGHT_DECAY, TRAIN_GRAD_CLIP = 0.025, 0.9, 3e-4, 5.0


def train_step(model, opt, x, y, drop_prob):
    opt.zero_grad()
    logits, logits_aux = model(x, drop_prob)
    loss = F.cross_entropy(logits, y) + AUX_WEIGHT * F.cross_entropy(logits_aux, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), TRAIN_GRAD_CLIP)
    opt.step()


# ----------------------------------------------------------------- timing

def set_mode(args):
    """Sets the backend flags of the mode and names it for the first line.
    Default: the peer in its fastest mode on CUDA, cuDNN picking the fastest
    algorithm per shape (not deterministic), TF32 as PyTorch allows it by
    default. --deterministic: the settings a run repeatable to the bit needs
    (CUBLAS_WORKSPACE_CONFIG is set in main, before CUDA starts)."""
    torch.set_num_threads(args.threads)
    if args.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        mode = "deterministic"
    else:
        torch.backends.cudnn.benchmark = args.device == "cuda"
        mode = "default" + (", cudnn.benchmark" if torch.backends.cudnn.benchmark else "")
    on_off = lambda b: "on" if b else "off"
    tf32 = (f"TF32 matmul {on_off(torch.backends.cuda.matmul.allow_tf32)}, "
            f"cuDNN TF32 {on_off(torch.backends.cudnn.allow_tf32)}")
    return f"{mode} mode, {tf32}" + ("" if args.device == "cuda" else " (these two apply on CUDA only)")


def time_steps(step, dev, warmup, steps):
    """Median seconds of `steps` calls of step() after `warmup` ones; on CUDA
    each is bracketed by synchronisations, so the median is of whole steps."""
    times = []
    for k in range(warmup + steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] if len(times) % 2 else 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])


def print_timing(med, dev):
    print(f"step: {med:.4f} s/step")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = f"  peak resident memory: {rss:.0f} MiB"
    if dev.type == "cuda":
        line += f", peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    print(line)


def timing(args):
    mode = set_mode(args)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    model = Supernet(args.channels, args.layers).to(dev)
    nw = sum(p.numel() for p in model.weights())
    w_opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam([model.alphas_normal, model.alphas_reduce], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    x = torch.randn(args.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    xv = torch.randn(args.batch, 3, 32, 32, device=dev)
    yv = torch.randint(0, 10, (args.batch,), device=dev)
    print(f"peer step: {args.algo}, batch {args.batch}, C={args.channels}, {args.layers} layers, "
          f"{args.threads} threads, {dev}, torch {torch.__version__}, {nw} weights, {mode}", flush=True)
    med = time_steps(lambda: search_step(model, args.algo, x, y, xv, yv, w_opt, a_opt, 0.025),
                     dev, args.warmup, args.steps)
    print_timing(med, dev)


def train_timing(args):
    mode = set_mode(args)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    model = EvalNet(load_genotype(args.genotype), args.channels, args.layers, True).to(dev).train()
    nw = sum(p.numel() for p in model.parameters())
    n_aux = sum(p.numel() for p in model.auxiliary_head.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=TRAIN_LR, momentum=TRAIN_MOMENTUM,
                          weight_decay=TRAIN_WEIGHT_DECAY, nesterov=False)
    drop_prob = DROP_PATH_PROB * BENCH_EPOCH / TRAIN_EPOCHS
    # synthetic data made once on the device: the batch's loading is not timed
    x = torch.randn(args.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    print(f"peer train step: {args.genotype}, batch {args.batch}, C={args.channels}, {args.layers} layers, 3x32x32, "
          f"auxiliary head (weight {AUX_WEIGHT}), drop path {drop_prob:.6f}, clip {TRAIN_GRAD_CLIP}, "
          f"{args.threads} threads, {dev}, torch {torch.__version__}, "
          f"{nw} weights with the auxiliary head ({nw - n_aux} without), {mode}", flush=True)
    med = time_steps(lambda: train_step(model, opt, x, y, drop_prob), dev, args.warmup, args.steps)
    print_timing(med, dev)


def count_eval(args):
    g = load_genotype(args.count_eval)
    for aux in (False, True):
        net = EvalNet(g, args.channels, args.layers, aux)
        print(f"{'with' if aux else 'without'} auxiliary head: {sum(p.numel() for p in net.parameters())}")


def oracle(args):
    """Loss and gradients of tsedarts vs this model on one batch (f64 here,
    the reference for tsedarts' f32)."""
    meta = json.load(open(os.path.join(args.oracle, "oracle.json")))
    torch.set_num_threads(args.threads)
    model = Supernet(meta["channels"], meta["layers"], meta["in_channels"], meta["classes"],
                     meta.get("edge_ops")).double()
    params = read_safetensors(os.path.join(args.oracle, "weights.safetensors"))
    state = model.state_dict()
    missing = [k for k in state if k not in params and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"oracle: tsedarts export lacks {missing[:3]}")
    for k in state:
        if k in params:
            state[k].copy_(params[k].reshape(state[k].shape).to(state[k].dtype))
    batch = read_safetensors(os.path.join(args.oracle, "batch.safetensors"))
    ours = read_safetensors(os.path.join(args.oracle, "grads.safetensors"))
    # PDARTS skip dropout: "skip_mask.CELL.EDGE" tensors in the batch file
    masks = {tuple(int(v) for v in k.split(".")[1:]): t.double() for k, t in batch.items() if k.startswith("skip_mask.")}
    if meta.get("skip_dropout") and not masks:
        raise SystemExit("oracle: skip dropout asked for, but the batch holds no masks")
    model.train()
    loss = F.cross_entropy(model(batch["images"].double(), masks or None), batch["labels"].long())
    loss.backward()
    rel = lambda a, b: ((a - b).norm() / max(a.norm(), b.norm(), 1e-30)).item()
    loss_err = abs(loss.item() - ours["loss"].item()) / abs(loss.item())
    worst, worst_name = 0.0, ""
    flat_ref, flat_ours = [], []
    for name, p in model.named_parameters():
        g_ours = ours[name].double().reshape(p.shape)
        e = rel(p.grad, g_ours)
        flat_ref.append(p.grad.flatten())
        flat_ours.append(g_ours.flatten())
        if e > worst:
            worst, worst_name = e, name
    total = rel(torch.cat(flat_ref), torch.cat(flat_ours))
    print(f"oracle: loss {loss.item():.8f} (tsedarts {ours['loss'].item():.8f}), relative error {loss_err:.2e}")
    print(f"oracle: gradients, relative error over all parameters {total:.2e}; worst tensor {worst_name} {worst:.2e}")
    ok = loss_err <= 1e-5 and total <= 1e-4
    print("oracle: pass" if ok else "oracle: FAIL (loss <= 1e-5 and gradients <= 1e-4 required)")
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algo", default="darts1", choices=["darts1", "darts2", "tse"])
    # size defaults: the search step's (64, 8, 16), or with --train-step
    # those of `tsedarts bench train` (96, 20, 36)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--channels", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--deterministic", action="store_true",
                    help="deterministic algorithms, cuDNN autotuning and TF32 off (both timing modes)")
    ap.add_argument("--train-step", action="store_true", help="time the retraining step instead of a search step")
    ap.add_argument("--genotype", default="DARTS_V2", help="genotype NAME or FILE of --train-step")
    ap.add_argument("--count-eval", metavar="GENOTYPE")
    ap.add_argument("--count-supernet", action="store_true")
    ap.add_argument("--oracle", metavar="DIR")
    args = ap.parse_args()
    for k, search, train in (("batch", 64, 96), ("layers", 8, 20), ("channels", 16, 36)):
        if getattr(args, k) is None:
            setattr(args, k, train if args.train_step else search)
    if args.deterministic:
        # read by cuBLAS when PyTorch first creates its handle: nothing has
        # touched CUDA yet, so setting it here is early enough
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    if args.count_eval:
        count_eval(args)
    elif args.count_supernet:
        m = Supernet(args.channels, args.layers)
        print(f"supernet weights: {sum(p.numel() for p in m.weights())}")
    elif args.oracle:
        oracle(args)
    elif args.train_step:
        train_timing(args)
    else:
        timing(args)


if __name__ == "__main__":
    main()
