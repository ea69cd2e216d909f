import * as tf from '@tensorflow/tfjs-core';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backendInfo, initBackend } from './backend';
import { bundleRequires, wasmBundlePath } from './wasm-threads';

const pkgRoot = fileURLToPath(new URL('..', import.meta.url));

describe('initBackend', () => {
  it('starts wasm with SIMD and one thread per core by default (at most 8), and is idempotent', async () => {
    // Derived from the machine: tfjs pre-creates 8 pthread workers, so the pool is capped there.
    const cores = Math.min(os.cpus().length, 8);
    const first = await initBackend();
    expect(first.backend).toBe('wasm');
    expect(first.simd).toBe(true);
    expect(first.threads).toBe(cores);
    // tfjs-node(-gpu) are absent here: each skipped choice is explained.
    expect(first.notes.some((n) => n.includes('@tensorflow/tfjs-node'))).toBe(true);
    expect(tf.getBackend()).toBe('wasm');
    const [a, b] = await Promise.all([initBackend(), initBackend()]);
    expect(a).toEqual(first);
    expect(b).toEqual(first);
    expect(backendInfo()).toEqual(first);
    // An equivalent explicit request keeps the running backend and the tensors on it.
    const kept = tf.ones([3]);
    expect(await initBackend({ threads: cores })).toEqual(first);
    expect(kept.dataSync()).toEqual(new Float32Array([1, 1, 1]));
    kept.dispose();
    // Still computes correctly after the repeated calls.
    const y = tf.tidy(() => tf.matMul(tf.ones([64, 32]), tf.fill([32, 16], 2)).dataSync());
    expect(y[0]).toBe(64);
  });

  it('names the missing package when a native backend is forced', async () => {
    await expect(initBackend({ prefer: 'tensorflow' })).rejects.toThrow(/@tensorflow\/tfjs-node/);
    await expect(initBackend({ prefer: 'tensorflow-gpu' })).rejects.toThrow(/@tensorflow\/tfjs-node-gpu/);
    await expect(initBackend({ prefer: 'webgl' as never })).rejects.toThrow(/prefer must be one of/);
    await expect(initBackend({ threads: 0 })).rejects.toThrow(/positive integer/);
    // The failed requests left the working backend in place.
    expect(tf.getBackend()).toBe('wasm');
  });

  it('switches to cpu and back to wasm on request', async () => {
    const cpu = await initBackend({ prefer: 'cpu' });
    expect(cpu).toMatchObject({ backend: 'cpu', threads: 1, simd: false });
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await initBackend({ prefer: 'wasm', threads: 1 });
    expect(wasm).toMatchObject({ backend: 'wasm', threads: 1, simd: true });
    expect(tf.getBackend()).toBe('wasm');
  });

  it('falls back to one SIMD thread with a warning (returned and to onWarning, never printed) when the threaded start times out', async () => {
    const written: string[] = [];
    const saved = [console.warn, console.error, console.log, process.stderr.write, process.stdout.write] as const;
    const capture = (...args: unknown[]) => void written.push(args.join(' '));
    console.warn = console.error = console.log = capture;
    process.stderr.write = process.stdout.write = ((chunk: unknown) => (capture(chunk), true)) as typeof process.stderr.write;
    const told: string[] = [];
    try {
      const info = await initBackend({ prefer: 'wasm', threads: 2, threadInitTimeoutMs: 1, onWarning: (w) => told.push(w) });
      expect(info).toMatchObject({ backend: 'wasm', threads: 1, simd: true });
      expect(info.notes.join(' ')).toMatch(/did not start within 1 ms/);
      expect(info.warnings).toEqual([expect.stringMatching(/^wasm: threaded wasm start failed, using one thread: .*did not start within 1 ms/)]);
      expect(told).toEqual(info.warnings);
      expect(tf.tidy(() => tf.sum(tf.ones([100])).dataSync()[0])).toBe(100);
    } finally {
      [console.warn, console.error, console.log, process.stderr.write, process.stdout.write] = saved;
    }
    expect(written).toEqual([]);
  });
});

describe('threaded wasm in Node', () => {
  it('reads the bundle module names the pthread worker must provide', () => {
    const req = bundleRequires(readFileSync(wasmBundlePath(), 'utf8'));
    expect(Object.values(req).sort()).toEqual(['fs', 'os', 'path', 'perf_hooks']);
  });
});

describe('package layout', () => {
  it('lists the side-effect files (Node and browser entries) in sideEffects, with the dist files that bundle them', () => {
    const pkg = JSON.parse(readFileSync(pkgRoot + 'package.json', 'utf8')) as { sideEffects: string[] };
    expect(pkg.sideEffects).toEqual(['./src/register.ts', './src/register-browser.ts', './dist/index.js', './dist/index.cjs', './dist/browser.js', './dist/browser.cjs']);
    // Only the two register files, and wasm-kernels.ts which they alone call, use the tfjs registration functions.
    const sources = readdirSync(pkgRoot + 'src').filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const callers = sources.filter((f) => /\b(registerKernel|registerGradient|registerBackend)\(/.test(readFileSync(pkgRoot + 'src/' + f, 'utf8')));
    expect(callers).toEqual(['register-browser.ts', 'register.ts', 'wasm-kernels.ts']);
    const wasmKernelUsers = sources.filter((f) => /\bregisterWasm(Kernels|Gradients)\(/.test(readFileSync(pkgRoot + 'src/' + f, 'utf8')) && f !== 'wasm-kernels.ts');
    expect(wasmKernelUsers).toEqual(['register-browser.ts', 'register.ts']);
  });
});
