/**
 * Small probes on frozen features, for the online monitor and logisticProtocol: an L2-regularised logistic
 * regression fitted by Newton's method (IRLS) and a cosine kNN classifier. Plain TS in
 * float64: probe sets are a few hundred rows of a few hundred features.
 */

export interface LogisticRegressionOptions {
  /** L2 penalty lambda on the weights (not the bias), on standardised features. Default 1. */
  l2?: number;
  maxIterations?: number;
  tolerance?: number;
}

export interface LogisticModel {
  /** Per-feature mean and scale used to standardise inputs. */
  mean: Float64Array;
  scale: Float64Array;
  weights: Float64Array;
  bias: number;
  iterations: number;
  /** Scores (log-odds) for rows of `features` (n x d, row-major). */
  decision(features: ArrayLike<number>, n: number): Float64Array;
}

function checkMatrix(name: string, x: ArrayLike<number>, n: number, d: number): void {
  if (x.length !== n * d) throw new Error(`${name}: features have ${x.length} values, expected n*d = ${n}*${d}`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`${name}: feature value at row ${Math.floor(i / d)}, column ${i % d} is ${x[i]}`);
}

/** Solves A x = b for symmetric positive definite A (d x d, overwritten) by Cholesky. */
function choleskySolve(a: Float64Array, b: Float64Array, d: number): Float64Array {
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j];
    for (let k = 0; k < j; k++) s -= a[j * d + k] * a[j * d + k];
    if (!(s > 0)) throw new Error(`logistic regression: Hessian is not positive definite at column ${j} (increase l2)`);
    const ljj = Math.sqrt(s);
    a[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j];
      for (let k = 0; k < j; k++) t -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = t / ljj;
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let t = b[i];
    for (let k = 0; k < i; k++) t -= a[i * d + k] * y[k];
    y[i] = t / a[i * d + i];
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let t = y[i];
    for (let k = i + 1; k < d; k++) t -= a[k * d + i] * x[k];
    x[i] = t / a[i * d + i];
  }
  return x;
}

/**
 * Fits min sum_i logloss(y_i, w.x_i + b) + l2/2 |w|^2 on standardised features by Newton
 * steps with a backtracking line search. Labels are 0/1.
 */
export function fitLogisticRegression(features: ArrayLike<number>, labels: ArrayLike<number>, d: number, options: LogisticRegressionOptions = {}): LogisticModel {
  const n = labels.length;
  checkMatrix('fitLogisticRegression', features, n, d);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new Error(`fitLogisticRegression: label at row ${i} is ${labels[i]}, expected 0 or 1`);
    pos += labels[i];
  }
  if (pos === 0 || pos === n) throw new Error(`fitLogisticRegression: labels hold one class only (${pos} positives of ${n})`);
  const l2 = options.l2 ?? 1;
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-8;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += features[i * d + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) scale[j] += (features[i * d + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j]) > 1e-12 ? Math.sqrt(scale[j]) : 1;
  // Design matrix with a trailing 1 for the bias: p = d + 1 parameters.
  const p = d + 1;
  const x = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[i * p + j] = (features[i * d + j] - mean[j]) / scale[j];
    x[i * p + d] = 1;
  }
  const theta = new Float64Array(p);
  const margins = (t: Float64Array) => {
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += x[i * p + j] * t[j];
      z[i] = s;
    }
    return z;
  };
  const objective = (t: Float64Array) => {
    const z = margins(t);
    let f = 0;
    for (let i = 0; i < n; i++) f += Math.max(z[i], 0) - z[i] * labels[i] + Math.log1p(Math.exp(-Math.abs(z[i])));
    for (let j = 0; j < d; j++) f += 0.5 * l2 * t[j] * t[j];
    return f;
  };
  let f = objective(theta);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const z = margins(theta);
    const grad = new Float64Array(p);
    const hess = new Float64Array(p * p);
    for (let i = 0; i < n; i++) {
      const mu = 1 / (1 + Math.exp(-z[i]));
      const r = mu - labels[i];
      const w = Math.max(mu * (1 - mu), 1e-12);
      const row = i * p;
      for (let a = 0; a < p; a++) {
        const xa = x[row + a];
        if (xa === 0) continue;
        grad[a] += r * xa;
        const wxa = w * xa;
        for (let b = 0; b <= a; b++) hess[a * p + b] += wxa * x[row + b];
      }
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) hess[b * p + a] = hess[a * p + b];
    for (let j = 0; j < d; j++) {
      grad[j] += l2 * theta[j];
      hess[j * p + j] += l2;
    }
    hess[d * p + d] += 1e-10;
    const step = choleskySolve(hess, grad, p);
    let decrement = 0;
    for (let j = 0; j < p; j++) decrement += step[j] * grad[j];
    if (decrement / 2 < tolerance) break;
    let alpha = 1;
    let next = new Float64Array(p);
    let fNext = Infinity;
    for (let tries = 0; tries < 30; tries++) {
      for (let j = 0; j < p; j++) next[j] = theta[j] - alpha * step[j];
      fNext = objective(next);
      if (fNext <= f - 0.25 * alpha * decrement) break;
      alpha /= 2;
    }
    if (!(fNext < f)) break;
    theta.set(next);
    f = fNext;
    next = new Float64Array(p);
  }
  const weights = theta.slice(0, d);
  const bias = theta[d];
  return {
    mean,
    scale,
    weights,
    bias,
    iterations,
    decision(rows: ArrayLike<number>, m: number): Float64Array {
      checkMatrix('LogisticModel.decision', rows, m, d);
      const out = new Float64Array(m);
      for (let i = 0; i < m; i++) {
        let s = bias;
        for (let j = 0; j < d; j++) s += ((rows[i * d + j] - mean[j]) / scale[j]) * weights[j];
        out[i] = s;
      }
      return out;
    },
  };
}

