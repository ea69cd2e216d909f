/**
 * Checks frozen features (row-major N x featureDim) before a probe fits them: a whole number of
 * rows, every value finite, and not every row the same vector. Constant features come from a
 * backbone that maps every image to one point (non-finite or collapsed weights); a probe on them
 * can only score AUROC 0.5, which would otherwise pass for a result. Returns N.
 */
export function checkFeatures(features: Float32Array, d: number, what: string): number {
  if (features.length % d !== 0 || features.length === 0) {
    throw new RangeError(`${what}: length ${features.length} is not a positive multiple of featureDim ${d}`);
  }
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) {
      throw new RangeError(`${what}: row ${Math.floor(i / d)}, column ${i % d} is ${features[i]}; features must be finite`);
    }
  }
  const n = features.length / d;
  if (n > 1 && everyRowEqualsTheFirst(features, d)) {
    throw new RangeError(`${what}: all ${n} rows are the same ${d}-value vector; the backbone maps every image to one point (non-finite or collapsed weights), so a probe cannot rank the images`);
  }
  return n;
}

function everyRowEqualsTheFirst(features: Float32Array, d: number): boolean {
  for (let i = d; i < features.length; i++) if (features[i] !== features[i % d]) return false;
  return true;
}
