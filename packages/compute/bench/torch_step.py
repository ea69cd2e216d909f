# PyTorch reference for bench/run.mjs: torchvision resnet18 training step (SGD momentum,
# cross-entropy), batch 16, 2 threads, channels-first as users run it. Prints one JSON line per size.
import json, sys, time
import torch, torchvision

torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
sizes = [int(s) for s in sys.argv[1].split(",")]
batch, reps = 16, 3
torch.manual_seed(0)
for size in sizes:
    model = torchvision.models.resnet18(num_classes=10)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size)
    y = torch.arange(batch) % 10
    loss_fn = torch.nn.CrossEntropyLoss()
    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    step()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"size": size, "batch": batch, "threads": torch.get_num_threads(), "stepMs": med * 1000, "imgPerSec": batch / med}), flush=True)
