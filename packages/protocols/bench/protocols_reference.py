"""Reference timings for bench/protocols*.mjs: scikit-learn and the same linear protocol in PyTorch.

Usage: /usr/bin/python3 protocols_reference.py <dir with {train,val,test}_{x,y}.f32> <featureDim> <repeats>
"""
import json, sys, time, numpy as np, torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
torch.set_num_threads(2)
w, d, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
load = lambda n: (np.fromfile(f"{w}/{n}_x.f32", dtype=np.float32).reshape(-1, d), np.fromfile(f"{w}/{n}_y.f32", dtype=np.float32))
(xtr, ytr), (xva, yva), (xte, yte) = load("train"), load("val"), load("test")
out = {}
def med(f, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2], r
t, clf = med(lambda: LogisticRegression(max_iter=1000).fit(xtr, ytr), reps)
out["sklearn_lbfgs"] = {"seconds": t, "test_auroc": roc_auc_score(yte, clf.decision_function(xte)), "n_iter": int(clf.n_iter_[0])}
# The same protocol as ours in PyTorch: Linear(d,1), Adam 1e-4, batch 16, 5 epochs, best of the validations.
def torch_protocol(seed=7):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    X, Y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    lin = torch.nn.Linear(d, 1)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss()
    seen, nxt, best, best_state = 0, 8192, -1.0, None
    def validate():
        with torch.no_grad():
            return roc_auc_score(yva, lin(torch.from_numpy(xva)).squeeze(1).numpy())
    for epoch in range(5):
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), 16):
            idx = perm[s:s + 16]
            opt.zero_grad(); loss = lossf(lin(X[idx]).squeeze(1), Y[idx]); loss.backward(); opt.step()
            seen += len(idx)
            if seen >= nxt:
                a = validate(); nxt += 8192
                if a > best: best, best_state = a, {k: v.clone() for k, v in lin.state_dict().items()}
    a = validate()
    if a > best: best, best_state = a, {k: v.clone() for k, v in lin.state_dict().items()}
    lin.load_state_dict(best_state)
    return lin
t, lin = med(torch_protocol, reps)
with torch.no_grad():
    out["torch_same_protocol"] = {"seconds": t, "test_auroc": roc_auc_score(yte, lin(torch.from_numpy(xte)).squeeze(1).numpy())}
# Seed spread of the same protocol: initial weights and batch order differ per seed.
seeds = int(sys.argv[4]) if len(sys.argv) > 4 else 0
aucs = []
for seed in range(seeds):
    lin = torch_protocol(seed)
    with torch.no_grad():
        aucs.append(roc_auc_score(yte, lin(torch.from_numpy(xte)).squeeze(1).numpy()))
out["torch_seed_aurocs"] = aucs
print(json.dumps(out))
