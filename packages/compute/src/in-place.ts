// The optimiser update of every variable in one native call, in place (no Node modules here: the
// browser entry exports it too, where the kernel is never registered and every entry is left).
import { backend, getBackend, getKernel, engine, type NamedTensorMap, type Tensor } from '@tensorflow/tfjs-core';

/** Registered on wasm only while the native kernels run (native.ts); updates its inputs in place, returns nothing. */
export const OPTIMIZER_STEP_IN_PLACE = 'MocoCxrOptimizerStepInPlace';

/** Kinds the in-place update runs (OPTIMIZER_KIND's tfAdam, torchAdam, ema); SGD stays per variable. */
export const IN_PLACE_KINDS: readonly number[] = [0, 1, 3];

/** One variable of an update: `grad` is read (the query encoder's value for the EMA), the others overwritten. */
export interface InPlaceEntry {
  param: Tensor;
  grad: Tensor;
  slot1?: Tensor;
  slot2?: Tensor;
}

type RefCounted = { refCount(dataId: object): number };

/** True where no other tensor sees t's buffer, so writing it in place changes only t. */
function ownsBuffer(t: Tensor, claimed: Set<object>): boolean {
  return t.dtype === 'float32' && (backend() as unknown as RefCounted).refCount(t.dataId) === 1 && !claimed.has(t.dataId);
}

/**
 * Updates every entry it can in one native call (kind and `hyper` as the optimizerStep kernel takes
 * them, native/elementwise.cc), overwriting param and slots in place: the same bits as one
 * optimizerStep per variable, without a new buffer per output or a dispatch per variable. Returns
 * the entries left for the caller's own per-variable update: all of them while the native kernels
 * are off; else those whose param or slot shares its buffer with another tensor (a clone someone
 * holds must keep its value, or is another entry's grad), are not float32, or whose grad's size differs.
 */
export function optimizerStepInPlace<E extends InPlaceEntry>(kind: number, entries: readonly E[], hyper: readonly number[]): E[] {
  if (entries.length === 0 || !IN_PLACE_KINDS.includes(kind) || getKernel(OPTIMIZER_STEP_IN_PLACE, getBackend()) === undefined) return [...entries];
  const slots = kind === 3 ? 0 : 2;
  // Buffers read as a gradient are never written in the same call (threads would race on them).
  const claimed = new Set<object>(entries.map((e) => e.grad.dataId));
  const left: E[] = [];
  const inputs: NamedTensorMap = {};
  let count = 0;
  for (const e of entries) {
    const written = [e.param, e.slot1, e.slot2].slice(0, 1 + slots);
    const fits =
      written.every((t) => t !== undefined && t.size === e.param.size && ownsBuffer(t, claimed)) &&
      new Set(written.map((t) => t!.dataId)).size === written.length &&
      e.grad.dtype === 'float32' &&
      e.grad.size === e.param.size;
    if (!fits) {
      left.push(e);
      continue;
    }
    for (const t of written) claimed.add(t!.dataId);
    inputs[`param${count}`] = e.param;
    inputs[`grad${count}`] = e.grad;
    if (slots) {
      inputs[`slot1_${count}`] = e.slot1!;
      inputs[`slot2_${count}`] = e.slot2!;
    }
    count++;
  }
  if (count > 0) engine().runKernel(OPTIMIZER_STEP_IN_PLACE, inputs, { kind, hyper: [...hyper], count } as never);
  return left;
}
