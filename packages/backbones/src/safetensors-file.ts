import { readFile } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '@moco-cxr/atomic-write';
import { encodeSafetensors, parseSafetensors, type SafetensorsContent } from './safetensors';

/** Reads a `.safetensors` file (torch / Hugging Face / our checkpoints) into tfjs tensors. */
export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  return parseSafetensors(new Uint8Array(await readFile(path)), path);
}

/**
 * Writes tensors as `.safetensors`, atomically (temp file, fsync, rename): a crash leaves either
 * the previous file or the complete new one, never a truncated file under `path`.
 */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>,
  metadata: Record<string, string> = {},
): Promise<void> {
  writeFileAtomic(path, await encodeSafetensors(tensors, metadata));
}
