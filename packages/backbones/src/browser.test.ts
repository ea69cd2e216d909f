import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { createBackbone, encodeSafetensors, parseSafetensors } from './browser';

describe('the browser entry', () => {
  it('refuses a weights path, naming it and saying what a browser passes instead', async () => {
    await expect(createBackbone('resnet18', { inputShape: [32, 32, 3], weights: '/models/r18.safetensors' })).rejects.toThrow(
      'createBackbone(resnet18): weights given as a path (/models/r18.safetensors) need a filesystem; in a browser pass a Map of tensors (parseSafetensors(bytes).tensors)',
    );
  });

  it('loads a backbone from safetensors bytes with no filesystem: the same embedding as the one saved', async () => {
    await tf.setBackend('cpu');
    const opts = { inputShape: [32, 32, 3] as [number, number, number], widths: [4, 8, 8, 16], stemWidth: 4 };
    const a = await createBackbone('resnet18', { ...opts, seed: 3 });
    const dict = a.stateDict();
    const chunks = await encodeSafetensors(dict, { note: 'é' });
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    chunks.reduce((o, c) => (bytes.set(c, o), o + c.byteLength), 0);
    // The header (with a non-ASCII metadata value) is padded so the data starts 8-byte aligned.
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ note: 'é' });
    const b = await createBackbone('resnet18', { ...opts, weights: parsed.tensors });
    const x = tf.randomUniform<tf.Rank.R4>([1, 32, 32, 3], 0, 1, 'float32', 1);
    const [ea, eb] = [a.embed(x), b.embed(x)];
    expect(Array.from(eb.dataSync())).toEqual(Array.from(ea.dataSync()));
    tf.dispose([x, ea, eb, ...dict.values(), ...parsed.tensors.values()]);
    a.dispose();
    b.dispose();
  });
});
