import { describe, expect, test } from 'vitest';
import { AUGMENT_PRESETS, augmentPreset, mocoCxrAugment, mocoCxrCropAugment, mocoV2Augment, type AugmentPresetName } from './index';

describe('augmentPreset: the named view sets, with fields laid over them', () => {
  test('each name gives its views at the input size', () => {
    expect(AUGMENT_PRESETS).toEqual(['moco-cxr-crop', 'moco-cxr', 'moco-v2']);
    expect(augmentPreset('moco-cxr-crop', 64)).toEqual(mocoCxrCropAugment(64));
    expect(augmentPreset('moco-cxr-crop', [64, 48])).toEqual({ ...mocoCxrAugment, resize: 54, size: [64, 48] });
    expect(augmentPreset('moco-cxr', 64)).toEqual({ ...mocoCxrAugment });
    expect(augmentPreset('moco-v2', 64)).toEqual({ ...mocoV2Augment });
    expect(() => augmentPreset('simclr' as AugmentPresetName, 64)).toThrow(/augmentPreset: unknown preset "simclr"; the presets are moco-cxr-crop, moco-cxr, moco-v2/);
  });

  test('overrides replace fields, undefined keeps the preset, null turns an extra off; the presets stay as they were', () => {
    expect(augmentPreset('moco-cxr', 32, { resize: 40, size: 32, flipProbability: 0, rotation: undefined })).toEqual({ ...mocoCxrAugment, resize: 40, size: 32, flipProbability: 0 });
    expect(augmentPreset('moco-v2', 64, { blur: null, rotation: 5 })).toEqual({ ...mocoV2Augment, blur: null, rotation: 5 });
    expect(augmentPreset('moco-cxr-crop', 64, { resize: 80 })).toMatchObject({ resize: 80, size: 64 });
    expect(mocoV2Augment.rotation).toBe(0);
  });

  test("jitter factors given without clip keep MoCo v2's [0, 1] clipping; a clip given (even null) is kept", () => {
    const jitter = { brightness: 0.2, contrast: 0.3, probability: 1 };
    expect(augmentPreset('moco-v2', 64, { colorJitter: jitter }).colorJitter).toEqual({ ...jitter, clip: [0, 1] });
    expect(augmentPreset('moco-cxr', 64, { colorJitter: jitter }).colorJitter).toEqual({ ...jitter, clip: [0, 1] });
    expect(augmentPreset('moco-v2', 64, { colorJitter: { ...jitter, clip: null } }).colorJitter).toEqual({ ...jitter, clip: null });
    expect(augmentPreset('moco-v2', 64, { colorJitter: null }).colorJitter).toBeNull();
    expect(jitter).toEqual({ brightness: 0.2, contrast: 0.3, probability: 1 });
  });
});
