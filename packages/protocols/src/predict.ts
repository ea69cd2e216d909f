import { ensureSyncReadable } from '@moco-cxr/compute';
import type { ImageSet } from '@moco-cxr/cxr-data';
import { embedImages, type EmbedImagesOptions, type ProtocolBackbone } from './embed';
import type { FinetuneSnapshot } from './finetune';
import { restoreWeights, snapshotWeights } from './weights-snapshot';
import { scoreFeatures, type LinearHead } from './linear';

/**
 * Scores images with a backbone and head (or a top-k list of heads on the same frozen backbone,
 * probabilities averaged): N x K probabilities, rows in `indices` order.
 */
export async function predict(
  backbone: ProtocolBackbone,
  head: LinearHead | readonly LinearHead[],
  images: ImageSet,
  indices: ArrayLike<number>,
  options: EmbedImagesOptions = {},
): Promise<Float64Array> {
  const features = await embedImages(backbone, images, indices, options);
  return scoreFeatures(head, features);
}

/**
 * The end-to-end top-k ensemble: loads each kept snapshot into `backbone` in turn, scores, and
 * averages the probabilities; the backbone's own weights are put back afterwards.
 */
export async function predictEnsemble(
  backbone: ProtocolBackbone,
  members: readonly Pick<FinetuneSnapshot, 'weights' | 'head'>[],
  images: ImageSet,
  indices: ArrayLike<number>,
  options: EmbedImagesOptions = {},
): Promise<Float64Array> {
  if (members.length === 0) throw new RangeError('predictEnsemble: no snapshots given');
  await ensureSyncReadable(backbone.variables.values());
  const original = snapshotWeights(backbone);
  let sum: Float64Array | undefined;
  try {
    for (const m of members) {
      restoreWeights(backbone, m.weights);
      const s = await predict(backbone, m.head, images, indices, options);
      if (!sum) sum = s;
      else for (let i = 0; i < s.length; i++) sum[i] += s[i];
    }
  } finally {
    restoreWeights(backbone, original);
  }
  const out = sum as Float64Array;
  for (let i = 0; i < out.length; i++) out[i] /= members.length;
  return out;
}
