"""PyTorch reference for bench/moco-step.ts: a MoCo v2 step and a plain training step of
torchvision resnet18 at batch 16, 2 threads, same sizes. Prints JSON lines.

  /usr/bin/python3 torch_moco_step.py --sizes 64,128,224 --steps 5
"""
import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--sizes", default="64,128,224")
p.add_argument("--steps", type=int, default=10)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--queue", type=int, default=4096)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--moco-only", action="store_true", help="time the MoCo step only (the interleaved runs of moco-step.ts)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def backbone():
    m = torchvision.models.resnet18()
    d = m.fc.in_features
    m.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 128))
    return m


class MoCo(nn.Module):
    """facebookresearch/moco's MoCo v2 on one device (no shuffle-BN)."""

    def __init__(self, K, m=0.999, T=0.2):
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q = backbone()
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p_ in self.encoder_k.parameters():
            p_.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(128, K), dim=0))
        self.ptr = 0

    def forward(self, im_q, im_k):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            for pq, pk in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
                pk.data = pk.data * self.m + pq.data * (1.0 - self.m)
            k = F.normalize(self.encoder_k(im_k), dim=1)
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, self.queue.clone().detach())
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        with torch.no_grad():
            b = k.shape[0]
            idx = (torch.arange(b) + self.ptr) % self.K
            self.queue[:, idx] = k.T
            self.ptr = (self.ptr + b) % self.K
        return F.cross_entropy(logits, labels)


def timed(step, steps):
    """Median seconds of `steps` steps after `--warmup` untimed ones (PyTorch's first steps are slow)."""
    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


for size in [int(s) for s in a.sizes.split(",")]:
    steps = a.steps
    x_q = torch.randn(a.batch, 3, size, size)
    x_k = torch.randn(a.batch, 3, size, size)
    moco = MoCo(a.queue).train()
    opt = torch.optim.Adam([p_ for p_ in moco.parameters() if p_.requires_grad], lr=1e-4, weight_decay=1e-4)

    def moco_step():
        loss = moco(x_q, x_k)
        opt.zero_grad()
        loss.backward()
        opt.step()

    plain = torchvision.models.resnet18(num_classes=2).train()
    opt2 = torch.optim.Adam(plain.parameters(), lr=1e-4, weight_decay=1e-4)
    y = torch.randint(0, 2, (a.batch,))

    def plain_step():
        loss = F.cross_entropy(plain(x_q), y)
        opt2.zero_grad()
        loss.backward()
        opt2.step()

    s_moco = timed(moco_step, steps)
    s_plain = None if a.moco_only else timed(plain_step, steps)
    print(json.dumps({"size": size, "batch": a.batch, "threads": a.threads, "mocoImgPerSec": a.batch / s_moco, "plainImgPerSec": None if s_plain is None else a.batch / s_plain}), flush=True)
