#!/usr/bin/env bash
# Issue 23's head to head at the reference's length: the PyTorch reference and our pretrain(), from
# the same initial weights on the same 64 px pixels, for each seed; backbones kept at 10 and at the
# last epoch. Two single-threaded processes at a time (the reference's seeds on one, ours on the
# other), which on a 2-core machine keeps either thread pool from spinning against the other.
#   bash tools/science/head-to-head.sh [OUT=runs/h2h] [EPOCHS=44] [SEEDS="0 1 2"]
# then tools/science/probe_eval.py eval --split test on the backbones (see docs/results/kermany.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/h2h} EPOCHS=${EPOCHS:-44} SEEDS=${SEEDS:-"0 1 2"}
S=tools/science PY=/usr/bin/python3
mkdir -p "$OUT/data"
if [ ! -f "$OUT/data/kermany64.npz" ]; then
  $PY -c "import sys; sys.path.insert(0, '../shared/reference/pytorch-reference'); import moco_cxr_ref as r; r.kermany_arrays('$OUT/data', 64)"
fi
[ -f "$OUT/data/kermany64.u8" ] || $PY $S/probe_eval.py dump --npz "$OUT/data/kermany64.npz" --out "$OUT/data/kermany64.u8"
for s in $SEEDS; do
  [ -f "$OUT/init_s$s/backbone_init.pt" ] || $PY $S/ref_variant.py init --out "$OUT/init_s$s" --seed "$s"
  mkdir -p "$OUT/ref_s$s"; ln -sf "$(realpath "$OUT/data/kermany64.npz")" "$OUT/ref_s$s/kermany64.npz"
done
reference() {
  for s in $SEEDS; do
    [ -f "$OUT/ref_s$s/done" ] && continue
    REF_THREADS=1 SNAPSHOT_EPOCHS=10 $PY $S/ref_variant.py plain pretrain --out "$OUT/ref_s$s" --seed "$s" \
      --max-epochs "$EPOCHS" --budget-s 1000000 > "$OUT/ref_s$s/stdout.log" 2>&1
    cmp -s "$OUT/ref_s$s/backbone_init.pt" "$OUT/init_s$s/backbone_init.pt" || echo "ref_s$s: initial weights differ from init_s$s" >> "$OUT/warnings.log"
    touch "$OUT/ref_s$s/done"
  done
}
ours_to() { # seed, epochs: pretrain() resumes from the run directory's checkpoint
  node $S/pretrain-ablation.mjs --pixels "$OUT/data/kermany64.u8" --init "$OUT/init_s$1/backbone_init.pt" --out "$OUT/ours_s$1" \
    --epochs "$2" --seed "$1" --threads 1 --augment '{"resize":72,"crop":"random"}' >> "$OUT/ours_s$1.log" 2>&1
}
ours() {
  for s in $SEEDS; do
    local d="$OUT/ours_s$s"
    [ -f "$d/done" ] && continue
    # the 10-epoch backbone is taken once: a rerun after an interruption may already be past epoch 10
    if [ ! -f "$d/backbone_e10.safetensors" ]; then
      ours_to "$s" 10
      cp "$d/backbone-torchvision.safetensors" "$d/backbone_e10.safetensors"
    fi
    ours_to "$s" "$EPOCHS"
    touch "$d/done"
  done
}
reference & ours & wait
echo "head-to-head done: $(date -u +%FT%TZ)"
