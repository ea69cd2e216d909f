import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@moco-cxr/atomic-write';
import { encodeBundle, loadBundle, type BundleParts, type ModelBundle } from './bundle';
import type { BundleManifest } from './format';

/** Loads the bundle in folder `dir` (bundle.json and its weights file), checked as loadBundle checks it. */
export function readBundle(dir: string): Promise<ModelBundle> {
  const root = resolve(dir);
  return loadBundle((file) => readFile(join(root, file)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), { source: dir });
}

/**
 * Writes a bundle into folder `dir` (created if missing): the weights file first, then bundle.json,
 * each atomically, so a folder holding a bundle.json always holds the weights it names.
 */
export async function writeBundle(dir: string, parts: BundleParts): Promise<BundleManifest> {
  const encoded = await encodeBundle(parts);
  mkdirSync(dir, { recursive: true });
  // bundle.json is first in `files`; write it last.
  for (const f of [...encoded.files.slice(1), encoded.files[0]]) writeFileAtomic(join(dir, f.name), f.chunks);
  return encoded.manifest;
}
