#!/usr/bin/env python3
"""PyTorch peer of the DrNAS search network, written from docs/numerics.md
s.6.1-6.2 on the modules of peer_pytorch.py.

  oracle   python3 bench/peer_drnas.py --oracle DIR
           loads tsedarts' export of a DrNAS supernet, one batch and the
           pass's gamma draws (and prune mask), recomputes loss and gradients
           in f64 with PyTorch's own Dirichlet gradient (torch._dirichlet_grad,
           as Dirichlet.rsample uses it), compares them with tsedarts'.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_pytorch import OPS, FactorizedReduce, ReLUConvBN, make_op, read_safetensors  # noqa: E402

FLT_MIN = 1.1754943508222875e-38
FLT_EPSILON = 1.1920928955078125e-07


class DirichletFromDraws(torch.autograd.Function):
    """x = G / sum G (PyTorch's sampler, with its clamps) from given gamma
    draws; the backward of torch.distributions.dirichlet._Dirichlet."""

    @staticmethod
    def forward(ctx, beta, G):
        x = (G / G.sum(-1, True)).clamp(min=FLT_MIN, max=1 - FLT_EPSILON)
        ctx.save_for_backward(x, beta)
        return x

    @staticmethod
    def backward(ctx, grad):
        x, beta = ctx.saved_tensors
        total = beta.sum(-1, True).expand_as(beta)
        D = torch._dirichlet_grad(x, beta, total)
        return D * (grad - (x * grad).sum(-1, True)), None


def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class PartialMixedOp(nn.Module):
    def __init__(self, c, stride, k, ops):
        super().__init__()
        self.k, self.stride = k, stride
        self._ops = nn.ModuleList([make_op(n, c // k, stride, False, True) for n in ops])

    def forward(self, x, w):
        part = x.shape[1] // self.k
        a, b = x[:, :part], x[:, part:]
        t = sum(wk * op(a) for wk, op in zip(w, self._ops) if wk != 0)
        if self.stride == 2:
            b = F.max_pool2d(b, 2, 2)
        return channel_shuffle(torch.cat([t, b], dim=1), self.k)


class DrnasCell(nn.Module):
    def __init__(self, cpp, cp, c, reduction, reduction_prev, k, ops):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(cpp, c, False) if reduction_prev else ReLUConvBN(cpp, c, 1, 1, 0, False)
        self.preprocess1 = ReLUConvBN(cp, c, 1, 1, 0, False)
        self._ops = nn.ModuleList()
        for i in range(4):
            for j in range(2 + i):
                self._ops.append(PartialMixedOp(c, 2 if reduction and j < 2 else 1, k, ops))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for i in range(4):
            states.append(sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[-4:], dim=1)


class DrnasSupernet(nn.Module):
    def __init__(self, C, layers, k, with_none, in_ch=3, classes=10):
        super().__init__()
        ops = OPS if with_none else OPS[1:]
        c = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        cpp, cp, c = c, c, C
        self.cells = nn.ModuleList()
        red_prev = False
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red:
                c *= 2
            self.cells.append(DrnasCell(cpp, cp, c, red, red_prev, k, ops))
            red_prev = red
            cpp, cp = cp, 4 * c
        self.classifier = nn.Linear(cp, classes)
        self.alphas_normal = nn.Parameter(torch.zeros(14, len(ops)))
        self.alphas_reduce = nn.Parameter(torch.zeros(14, len(ops)))

    def forward(self, x, gammas, masks):
        ws = []
        for alpha, G, m in zip((self.alphas_normal, self.alphas_reduce), gammas, masks):
            w = DirichletFromDraws.apply(F.elu(alpha) + 1, G)
            ws.append(w if m is None else w * m / (w * m).sum(-1, True))
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, ws[1] if cell.reduction else ws[0])
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def oracle(args):
    meta = json.load(open(os.path.join(args.oracle, "oracle.json")))
    torch.set_num_threads(args.threads)
    model = DrnasSupernet(meta["channels"], meta["layers"], meta["k"], meta["with_none"], meta["in_channels"],
                          meta["classes"]).double()
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
    gammas = [batch["gamma_normal"].double(), batch["gamma_reduce"].double()]
    masks = [batch[k].double() if k in batch else None for k in ("keep_normal", "keep_reduce")]
    model.train()
    loss = F.cross_entropy(model(batch["images"].double(), gammas, masks), batch["labels"].long())
    loss.backward()
    rel = lambda a, b: ((a - b).norm() / max(a.norm(), b.norm(), 1e-30)).item()
    loss_err = abs(loss.item() - ours["loss"].item()) / abs(loss.item())
    worst, worst_name = 0.0, ""
    flat_ref, flat_ours = [], []
    for name, p in model.named_parameters():
        g_ref = p.grad if p.grad is not None else torch.zeros_like(p)  # pruned ops: no gradient
        g_ours = ours[name].double().reshape(p.shape)
        e = rel(g_ref, g_ours)
        flat_ref.append(g_ref.flatten())
        flat_ours.append(g_ours.flatten())
        if e > worst:
            worst, worst_name = e, name
    total = rel(torch.cat(flat_ref), torch.cat(flat_ours))
    alpha = rel(torch.cat([model.alphas_normal.grad.flatten(), model.alphas_reduce.grad.flatten()]),
                torch.cat([ours["alphas_normal"].double().flatten(), ours["alphas_reduce"].double().flatten()]))
    print(f"oracle: loss {loss.item():.8f} (tsedarts {ours['loss'].item():.8f}), relative error {loss_err:.2e}")
    print(f"oracle: gradients, relative error over all parameters {total:.2e}, alphas {alpha:.2e}; "
          f"worst tensor {worst_name} {worst:.2e}")
    ok = loss_err <= 1e-5 and total <= 1e-4 and alpha <= 1e-4
    print("oracle: pass" if ok else "oracle: FAIL (loss <= 1e-5, gradients and alpha gradients <= 1e-4 required)")
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oracle", metavar="DIR", required=True)
    ap.add_argument("--threads", type=int, default=2)
    oracle(ap.parse_args())


if __name__ == "__main__":
    main()
