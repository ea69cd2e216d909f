import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { buildDenseNet, densenetFeatureMap, densenetForward, type DenseNetConfig, type DenseNetModule } from './densenet';
import { convertLayout, shapeInLayout, type WeightLayout } from './layout';
import type { ParamFactory, ParamSpec } from './nn';
import { buildResNet, resnetFeatureMap, resnetForward, type ResNetConfig, type ResNetModule } from './resnet';
import type { ReadWeightsOptions } from './parse-weights';

export type BackboneName = 'resnet18' | 'resnet50' | 'densenet121';

export interface BackboneOptions {
  /** [height, width, channels] of the images the backbone is built for; default [224, 224, 3]. */
  inputShape?: [number, number, number];
  /**
   * Initial weights: a `.pth` / `.safetensors` path (torchvision names, read with `readWeights`),
   * or a map of tensors by torchvision name in `weightsLayout`. Without it the backbone is
   * initialised like torchvision from `seed`.
   */
  weights?: string | ReadonlyMap<string, tf.Tensor>;
  /** Layout of a `weights` map; default 'tfjs' (HWIO kernels, what `readWeights` returns). */
  weightsLayout?: WeightLayout;
  /** Options for reading a `weights` path (prefix stripping, classifier keys). */
  readOptions?: ReadWeightsOptions;
  /** Seed of the `Rng` used for random initialisation; default 0. */
  seed?: number;
  /** ResNet only: blocks per stage (small fixtures); default torchvision's for the name. */
  blocks?: number[];
  /** ResNet only: `planes` per stage; default [64, 128, 256, 512]. */
  widths?: number[];
  /** ResNet only: stem channels; default 64. */
  stemWidth?: number;
  /** DenseNet only: default 32. */
  growthRate?: number;
  /** DenseNet only: default [6, 12, 24, 16]. */
  blockConfig?: number[];
  /** DenseNet only: default 64. */
  numInitFeatures?: number;
  /** DenseNet only: default 4. */
  bnSize?: number;
  /**
   * DenseNet only, torchvision's `memory_efficient`: recompute each dense layer's bottleneck in the
   * backward pass instead of storing it (same gradients; a step took 15% longer at 128 px, 27% at 64 px). Default false.
   */
  memoryEfficient?: boolean;
}

export interface EmbedOptions {
  /** Batch statistics and running-stat updates (torch `model.train()`); default false. */
  training?: boolean;
}

export interface StateDictOptions {
  /** 'tfjs' (HWIO kernels, default) or 'torch' (OIHW, loadable by PyTorch after a transpose-free copy). */
  layout?: WeightLayout;
}

export interface LoadStateDictOptions {
  /** Layout of the given tensors; default 'tfjs'. */
  layout?: WeightLayout;
  /** Throw on any missing, unexpected or mis-shaped key (default true); otherwise load what matches. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

export type BackboneModel = ResNetModule | DenseNetModule;

export interface Backbone {
  readonly name: BackboneName;
  /** Width of `embed`'s output: 512 (resnet18), 2048 (resnet50), 1024 (densenet121). */
  readonly featureDim: number;
  readonly inputShape: [number, number, number];
  /** The module tree; every parameter and buffer in it is a variable of `variables`. */
  readonly model: BackboneModel;
  /**
   * Every variable (parameters and BatchNorm buffers) keyed by its torchvision state_dict name.
   * tfjs requires globally unique variable names, so `variable.name` carries a per-instance
   * prefix (`backbone3/conv1.weight`); the map key is the exact torchvision name.
   */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** Weights, biases and BatchNorm gamma/beta: what an optimizer updates. */
  trainableVariables(): tf.Variable[];
  /** Pooled features [N, featureDim] of an NHWC batch; the classifier is not part of the backbone. */
  embed(x: tf.Tensor4D, options?: EmbedOptions): tf.Tensor2D;
  /**
   * The last block's activations before global pooling, [N, h, w, featureDim] (ResNet's layer4,
   * DenseNet's relu(norm5)): `embed` is their spatial mean. What Grad-CAM weighs.
   */
  featureMap(x: tf.Tensor4D, options?: EmbedOptions): tf.Tensor4D;
  /** New tensors (caller disposes) keyed by torchvision name. */
  stateDict(options?: StateDictOptions): Map<string, tf.Tensor>;
  loadStateDict(
    dict: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>,
    options?: LoadStateDictOptions,
  ): LoadStateDictResult;
  /** An exact copy, BatchNorm statistics included, with its own variables (MoCo's key encoder). */
  clone(): Backbone;
  dispose(): void;
}

