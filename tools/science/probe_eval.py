#!/usr/bin/python3
"""Issue 23's evaluator: the PyTorch reference's frozen-feature logistic probe and paired
bootstrap, applied to any number of ResNet18 backbones (reference .pt state dicts or
moco-cxr's backbone-torchvision.safetensors), so ours and the reference's are judged by one probe.

  dump  --npz runs/ref/kermany64.npz --out runs/ref/kermany64.u8     train pixels for pretrain-ablation.mjs
  eval  --npz ... --split val|test --backbone name=path [...] --pool A:B --out r.json [--scores-out s.npy]
  pool  --scores s1.npy --scores s2.npy --pool A:B --out r.json     pools seeds evaluated in separate runs
split val: Kermany train patients only (70% probe pool / 15% penalty choice / 15% scored): for
ablations, the test set is never read. split test: the reference's own evaluate() protocol.
"""
import argparse, json, os, struct, sys
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'reference', 'pytorch-reference'))
import moco_cxr_ref as ref  # noqa: E402


def read_safetensors(path):
    with open(path, 'rb') as fh:
        n = struct.unpack('<Q', fh.read(8))[0]
        header = json.loads(fh.read(n))
        blob = fh.read()
    dt = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64, 'I32': np.int32}
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(blob[s:e], dtype=dt[v['dtype']]).reshape(v['shape']).copy())
    return out


def load_backbone(path):
    net = ref.make_backbone()
    sd = read_safetensors(path) if path.endswith('.safetensors') else torch.load(path)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith('num_batches_tracked')]
    if missing or unexpected:
        raise SystemExit(f'{path}: missing {missing[:5]}, unexpected {unexpected[:5]}')
    return net


def three_way(pids, ys, seed=0):
    from sklearn.model_selection import train_test_split
    up = sorted(set(pids))
    plab = {p: int(ys[pids == p].max()) for p in up}
    pool, rest = train_test_split(up, test_size=0.3, random_state=seed, stratify=[plab[p] for p in up])
    sel, score = train_test_split(rest, test_size=0.5, random_state=seed, stratify=[plab[p] for p in rest])
    return np.isin(pids, pool), np.isin(pids, sel), np.isin(pids, score)


def pooled_pairs(ys, scores, pools, n_boot):
    """`A:B` pools: backbones named A/<seed> against B/<seed> over the seeds both have. Each replicate
    draws seeds with replacement (seed i of A stays paired with seed i of B), then test images with
    replacement; each side's AUROC is averaged over the drawn seeds and their draws."""
    from sklearn.metrics import roc_auc_score
    out = {}
    for spec in pools:
        A, B = spec.split(':')
        seeds = sorted(n.split('/', 1)[1] for n in scores if n.startswith(A + '/') and (B + '/' + n.split('/', 1)[1]) in scores)
        if not seeds:
            continue
        auc = lambda name, idx: float(np.mean([roc_auc_score(ys[idx], s[idx]) for s in scores[name]]))
        full = np.arange(len(ys))
        per_seed = [auc(f'{A}/{s}', full) - auc(f'{B}/{s}', full) for s in seeds]
        rng = np.random.default_rng(0)
        reps = []
        while len(reps) < n_boot:
            ss = rng.integers(0, len(seeds), len(seeds))
            idx = rng.integers(0, len(ys), len(ys))
            if ys[idx].min() == ys[idx].max():
                continue
            reps.append(np.mean([auc(f'{A}/{seeds[i]}', idx) - auc(f'{B}/{seeds[i]}', idx) for i in ss]))
        reps = np.array(reps)
        per_seed_ci = [ref.paired_bootstrap(ys, scores[f'{A}/{s}'], scores[f'{B}/{s}'], n_boot, 0)['diff_ci'] for s in seeds]
        out[spec] = dict(seeds=seeds, per_seed_ci=per_seed_ci, diff=float(np.mean(per_seed)), diff_ci=[float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))],
                         p_diff_le0=float(np.mean(reps <= 0)), per_seed_diff=per_seed,
                         a=float(np.mean([auc(f'{A}/{s}', full) for s in seeds])), b=float(np.mean([auc(f'{B}/{s}', full) for s in seeds])))
    return out


def shifted(X, seed=0):
    """A covariate-shifted copy of uint8 images (validation's stand-in for another hospital's
    radiographs): per image a gamma in [0.6, 1.6] (log-uniform), a zoom-out to 80-90% with black
    borders, and a Gaussian blur of sigma 0.8. Deterministic."""
    import torch.nn.functional as F
    g = np.random.default_rng(seed)
    x = torch.from_numpy(X).float().div(255.0).unsqueeze(1)
    gam = torch.from_numpy(np.exp(g.uniform(np.log(0.6), np.log(1.6), len(X)))).float().view(-1, 1, 1, 1)
    x = x.clamp(0, 1) ** gam
    z = torch.from_numpy(g.uniform(1 / 0.9, 1 / 0.8, len(X))).float()
    theta = torch.zeros(len(X), 2, 3)
    theta[:, 0, 0] = z
    theta[:, 1, 1] = z
    x = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), mode='bilinear', padding_mode='zeros', align_corners=False)
    k = torch.exp(-torch.arange(-2, 3).float() ** 2 / (2 * 0.8 ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode='replicate'), k.view(1, 1, 1, 5))
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode='replicate'), k.view(1, 1, 5, 1))
    return (x.squeeze(1).clamp(0, 1) * 255).round().byte().numpy()


