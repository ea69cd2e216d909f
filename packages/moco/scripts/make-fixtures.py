"""Reference fixtures for @moco-cxr/moco tests (run with /usr/bin/python3: torch 1.13, sklearn 1.2).

  /usr/bin/python3 packages/moco/scripts/make-fixtures.py

Writes src/fixtures/torch-optim.json (torch.optim.Adam / SGD trajectories with weight decay)
and ../eval-metrics/src/fixtures/sklearn-logreg.json (an L2 logistic regression fitted by
scikit-learn, for eval-metrics' probe test).
"""
import json
import os

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "fixtures")
os.makedirs(here, exist_ok=True)

# --- optimisers: fixed gradient sequence on a small parameter vector
g = torch.Generator().manual_seed(0)
p0 = torch.randn(2, 3, generator=g)
grads = [torch.randn(2, 3, generator=g) for _ in range(5)]
lrs = [1e-2, 1e-2, 5e-3, 5e-3, 1e-3]


def run(make):
    p = torch.nn.Parameter(p0.clone())
    opt = make([p])
    traj = []
    for gr, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = gr.clone()
        opt.step()
        traj.append(p.detach().clone().flatten().tolist())
    return traj


cases = {
    "adam": run(lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-1)),
    "sgd": run(lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, weight_decay=1e-1)),
    "sgd_nesterov": run(lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-2)),
}
with open(os.path.join(here, "torch-optim.json"), "w") as f:
    json.dump({
        "torch": torch.__version__,
        "shape": [2, 3],
        "p0": p0.flatten().tolist(),
        "grads": [gr.flatten().tolist() for gr in grads],
        "lrs": lrs,
        "trajectories": cases,
    }, f)

# --- logistic regression: sklearn's lbfgs on standardised features, penalty C = 1 / l2
rng = np.random.default_rng(0)
n, d = 80, 6
x = rng.normal(size=(n, d))
w_true = rng.normal(size=d)
y = (x @ w_true + 0.8 * rng.normal(size=n) > 0).astype(int)
mean = x.mean(0)
scale = x.std(0)
xs = (x - mean) / scale
l2 = 0.5
clf = LogisticRegression(C=1.0 / l2, tol=1e-12, max_iter=10000).fit(xs, y)
with open(os.path.join(here, "..", "..", "..", "eval-metrics", "src", "fixtures", "sklearn-logreg.json"), "w") as f:
    json.dump({
        "sklearn": __import__("sklearn").__version__,
        "n": n, "d": d, "l2": l2,
        "x": x.flatten().tolist(), "y": y.tolist(),
        "coef": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0]),
    }, f)
print("wrote", here)
