#!/usr/bin/python3
"""The PyTorch reference (../shared/reference/pytorch-reference/moco_cxr_ref.py) with one change,
for issue 23's reverse ablations:  ref_variant.py nocrop pretrain --out DIR --max-epochs 10 --seed 0
  plain: the reference unchanged (but REF_THREADS threads, default 1).
  nocrop: views without the random crop (flip and rotation only, as moco-cxr's preset before the change)."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'reference', 'pytorch-reference'))
import moco_cxr_ref as ref  # noqa: E402

variant = sys.argv.pop(1)
# The reference asks for 2 threads; on a shared 2-core machine torch's pool then spins against itself.
ref.torch.set_num_threads(int(os.environ.get('REF_THREADS', '1')))
if variant == 'plain':
    pass
elif variant == 'nocrop':
    _augment = ref.augment
    ref.augment = lambda xb, gen, pad_to=72, out=64, max_deg=10.0: _augment(xb, gen, out, out, max_deg)
else:
    raise SystemExit(f'unknown variant {variant}')
ref.main()
