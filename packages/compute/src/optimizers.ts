import { AdamOptimizer, engine, getBackend, getKernel, mul, tidy, zerosLike, type NamedTensorMap, type Tensor, type Variable } from '@tensorflow/tfjs-core';
import { optimizerStepInPlace, type InPlaceEntry } from './in-place';
import { FUSED, OPTIMIZER_KIND } from './native';

type NamedTensor = { name: string; tensor: Tensor };

type AdamInternals = {
  accBeta1: Variable;
  accBeta2: Variable;
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  accumulatedFirstMoment: Array<{ originalName: string; variable: Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: Variable } | undefined>;
  incrementIterations(): void;
};

let patched = false;

/**
 * tf.train.adam's update as one native call for every variable, in place, while the native kernels are active
 * (tfjs composes nine ops per variable); the same arithmetic in the same order, so the moments and
 * values match tfjs' own update to float rounding. Any other backend keeps tfjs' code.
 */
export function patchTfAdam(): void {
  if (patched) return;
  patched = true;
  const proto = AdamOptimizer.prototype as unknown as { applyGradients(g: NamedTensorMap | NamedTensor[]): void };
  const original = proto.applyGradients;
  proto.applyGradients = function (this: AdamInternals, variableGradients: NamedTensorMap | NamedTensor[]): void {
    if (getKernel(FUSED.optimizerStep, getBackend()) === undefined) return original.call(this, variableGradients);
    const list = Array.isArray(variableGradients);
    const names = list ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    // 1 - beta^t in float32, as tfjs takes it from its float32 accumulators.
    const c1 = Math.fround(1 - (this.accBeta1.dataSync()[0] as number));
    const c2 = Math.fround(1 - (this.accBeta2.dataSync()[0] as number));
    const hyper = [this.beta1, this.beta2, this.epsilon, this.learningRate, c1, c2];
    const vars = engine().registeredVariables;
    tidy(() => {
      const entries: InPlaceEntry[] = [];
      names.forEach((name, i) => {
        const value = vars[name];
        const slot = (suffix: string) => ({ originalName: `${name}/${suffix}`, variable: tidy(() => zerosLike(value).variable(false)) });
        this.accumulatedFirstMoment[i] ??= slot('m');
        this.accumulatedSecondMoment[i] ??= slot('v');
        const gradient = list ? (variableGradients as NamedTensor[])[i].tensor : (variableGradients as NamedTensorMap)[name];
        if (gradient == null) return;
        entries.push({ param: value, grad: gradient, slot1: this.accumulatedFirstMoment[i]!.variable, slot2: this.accumulatedSecondMoment[i]!.variable });
      });
      // Every variable in one native call, in place; one whose buffer another tensor shares gets new buffers.
      for (const { param, grad, slot1, slot2 } of optimizerStepInPlace(OPTIMIZER_KIND.tfAdam, entries, hyper)) {
        const [p2, m2, v2] = engine().runKernel(FUSED.optimizerStep, { param, grad, slot1: slot1!, slot2: slot2! }, { kind: OPTIMIZER_KIND.tfAdam, hyper } as never) as Tensor[];
        (slot1 as Variable).assign(m2);
        (slot2 as Variable).assign(v2);
        (param as Variable).assign(p2);
      }
      this.accBeta1.assign(mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(mul(this.accBeta2, this.beta2));
    });
    this.incrementIterations();
  };
}
