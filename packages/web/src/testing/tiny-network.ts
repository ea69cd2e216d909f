// A tiny fixed computation run in Node and in the page: a conv2d, and a narrow ResNet-18 forward and
// backward at 32 px (backbones' browser entry), on inputs made from a formula so both sides see the same bits.
import type * as tfNs from '@tensorflow/tfjs-core';

type CreateBackbone = typeof import('@moco-cxr/backbones').createBackbone;

export interface TinyNetworkOutput {
  conv: number[];
  embedding: number[];
  /** Gradient of sum(embedding^2) for the stem's and the last block's convolution kernels (the wasm gradient kernels compute/browser registers). */
  gradStem: number[];
  gradLast: number[];
}

export async function tinyNetwork(tf: typeof tfNs, createBackbone: CreateBackbone): Promise<TinyNetworkOutput> {
  const values = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.5) * 0.5);
  const backbone = await createBackbone('resnet18', { inputShape: [32, 32, 3], widths: [4, 8, 8, 16], stemWidth: 4, seed: 7 });
  try {
    const [conv, embedding] = tf.tidy(() => {
      const x = tf.tensor4d(values(2 * 32 * 32 * 3, 0.37), [2, 32, 32, 3]);
      const w = tf.tensor4d(values(3 * 3 * 3 * 4, 1.3), [3, 3, 3, 4]);
      return [tf.conv2d(x, w, 2, 'same'), backbone.embed(x)];
    });
    const x = tf.tensor4d(values(2 * 32 * 32 * 3, 0.37), [2, 32, 32, 3]);
    const stem = backbone.variables.get('conv1.weight')!;
    const last = backbone.variables.get('layer4.1.conv2.weight')!;
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.square(backbone.embed(x))) as tfNs.Scalar, [stem, last]);
    const out = {
      conv: Array.from(await conv.data()),
      embedding: Array.from(await embedding.data()),
      gradStem: Array.from(await grads[stem.name].data()),
      gradLast: Array.from(await grads[last.name].data()),
    };
    tf.dispose([conv, embedding, x, value, ...Object.values(grads)]);
    return out;
  } finally {
    backbone.dispose();
  }
}
