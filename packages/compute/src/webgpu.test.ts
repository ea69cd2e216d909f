import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { ensureSyncReadable } from './sync-read';
import { formatAdapter, isSoftwareAdapter, swiftShaderIcd, webgpuAdapter } from './webgpu';

describe('isSoftwareAdapter', () => {
  it('names CPU implementations by vendor, architecture, device or description, and fallback adapters', () => {
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'microsoft', device: 'Microsoft Basic Render Driver' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'x', description: 'some adapter' }, true)).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'x', isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'common-3', description: 'Apple M2' })).toBe(false);
  });
});

describe('webgpu backend', () => {
  it('auto without any adapter passes webgpu over (saying why) and trains on the CPU path as before', async () => {
    // A Vulkan loader pointed at a driver that does not exist: Dawn finds no adapter.
    process.env.VK_ICD_FILENAMES = join(tmpdir(), 'no-such-vulkan-driver.json');
    process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'compute-xdg-'));
    const info = await initBackend();
    expect(info.backend).toBe('wasm');
    expect(info.adapter).toBeNull();
    expect(info.notes.find((n) => n.startsWith('webgpu:'))).toMatch(/^webgpu: no WebGPU adapter found/);
    // The order: tfjs-node-gpu's note comes before webgpu's, tfjs-node's after.
    const order = info.notes.map((n) => n.split(':')[0]);
    expect(order.indexOf('tensorflow-gpu')).toBeLessThan(order.indexOf('webgpu'));
    expect(order.indexOf('webgpu')).toBeLessThan(order.indexOf('tensorflow'));
  }, 120_000);

  it('asked for, runs on SwiftShader: reports the adapter, warns that it is software, and says how to read its tensors in Node', async () => {
    const icd = swiftShaderIcd();
    // CI installs Debian's chromium (.ci/run); a missing driver is a failure, never a skip.
    if (!icd) throw new Error("SwiftShader's vk_swiftshader_icd.json was not found: install Debian's chromium package (apt-get install chromium) or set MOCO_CXR_SWIFTSHADER_ICD");
    process.env.VK_ICD_FILENAMES = icd;
    const warned: string[] = [];
    const info = await initBackend({ prefer: 'webgpu', onWarning: (w) => warned.push(w) });
    expect(info).toMatchObject({ backend: 'webgpu', kernels: null, adapter: { vendor: 'google', architecture: 'swiftshader', software: true, api: 'webgpu (Dawn)' } });
    expect(info.adapter!.description).toMatch(/SwiftShader/);
    expect(webgpuAdapter()).toEqual(info.adapter);
    expect(formatAdapter(info.adapter!)).toMatch(/^google swiftshader \(SwiftShader driver [\d.]+.*\), software via webgpu \(Dawn\)$/);
    expect(warned).toEqual(info.warnings);
    expect(warned).toEqual([expect.stringMatching(/^webgpu: running on a software adapter \(google swiftshader/)]);
    expect(tf.getBackend()).toBe('webgpu');
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => tf.matMul(tf.ones([4, 3]), tf.fill([3, 2], 2)));
    expect(() => y.dataSync()).toThrow(/webgpu in Node: dataSync\(\)\/arraySync\(\) cannot read a tensor held on the GPU.*await tensor\.data\(\)/);
    await ensureSyncReadable([y]);
    expect(Array.from(y.dataSync())).toEqual([6, 6, 6, 6, 6, 6, 6, 6]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // Asking again keeps it; auto then refuses the software adapter and says so.
    expect(await initBackend({ prefer: 'webgpu' })).toEqual(info);
    const auto = await initBackend();
    expect(auto.backend).toBe('wasm');
    expect(auto.notes).toContain(`webgpu: the only WebGPU adapter is a software one (${formatAdapter(info.adapter!)}), which auto never trains on; ask for it with backend 'webgpu'`);
  }, 120_000);
});
