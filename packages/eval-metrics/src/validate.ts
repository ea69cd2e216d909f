/** Checks a labels/scores pair and returns its length; errors name the function and the bad index. */
export function checkBinaryInputs(labels: ArrayLike<number>, scores: ArrayLike<number>, fn: string): number {
  if (labels.length !== scores.length) {
    throw new RangeError(`${fn}: labels has length ${labels.length} but scores has length ${scores.length}`);
  }
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new RangeError(`${fn}: labels[${i}] is ${y}; labels must be 0 or 1`);
    const s = scores[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new RangeError(`${fn}: scores[${i}] is ${s}; scores must be finite numbers`);
    }
  }
  return labels.length;
}

/** Scores of the positive and of the negative rows, each sorted ascending (native typed-array sort, no comparator). */
export interface SplitScores {
  positives: Float64Array;
  negatives: Float64Array;
}

export function splitByClass(labels: ArrayLike<number>, scores: ArrayLike<number>, fn: string): SplitScores {
  const n = checkBinaryInputs(labels, scores, fn);
  let p = 0;
  for (let i = 0; i < n; i++) p += labels[i];
  const positives = new Float64Array(p);
  const negatives = new Float64Array(n - p);
  let ip = 0;
  let ineg = 0;
  for (let i = 0; i < n; i++) {
    // +0 folds -0 into 0 so the two sort together as one tied value.
    if (labels[i] === 1) positives[ip++] = scores[i] + 0;
    else negatives[ineg++] = scores[i] + 0;
  }
  positives.sort();
  negatives.sort();
  return { positives, negatives };
}

export function requireBothClasses({ positives, negatives }: SplitScores, fn: string): void {
  if (positives.length === 0 || negatives.length === 0) {
    throw new RangeError(
      `${fn}: needs both classes, got ${positives.length} positives and ${negatives.length} negatives`,
    );
  }
}
