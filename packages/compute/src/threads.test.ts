import * as tf from '@tensorflow/tfjs-core';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend';

/** CPU ticks (utime + stime) of every OS thread of this process. */
function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(t, Number(f[11]) + Number(f[12]));
    } catch {
      // The thread exited between listing and reading.
    }
  }
  return out;
}

function convs(): void {
  const x = tf.randomNormal([8, 56, 56, 64]);
  const w = tf.randomNormal([3, 3, 64, 64]);
  for (let i = 0; i < 2; i++) tf.tidy(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same').dataSync());
  tf.dispose([x, w]);
}

describe('threaded wasm', () => {
  it.runIf(process.platform === 'linux')('a pthread worker started by initBackend({threads: 2}) computes part of a big conv2d', async () => {
    const preexisting = new Set(threadTicks().keys());
    // The wasm kernels: this checks XNNPACK's pool (native kernels have their own, tested in native.test.ts).
    const info = await initBackend({ prefer: 'wasm', threads: 2, kernels: 'wasm' });
    expect(info.threads).toBe(2);
    // A round in which the OS gave the worker no CPU (a loaded machine) says nothing either way,
    // so up to 5 rounds are measured and the best share counts.
    let best = { share: 0, worker: 0, total: 0 };
    for (let round = 0; round < 5 && best.share <= 0.05; round++) {
      const before = threadTicks();
      convs();
      const after = threadTicks();
      let total = 0;
      let busiestWorker = 0;
      for (const [tid, v] of after) {
        const d = v - (before.get(tid) ?? 0);
        total += d;
        // Threads that did not exist before initBackend are the wasm pthread workers.
        if (!preexisting.has(tid)) busiestWorker = Math.max(busiestWorker, d);
      }
      expect(total).toBeGreaterThan(0);
      if (busiestWorker / total > best.share) best = { share: busiestWorker / total, worker: busiestWorker, total };
    }
    // Unloaded, the pool worker takes about half the tiles; the bound only asks that it really computed.
    expect(best.worker).toBeGreaterThanOrEqual(3);
    expect(best.share).toBeGreaterThan(0.005);
  }, 180_000);
});
