#!/usr/bin/python3
"""PyTorch 1.13 side of bench/train-step.ts: the same training step (torchvision backbone in train
mode, linear head, softmax cross-entropy, Adam lr 1e-4) at the same batch and size, 2 threads.
Prints one JSON line: {"model", "size", "batch", "step_seconds": [...]}."""
import json
import sys
import time

import torch
import torch.nn as nn
import torchvision

model_name, size, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 1
memory_efficient = len(sys.argv) > 7 and sys.argv[7] == 'memory-efficient'
torch.set_num_threads(threads)
torch.manual_seed(0)
kwargs = {'memory_efficient': True} if model_name.startswith('densenet') and memory_efficient else {}
model = getattr(torchvision.models, model_name)(**kwargs)
dim = model.fc.in_features if hasattr(model, 'fc') else model.classifier.in_features
if hasattr(model, 'fc'):
    model.fc = nn.Linear(dim, 10)
else:
    model.classifier = nn.Linear(dim, 10)
model.train()
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
x = torch.randn(batch, 3, size, size)
y = torch.arange(batch) % 10
loss_fn = nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(warmup):
    step()
times = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(json.dumps({'model': model_name, 'size': size, 'batch': batch, 'threads': torch.get_num_threads(), 'step_seconds': times}))
