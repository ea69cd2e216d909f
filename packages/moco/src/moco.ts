import * as tf from '@tensorflow/tfjs-core';
// The training step needs gradients, which tfjs-core alone does not register: compute registers them (and its kernels).
import '@moco-cxr/compute';
import type { Rng } from '@moco-cxr/rng';
import type { WeightLayout } from '@moco-cxr/backbones';
import { createProjectionHead, type HeadKind, type ProjectionHead } from './heads';
import { infoNceLoss, positiveRanks, positiveTopK, topKFromRanks } from './loss';
import { momentumUpdate } from './momentum';
import type { Optimizer } from './optim';
import { MemoryQueue } from './queue';
import { groupedForward, shuffledForward, type KeyBatchNorm } from './split-bn';
import { trainableVariables } from './variables';

/**
 * What MoCo uses of an encoder. The @moco-cxr/backbones `Backbone` has this shape, and so can any
 * network written by hand: named variables, a pooled-feature `embed`, a state dict and a clone.
 */
export interface MocoBackbone {
  /** Recorded in checkpoints and config.json; a resumed run must use the same name. */
  readonly name: string;
  /** Width of `embed`'s output. */
  readonly featureDim: number;
  /** [height, width, channels] of the input batch. */
  readonly inputShape: readonly [number, number, number];
  /** Every variable (parameters and any BatchNorm buffers) by a stable name: checkpoints and the momentum update use the names. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** What the optimiser updates (a subset of `variables`). */
  trainableVariables(): tf.Variable[];
  /** [N, featureDim] features of an NHWC batch; `training` switches BatchNorm to batch statistics. */
  embed(x: tf.Tensor4D, options?: { training?: boolean }): tf.Tensor2D;
  /** New tensors (the caller disposes) by name; `torch` layout for PyTorch (used by the clean export). */
  stateDict(options?: { layout?: WeightLayout }): Map<string, tf.Tensor>;
  /** Loads tensors by name (checkpoint restore uses the tfjs layout, strict). */
  loadStateDict(dict: ReadonlyMap<string, tf.Tensor>, options?: { layout?: WeightLayout; strict?: boolean }): unknown;
  /** An exact copy with its own variables: the key encoder. */
  clone(): MocoBackbone;
  dispose(): void;
}

/** The four networks and the queue of one MoCo run. The key side starts as an exact copy of the query side. */
export interface MocoModel {
  readonly query: MocoBackbone;
  readonly key: MocoBackbone;
  readonly queryHead: ProjectionHead;
  readonly keyHead: ProjectionHead;
  readonly queue: MemoryQueue;
  /** Query backbone and head trainable variables as `encoder_q.<name>` / `head_q.<name>`: what the optimiser updates. */
  readonly parameters: ReadonlyMap<string, tf.Variable>;
  /** Disposes the key encoder, both heads and the queue; the query backbone is the caller's. */
  dispose(): void;
}

export interface CreateMocoOptions {
  head?: HeadKind;
  /** Embedding size (MoCo: 128). */
  embeddingDim?: number;
  /** Queue size K. */
  queueSize: number;
  /** Draws the head's initial weights and the queue's random keys. */
  rng: Rng;
}

/** Wraps a query backbone into a MoCo model: clones it (BatchNorm statistics included) as the key encoder. */
export function createMoco(backbone: MocoBackbone, options: CreateMocoOptions): MocoModel {
  const embeddingDim = options.embeddingDim ?? 128;
  const queryHead = createProjectionHead({ kind: options.head ?? 'mlp', inputDim: backbone.featureDim, outputDim: embeddingDim, rng: options.rng });
  const keyHead = queryHead.clone();
  const key = backbone.clone();
  const queue = MemoryQueue.create({ size: options.queueSize, dim: embeddingDim, rng: options.rng });
  const parameters = new Map<string, tf.Variable>();
  for (const [name, v] of trainableVariables(backbone)) parameters.set(`encoder_q.${name}`, v);
  for (const [name, v] of queryHead.trainableVariables()) parameters.set(`head_q.${name}`, v);
  return {
    query: backbone,
    key,
    queryHead,
    keyHead,
    queue,
    parameters,
    dispose() {
      key.dispose();
      queryHead.dispose();
      keyHead.dispose();
      queue.dispose();
    },
  };
}

export interface MocoStepOptions {
  /** Key-encoder momentum m (0.999). */
  momentum: number;
  /** Softmax temperature T (0.2 in MoCo-CXR). */
  temperature: number;
  optimizer: Optimizer;
  learningRate: number;
  keyBatchNorm?: KeyBatchNorm;
  /** Draws the shuffle-BN permutation (needed for `keyBatchNorm.mode === 'shuffle'`). */
  rng?: Rng;
  /**
   * Called with the loss before any weight changes; return false to skip the update (the
   * trainer stops on a non-finite loss there, so the last good weights are untouched).
   */
  beforeUpdate?: (loss: number) => boolean;
}

