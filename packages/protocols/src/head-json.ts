import type { LinearHead } from './linear';

/** A linear head as plain JSON (e.g. a run's head.json): shape, row-major weight (tasks x featureDim) and bias. */
export interface LinearHeadJson {
  featureDim: number;
  tasks: number;
  weight: number[];
  bias: number[];
}

/** The head as JSON numbers; float32 values survive the round trip through JSON exactly. */
export function linearHeadToJson(head: LinearHead): LinearHeadJson {
  return { featureDim: head.featureDim, tasks: head.tasks, weight: Array.from(head.weight), bias: Array.from(head.bias) };
}

/**
 * A head back from JSON, checked: the shape must be positive integers, the weight and bias must hold
 * featureDim x tasks and tasks finite numbers. `source` (a file name) starts every error.
 */
export function linearHeadFromJson(json: unknown, source = 'linearHeadFromJson'): LinearHead {
  const j = json as Partial<LinearHeadJson> | null;
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new TypeError(`${source}: expected a linear head object, got ${JSON.stringify(json)}`);
  for (const key of ['featureDim', 'tasks'] as const) {
    if (!Number.isSafeInteger(j[key]) || (j[key] as number) < 1) throw new RangeError(`${source}: ${key} must be a positive integer, got ${JSON.stringify(j[key])}`);
  }
  const d = j.featureDim as number;
  const k = j.tasks as number;
  const values = (key: 'weight' | 'bias', length: number): Float32Array => {
    const v = j[key];
    if (!Array.isArray(v) || v.length !== length) {
      throw new RangeError(`${source}: ${key} must hold ${length} numbers (${key === 'weight' ? `${k} x ${d}` : `one per task`}), got ${Array.isArray(v) ? v.length : JSON.stringify(v)}`);
    }
    const bad = v.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
    if (bad >= 0) throw new RangeError(`${source}: ${key}[${bad}] is ${JSON.stringify(v[bad])}; expected a finite number`);
    return Float32Array.from(v as number[]);
  };
  return { featureDim: d, tasks: k, weight: values('weight', d * k), bias: values('bias', k) };
}
