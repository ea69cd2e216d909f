import * as tf from '@tensorflow/tfjs-core';

/** Variables keyed by their torchvision-style name (`layer1.0.conv1.weight`, `fc.0.bias`). */
export type NamedVariables = ReadonlyMap<string, tf.Variable>;

/** Anything that exposes named variables: a Backbone, a ProjectionHead, or a plain map. */
export type VariableSource =
  | NamedVariables
  | { readonly variables: NamedVariables; trainableVariables?: () => unknown };

let counter = 0;

/** A process-unique tfjs variable name: tfjs refuses two variables with the same name. */
export function uniqueVariableName(scope: string, name: string): string {
  counter += 1;
  return `moco/${scope}_${counter}/${name}`;
}

/** Every named variable of `source` (BatchNorm running statistics included). */
export function allVariables(source: VariableSource): NamedVariables {
  return source instanceof Map ? source : (source as { variables: NamedVariables }).variables;
}

/**
 * The trainable named variables of `source`. A backbone's `trainableVariables()` may return a
 * Map, an array of tfjs variables or a record; all three are mapped back to torchvision names.
 */
export function trainableVariables(source: VariableSource): NamedVariables {
  if (source instanceof Map) return new Map([...source].filter(([, v]) => v.trainable));
  const all = (source as { variables: NamedVariables }).variables;
  const fn = (source as { trainableVariables?: () => unknown }).trainableVariables;
  if (typeof fn !== 'function') return new Map([...all].filter(([, v]) => v.trainable));
  const result = fn.call(source);
  if (result instanceof Map) return result as NamedVariables;
  const byTfName = new Map<string, string>();
  for (const [name, v] of all) byTfName.set(v.name, name);
  const list: tf.Variable[] = Array.isArray(result) ? result : Object.values(result as Record<string, tf.Variable>);
  const out = new Map<string, tf.Variable>();
  for (const v of list) {
    const name = byTfName.get(v.name);
    if (name === undefined) throw new Error(`trainableVariables: variable '${v.name}' is not among the module's named variables`);
    out.set(name, v);
  }
  return out;
}
