#!/usr/bin/python3
"""Writes scikit-learn parity fixtures for @moco-cxr/eval-metrics and @moco-cxr/bootstrap.

Run from the repo root with Debian's python3 (apt-get install -y python3-sklearn):
    /usr/bin/python3 tools/sklearn-fixtures.py
Seeded: rerunning with the same scikit-learn gives the same files.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (average_precision_score, confusion_matrix, precision_recall_curve,
                             roc_auc_score, roc_curve)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS_DIR = os.path.join(ROOT, "packages", "eval-metrics", "src", "fixtures")
BOOTSTRAP_DIR = os.path.join(ROOT, "packages", "bootstrap", "src", "fixtures")


def floats(a):
    # repr() of a Python float round-trips exactly through JSON.parse.
    return [float(x) for x in np.asarray(a, dtype=np.float64)]


def ints(a):
    return [int(x) for x in a]


def ratio(a, b):
    return None if b == 0 else a / b


def binary_case(name, labels, scores, note):
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    case = {"name": name, "note": note, "sklearn": sklearn.__version__,
            "labels": ints(labels), "scores": floats(scores)}
    both = 0 < labels.sum() < len(labels)
    if both:
        case["auroc"] = float(roc_auc_score(labels, scores))
        fpr, tpr, thr = roc_curve(labels, scores)
        full_fpr, full_tpr, full_thr = roc_curve(labels, scores, drop_intermediate=False)
        # thresholds[0] is max+1 in scikit-learn 1.2 and inf from 1.3; we store the rest.
        case["roc"] = {"fpr": floats(fpr), "tpr": floats(tpr), "thresholdsAfterFirst": floats(thr[1:])}
        case["rocFull"] = {"fpr": floats(full_fpr), "tpr": floats(full_tpr), "thresholdsAfterFirst": floats(full_thr[1:])}
        best = int(np.argmax(tpr - fpr))
        case["youden"] = {"threshold": None if best == 0 else float(thr[best]), "j": float(tpr[best] - fpr[best]),
                          "sensitivity": float(tpr[best]), "specificity": float(1 - fpr[best])}
    if labels.sum() > 0:
        precision, recall, pthr = precision_recall_curve(labels, scores)
        case["pr"] = {"precision": floats(precision), "recall": floats(recall), "thresholds": floats(pthr)}
        case["averagePrecision"] = float(average_precision_score(labels, scores))
    case["confusion"] = []
    for threshold in sorted({float(np.median(scores)), float(scores.min()), float(scores.max()) + 1.0}):
        pred = (scores >= threshold).astype(np.int64)
        tn, fp, fn, tp = (int(v) for v in confusion_matrix(labels, pred, labels=[0, 1]).ravel())
        case["confusion"].append({"threshold": threshold, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
                                  "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp),
                                  "ppv": ratio(tp, tp + fp), "npv": ratio(tn, tn + fn),
                                  "f1": ratio(2 * tp, 2 * tp + fp + fn)})
    return case


def write(directory, name, payload):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + ".json")
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")


def main():
    rng = np.random.default_rng(20210301)
    cases = []

    n = 40
    y = rng.integers(0, 2, n)
    cases.append(binary_case("random-continuous", y, rng.normal(size=n) + 0.8 * y, "n=40, distinct full-precision scores"))

    n = 150
    y = rng.integers(0, 2, n)
    cases.append(binary_case("heavy-ties", y, np.round(rng.uniform(size=n) * 0.6 + 0.3 * y, 1),
                             "n=150, scores rounded to 0.1: about 10 distinct values"))

    n = 80
    y = rng.integers(0, 2, n)
    cases.append(binary_case("integer-scores", y, rng.integers(0, 4, n) + y, "n=80, scores in 0..4"))

    n = 100
    y = np.zeros(n, dtype=np.int64)
    y[rng.choice(n, 3, replace=False)] = 1
    cases.append(binary_case("imbalanced", y, np.round(rng.normal(size=n) + 1.5 * y, 2), "n=100, 3 positives"))

    cases.append(binary_case("tiny-2", [0, 1], [0.3, 0.7], "n=2"))
    cases.append(binary_case("tiny-3-tied", [1, 0, 1], [0.5, 0.5, 0.2], "n=3, a tie across classes"))
    cases.append(binary_case("all-tied", [0, 1, 1, 0, 1], [0.4] * 5, "every score equal: AUROC 0.5"))
    cases.append(binary_case("inverted", [1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], "perfectly wrong: AUROC 0"))
    cases.append(binary_case("negative-and-zero", [1, 0, 1, 0, 0, 1], [-0.0, 0.0, -2.5, -2.5, 1e-300, 3.0],
                             "negative zero ties with zero"))
    cases.append(binary_case("positives-only", [1, 1, 1], [0.2, 0.9, 0.5], "one class: only PR metrics exist"))

    for case in cases:
        write(METRICS_DIR, "binary-" + case["name"], case)

    # Multi-task with NaN masks: task "flat" has a single class after masking.
    n, tasks = 70, ["effusion", "edema", "flat", "rare"]
    labels = rng.integers(0, 2, (n, len(tasks))).astype(np.float64)
    scores = np.round(rng.uniform(size=(n, len(tasks))) + 0.5 * labels, 2)
    labels[rng.uniform(size=labels.shape) < 0.25] = np.nan
    labels[:, 2] = np.where(np.isnan(labels[:, 2]), np.nan, 1.0)
    labels[:, 3] = np.nan
    labels[[3, 9, 20], 3] = [1.0, 0.0, 0.0]
    aurocs = {}
    unscorable = []
    for t, task in enumerate(tasks):
        keep = ~np.isnan(labels[:, t])
        yt = labels[keep, t]
        if 0 < yt.sum() < len(yt):
            aurocs[task] = float(roc_auc_score(yt, scores[keep, t]))
        else:
            unscorable.append(task)
    write(METRICS_DIR, "masked-multitask", {
        "sklearn": sklearn.__version__, "tasks": tasks,
        # JSON has no NaN: null marks a masked label.
        "labels": [[None if np.isnan(v) else int(v) for v in row] for row in labels],
        "scores": [floats(row) for row in scores],
        "aurocs": aurocs, "mean": float(np.mean(list(aurocs.values()))), "unscorable": unscorable})

    # Explicit bootstrap resamples (with ties), for the count-based AUROC in @moco-cxr/bootstrap.
    n = 40
    y = rng.integers(0, 2, n)
    draws = [np.round(rng.uniform(size=n) + 0.4 * y, 1) for _ in range(2)]
    resamples = []
    while len(resamples) < 12:
        idx = rng.integers(0, n, n)
        if 0 < y[idx].sum() < n:
            resamples.append({"indices": ints(idx), "aurocs": [float(roc_auc_score(y[idx], d[idx])) for d in draws]})
    write(BOOTSTRAP_DIR, "resampled-auroc", {"sklearn": sklearn.__version__, "labels": ints(y),
                                              "draws": [floats(d) for d in draws], "resamples": resamples})


if __name__ == "__main__":
    main()
