import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import type { WeightLayout } from '@moco-cxr/backbones';
import { uniqueVariableName } from './variables';

/** `linear`: MoCo v1's Linear(d, 128). `mlp`: MoCo v2's Linear(d, d) - ReLU - Linear(d, 128). */
export type HeadKind = 'linear' | 'mlp';

export interface ProjectionHeadOptions {
  kind?: HeadKind;
  /** Input feature size d (the backbone's featureDim). */
  inputDim: number;
  /** Hidden width of the MLP head; default d, as in MoCo v2. */
  hiddenDim?: number;
  /** Embedding size; default 128. */
  outputDim?: number;
  /** Seed or generator for torch's default Linear init, U(-1/sqrt(in), 1/sqrt(in)). */
  seed?: number;
  rng?: Rng;
}

/**
 * A projection head with torch-style names (`fc.weight` for the linear head, `fc.0.*` and
 * `fc.2.*` for the MLP, as the reference's `encoder_q.fc` Sequential), stored as named tfjs
 * variables like the backbones' so the momentum update, optimisers and checkpoints treat both alike.
 */
export interface ProjectionHead {
  readonly kind: HeadKind;
  readonly inputDim: number;
  readonly hiddenDim: number;
  readonly outputDim: number;
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** [batch, inputDim] features -> [batch, outputDim] embedding (not normalised). */
  apply(features: tf.Tensor2D): tf.Tensor2D;
  trainableVariables(): ReadonlyMap<string, tf.Variable>;
  /** Copies of the weights; `torch` layout transposes Linear weights to [out, in]. */
  stateDict(options?: { layout?: WeightLayout }): Map<string, tf.Tensor>;
  /** Loads weights by name; with `strict` (default) missing or unexpected names throw. */
  loadStateDict(dict: ReadonlyMap<string, tf.Tensor> | Record<string, tf.Tensor>, options?: { layout?: WeightLayout; strict?: boolean }): void;
  clone(): ProjectionHead;
  dispose(): void;
}

interface LayerSpec {
  prefix: string;
  inDim: number;
  outDim: number;
}

function layersOf(kind: HeadKind, inputDim: number, hiddenDim: number, outputDim: number): LayerSpec[] {
  return kind === 'linear'
    ? [{ prefix: 'fc', inDim: inputDim, outDim: outputDim }]
    : [
        { prefix: 'fc.0', inDim: inputDim, outDim: hiddenDim },
        { prefix: 'fc.2', inDim: hiddenDim, outDim: outputDim },
      ];
}

class Head implements ProjectionHead {
  readonly kind: HeadKind;
  readonly inputDim: number;
  readonly hiddenDim: number;
  readonly outputDim: number;
  readonly variables: Map<string, tf.Variable>;
  private readonly layers: LayerSpec[];

  constructor(kind: HeadKind, inputDim: number, hiddenDim: number, outputDim: number, init: (spec: LayerSpec, what: 'weight' | 'bias') => tf.Tensor) {
    this.kind = kind;
    this.inputDim = inputDim;
    this.hiddenDim = hiddenDim;
    this.outputDim = outputDim;
    this.layers = layersOf(kind, inputDim, hiddenDim, outputDim);
    this.variables = new Map();
    for (const spec of this.layers) {
      for (const what of ['weight', 'bias'] as const) {
        const name = `${spec.prefix}.${what}`;
        const value = init(spec, what);
        this.variables.set(name, tf.variable(value, true, uniqueVariableName('head', name)));
        value.dispose();
      }
    }
  }

  apply(features: tf.Tensor2D): tf.Tensor2D {
    if (features.rank !== 2 || features.shape[1] !== this.inputDim) {
      throw new Error(`ProjectionHead.apply: features must be [batch, ${this.inputDim}], got [${features.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      let x: tf.Tensor2D = features;
      this.layers.forEach((spec, i) => {
        x = tf.add(tf.matMul(x, this.variables.get(`${spec.prefix}.weight`)!), this.variables.get(`${spec.prefix}.bias`)!);
        if (i < this.layers.length - 1) x = tf.relu(x);
      });
      return x;
    });
  }

  trainableVariables(): ReadonlyMap<string, tf.Variable> {
    return this.variables;
  }

  stateDict(options: { layout?: WeightLayout } = {}): Map<string, tf.Tensor> {
    const layout = options.layout ?? 'torch';
    const out = new Map<string, tf.Tensor>();
    for (const [name, v] of this.variables) {
      out.set(name, layout === 'torch' && name.endsWith('.weight') ? tf.transpose(v) : v.clone());
    }
    return out;
  }

  loadStateDict(dict: ReadonlyMap<string, tf.Tensor> | Record<string, tf.Tensor>, options: { layout?: WeightLayout; strict?: boolean } = {}): void {
    const layout = options.layout ?? 'torch';
    const strict = options.strict ?? true;
    const entries = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const missing = [...this.variables.keys()].filter((n) => !entries.has(n));
    const unexpected = [...entries.keys()].filter((n) => !this.variables.has(n));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      throw new Error(`ProjectionHead.loadStateDict: missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
    }
    tf.tidy(() => {
      for (const [name, v] of this.variables) {
        const t = entries.get(name);
        if (t === undefined) continue;
        const value = layout === 'torch' && name.endsWith('.weight') ? tf.transpose(t) : t;
        if (!tf.util.arraysEqual(value.shape, v.shape)) {
          throw new Error(`ProjectionHead.loadStateDict: '${name}' is [${t.shape.join(', ')}] (${layout} layout), expected [${(layout === 'torch' && name.endsWith('.weight') ? [...v.shape].reverse() : v.shape).join(', ')}]`);
        }
        v.assign(value.clone());
      }
    });
  }

  clone(): ProjectionHead {
    return new Head(this.kind, this.inputDim, this.hiddenDim, this.outputDim, (spec, what) => this.variables.get(`${spec.prefix}.${what}`)!.clone());
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/** Creates a projection head with torch's default Linear initialisation from a seeded Rng. */
export function createProjectionHead(options: ProjectionHeadOptions): ProjectionHead {
  const kind = options.kind ?? 'mlp';
  if (kind !== 'linear' && kind !== 'mlp') throw new Error(`createProjectionHead: kind must be 'linear' or 'mlp', got '${String(kind)}'`);
  const inputDim = options.inputDim;
  const hiddenDim = options.hiddenDim ?? inputDim;
  const outputDim = options.outputDim ?? 128;
  for (const [label, n] of [['inputDim', inputDim], ['hiddenDim', hiddenDim], ['outputDim', outputDim]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`createProjectionHead: ${label} must be a positive integer, got ${n}`);
  }
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  return new Head(kind, inputDim, hiddenDim, outputDim, (spec, what) => {
    const bound = 1 / Math.sqrt(spec.inDim);
    const size = what === 'weight' ? spec.inDim * spec.outDim : spec.outDim;
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = rng.uniform(-bound, bound);
    return what === 'weight' ? tf.tensor2d(data, [spec.inDim, spec.outDim]) : tf.tensor1d(data);
  });
}
