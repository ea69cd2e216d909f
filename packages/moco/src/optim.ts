import * as tf from '@tensorflow/tfjs-core';
import { ensureSyncReadable, optimizerStepInPlace } from '@moco-cxr/compute';
import { KIND, fusedStep } from './fused';
import type { NamedVariables } from './variables';
import { MOCO_CXR_DEFAULTS } from './defaults';

/** Saved optimiser state: per-parameter slots (`<param>|<slot>`) as flat float32 arrays. */
export interface OptimizerState {
  kind: 'adam' | 'sgd';
  /** Number of completed steps (Adam's bias correction uses it). */
  step: number;
  hyper: Record<string, number | boolean>;
  slots: Map<string, { shape: number[]; data: Float32Array }>;
}

/**
 * A small optimiser over named variables with state that round-trips exactly through
 * `state()` / `loadState()`. Gradients are given by the same names as the parameters.
 */
export interface Optimizer {
  readonly kind: 'adam' | 'sgd';
  readonly stepCount: number;
  step(params: NamedVariables, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void;
  state(): OptimizerState;
  /** state(), read asynchronously: what works on every backend (webgpu in Node cannot read synchronously). */
  readState(): Promise<OptimizerState>;
  loadState(state: OptimizerState): void;
  dispose(): void;
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient (torch.optim.Adam's weight_decay, not AdamW). */
  weightDecay?: number;
}

export interface SgdOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient, as torch.optim.SGD. */
  weightDecay?: number;
}

abstract class SlotOptimizer implements Optimizer {
  abstract readonly kind: 'adam' | 'sgd';
  protected steps = 0;
  protected readonly slots = new Map<string, tf.Variable>();

  get stepCount(): number {
    return this.steps;
  }

  protected slot(param: string, name: string, like: tf.Tensor, init: () => tf.Tensor): tf.Variable {
    const key = `${param}|${name}`;
    let v = this.slots.get(key);
    if (v === undefined) {
      const value = init();
      v = tf.variable(value, false);
      value.dispose();
      this.slots.set(key, v);
    } else if (!tf.util.arraysEqual(v.shape, like.shape)) {
      throw new Error(`${this.kind}: slot '${key}' is [${v.shape.join(', ')}] but the parameter is [${like.shape.join(', ')}]`);
    }
    return v;
  }

  protected check(params: NamedVariables, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`${this.kind}.step: learning rate must be a finite number >= 0, got ${lr}`);
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (p === undefined) throw new Error(`${this.kind}.step: gradient for '${name}' has no parameter of that name`);
      if (!tf.util.arraysEqual(p.shape, g.shape)) throw new Error(`${this.kind}.step: gradient '${name}' is [${g.shape.join(', ')}], parameter is [${p.shape.join(', ')}]`);
    }
  }

  abstract step(params: NamedVariables, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void;
  protected abstract hyper(): Record<string, number | boolean>;

  state(): OptimizerState {
    const slots = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [key, v] of this.slots) slots.set(key, { shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) });
    return { kind: this.kind, step: this.steps, hyper: this.hyper(), slots };
  }

  async readState(): Promise<OptimizerState> {
    await ensureSyncReadable(this.slots.values());
    return this.state();
  }

  loadState(state: OptimizerState): void {
    if (state.kind !== this.kind) throw new Error(`${this.kind}.loadState: saved state is for '${state.kind}'`);
    const mine = this.hyper();
    for (const [k, v] of Object.entries(mine)) {
      if (state.hyper[k] !== undefined && state.hyper[k] !== v) throw new Error(`${this.kind}.loadState: saved ${k} = ${String(state.hyper[k])}, this optimiser has ${String(v)}`);
    }
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
    for (const [key, { shape, data }] of state.slots) {
      const t = tf.tensor(data, shape, 'float32');
      this.slots.set(key, tf.variable(t, false));
      t.dispose();
    }
    this.steps = state.step;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}

