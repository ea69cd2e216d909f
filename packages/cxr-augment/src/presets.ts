import { mocoCxrAugment, mocoCxrCropAugment, mocoV2Augment } from './augment';
import type { AugmentOptions } from './params';

/**
 * The named view sets: `moco-cxr-crop` (the paper's flip and rotation after a resize to 9/8 of the
 * input and a random crop back, the PyTorch reference's and moco's default), `moco-cxr` (the
 * paper's alone) and `moco-v2` (random-resized crop, jitter, blur).
 */
export const AUGMENT_PRESETS = ['moco-cxr-crop', 'moco-cxr', 'moco-v2'] as const;
export type AugmentPresetName = (typeof AUGMENT_PRESETS)[number];

/** Fields laid over a preset; `undefined` keeps the preset's, `null` turns an extra (jitter, blur, resized crop) off. */
export type AugmentOverrides = { [K in keyof AugmentOptions]?: AugmentOptions[K] | undefined };

/**
 * A named preset for inputs of `inputSize` pixels (a number: square), with `overrides` laid over it.
 * Jitter factors given without `clip` keep MoCo v2's clipping to [0, 1], the range its jitter works in.
 */
export function augmentPreset(name: AugmentPresetName, inputSize: number | readonly [number, number], overrides: AugmentOverrides = {}): AugmentOptions {
  if (!AUGMENT_PRESETS.includes(name)) throw new RangeError(`augmentPreset: unknown preset ${JSON.stringify(name)}; the presets are ${AUGMENT_PRESETS.join(', ')}`);
  const base = name === 'moco-v2' ? mocoV2Augment : name === 'moco-cxr' ? mocoCxrAugment : mocoCxrCropAugment(inputSize);
  const out: AugmentOptions = { ...base };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  if (out.colorJitter && !('clip' in out.colorJitter)) out.colorJitter = { ...out.colorJitter, clip: [0, 1] };
  return out;
}
