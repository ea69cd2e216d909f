"""scikit-learn side of bench/auroc.mjs: makes the seeded data, times roc_auc_score, prints JSON."""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score


def main(out_prefix, sizes, reps):
    rng = np.random.default_rng(2021)
    results = []
    for n in sizes:
        labels = (rng.uniform(size=n) < 0.3).astype(np.float64)
        continuous = rng.normal(size=n) + 1.0 * labels
        for kind, scores in (("distinct", continuous), ("ties (0.01 grid)", np.round(continuous, 2))):
            path = f"{out_prefix}-{n}-{len(results)}.f64"
            np.concatenate([labels, scores]).astype("<f8").tofile(path)
            roc_auc_score(labels, scores)
            times, cpu = [], []
            for _ in range(reps[n]):
                t0, c0 = time.perf_counter(), time.process_time()
                value = roc_auc_score(labels, scores)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            results.append({"n": n, "kind": kind, "path": path, "auroc": float(value),
                            "medianMs": 1000 * float(np.median(times)), "medianCpuMs": 1000 * float(np.median(cpu)), "reps": reps[n]})
    print(json.dumps({"sklearn": sklearn.__version__, "numpy": np.__version__,
                      "python": sys.version.split()[0], "results": results}))


if __name__ == "__main__":
    main(sys.argv[1], [100_000, 1_000_000], {100_000: 21, 1_000_000: 7})
