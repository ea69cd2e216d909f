/** Checks a labels/scores pair and returns its length; errors name the function and the bad index. */
export function checkBinaryInputs(labels: ArrayLike<number>, scores: ArrayLike<number>, fn: string): number {
  if (labels.length !== scores.length) {
    throw new RangeError(`${fn}: labels has length ${labels.length} but scores has length ${scores.length}`);
  }
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new RangeError(`${fn}: labels[${i}] is ${y}; labels must be 0 or 1`);
    const s = scores[i];
    if (!Number.isFinite(s)) throw new RangeError(`${fn}: scores[${i}] is ${s}; scores must be finite`);
  }
  return labels.length;
}
