import { createBackbone, encodeSafetensors, parseSafetensorsWeights, type Backbone } from '@moco-cxr/backbones';
import { linearHeadFromJson, linearHeadToJson, type LinearHead } from '@moco-cxr/protocols';
import { BUNDLE_FILE, BUNDLE_FORMAT, BUNDLE_VERSION, validateManifest, type BundleInput, type BundleManifest, type BundleProvenance, type OodStatistics } from './format';

/** A loaded bundle: the backbone with its weights, the head, and the manifest that describes them. */
export interface ModelBundle {
  readonly manifest: BundleManifest;
  readonly tasks: readonly string[];
  readonly backbone: Backbone;
  readonly head: LinearHead;
  /** Frees the backbone's variables; the bundle cannot score afterwards. */
  dispose(): void;
}

/** Reads one file of a bundle folder, by its name inside the folder. */
export type BundleFileReader = (file: string) => Promise<Uint8Array>;

export interface LoadBundleOptions {
  /** Names the bundle (a folder or a URL) at the start of every error; default 'bundle'. */
  source?: string;
}

/** SHA-256 in lowercase hex, with the Web Crypto API that browsers and Node 20 both have. */
export async function sha256Hex(chunks: readonly Uint8Array[]): Promise<string> {
  const whole = concat(chunks);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', whole as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Loads a bundle through `read` (a folder on disk, `fetch` on a URL, dropped `File`s): bundle.json
 * is checked field by field, the weights file against its recorded size and SHA-256, its tensors
 * for NaN / Inf (backbones' parseSafetensorsWeights), and the backbone against the architecture and head.
 * Every error names the file and the field or tensor.
 */
export async function loadBundle(read: BundleFileReader, options: LoadBundleOptions = {}): Promise<ModelBundle> {
  const source = options.source ?? 'bundle';
  const at = (file: string) => `${source.replace(/\/+$/, '')}/${file}`;
  const manifestPath = at(BUNDLE_FILE);
  const text = new TextDecoder().decode(await readOrSay(read, BUNDLE_FILE, manifestPath));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${manifestPath}: not valid JSON (${(err as Error).message})`);
  }
  const manifest = validateManifest(json, manifestPath);
  const head = linearHeadFromJson(manifest.head, `${manifestPath}: head`);
  const { file, sha256, bytes } = manifest.backbone.weights;
  const weightsPath = at(file);
  const weightBytes = await readOrSay(read, file, weightsPath);
  if (weightBytes.byteLength !== bytes) throw new Error(`${weightsPath}: ${weightBytes.byteLength} bytes, but ${manifestPath} records ${bytes} (a truncated or replaced file)`);
  const digest = await sha256Hex([weightBytes]);
  if (digest !== sha256) throw new Error(`${weightsPath}: SHA-256 ${digest} differs from ${manifestPath}'s backbone.weights.sha256 ${sha256} (the file was changed after export)`);
  const weights = parseSafetensorsWeights(weightBytes, weightsPath);
  let backbone: Backbone;
  try {
    const { size, channels } = manifest.input;
    backbone = await createBackbone(manifest.backbone.name, { ...(manifest.backbone.options as object), inputShape: [size, size, channels], weights, weightsLayout: 'tfjs' });
  } catch (err) {
    throw new Error(`${weightsPath}: does not fit the backbone ${manifest.backbone.name} ${JSON.stringify(manifest.backbone.options)} of ${manifestPath}: ${(err as Error).message}`);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  if (backbone.featureDim !== manifest.backbone.featureDim) {
    backbone.dispose();
    throw new Error(`${manifestPath}: backbone.featureDim is ${manifest.backbone.featureDim} but ${manifest.backbone.name} with these options gives ${backbone.featureDim}`);
  }
  return {
    manifest,
    tasks: manifest.tasks,
    backbone,
    head,
    dispose: () => backbone.dispose(),
  };
}

async function readOrSay(read: BundleFileReader, file: string, path: string): Promise<Uint8Array> {
  try {
    return await read(file);
  } catch (err) {
    throw new Error(`${path}: cannot read it (${(err as Error).message})`);
  }
}

/** A reader over HTTP(S): `base` is the bundle folder's URL (a trailing slash is added). */
export function fetchReader(base: string | URL, init?: RequestInit): BundleFileReader {
  const folder = new URL(String(base).endsWith('/') ? String(base) : `${String(base)}/`, (globalThis as { location?: { href: string } }).location?.href);
  return async (file) => {
    const res = await fetch(new URL(file, folder), init);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

/** Loads a bundle from its folder's URL (a page's `fetchBundle('models/kermany/')`). */
export function fetchBundle(base: string | URL, init?: RequestInit): Promise<ModelBundle> {
  return loadBundle(fetchReader(base, init), { source: String(base) });
}

/** What an exporter knows; the rest of the manifest (format, weights file, digests) is derived. */
export interface BundleParts {
  /** The trained backbone (its variables are read, not kept). */
  backbone: Backbone;
  /** The trained head, one output per task. */
  head: LinearHead;
  tasks: readonly string[];
  /** Size, channels and normalisation; `size` and `channels` must match the backbone's input shape. */
  input: BundleInput;
  ood: OodStatistics;
  provenance: BundleProvenance;
  /** Name of the weights file; default 'backbone.safetensors'. */
  weightsFile?: string;
}

/** The files of a bundle: bundle.json's text and the weights as chunks to write one after another. */
export interface EncodedBundle {
  manifest: BundleManifest;
  files: { name: string; chunks: Uint8Array[] }[];
}

/**
 * Builds bundle.json and the weights file (a torch-layout `.safetensors` state dict, as saveBackbone
 * writes) in memory, and checks the result with the reader's own validation before anything is written.
 */
export async function encodeBundle(parts: BundleParts): Promise<EncodedBundle> {
  const { backbone, head, tasks, input } = parts;
  const file = parts.weightsFile ?? 'backbone.safetensors';
  const [h, w, c] = backbone.inputShape;
  if (h !== input.size || w !== input.size || c !== input.channels) {
    throw new Error(`encodeBundle: the backbone takes [${backbone.inputShape}] but input says ${input.size} x ${input.size} x ${input.channels}`);
  }
  const dict = backbone.stateDict({ layout: 'torch' });
  let chunks: Uint8Array[];
  try {
    chunks = await encodeSafetensors(dict, { format: 'pt', layout: 'torch', backbone: backbone.name });
  } finally {
    for (const t of dict.values()) t.dispose();
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    tasks: [...tasks],
    input,
    backbone: {
      name: backbone.name,
      options: architectureOptions(backbone),
      featureDim: backbone.featureDim,
      weights: { file, sha256: await sha256Hex(chunks), bytes: chunks.reduce((a, x) => a + x.byteLength, 0) },
    },
    head: linearHeadToJson(head),
    ood: parts.ood,
    provenance: parts.provenance,
  };
  const checked = validateManifest(JSON.parse(JSON.stringify(manifest)), `encodeBundle: ${BUNDLE_FILE}`);
  return { manifest: checked, files: [{ name: BUNDLE_FILE, chunks: [new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`)] }, { name: file, chunks }] };
}

/** The createBackbone options that rebuild this architecture (widths, blocks, ...), read off the module tree. */
function architectureOptions(backbone: Backbone): Record<string, unknown> {
  const model = backbone.model;
  if (model.type === 'ResNet') {
    const { blocks, widths, stemWidth } = model.config;
    return { blocks: [...blocks], widths: [...widths], stemWidth };
  }
  const { growthRate, blockConfig, numInitFeatures, bnSize } = model.config;
  return { growthRate, blockConfig: [...blockConfig], numInitFeatures, bnSize };
}