export interface KnnOptions {
  /** Neighbours; capped at the number of training rows. Default 20. */
  k?: number;
  /** Similarity temperature of the vote weights exp(sim / tau) (InstDisc's kNN). Default 0.07. */
  tau?: number;
}

/**
 * Cosine kNN scores: for each query row, the exp(sim/tau)-weighted share of positive labels
 * among its k most similar training rows.
 */
export function knnScores(train: ArrayLike<number>, trainLabels: ArrayLike<number>, query: ArrayLike<number>, d: number, options: KnnOptions = {}): Float64Array {
  const n = trainLabels.length;
  checkMatrix('knnScores (train)', train, n, d);
  const m = query.length / d;
  if (!Number.isInteger(m)) throw new Error(`knnScores: query has ${query.length} values, not a multiple of d = ${d}`);
  const k = Math.min(options.k ?? 20, n);
  if (!(k >= 1)) throw new RangeError(`knnScores: k must be >= 1, got ${options.k}`);
  const tau = options.tau ?? 0.07;
  const normed = (x: ArrayLike<number>, rows: number) => {
    const out = new Float64Array(rows * d);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[i * d + j] ** 2;
      const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
      for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] * inv;
    }
    return out;
  };
  const a = normed(train, n);
  const b = normed(query, m);
  const scores = new Float64Array(m);
  const sims = new Float64Array(n);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let q = 0; q < m; q++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[i * d + j] * b[q * d + j];
      sims[i] = s;
    }
    order.sort((u, v) => sims[v] - sims[u] || u - v);
    let num = 0;
    let den = 0;
    for (let r = 0; r < k; r++) {
      const i = order[r];
      const w = Math.exp((sims[i] - 1) / tau);
      num += w * trainLabels[i];
      den += w;
    }
    scores[q] = den > 0 ? num / den : 0;
  }
  return scores;
}

/** A fixed stratified split of row indices into probe-train and probe-test, seeded by `shuffle`. */
export function stratifiedSplit(labels: ArrayLike<number>, trainFraction: number, shuffle: (a: number[]) => number[]): { train: number[]; test: number[] } {
  if (!(trainFraction > 0 && trainFraction < 1)) throw new RangeError(`stratifiedSplit: trainFraction must be in (0, 1), got ${trainFraction}`);
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [0, 1]) {
    const rows = shuffle(Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === cls));
    if (rows.length < 2) throw new Error(`stratifiedSplit: class ${cls} has ${rows.length} rows; the probe set needs at least 2 of each class`);
    const cut = Math.min(rows.length - 1, Math.max(1, Math.round(rows.length * trainFraction)));
    train.push(...rows.slice(0, cut));
    test.push(...rows.slice(cut));
  }
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0 && labels[i] !== 1) throw new Error(`stratifiedSplit: label at row ${i} is ${labels[i]}, expected 0 or 1`);
  return { train: train.sort((u, v) => u - v), test: test.sort((u, v) => u - v) };
}