const RESNET_BLOCKS: Record<'resnet18' | 'resnet50', number[]> = { resnet18: [2, 2, 2, 2], resnet50: [3, 4, 6, 3] };

let instanceCounter = 0;

interface Built {
  model: BackboneModel;
  variables: Map<string, tf.Variable>;
}

function isOptional(key: string): boolean {
  // torch fills a missing num_batches_tracked with 0 for pre-1.0 checkpoints; so do we.
  return key.endsWith('.num_batches_tracked');
}

function buildModel(name: BackboneName, options: BackboneOptions, make: ParamFactory): BackboneModel {
  const inChannels = (options.inputShape ?? [224, 224, 3])[2];
  if (name === 'resnet18' || name === 'resnet50') {
    const config: ResNetConfig = {
      block: name === 'resnet18' ? 'basic' : 'bottleneck',
      blocks: options.blocks ?? RESNET_BLOCKS[name],
      widths: options.widths ?? [64, 128, 256, 512],
      stemWidth: options.stemWidth ?? 64,
      inChannels,
    };
    return buildResNet(make, config);
  }
  if (name === 'densenet121') {
    const config: DenseNetConfig = {
      growthRate: options.growthRate ?? 32,
      blockConfig: options.blockConfig ?? [6, 12, 24, 16],
      numInitFeatures: options.numInitFeatures ?? 64,
      bnSize: options.bnSize ?? 4,
      inChannels,
      memoryEfficient: options.memoryEfficient ?? false,
    };
    return buildDenseNet(make, config);
  }
  throw new Error(`createBackbone: unknown backbone '${name as string}', expected resnet18, resnet50 or densenet121`);
}

function randomValue(spec: ParamSpec, rng: Rng): tf.Tensor {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.init.kind === 'constant') return tf.fill(spec.shape, spec.init.value, spec.dtype);
  // kaiming_normal_(nonlinearity='relu'): std = sqrt(2 / fan).
  const std = Math.sqrt(2 / spec.init.fan);
  const values = new Float32Array(size);
  // Box-Muller on the seeded Rng with 32-bit uniforms, keeping both outputs of each pair:
  // a quarter of rng.normal()'s draws, which matters for 23M resnet50 weights.
  const scale = 1 / 4294967296;
  for (let i = 0; i < size; i += 2) {
    const u = (rng.nextUint32() + 0.5) * scale;
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    const theta = 2 * Math.PI * rng.nextUint32() * scale;
    values[i] = r * Math.cos(theta);
    if (i + 1 < size) values[i + 1] = r * Math.sin(theta);
  }
  return tf.tensor(values, spec.shape, 'float32');
}

class BackboneImpl implements Backbone {
  readonly featureDim: number;
  private disposed = false;

  constructor(
    readonly name: BackboneName,
    readonly inputShape: [number, number, number],
    private readonly options: BackboneOptions,
    readonly model: BackboneModel,
    readonly variables: Map<string, tf.Variable>,
  ) {
    this.featureDim = model.featureDim;
  }

  static build(name: BackboneName, options: BackboneOptions, initial: (spec: ParamSpec) => tf.Tensor): BackboneImpl {
    const scope = `backbone${++instanceCounter}`;
    const variables = new Map<string, tf.Variable>();
    const make: ParamFactory = (spec) => {
      const value = initial(spec);
      const v = tf.variable(value, spec.trainable, `${scope}/${spec.name}`, spec.dtype);
      value.dispose();
      variables.set(spec.name, v);
      return v;
    };
    const inputShape = options.inputShape ?? [224, 224, 3];
    const built: Built = { model: buildModel(name, options, make), variables };
    // Keep the architecture options only: a weights map must not stay referenced by the backbone.
    const { weights: _weights, readOptions: _read, ...architecture } = options;
    return new BackboneImpl(name, [...inputShape] as [number, number, number], architecture, built.model, built.variables);
  }

  trainableVariables(): tf.Variable[] {
    return [...this.variables.values()].filter((v) => v.trainable);
  }

  embed(x: tf.Tensor4D, options: EmbedOptions = {}): tf.Tensor2D {
    this.checkInput(x, 'embed');
    const training = options.training ?? false;
    return tf.tidy(() =>
      this.model.type === 'ResNet' ? resnetForward(this.model, x, training) : densenetForward(this.model, x, training),
    );
  }

