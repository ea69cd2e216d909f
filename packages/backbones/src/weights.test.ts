import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeFileAtomic } from '@moco-cxr/atomic-write';
import {
  createBackbone,
  mapWeightKey,
  parsePth,
  parseSafetensorsWeights,
  parseWeights,
  readSafetensors,
  readWeights,
  saveBackbone,
  writeSafetensors,
} from './index';
import { unpickle } from './pickle';
import { maxAbsDiff, randomInput, useTestBackend } from './test-support/backend';

const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/${f}`, import.meta.url));

/** Pickle (protocol 2) of {'w': _rebuild_tensor_v2(storage '0' of `numel` floats, offset, shape, stride)}, as torch.save writes it. */
function statePickle(numel: number, shape: number[], stride: number[], offset = 0): Uint8Array {
  const bytes: number[] = [0x80, 0x02, 0x7d];
  const str = (v: string) => {
    const b = new TextEncoder().encode(v);
    bytes.push(0x58, b.length, 0, 0, 0, ...b);
  };
  const int = (v: number) => bytes.push(0x4a, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const global = (v: string) => bytes.push(0x63, ...new TextEncoder().encode(v));
  str('w');
  global('torch._utils\n_rebuild_tensor_v2\n');
  bytes.push(0x28, 0x28);
  str('storage');
  global('torch\nFloatStorage\n');
  str('0');
  str('cpu');
  int(numel);
  bytes.push(0x74, 0x51); // TUPLE, BINPERSID
  int(offset);
  bytes.push(0x28);
  shape.forEach(int);
  bytes.push(0x74, 0x28);
  stride.forEach(int);
  bytes.push(0x74, 0x89); // NEWFALSE (requires_grad)
  global('collections\nOrderedDict\n');
  bytes.push(0x29, 0x52, 0x74, 0x52, 0x73, 0x2e); // (), REDUCE, TUPLE, REDUCE, SETITEM, STOP
  return Uint8Array.from(bytes);
}

/** A zip archive as torch.save writes it (archive/data.pkl, archive/data/0); `deflate` compresses an entry, `declare` overrides its size. */
function zipArchive(files: { name: string; data: Uint8Array; deflate?: boolean; declare?: number }[]): Uint8Array {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const body = f.deflate ? deflateRawSync(f.data) : Buffer.from(f.data);
    const name = Buffer.from(f.name);
    const header = (sig: number, size: number) => {
      const h = Buffer.alloc(size);
      h.writeUInt32LE(sig, 0);
      return h;
    };
    const local = header(0x04034b50, 30);
    local.writeUInt16LE(f.deflate ? 8 : 0, 8);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(f.declare ?? f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = header(0x02014b50, 46);
    cd.writeUInt16LE(f.deflate ? 8 : 0, 10);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(f.declare ?? f.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    central.push(cd, name);
    offset += local.length + name.length + body.length;
  }
  const cdBytes = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(files.length, 8);
  eocd.writeUInt16LE(files.length, 10);
  eocd.writeUInt32LE(cdBytes.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cdBytes, eocd]));
}

let dir = '';

beforeAll(async () => {
  await useTestBackend();
  dir = await mkdtemp(join(tmpdir(), 'backbones-weights-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('safetensors', () => {
  test('round-trips float32, int32 and bool tensors with metadata', async () => {
    const path = join(dir, 'rt.safetensors');
    const tensors = new Map<string, tf.Tensor>([
      ['a.weight', tf.tensor4d([1.5, -2, 3, 4.25, 5, 6], [1, 2, 3, 1])],
      ['a.num_batches_tracked', tf.scalar(7, 'int32')],
      ['mask', tf.tensor1d([1, 0, 1], 'bool')],
    ]);
    await writeSafetensors(path, tensors, { epoch: '3' });
    const bytes = await readFile(path);
    // Header length is a u64 and the data section starts 8-byte aligned.
    expect((8 + Number(bytes.readBigUInt64LE(0))) % 8).toBe(0);
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ epoch: '3' });
    expect([...back.tensors.keys()]).toEqual(['a.weight', 'a.num_batches_tracked', 'mask']);
    for (const [k, t] of tensors) {
      expect(back.tensors.get(k)!.dtype).toBe(t.dtype);
      expect(back.tensors.get(k)!.shape).toEqual(t.shape);
      expect(Array.from(back.tensors.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
    }
    for (const t of [...tensors.values(), ...back.tensors.values()]) t.dispose();
  });

  test('a truncated file is refused with its path and sizes', async () => {
    const path = join(dir, 'cut.safetensors');
    const t = tf.ones([64]);
    await writeSafetensors(path, { t });
    t.dispose();
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await expect(readSafetensors(path)).rejects.toThrow(new RegExp(`${path}: tensor 't' \\[64\\] F32 has data_offsets \\[0, 256\\]`));
  });

  test('a negative or fractional shape, and a file cut inside its header, are refused naming the file', async () => {
    const header = (h: object) => {
      const json = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, Buffer.alloc(16)]);
    };
    const neg = join(dir, 'neg.safetensors');
    await writeFile(neg, header({ w: { dtype: 'F32', shape: [-1, -4], data_offsets: [0, 16] } }));
    await expect(readSafetensors(neg)).rejects.toThrow(new RegExp(`${neg}: tensor 'w' has an invalid shape \\[-1,-4\\]`));
    await expect(readWeights(neg)).rejects.toThrow(/neg\.safetensors: tensor 'w' has an invalid shape/);
    await writeFile(neg, header({ w: { dtype: 'F32', shape: [2.5, 1.6], data_offsets: [0, 16] } }));
    await expect(readSafetensors(neg)).rejects.toThrow(/neg\.safetensors: tensor 'w' has an invalid shape \[2\.5,1\.6\]/);
    // Cut inside the JSON header: reported as a cut safetensors file, whatever the file is called.
    const t = tf.ones([4]);
    const whole = join(dir, 'whole.safetensors');
    await writeSafetensors(whole, { t });
    t.dispose();
    const cut = join(dir, 'cut-header.bin');
    await writeFile(cut, (await readFile(whole)).subarray(0, 20));
    await expect(readWeights(cut)).rejects.toThrow(/cut-header\.bin: header length \d+ exceeds the file size 20 \(truncated or not safetensors\)/);
  });

  test('a failed write leaves the previous file intact and no temporary file behind', async () => {
    const path = join(dir, 'ckpt.safetensors');
    const t = tf.tensor1d([1, 2, 3]);
    await writeSafetensors(path, { t });
    const before = await readFile(path);
    // The second chunk is not a buffer: the write fails midway through the temporary file.
    expect(() => writeFileAtomic(path, [new Uint8Array(1000), null as unknown as Uint8Array])).toThrow();
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
    expect((await readdir(dir)).filter((f) => f.includes('ckpt'))).toEqual(['ckpt.safetensors']);
    const back = await readSafetensors(path);
    expect(Array.from(back.tensors.get('t')!.dataSync())).toEqual([1, 2, 3]);
    back.tensors.get('t')!.dispose();
    t.dispose();
  });
});

describe('PyTorch .pth', () => {
  test.each(['odd-tensors.pth', 'odd-tensors-legacy.pth'])('%s: strided views, offsets, float16/float64/int64', async (file) => {
    const raw = parsePth(new Uint8Array(await readFile(fixture(file))), file);
    expect(raw.get('strided')).toMatchObject({ shape: [4, 3], dtype: 'float32' });
    expect(Array.from(raw.get('strided')!.values)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(raw.get('offset')!.values)).toEqual([4, 5, 6, 7]);
    expect(Array.from(raw.get('half')!.values)).toEqual([0.5, -2, 65504]);
    expect(Array.from(raw.get('double')!.values)).toEqual([1.25, -3.5]);
    expect(raw.get('long')).toMatchObject({ shape: [2, 2], dtype: 'int32' });
    expect(Array.from(raw.get('long')!.values)).toEqual([1, -2, 3, 2 ** 31 - 1]);
  });

  test('reads a hand-built torch.save zip (the builder used below is faithful)', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const pth = zipArchive([{ name: 'archive/data.pkl', data: statePickle(6, [2, 3], [3, 1]) }, { name: 'archive/data/0', data, deflate: true }]);
    const w = parsePth(pth, 'hand.pth').get('w')!;
    expect(w.shape).toEqual([2, 3]);
    expect(Array.from(w.values)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('a zip bomb is refused naming its entry, before it is inflated', () => {
    // 16 MiB of zeros deflate to ~16 KB: far more than weights compress.
    const numel = 1 << 22;
    const bomb = zipArchive([{ name: 'archive/data.pkl', data: statePickle(numel, [numel], [1]) }, { name: 'archive/data/0', data: new Uint8Array(numel * 4), deflate: true }]);
    expect(bomb.byteLength).toBeLessThan(40_000);
    expect(() => parsePth(bomb, 'bomb.pth')).toThrow(/bomb\.pth: zip entry archive\/data\/0 claims to inflate from \d+ to 16777216 bytes.*zip bomb/);
    // An entry that inflates past the size its directory declares stops at that size.
    const data = new Uint8Array(new Float32Array(64).fill(1).buffer);
    const liar = zipArchive([{ name: 'archive/data.pkl', data: statePickle(16, [16], [1]) }, { name: 'archive/data/0', data, deflate: true, declare: 64 }]);
    expect(() => parsePth(liar, 'liar.pth')).toThrow(/liar\.pth: zip entry archive\/data\/0 does not inflate to its declared 64 bytes/);
  });

  test('a tensor declaring more elements than its storage holds (stride 0) is refused by name', () => {
    const tiny = zipArchive([{ name: 'archive/data.pkl', data: statePickle(1, [1 << 20], [0]) }, { name: 'archive/data/0', data: new Uint8Array(4) }]);
    expect(tiny.byteLength).toBeLessThan(700);
    expect(() => parsePth(tiny, 'tiny.pth')).toThrow(/tiny\.pth: tensor 'w': declares 1048576 elements \(shape \[1048576\], stride \[0\]\) but its storage holds 1/);
    const negative = zipArchive([{ name: 'archive/data.pkl', data: statePickle(4, [-2, -2], [1, 1]) }, { name: 'archive/data/0', data: new Uint8Array(16) }]);
    expect(() => parsePth(negative, 'neg.pth')).toThrow(/neg\.pth: tensor 'w': invalid tensor geometry \(shape \[-2,-2\]/);
  });

  test('the unpickler refuses any global outside its allow-list before anything could run', () => {
    const evil = new TextEncoder().encode("cos\nsystem\n(S'touch /tmp/pwned'\ntR.");
    expect(() => unpickle(evil, 0, { source: 'evil.pkl' })).toThrow(/evil\.pkl: refusing global 'os\.system'/);
    const builtin = new Uint8Array([0x80, 0x02, ...new TextEncoder().encode('cbuiltins\neval\n'), 0x2e]);
    expect(() => unpickle(builtin, 0, { source: 'b.pkl' })).toThrow(/refusing global 'builtins\.eval'/);
  });

  test('a MoCo checkpoint: query-encoder prefix stripped, key encoder, queue and classifier dropped', async () => {
    const w = await readWeights(fixture('densenet-mini-moco.pth'));
    const keys = [...w.keys()];
    expect(keys[0]).toBe('features.conv0.weight');
    expect(keys.some((k) => k.startsWith('module.') || k.startsWith('classifier') || k.includes('queue'))).toBe(false);
    // conv0 is OIHW [8,3,7,7] in the file, HWIO in tfjs layout.
    expect(w.get('features.conv0.weight')!.shape).toEqual([7, 7, 3, 8]);
    for (const t of w.values()) t.dispose();
    const torchLayout = await readWeights(fixture('densenet-mini-moco.pth'), { layout: 'torch', keepClassifier: true });
    expect(torchLayout.get('features.conv0.weight')!.shape).toEqual([8, 3, 7, 7]);
    expect(torchLayout.get('classifier.weight')!.shape).toEqual([3, 18]);
    for (const t of torchLayout.values()) t.dispose();
  });

  test('without prefix stripping the load error names the unexpected and missing keys', async () => {
    const opts = { growthRate: 4, blockConfig: [2, 3, 2], numInitFeatures: 8, bnSize: 2, inputShape: [33, 33, 3] as [number, number, number] };
    await expect(createBackbone('densenet121', { ...opts, weights: fixture('densenet-mini-moco.pth'), readOptions: { prefix: '' } })).rejects.toThrow(
      /densenet-mini-moco\.pth: densenet121\.loadStateDict: state dict does not match[\s\S]*missing keys \(\d+\): features\.conv0\.weight[\s\S]*unexpected keys \(\d+\): module\.encoder_q\.features\.conv0\.weight/,
    );
    // A torchvision state dict for another architecture fails on shapes, by name.
    await expect(createBackbone('densenet121', { ...opts, growthRate: 8, weights: fixture('densenet-mini.safetensors') })).rejects.toThrow(
      /shape mismatches \(\d+\): features\.denseblock1\.denselayer1\.conv1\.weight: got \[1,1,8,8\] \(tfjs layout\), expected \[1,1,8,16\]/,
    );
  });

  test('key mapping: prefixes, classifier, torchvision legacy densenet names', () => {
    expect(mapWeightKey('module.encoder_q.layer1.0.conv1.weight', 'module.encoder_q.', false)).toBe('layer1.0.conv1.weight');
    expect(mapWeightKey('module.encoder_k.layer1.0.conv1.weight', 'module.encoder_q.', false)).toBeNull();
    expect(mapWeightKey('fc.weight', '', false)).toBeNull();
    expect(mapWeightKey('fc.weight', '', true)).toBe('fc.weight');
    expect(mapWeightKey('features.denseblock1.denselayer1.norm.1.weight', '', false)).toBe('features.denseblock1.denselayer1.norm1.weight');
    expect(mapWeightKey('features.denseblock3.denselayer12.conv.2.weight', '', false)).toBe('features.denseblock3.denselayer12.conv2.weight');
  });
});

describe('non-finite weights', () => {
  test('a .safetensors or .pth tensor holding NaN or Inf is refused on load, naming the file and the tensor', async () => {
    const before = tf.memory().numTensors;
    const { tensors, metadata } = await readSafetensors(fixture('resnet-mini.safetensors'));
    const conv = tensors.get('layer1.0.conv1.weight')!;
    const values = conv.dataSync().slice();
    values[5] = NaN;
    values[9] = NaN;
    const broken = new Map(tensors);
    const nanConv = tf.tensor(values, conv.shape);
    broken.set('layer1.0.conv1.weight', nanConv);
    const nanPath = join(dir, 'nan.safetensors');
    await writeSafetensors(nanPath, broken, metadata);
    await expect(readWeights(nanPath)).rejects.toThrow(
      `${nanPath}: tensor 'layer1.0.conv1.weight' holds 2 NaN of its ${values.length} values; weights must be finite (the file comes from a diverged or broken run)`,
    );
    const options = { blocks: [2, 1, 1, 1], widths: [8, 16, 16, 16], stemWidth: 16 };
    await expect(createBackbone('resnet18', { ...options, weights: nanPath })).rejects.toThrow(/nan\.safetensors: tensor 'layer1\.0\.conv1\.weight' holds 2 NaN/);
    // The same check on bytes in memory (a browser's fetched file), naming the source it is given.
    const nanBytes = new Uint8Array(await readFile(nanPath));
    expect(() => parseWeights(nanBytes, 'bundle/backbone.safetensors')).toThrow(
      `bundle/backbone.safetensors: tensor 'layer1.0.conv1.weight' holds 2 NaN of its ${values.length} values`,
    );
    expect(() => parseSafetensorsWeights(nanBytes, 'bundle/backbone.safetensors')).toThrow(
      `bundle/backbone.safetensors: tensor 'layer1.0.conv1.weight' holds 2 NaN of its ${values.length} values`,
    );
    // A broken classifier, which a backbone drops, is no reason to refuse the file.
    broken.set('layer1.0.conv1.weight', conv);
    const fc = tf.fill([3, 16], Infinity);
    broken.set('fc.weight', fc);
    const fcPath = join(dir, 'fc-inf.safetensors');
    await writeSafetensors(fcPath, broken, metadata);
    const loaded = await createBackbone('resnet18', { ...options, weights: fcPath });
    loaded.dispose();
    for (const t of [...tensors.values(), ...broken.values(), nanConv]) t.dispose();

    const data = new Uint8Array(new Float32Array([1, -Infinity, 3, Infinity, 5, NaN]).buffer);
    const pthPath = join(dir, 'inf.pth');
    await writeFile(pthPath, zipArchive([{ name: 'archive/data.pkl', data: statePickle(6, [2, 3], [3, 1]) }, { name: 'archive/data/0', data }]));
    await expect(readWeights(pthPath)).rejects.toThrow(`${pthPath}: tensor 'w' holds 1 NaN and 2 infinite of its 6 values`);
    // Nothing leaks on the way out.
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('saveBackbone', () => {
  test.each(['torch', 'tfjs'] as const)('%s layout: the saved file rebuilds the same backbone', async (layout) => {
    const opts = { inputShape: [24, 24, 3] as [number, number, number], blocks: [1, 1, 1, 1], widths: [4, 8, 8, 8], stemWidth: 8, seed: 11 };
    const a = await createBackbone('resnet50', opts);
    const x = randomInput([2, 24, 24, 3], 2);
    a.embed(x, { training: true }).dispose();
    const path = join(dir, `r50-${layout}.safetensors`);
    await saveBackbone(a, path, { layout });
    const file = await readSafetensors(path);
    expect(file.metadata).toMatchObject({ layout, backbone: 'resnet50' });
    expect(file.tensors.get('conv1.weight')!.shape).toEqual(layout === 'torch' ? [8, 3, 7, 7] : [7, 7, 3, 8]);
    for (const t of file.tensors.values()) t.dispose();
    const b = await createBackbone('resnet50', { ...opts, seed: 12, weights: path });
    for (const [key, v] of a.variables) expect(maxAbsDiff(b.variables.get(key)!, v), key).toBe(0);
    const ea = a.embed(x);
    const eb = b.embed(x);
    expect(maxAbsDiff(ea, eb)).toBe(0);
    for (const t of [ea, eb, x]) t.dispose();
    a.dispose();
    b.dispose();
  });
});