/** torch.optim.Adam: L2 weight decay folded into the gradient; bias-corrected as torch computes it. */
export class Adam extends SlotOptimizer {
  readonly kind = 'adam' as const;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(options: AdamOptions = {}) {
    super();
    this.beta1 = options.beta1 ?? MOCO_CXR_DEFAULTS.betas[0];
    this.beta2 = options.beta2 ?? MOCO_CXR_DEFAULTS.betas[1];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
  }

  protected hyper() {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  step(params: NamedVariables, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.check(params, grads, lr);
    this.steps += 1;
    const t = this.steps;
    const { beta1, beta2, eps, weightDecay } = this;
    // torch computes these in double precision in Python before the float32 tensor ops.
    const stepSize = lr / (1 - beta1 ** t);
    const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
    const hyper = [beta1, beta2, eps, stepSize, sqrtBias2, weightDecay];
    tf.tidy(() => {
      const entries = [...grads].map(([name, grad]) => {
        const p = params.get(name)!;
        return { param: p, grad, slot1: this.slot(name, 'exp_avg', p, () => tf.zerosLike(p)), slot2: this.slot(name, 'exp_avg_sq', p, () => tf.zerosLike(p)) };
      });
      // Every parameter in one native call, in place, where the native kernels run; the rest one by one.
      for (const { param: p, grad, slot1: m, slot2: v } of optimizerStepInPlace(KIND.torchAdam, entries, hyper)) {
        const fused = fusedStep(KIND.torchAdam, p, grad, hyper, m, v);
        if (fused) {
          m.assign(fused[1]);
          v.assign(fused[2]);
          p.assign(fused[0]);
          continue;
        }
        const g = weightDecay !== 0 ? tf.add(grad, tf.mul(p, weightDecay)) : grad;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.mul(g, g), 1 - beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBias2), eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }
}

/** torch.optim.SGD with momentum (first step seeds the buffer with the gradient), dampening, Nesterov and L2 weight decay. */
export class Sgd extends SlotOptimizer {
  readonly kind = 'sgd' as const;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(options: SgdOptions = {}) {
    super();
    this.momentum = options.momentum ?? MOCO_CXR_DEFAULTS.sgdMomentum;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new RangeError('Sgd: Nesterov momentum requires momentum > 0 and dampening 0');
  }

  protected hyper() {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  step(params: NamedVariables, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.check(params, grads, lr);
    this.steps += 1;
    const { momentum, dampening, nesterov, weightDecay } = this;
    tf.tidy(() => {
      for (const [name, grad] of grads) {
        const p = params.get(name)!;
        const fresh = !this.slots.has(`${name}|momentum_buffer`);
        const fused = fusedStep(KIND.sgd, p, grad, [momentum, dampening, nesterov ? 1 : 0, lr, weightDecay, fresh ? 1 : 0], fresh ? undefined : this.slots.get(`${name}|momentum_buffer`));
        if (fused) {
          if (momentum !== 0 && fresh) this.slot(name, 'momentum_buffer', p, () => fused[1].clone());
          else if (momentum !== 0) this.slots.get(`${name}|momentum_buffer`)!.assign(fused[1]);
          p.assign(fused[0]);
          continue;
        }
        let d: tf.Tensor = weightDecay !== 0 ? tf.add(grad, tf.mul(p, weightDecay)) : grad;
        if (momentum !== 0) {
          const buf = this.slot(name, 'momentum_buffer', p, () => d.clone());
          if (!fresh) buf.assign(tf.add(tf.mul(buf, momentum), tf.mul(d, 1 - dampening)));
          d = nesterov ? tf.add(d, tf.mul(buf, momentum)) : buf;
        }
        p.assign(tf.sub(p, tf.mul(d, lr)));
      }
    });
  }
}

/** Builds an optimiser by kind; `adam` uses MOCO_CXR_DEFAULTS.betas and `sgd` its sgdMomentum unless given. */
export function createOptimizer(kind: 'adam' | 'sgd', options: AdamOptions & SgdOptions = {}): Optimizer {
  if (kind === 'adam') return new Adam(options);
  if (kind === 'sgd') return new Sgd(options);
  throw new Error(`createOptimizer: kind must be 'adam' or 'sgd', got '${String(kind)}'`);
}