  featureMap(x: tf.Tensor4D, options: EmbedOptions = {}): tf.Tensor4D {
    this.checkInput(x, 'featureMap');
    const training = options.training ?? false;
    return tf.tidy(() =>
      this.model.type === 'ResNet' ? resnetFeatureMap(this.model, x, training) : densenetFeatureMap(this.model, x, training),
    );
  }

  private checkInput(x: tf.Tensor4D, method: string): void {
    this.assertLive();
    if (x.rank !== 4) throw new Error(`${this.name}.${method}: expected an NHWC Tensor4D, got shape [${x.shape}]`);
    if (x.shape[3] !== this.inputShape[2]) {
      throw new Error(`${this.name}.${method}: input shape [${x.shape}] has ${x.shape[3]} channels, expected ${this.inputShape[2]} (NHWC)`);
    }
  }

  stateDict(options: StateDictOptions = {}): Map<string, tf.Tensor> {
    this.assertLive();
    const layout = options.layout ?? 'tfjs';
    const out = new Map<string, tf.Tensor>();
    for (const [key, v] of this.variables) out.set(key, convertLayout(v, 'tfjs', layout));
    return out;
  }

  loadStateDict(
    dict: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    this.assertLive();
    const layout = options.layout ?? 'tfjs';
    const strict = options.strict ?? true;
    const entries: Map<string, tf.Tensor> =
      dict instanceof Map ? (dict as Map<string, tf.Tensor>) : new Map(Object.entries(dict as Record<string, tf.Tensor>));
    const missing = [...this.variables.keys()].filter((k) => !entries.has(k) && !isOptional(k));
    const unexpected = [...entries.keys()].filter((k) => !this.variables.has(k));
    const mismatched: string[] = [];
    for (const [key, t] of entries) {
      const v = this.variables.get(key);
      if (!v) continue;
      const shape = shapeInLayout(t.shape, layout, 'tfjs');
      if (shape.length !== v.shape.length || shape.some((d, i) => d !== v.shape[i])) {
        mismatched.push(`${key}: got [${t.shape}] (${layout} layout), expected [${shapeInLayout(v.shape, 'tfjs', layout)}]`);
      }
    }
    if (strict && (missing.length || unexpected.length || mismatched.length)) {
      const parts = [`${this.name}.loadStateDict: state dict does not match the model (${layout} layout)`];
      if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(', ')}`);
      if (mismatched.length) parts.push(`shape mismatches (${mismatched.length}): ${mismatched.join('; ')}`);
      throw new Error(parts.join('\n'));
    }
    const bad = new Set(mismatched.map((m) => m.slice(0, m.indexOf(':'))));
    tf.tidy(() => {
      for (const [key, t] of entries) {
        const v = this.variables.get(key);
        if (!v || bad.has(key)) continue;
        const value = convertLayout(t, layout, 'tfjs');
        v.assign(value.dtype === v.dtype ? value : tf.cast(value, v.dtype));
      }
    });
    return { missing, unexpected, mismatched };
  }

  clone(): Backbone {
    this.assertLive();
    return BackboneImpl.build(this.name, this.options, (spec) => tf.clone(this.variables.get(spec.name)!));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.variables.values()) v.dispose();
  }

  private assertLive(): void {
    if (this.disposed) throw new Error(`${this.name}: backbone was disposed`);
  }
}

const COMMON_OPTIONS = ['inputShape', 'weights', 'weightsLayout', 'readOptions', 'seed'];
const RESNET_OPTIONS = ['blocks', 'widths', 'stemWidth'];
const DENSENET_OPTIONS = ['growthRate', 'blockConfig', 'numInitFeatures', 'bnSize', 'memoryEfficient'];

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/**
 * Checks backbone options before anything is built: an unknown key (a typo such as `widht` would
 * otherwise build a full-size network silently), a key of the other architecture, or a bad value
 * throws naming the option. Exported so configs can be checked before a run writes anything.
 */
export function validateBackboneOptions(name: BackboneName, options: BackboneOptions): void {
  const at = `createBackbone(${name})`;
  if (name !== 'resnet18' && name !== 'resnet50' && name !== 'densenet121') {
    throw new Error(`createBackbone: unknown backbone '${name as string}', expected resnet18, resnet50 or densenet121`);
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new Error(`${at}: options must be an object, got ${JSON.stringify(options)}`);
  const own = name === 'densenet121' ? DENSENET_OPTIONS : RESNET_OPTIONS;
  const other = name === 'densenet121' ? RESNET_OPTIONS : DENSENET_OPTIONS;
  const known = [...COMMON_OPTIONS, ...own];
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    if (other.includes(key)) throw new Error(`${at}: option '${key}' applies to ${name === 'densenet121' ? 'ResNet' : 'DenseNet'} only; ${name} takes ${own.join(', ')}`);
    const near = [...known, ...other].filter((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    throw new Error(`${at}: unknown option '${key}'${near.length ? ` (did you mean '${near[0]}'?)` : ''}; known options: ${known.join(', ')}`);
  }
  const o = options as Record<string, unknown>;
  const positiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  const intList = (key: string, length?: number) => {
    const v = o[key];
    if (v === undefined) return;
    if (!Array.isArray(v) || v.length === 0 || (length !== undefined && v.length !== length) || !v.every(positiveInt)) {
      throw new Error(`${at}: ${key} must be a list of ${length ?? 'one or more'} positive integers, got ${JSON.stringify(v)}`);
    }
  };
  const int = (key: string) => {
    if (o[key] !== undefined && !positiveInt(o[key])) throw new Error(`${at}: ${key} must be a positive integer, got ${JSON.stringify(o[key])}`);
  };
  const inputShape = o.inputShape;
  if (inputShape !== undefined && !(Array.isArray(inputShape) && inputShape.length === 3 && inputShape.every(positiveInt))) {
    throw new Error(`createBackbone: inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(inputShape)}`);
  }
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw new Error(`${at}: seed must be an integer, got ${JSON.stringify(o.seed)}`);
  if (o.weightsLayout !== undefined && o.weightsLayout !== 'tfjs' && o.weightsLayout !== 'torch') {
    throw new Error(`${at}: weightsLayout must be 'tfjs' or 'torch', got ${JSON.stringify(o.weightsLayout)}`);
  }
  if (o.weights !== undefined && typeof o.weights !== 'string' && !(o.weights instanceof Map)) {
    throw new Error(`${at}: weights must be a file path or a Map of tensors`);
  }
  if (name === 'densenet121') {
    intList('blockConfig');
    for (const key of ['growthRate', 'numInitFeatures', 'bnSize']) int(key);
    if (o.memoryEfficient !== undefined && typeof o.memoryEfficient !== 'boolean') throw new Error(`${at}: memoryEfficient must be true or false, got ${JSON.stringify(o.memoryEfficient)}`);
  } else {
    // torchvision's ResNets have four stages (layer1..layer4); a different count would not load its weights.
    intList('blocks', 4);
    intList('widths', 4);
    int('stemWidth');
  }
}

/** Reads a weights file by path: the Node entry's readWeights; null in the browser entry, which has no filesystem. */
export type WeightsFileReader = ((path: string, options?: ReadWeightsOptions) => Promise<Map<string, tf.Tensor>>) | null;

/** createBackbone, with the way a `weights` path is read given by the entry (create.ts, browser.ts). */
export async function buildBackbone(name: BackboneName, options: BackboneOptions, readWeights: WeightsFileReader): Promise<Backbone> {
  validateBackboneOptions(name, options);
  if (options.weights === undefined) {
    const rng = new Rng(options.seed ?? 0);
    return BackboneImpl.build(name, options, (spec) => randomValue(spec, rng));
  }
  // Weights overwrite everything, so start from constants instead of drawing normals.
  const backbone = BackboneImpl.build(name, options, (spec) => tf.zeros(spec.shape, spec.dtype));
  try {
    if (typeof options.weights === 'string') {
      if (!readWeights) throw new Error(`createBackbone(${name}): weights given as a path (${options.weights}) need a filesystem; in a browser pass a Map of tensors (parseSafetensors(bytes).tensors)`);
      const weights = await readWeights(options.weights, options.readOptions);
      try {
        backbone.loadStateDict(weights, { layout: 'tfjs' });
      } catch (err) {
        throw new Error(`createBackbone(${name}) from ${options.weights}: ${(err as Error).message}`);
      } finally {
        for (const t of weights.values()) t.dispose();
      }
    } else {
      backbone.loadStateDict(options.weights, { layout: options.weightsLayout ?? 'tfjs' });
    }
  } catch (err) {
    backbone.dispose();
    throw err;
  }
  return backbone;
}
