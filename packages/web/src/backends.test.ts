// compute's browser entry in Debian's chromium: the same small network numbers (forward and gradients)
// on wasm, webgl and webgpu (SwiftShader) as tfjs' cpu backend gives in Node.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node build registers no gradients by itself (the union package's does).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser, describeNodeImports, REPO_ROOT } from './testing/bundle';
import type { BackendInfo, KernelsInUse } from '@moco-cxr/compute/browser';
import { BLANK_PAGE, callInPage, launchChromium, serveStatic, type Chromium, type StaticServer } from './testing/chromium';
import type { TinyNetworkOutput } from './testing/tiny-network';

// The page's program: start the backend, run a conv2d + batch-norm + ReLU + pooling + dense head on
// fixed inputs, read back the outputs, and count the tensors left behind.
const PAGE_PROGRAM = `
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, kernelsInUse, registeredOverrides } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { tinyNetwork } from ${JSON.stringify(new URL('./testing/tiny-network.ts', import.meta.url).pathname)};
export async function run(prefer) {
  const info = await initBackend({ prefer, wasmPaths: '/wasm/', threads: 1 });
  const before = tf.memory().numTensors;
  const out = await tinyNetwork(tf, createBackbone);
  return { info, kernels: kernelsInUse(), overrides: registeredOverrides(), out, leaked: tf.memory().numTensors - before, backend: tf.getBackend() };
}
export async function auto() {
  const info = await initBackend({ wasmPaths: '/wasm/', threads: 1 });
  return { ...info, webgpuStarted: tf.findBackend('webgpu') != null };
}
`;

let server: StaticServer;
let bundled: Awaited<ReturnType<typeof bundleForBrowser>>;

beforeAll(async () => {
  bundled = await bundleForBrowser(PAGE_PROGRAM);
  server = await serveStatic({ '/wasm/': `${REPO_ROOT}node_modules/@tensorflow/tfjs-backend-wasm/dist/` });
  server.put('/index.html', BLANK_PAGE);
  server.put('/program.js', bundled.code);
});

afterAll(async () => {
  await server?.close();
});

async function runIn(chromium: Chromium, prefer: string) {
  const page = await chromium.newPage();
  await page.goto(`${server.origin}/index.html`);
  return callInPage<{ info: BackendInfo; kernels: KernelsInUse; overrides: string[]; out: TinyNetworkOutput; leaked: number; backend: string }>(page, '/program.js', 'run', prefer);
}

describe('compute in chromium', () => {
  let reference: TinyNetworkOutput;
  beforeAll(async () => {
    const { tinyNetwork } = await import('./testing/tiny-network');
    const { createBackbone } = await import('@moco-cxr/backbones');
    await tf.setBackend('cpu');
    reference = await tinyNetwork(tf, createBackbone);
  });

  it('the bundle pulls no Node built-in', () => {
    expect(describeNodeImports(bundled.nodeImports)).toEqual([]);
  });

  for (const [backend, webgpu] of [['wasm', false], ['webgl', false], ['webgpu', true]] as const) {
    it(`${backend}: initBackend starts it, and a forward and its gradients match Node's cpu backend`, async () => {
      const chromium = await launchChromium({ webgpu });
      try {
        const r = await runIn(chromium, backend);
        expect(r.backend).toBe(backend);
        expect(r.info.backend).toBe(backend);
        if (backend !== 'wasm') {
          // Here both draw on SwiftShader: asked for by name they run, with a warning that says so.
          const a = r.info.adapter!;
          expect(a).toMatchObject({ software: true, api: backend === 'webgpu' ? 'navigator.gpu' : 'webgl' });
          expect(`${a.vendor} ${a.architecture} ${a.description}`).toMatch(/swiftshader/i);
          expect(r.info.warnings).toEqual([expect.stringMatching(new RegExp(`^${backend}: running on a software adapter`))]);
        }
        expect(r.kernels.kernels).toBe(backend === 'wasm' ? 'wasm' : null);
        // The wasm gradient kernels tfjs-backend-wasm lacks, and our gradients, are registered in the page too.
        expect(r.overrides).toEqual(expect.arrayContaining(['wasm:Conv2DBackpropFilter', 'wasm:Conv2DBackpropInput', 'gradient:FusedBatchNorm', 'gradient:Mean', 'gradient:Sum']));
        for (const key of Object.keys(reference) as (keyof typeof reference)[]) {
          expect(r.out[key].length).toBe(reference[key].length);
          // Relative to the tensor's largest value: gradient entries near zero are sums that cancel.
          const scale = Math.max(...reference[key].map(Math.abs));
          const worst = Math.max(...reference[key].map((v, i) => Math.abs(v - r.out[key][i]))) / scale;
          expect(scale, key).toBeGreaterThan(0);
          expect(worst, `${backend} ${key}`).toBeLessThan(1e-3);
        }
        expect(r.leaked).toBe(0);
        if (webgpu) {
          // Without prefer, software adapters are passed over, each with a note that says so.
          const page = await chromium.newPage();
          await page.goto(`${server.origin}/index.html`);
          const a = await callInPage<BackendInfo & { webgpuStarted: boolean }>(page, '/program.js', 'auto');
          expect(a.backend).toBe('wasm');
          expect(a.webgpuStarted).toBe(false);
          expect(a.notes).toEqual([
            expect.stringMatching(/^webgpu: the only webgpu adapter is a software one \(.*swiftshader.*\), which auto never picks; ask for it with prefer 'webgpu'$/i),
            expect.stringMatching(/^webgl: the only webgl adapter is a software one \(.*swiftshader.*\), which auto never picks; ask for it with prefer 'webgl'$/i),
          ]);
        }
        expect(chromium.errors).toEqual([]);
      } finally {
        await chromium.close();
      }
    }, 90_000);
  }
});
