import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone } from '../src/index';
await initBackend({ prefer: 'wasm', threads: 2 });
const bb = await createBackbone('densenet121', { inputShape: [224, 224, 3], seed: 1 });
const x = tf.randomNormal([Number(process.argv[2] ?? 4), 224, 224, 3]);
const mib = (n: number) => (n / 2 ** 20).toFixed(0);
const heap = () => mib((tf.engine().backend as any).wasm.HEAPU8.buffer.byteLength);
const probe = (label: string) => tf.customGrad(((t: tf.Tensor) => ({ value: tf.clone(t), gradFunc: (dy: tf.Tensor) => { console.log(label, 'live', mib(tf.memory().numBytes), 'heap', heap()); return dy; } })) as any);
const vars = bb.trainableVariables();
const { value, grads } = tf.variableGrads(() => {
  const f = (probe('backward start') as any)(bb.embed(x, { training: true }));
  return tf.mean(f) as tf.Scalar;
}, vars);
console.log('after backward', mib(tf.memory().numBytes), 'heap', heap());
tf.dispose([value, ...Object.values(grads)]);