export interface MocoStepResult {
  loss: number;
  /** Share of the batch whose positive key has the highest logit (chance: 1 / (K + 1)). */
  top1: number;
  top5: number;
  /** False when `beforeUpdate` refused the update. */
  updated: boolean;
}

function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
}

/** A step's forward and backward pass, before anything is read back or updated. */
interface PendingStep {
  keys: tf.Tensor2D;
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
  logits: tf.Tensor2D;
  names: string[];
  vars: tf.Variable[];
}

/**
 * One MoCo v2 step on a [query, key] pair of augmented views (NHWC, same images in the same
 * order): momentum update of the key encoder and head, keys (no gradient), query forward and
 * backward through InfoNCE against the queue, optimiser step, then enqueue the keys.
 */
export function mocoStep(model: MocoModel, views: [tf.Tensor4D, tf.Tensor4D], options: MocoStepOptions): MocoStepResult {
  const p = forwardBackward(model, views, options);
  try {
    const [top1, top5] = positiveTopK(p.logits, [1, 5]);
    return update(model, p, p.value.dataSync()[0], top1, top5, options);
  } finally {
    disposeStep(p);
  }
}

/**
 * mocoStep with asynchronous reads (of the loss and one rank per row only): the form that runs on
 * every backend, webgpu in Node included, where tensors cannot be read synchronously.
 */
export async function mocoStepAsync(model: MocoModel, views: [tf.Tensor4D, tf.Tensor4D], options: MocoStepOptions): Promise<MocoStepResult> {
  const p = forwardBackward(model, views, options);
  try {
    const ranks = positiveRanks(p.logits);
    const [loss, above] = await Promise.all([p.value.data(), ranks.data()]).finally(() => ranks.dispose());
    const [top1, top5] = topKFromRanks(above, [1, 5]);
    return update(model, p, loss[0], top1, top5, options);
  } finally {
    disposeStep(p);
  }
}

function forwardBackward(model: MocoModel, views: [tf.Tensor4D, tf.Tensor4D], options: MocoStepOptions): PendingStep {
  const [imQ, imK] = views;
  if (imQ.shape[0] !== imK.shape[0]) throw new Error(`mocoStep: query views [${imQ.shape.join(', ')}] and key views [${imK.shape.join(', ')}] differ in batch size`);
  const bn = options.keyBatchNorm ?? { mode: 'batch' };
  if (bn.mode === 'shuffle' && options.rng === undefined) throw new Error("mocoStep: keyBatchNorm mode 'shuffle' needs an rng for the permutation");

  // The reference updates the key encoder before computing the keys.
  momentumUpdate(model.key, model.query, options.momentum);
  momentumUpdate(model.keyHead, model.queryHead, options.momentum);

  const keyEmbed = (x: tf.Tensor4D) => model.key.embed(x, { training: true });
  const keys = tf.tidy(() => {
    let feats: tf.Tensor2D;
    if (bn.mode === 'split') feats = groupedForward(keyEmbed, imK, bn.groups);
    else if (bn.mode === 'shuffle') feats = shuffledForward(keyEmbed, imK, bn.groups, options.rng!);
    else feats = keyEmbed(imK);
    return l2Normalize(model.keyHead.apply(feats));
  });

  const queryGroups = bn.mode === 'shuffle' ? bn.groups : 1;
  const names = [...model.parameters.keys()];
  const vars = names.map((n) => model.parameters.get(n)!);
  let logits: tf.Tensor2D | null = null;
  try {
    const { value, grads } = tf.variableGrads(() => {
      const feats = groupedForward((x) => model.query.embed(x, { training: true }), imQ, queryGroups);
      const q = l2Normalize(model.queryHead.apply(feats));
      const out = infoNceLoss(q, keys, model.queue, options.temperature);
      logits = tf.keep(out.logits);
      return out.loss;
    }, vars);
    return { keys, value, grads, logits: logits!, names, vars };
  } catch (e) {
    keys.dispose();
    (logits as tf.Tensor2D | null)?.dispose();
    throw e;
  }
}

/** Applies the optimiser step and enqueues the keys, unless `beforeUpdate` refuses the loss. */
function update(model: MocoModel, p: PendingStep, loss: number, top1: number, top5: number, options: MocoStepOptions): MocoStepResult {
  const proceed = options.beforeUpdate ? options.beforeUpdate(loss) : true;
  if (proceed) {
    const byName = new Map<string, tf.Tensor>();
    p.names.forEach((n, i) => {
      const g = p.grads[p.vars[i].name];
      if (g !== undefined) byName.set(n, g);
    });
    options.optimizer.step(model.parameters, byName, options.learningRate);
    model.queue.enqueue(p.keys);
  }
  return { loss, top1, top5, updated: proceed };
}

function disposeStep(p: PendingStep): void {
  p.value.dispose();
  for (const g of Object.values(p.grads)) g.dispose();
  p.logits.dispose();
  p.keys.dispose();
}
