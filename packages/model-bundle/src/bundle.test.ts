import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { encodeSafetensors, parseSafetensors } from '@moco-cxr/backbones';
import { embedImages, scoreFeatures } from '@moco-cxr/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lesionFixture, type LesionFixture } from './test-support/lesion-bundle';
import { BUNDLE_FORMAT, loadBundle, scoreImages, sha256Hex, validateManifest, type BundleManifest } from './index';
import { readBundle, writeBundle } from './node';

const dir = mkdtempSync(join(tmpdir(), 'model-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fx: LesionFixture;
let written: BundleManifest;
const good = join(dir, 'good');

beforeAll(async () => {
  fx = await lesionFixture();
  written = await writeBundle(good, fx.parts);
}, 120_000);

/** A copy of the good bundle with bundle.json changed by `edit`. */
function variant(name: string, edit: (m: Record<string, any>) => void): string {
  const out = join(dir, name);
  cpSync(good, out, { recursive: true });
  const m = JSON.parse(readFileSync(join(out, 'bundle.json'), 'utf8'));
  edit(m);
  writeFileSync(join(out, 'bundle.json'), JSON.stringify(m));
  return out;
}

describe('bundle folder', () => {
  it('writes bundle.json and backbone.safetensors; reading it back scores exactly as the model it was made from', async () => {
    const m = JSON.parse(readFileSync(join(good, 'bundle.json'), 'utf8'));
    expect(m).toMatchObject({ format: BUNDLE_FORMAT, version: 1, tasks: ['Lesion'], input: { size: 64, channels: 3, normalize: { name: 'cxr' } }, backbone: { name: 'densenet121', weights: { file: 'backbone.safetensors' } } });
    expect(m.backbone.options).toEqual({ growthRate: 8, blockConfig: [2, 2], numInitFeatures: 16, bnSize: 2 });
    expect(m.provenance.testAuroc.Lesion).toBeGreaterThan(0.75);
    expect(written.backbone.weights.sha256).toBe(await sha256Hex([new Uint8Array(readFileSync(join(good, 'backbone.safetensors')))]));
    // The weights file is a torchvision state dict as saveBackbone writes it.
    const st = parseSafetensors(new Uint8Array(readFileSync(join(good, 'backbone.safetensors'))));
    expect(st.metadata).toMatchObject({ layout: 'torch', backbone: 'densenet121' });
    expect(st.tensors.has('features.conv0.weight')).toBe(true);
    for (const t of st.tensors.values()) t.dispose();

    const before = tf.memory().numTensors;
    const bundle = await readBundle(good);
    const rows = fx.test;
    const direct = scoreFeatures(fx.parts.head, await embedImages(fx.backbone, fx.set, rows, { normalize: 'cxr', channels: 3 }));
    const scored = await scoreImages(bundle, rows.map((i) => fx.images[i]));
    expect(scored.map((s) => s.Lesion)).toEqual(Array.from(direct));
    bundle.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a bundle.json field that is wrong, naming the file and the field', async () => {
    const cases: [string, (m: Record<string, any>) => void, RegExp][] = [
      ['format', (m) => (m.format = 'something-else'), /good-format\/bundle\.json: format must be "moco-cxr\/model-bundle"/],
      ['version', (m) => (m.version = 2), /bundle\.json: version 2 is not one this reader knows/],
      ['tasks', (m) => (m.tasks = []), /bundle\.json: tasks must be a non-empty list/],
      ['std', (m) => (m.input.normalize.std = [0.1, 0, 0.1]), /bundle\.json: input\.normalize\.std\[1\] is 0; expected a finite positive number/],
      ['channels', (m) => (m.input.channels = 2), /bundle\.json: input\.channels must be 1 or 3/],
      ['head', (m) => (m.head.weight[3] = null), /bundle\.json: head: weight\[3\] is null; expected a finite number/],
      ['head-tasks', (m) => (m.tasks = ['Lesion', 'Other']), /bundle\.json: head\.tasks is 1 but tasks names 2/],
      ['file', (m) => (m.backbone.weights.file = '../../etc/passwd.safetensors'), /bundle\.json: backbone\.weights\.file must be a plain \.safetensors file name/],
      ['ood', (m) => m.ood.features.mean.pop(), /bundle\.json: ood\.features\.mean must hold \d+ numbers/],
      ['auroc', (m) => (m.provenance.testAuroc.Lesion = 1.5), /bundle\.json: provenance\.testAuroc\.Lesion must be an AUROC/],
      ['arch', (m) => (m.backbone.options.growthRate = 4), /backbone\.safetensors: does not fit the backbone densenet121 .*shape mismatches/s],
    ];
    for (const [name, edit, message] of cases) await expect(readBundle(variant(`good-${name}`, edit)), name).rejects.toThrow(message);
    const broken = join(dir, 'not-json');
    cpSync(good, broken, { recursive: true });
    writeFileSync(join(broken, 'bundle.json'), '{"format": ');
    await expect(readBundle(broken)).rejects.toThrow(/not-json\/bundle\.json: not valid JSON/);
    await expect(readBundle(join(dir, 'missing'))).rejects.toThrow(/missing\/bundle\.json: cannot read it/);
  });

  it('refuses a weights file that was changed, cut or holds NaN, naming the file (and the tensor)', async () => {
    const bytes = new Uint8Array(readFileSync(join(good, 'backbone.safetensors')));
    const cut = join(dir, 'cut');
    cpSync(good, cut, { recursive: true });
    writeFileSync(join(cut, 'backbone.safetensors'), bytes.subarray(0, bytes.length - 4));
    await expect(readBundle(cut)).rejects.toThrow(/cut\/backbone\.safetensors: \d+ bytes, but .*bundle\.json records \d+ \(a truncated or replaced file\)/);
    const flipped = join(dir, 'flipped');
    cpSync(good, flipped, { recursive: true });
    const changed = bytes.slice();
    changed[changed.length - 1] ^= 1;
    writeFileSync(join(flipped, 'backbone.safetensors'), changed);
    await expect(readBundle(flipped)).rejects.toThrow(/flipped\/backbone\.safetensors: SHA-256 [0-9a-f]{64} differs from .*backbone\.weights\.sha256/);

    // A NaN weight with a matching digest (as a broken run would export): refused by backbones' weight checks.
    const { tensors, metadata } = parseSafetensors(bytes);
    const conv = tensors.get('features.conv0.weight')!;
    const values = conv.dataSync().slice();
    values[2] = NaN;
    tensors.set('features.conv0.weight', tf.tensor(values, conv.shape));
    conv.dispose();
    const chunks = await encodeSafetensors(tensors, metadata);
    for (const t of tensors.values()) t.dispose();
    const nan = variant('nan', () => undefined);
    const nanBytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) nanBytes.set(c, (at += c.length) - c.length);
    writeFileSync(join(nan, 'backbone.safetensors'), nanBytes);
    const m = JSON.parse(readFileSync(join(nan, 'bundle.json'), 'utf8'));
    m.backbone.weights = { ...m.backbone.weights, sha256: await sha256Hex([nanBytes]), bytes: nanBytes.length };
    writeFileSync(join(nan, 'bundle.json'), JSON.stringify(m));
    const before = tf.memory().numTensors;
    await expect(readBundle(nan)).rejects.toThrow(/nan\/backbone\.safetensors: tensor 'features\.conv0\.weight' holds 1 NaN/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads through any reader (a page fetches the same two files) with the same numbers', async () => {
    const files = new Map([
      ['bundle.json', new Uint8Array(readFileSync(join(good, 'bundle.json')))],
      ['backbone.safetensors', new Uint8Array(readFileSync(join(good, 'backbone.safetensors')))],
    ]);
    const viaMemory = await loadBundle(async (f) => files.get(f) ?? Promise.reject(new Error('404')), { source: 'https://example.org/models/lesion' });
    const viaDisk = await readBundle(good);
    const images = fx.test.slice(0, 6).map((i) => fx.images[i]);
    expect(await scoreImages(viaMemory, images)).toEqual(await scoreImages(viaDisk, images));
    expect(viaMemory.manifest).toEqual(validateManifest(JSON.parse(readFileSync(join(good, 'bundle.json'), 'utf8'))));
    viaMemory.dispose();
    viaDisk.dispose();
    await expect(loadBundle(async () => Promise.reject(new Error('HTTP 404 Not Found')), { source: 'https://example.org/m/' })).rejects.toThrow('https://example.org/m/bundle.json: cannot read it (HTTP 404 Not Found)');
  });
});
