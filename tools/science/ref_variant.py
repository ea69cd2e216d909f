#!/usr/bin/python3
"""The PyTorch reference (../shared/reference/pytorch-reference/moco_cxr_ref.py) with one change,
for issue 23's reverse ablations and head-to-head runs:  ref_variant.py nocrop pretrain --out DIR --max-epochs 10 --seed 0
  plain: the reference unchanged (but REF_THREADS threads, default 1).
  nocrop: views without the random crop (flip and rotation only, as moco-cxr's preset before the change).
  init --out DIR --seed S: only the initial weights pretrain would save (backbone_init.pt), so our
    side can start from them without waiting for the reference's run.
SNAPSHOT_EPOCHS=10,20 also keeps the backbone after those epochs (backbone_moco_e10.pt), since the
reference overwrites backbone_moco.pt every epoch."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'reference', 'pytorch-reference'))
import moco_cxr_ref as ref  # noqa: E402

variant = sys.argv.pop(1)
# The reference asks for 2 threads; on a shared 2-core machine torch's pool then spins against itself.
ref.torch.set_num_threads(int(os.environ.get('REF_THREADS', '1')))
snapshots = {int(e) for e in os.environ.get('SNAPSHOT_EPOCHS', '').split(',') if e.strip()}
if snapshots:
    _save, saved = ref.torch.save, [0]

    def save(obj, path, *a, **k):
        _save(obj, path, *a, **k)
        # pretrain() saves backbone_moco.pt once per epoch, so the n-th save is epoch n
        if os.path.basename(str(path)) == 'backbone_moco.pt':
            saved[0] += 1
            if saved[0] in snapshots:
                _save(obj, os.path.join(os.path.dirname(str(path)), f'backbone_moco_e{saved[0]}.pt'), *a, **k)
    ref.torch.save = save
if variant == 'plain':
    pass
elif variant == 'nocrop':
    _augment = ref.augment
    ref.augment = lambda xb, gen, pad_to=72, out=64, max_deg=10.0: _augment(xb, gen, out, out, max_deg)
elif variant == 'init':
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    # the same calls, in the same order, as the start of the reference's pretrain()
    ref.torch.manual_seed(a.seed)
    ref.np.random.seed(a.seed)
    ref.torch.save(ref.Encoder().backbone.state_dict(), os.path.join(a.out, 'backbone_init.pt'))
    sys.exit(0)
else:
    raise SystemExit(f'unknown variant {variant}')
ref.main()
