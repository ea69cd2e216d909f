# PyTorch CUDA reference for tools/bench-gpu.mjs: the same steps in fp32 on the GPU torch sees.
# args: size batch steps warmup models queue narrow|full. One JSON line per model, or {"skipped": why}.
import json
import statistics
import sys
import time

size, batch, steps, warmup = (int(a) for a in sys.argv[1:5])
models, queue, narrow = sys.argv[5].split(","), int(sys.argv[6]), sys.argv[7] == "narrow"


def skip(why):
    print(json.dumps({"skipped": why}), flush=True)
    sys.exit(0)


try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    skip(f"torch is not installed: {e}")
if not torch.cuda.is_available():
    skip(f"torch {torch.__version__} sees no CUDA GPU")
try:
    import torchvision
except ImportError as e:
    skip(f"torchvision is not installed: {e}")
if narrow:
    skip("--narrow networks have no torchvision counterpart")

dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = False  # fp32, as tfjs computes
torch.backends.cudnn.allow_tf32 = False
gpu = torch.cuda.get_device_name(0)


def timed(step):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def report(model, seconds):
    print(json.dumps({"model": model, "device": "cuda", "gpu": gpu, "stepMs": seconds * 1000, "imgPerSec": batch / seconds}), flush=True)


def supervised(name):
    net = getattr(torchvision.models, name)(num_classes=10).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.arange(batch, device=dev) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    report(name, timed(step))


def moco():
    def encoder():
        net = torchvision.models.resnet18()
        dim = net.fc.in_features
        net.fc = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(), torch.nn.Linear(dim, 128))
        return net.to(dev).train()

    q_enc, k_enc = encoder(), encoder()
    k_enc.load_state_dict(q_enc.state_dict())
    for p in k_enc.parameters():
        p.requires_grad = False
    opt = torch.optim.Adam(q_enc.parameters(), lr=5e-4, weight_decay=1e-4)
    bank = F.normalize(torch.randn(queue, 128, device=dev), dim=1)
    ptr = [0]
    xq = torch.randn(batch, 3, size, size, device=dev)
    xk = torch.randn(batch, 3, size, size, device=dev)

    def step():
        with torch.no_grad():
            for pk, pq in zip(k_enc.parameters(), q_enc.parameters()):
                pk.mul_(0.999).add_(pq, alpha=0.001)
            k = F.normalize(k_enc(xk), dim=1)
        q = F.normalize(q_enc(xq), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ bank.t()], 1) / 0.2
        loss = F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long, device=dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        idx = (torch.arange(batch, device=dev) + ptr[0]) % queue
        bank[idx] = k
        ptr[0] = (ptr[0] + batch) % queue

    report("moco", timed(step))


for m in models:
    if m == "moco":
        moco()
    else:
        supervised(m)
