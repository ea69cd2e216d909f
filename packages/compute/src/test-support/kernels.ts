// Test-only helpers for the kernel tests: never imported by the library, left out of the package
// ("!src/test-support" in package.json files).
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { beforeAll, describe, expect } from 'vitest';
import { initBackend } from '../backend';
import type { KernelSet } from '../native';

/** Gaussian values from the seeded Rng, as a plain array (shared by both backends). */
export function randn(rng: Rng, shape: number[]): { shape: number[]; values: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = rng.normal();
  return { shape, values };
}

/** Runs fn on `backend`, returns its outputs as plain arrays, and restores the previous backend. */
export async function onBackend(backend: string, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(fn);
    const arrays = outs.map((t) => t.dataSync() as Float32Array);
    tf.dispose(outs);
    return arrays;
  } finally {
    await tf.setBackend(prev);
  }
}

/** max |a - b| / max |b|: the relative error the issue bounds by 1e-4. */
export function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/**
 * Declares `body`'s tests once per kernel set on wasm with `threads` threads: tfjs' own kernels
 * (what users without a compiler train on; `auto` would pick native here) and the native addon.
 */
export function describeKernelSets(threads: number, body: (kernels: KernelSet) => void): void {
  for (const kernels of ['wasm', 'native'] as const) {
    describe(`${kernels} kernels`, () => {
      beforeAll(async () => {
        const info = await initBackend({ prefer: 'wasm', threads, kernels });
        expect(info).toMatchObject({ backend: 'wasm', threads, kernels });
      });
      body(kernels);
    });
  }
}