def evaluate(args):
    from sklearn.metrics import roc_auc_score
    d = np.load(args.npz, allow_pickle=True)
    X, y, pids = d['train_x'], d['train_y'], d['train_pid']
    nets = dict(s.split('=', 1) for s in args.backbone)
    if args.split == 'val':
        pool, sel, score = three_way(pids, y)
        Xs, ys = X[score], y[score]
        if args.shift:
            Xs = shifted(Xs)
    else:
        pool, sel = ref.patient_split(pids, y, 0.15, seed=0)
        Xs, ys = d['test_x'], d['test_y']
    feats = {}
    for name, path in nets.items():
        net = load_backbone(path)
        feats[name] = (ref.extract(net, X), ref.extract(net, Xs))
    out = dict(split=args.split, shift=bool(args.shift), backbones=nets, baseline=args.baseline, n_scored=int(len(ys)), fractions={})
    pool_idx = np.where(pool)[0]
    all_scores = {}
    for frac, ndraw in ((0.01, 5), (0.10, 5), (1.0, 1)):
        rng = np.random.default_rng(0)
        masks = [np.ones(len(pool_idx), bool) if frac >= 1 else ref.sample_patients(pids[pool_idx], y[pool_idx], frac, rng) for _ in range(ndraw)]
        scores = {n: [] for n in nets}
        for msk in masks:
            s_idx = pool_idx[msk]
            for n in nets:
                Ftr, Fsc = feats[n]
                sc, clf, C, vauc = ref.fit_probe(Ftr[s_idx], y[s_idx], Ftr[sel], y[sel])
                scores[n].append(clf.decision_function(sc.transform(Fsc)))
        res = {n: float(np.mean([roc_auc_score(ys, s) for s in scores[n]])) for n in nets}
        diffs = {}
        for n in nets:
            if args.baseline and n != args.baseline and '/' not in n:
                diffs[n] = ref.paired_bootstrap(ys, scores[n], scores[args.baseline], args.n_boot, 0)
        all_scores[str(frac)] = scores
        pooled = pooled_pairs(ys, scores, args.pool, args.n_boot)
        out['fractions'][str(frac)] = dict(auroc=res, vs_baseline=diffs, pooled=pooled)
        for k, v in pooled.items():
            print('  pooled', k, round(v['diff'], 4), [round(c, 4) for c in v['diff_ci']], 'per seed', [round(x, 4) for x in v['per_seed_diff']], flush=True)
        print(frac, json.dumps(res), {n: [round(v['diff'], 4)] + [round(c, 4) for c in v['diff_ci']] for n, v in diffs.items()}, flush=True)
    with open(args.out, 'w') as fh:
        json.dump(out, fh, indent=1)
    if args.scores_out:
        np.save(args.scores_out, dict(ys=ys, scores={f: {n: np.stack(v) for n, v in sc.items()} for f, sc in all_scores.items()}), allow_pickle=True)


def pool_saved(args):
    """Pools the scores several `eval --scores-out` runs saved (same split, same scored images)."""
    ys, merged = None, {}
    for path in args.scores:
        d = np.load(path, allow_pickle=True).item()
        if ys is not None and not np.array_equal(ys, d['ys']):
            raise SystemExit(f'{path}: scored a different set of images')
        ys = d['ys']
        for f, sc in d['scores'].items():
            merged.setdefault(f, {}).update({n: list(v) for n, v in sc.items()})
    out = dict(split='saved', sources=args.scores, fractions={})
    for f, scores in merged.items():
        from sklearn.metrics import roc_auc_score
        res = {n: float(np.mean([roc_auc_score(ys, s) for s in v])) for n, v in scores.items()}
        pooled = pooled_pairs(ys, scores, args.pool, args.n_boot)
        out['fractions'][f] = dict(auroc=res, pooled=pooled)
        print(f, json.dumps(res), flush=True)
        for k, v in pooled.items():
            print('  pooled', k, round(v['diff'], 4), [round(c, 4) for c in v['diff_ci']], 'per seed', [round(x, 4) for x in v['per_seed_diff']], flush=True)
    with open(args.out, 'w') as fh:
        json.dump(out, fh, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('cmd', choices=['dump', 'eval', 'pool'])
    ap.add_argument('--npz')
    ap.add_argument('--scores-out', help='eval: also save every probe score (numpy .npy) for `pool`')
    ap.add_argument('--scores', action='append', default=[], help='pool: .npy files from eval --scores-out')
    ap.add_argument('--out', required=True)
    ap.add_argument('--split', choices=['val', 'test'], default='val')
    ap.add_argument('--backbone', action='append', default=[])
    ap.add_argument('--baseline')
    ap.add_argument('--shift', action='store_true', help='split val: score a covariate-shifted copy of the scored images')
    ap.add_argument('--n-boot', type=int, default=500)
    ap.add_argument('--pool', action='append', default=[], help='A:B pools backbones A/<seed> against B/<seed>, resampling seeds and images')
    args = ap.parse_args()
    if args.cmd == 'pool':
        pool_saved(args)
    elif args.cmd == 'dump':
        d = np.load(args.npz, allow_pickle=True)
        d['train_x'].astype(np.uint8).tofile(args.out)
        print(f"{args.out}: {d['train_x'].shape}")
    else:
        evaluate(args)


if __name__ == '__main__':
    main()
