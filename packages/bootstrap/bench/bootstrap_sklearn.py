"""numpy + scikit-learn side of bench/bootstrap.mjs: the same paired-bootstrap job, timed; prints JSON.

Each replicate resamples the rows once (numpy Generator), calls roc_auc_score for every
draw of A and of B on that resample, averages over draws and records A, B and A - B.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score

N, DRAWS, REPLICATES = 10_000, 5, 500


def main(path):
    rng = np.random.default_rng(2021)
    labels = (rng.uniform(size=N) < 0.3).astype(np.float64)
    # Float32 probabilities from a logistic model: realistic scores, with some ties.
    def draws(shift):
        return [(1 / (1 + np.exp(-(rng.normal(size=N) + shift * labels)))).astype(np.float32).astype(np.float64)
                for _ in range(DRAWS)]
    a, b = draws(1.0), draws(0.9)
    np.concatenate([labels] + a + b).astype("<f8").tofile(path)

    boot = np.random.default_rng(7)
    t0, c0 = time.perf_counter(), time.process_time()
    point_a = np.mean([roc_auc_score(labels, s) for s in a])
    point_b = np.mean([roc_auc_score(labels, s) for s in b])
    rep_a, rep_b, redrawn = [], [], 0
    while len(rep_a) < REPLICATES:
        idx = boot.integers(0, N, N)
        y = labels[idx]
        if y.min() == y.max():
            redrawn += 1
            continue
        rep_a.append(np.mean([roc_auc_score(y, s[idx]) for s in a]))
        rep_b.append(np.mean([roc_auc_score(y, s[idx]) for s in b]))
    diff = np.array(rep_a) - np.array(rep_b)
    ci = lambda x: [float(v) for v in np.percentile(x, [2.5, 97.5])]
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"sklearn": sklearn.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
                      "n": N, "draws": DRAWS, "replicates": REPLICATES, "seconds": seconds, "cpuSeconds": cpu, "redrawn": redrawn,
                      "a": float(point_a), "b": float(point_b), "ciA": ci(rep_a), "ciB": ci(rep_b), "ciDiff": ci(diff)}))


if __name__ == "__main__":
    main(sys.argv[1])
