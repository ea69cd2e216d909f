import type { BackboneName } from '@moco-cxr/backbones';
import { linearHeadFromJson, type LinearHeadJson } from '@moco-cxr/protocols';

/** The `format` field of every bundle.json. */
export const BUNDLE_FORMAT = 'moco-cxr/model-bundle';
/** The bundle.json version this package writes and reads. */
export const BUNDLE_VERSION = 1;
/** The manifest's file name inside a bundle folder. */
export const BUNDLE_FILE = 'bundle.json';

const BACKBONE_NAMES: readonly BackboneName[] = ['resnet18', 'resnet50', 'densenet121'];

/** How a grey radiograph becomes the backbone's input, exactly as the runner's evaluation does it. */
export interface BundleInput {
  /** The backbone's input is size x size: the short side resized to `size`, then a centre crop. */
  size: number;
  /** Grey copied to this many channels (3 for ImageNet-shaped backbones). */
  channels: 1 | 3;
  /** Grey levels scaled to [0, 1] (p / 255), then (x - mean[c]) / std[c] per channel. */
  normalize: { name: string; mean: number[]; std: number[] };
  /** How the grey image was resized, in words (cxr-data's cache: PIL-style antialiased bilinear). */
  resize: string;
}

/** The backbone's architecture and where its weights are. */
export interface BundleBackbone {
  name: BackboneName;
  /** Architecture options of createBackbone (widths, blocks, ...); inputShape comes from `input`. */
  options: Record<string, unknown>;
  featureDim: number;
  /** The weights file, beside bundle.json: a `.safetensors` state dict under torchvision names. */
  weights: { file: string; sha256: string; bytes: number };
}

/** The statistics `looksUnlike` compares an image with, and their thresholds. */
export interface OodStatistics {
  /** Per-feature mean and standard deviation of the backbone's pooled features over the fit rows. */
  features: { mean: number[]; std: number[]; threshold: number };
  /** Mean grey histogram (`bins` equal bins of 0..255, each image's summing to 1) over the fit rows. */
  histogram: { bins: number; mean: number[]; threshold: number };
  /** Thresholds are this percentile of the distances of the threshold rows. */
  percentile: number;
  /** Which rows the statistics and thresholds came from, in words, and how many. */
  fit: { split: string; count: number };
  threshold: { split: string; count: number };
}

/** Where a bundle came from. */
export interface BundleProvenance {
  /** ISO 8601 time the bundle was written. */
  createdAt: string;
  /** What trained it: run directory, cell id, protocol, initialisation, label fraction, draw, seed. */
  source: Record<string, unknown>;
  /** The training configuration as the run recorded it. */
  config: unknown;
  /** The data, in words (source, counts, image size). */
  data: string;
  /** AUROC per task on the run's test split, at `testLevel` (image, or study max where studies exist). */
  testAuroc: Record<string, number>;
  testLevel: string;
  /** Validation AUROC the run selected on, when it recorded one. */
  valAuroc?: number;
  /** Versions of the packages that trained and wrote it (@moco-cxr/*, @tensorflow/tfjs-core). */
  packages: Record<string, string>;
}

/** bundle.json. */
export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  tasks: string[];
  input: BundleInput;
  backbone: BundleBackbone;
  /** One linear head, tasks x featureDim row-major, and one bias per task; scores are sigmoid(w.f + b). */
  head: LinearHeadJson;
  ood: OodStatistics;
  provenance: BundleProvenance;
}

/** Throws an error naming the file and the field. */
function fail(source: string, field: string, message: string): never {
  throw new Error(`${source}: ${field} ${message}`);
}

type Json = Record<string, unknown>;

function object(v: unknown, source: string, field: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(source, field, `must be an object, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v as Json;
}

function positiveInt(v: unknown, source: string, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail(source, field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function string(v: unknown, source: string, field: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(source, field, `must be a non-empty string, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v;
}

function finiteList(v: unknown, length: number, source: string, field: string, positive = false): number[] {
  if (!Array.isArray(v) || v.length !== length) fail(source, field, `must hold ${length} numbers, got ${Array.isArray(v) ? `${v.length}` : JSON.stringify(v)?.slice(0, 80)}`);
  const bad = v.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x) || (positive && !(x > 0)));
  if (bad >= 0) fail(source, `${field}[${bad}]`, `is ${JSON.stringify(v[bad])}; expected a finite${positive ? ' positive' : ''} number`);
  return v as number[];
}

function threshold(v: unknown, source: string, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(source, field, `must be a finite number >= 0, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks a parsed bundle.json field by field and returns it typed; the first problem throws an
 * error naming `source` (the file) and the field (`input.normalize.std[2]`, `head.weight[17]`, ...).
 */
export function validateManifest(json: unknown, source = BUNDLE_FILE): BundleManifest {
  const m = object(json, source, 'the manifest');
  if (m.format !== BUNDLE_FORMAT) fail(source, 'format', `must be "${BUNDLE_FORMAT}", got ${JSON.stringify(m.format)} (not a moco-cxr model bundle)`);
  if (m.version !== BUNDLE_VERSION) fail(source, 'version', `${JSON.stringify(m.version)} is not one this reader knows (it reads version ${BUNDLE_VERSION})`);

  if (!Array.isArray(m.tasks) || m.tasks.length === 0) fail(source, 'tasks', `must be a non-empty list of task names, got ${JSON.stringify(m.tasks)}`);
  const tasks = m.tasks.map((t, k) => string(t, source, `tasks[${k}]`));
  const dup = tasks.find((t, k) => tasks.indexOf(t) !== k);
  if (dup !== undefined) fail(source, 'tasks', `names "${dup}" twice`);

  const input = object(m.input, source, 'input');
  const size = positiveInt(input.size, source, 'input.size');
  if (input.channels !== 1 && input.channels !== 3) fail(source, 'input.channels', `must be 1 or 3, got ${JSON.stringify(input.channels)}`);
  const channels = input.channels;
  const norm = object(input.normalize, source, 'input.normalize');
  const normalize = {
    name: string(norm.name, source, 'input.normalize.name'),
    mean: finiteList(norm.mean, channels, source, 'input.normalize.mean'),
    std: finiteList(norm.std, channels, source, 'input.normalize.std', true),
  };
  const resize = string(input.resize, source, 'input.resize');

  const b = object(m.backbone, source, 'backbone');
  if (!BACKBONE_NAMES.includes(b.name as BackboneName)) fail(source, 'backbone.name', `must be one of ${BACKBONE_NAMES.join(', ')}, got ${JSON.stringify(b.name)}`);
  const options = object(b.options, source, 'backbone.options');
  for (const key of ['inputShape', 'weights', 'weightsLayout', 'readOptions']) if (key in options) fail(source, `backbone.options.${key}`, 'is set by the bundle itself and must not be given');
  const featureDim = positiveInt(b.featureDim, source, 'backbone.featureDim');
  const w = object(b.weights, source, 'backbone.weights');
  const file = string(w.file, source, 'backbone.weights.file');
  // The weights file sits beside bundle.json: no directories, no way out of the bundle folder.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors$/.test(file)) fail(source, 'backbone.weights.file', `must be a plain .safetensors file name beside bundle.json, got ${JSON.stringify(file)}`);
  const sha256 = string(w.sha256, source, 'backbone.weights.sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) fail(source, 'backbone.weights.sha256', `must be 64 lowercase hex digits, got ${JSON.stringify(sha256)}`);
  const bytes = positiveInt(w.bytes, source, 'backbone.weights.bytes');

  const head = linearHeadFromJson(m.head, `${source}: head`);
  if (head.tasks !== tasks.length) fail(source, 'head.tasks', `is ${head.tasks} but tasks names ${tasks.length}`);
  if (head.featureDim !== featureDim) fail(source, 'head.featureDim', `is ${head.featureDim} but backbone.featureDim is ${featureDim}`);

  const o = object(m.ood, source, 'ood');
  const of = object(o.features, source, 'ood.features');
  const oh = object(o.histogram, source, 'ood.histogram');
  const bins = positiveInt(oh.bins, source, 'ood.histogram.bins');
  if (bins > 256) fail(source, 'ood.histogram.bins', `must be at most 256, got ${bins}`);
  const percentile = o.percentile;
  if (typeof percentile !== 'number' || !(percentile > 0 && percentile <= 100)) fail(source, 'ood.percentile', `must be a number in (0, 100], got ${JSON.stringify(percentile)}`);
  const rowsOf = (v: unknown, field: string) => {
    const r = object(v, source, field);
    return { split: string(r.split, source, `${field}.split`), count: positiveInt(r.count, source, `${field}.count`) };
  };
  const ood: OodStatistics = {
    features: {
      mean: finiteList(of.mean, featureDim, source, 'ood.features.mean'),
      std: finiteList(of.std, featureDim, source, 'ood.features.std', true),
      threshold: threshold(of.threshold, source, 'ood.features.threshold'),
    },
    histogram: { bins, mean: finiteList(oh.mean, bins, source, 'ood.histogram.mean'), threshold: threshold(oh.threshold, source, 'ood.histogram.threshold') },
    percentile,
    fit: rowsOf(o.fit, 'ood.fit'),
    threshold: rowsOf(o.threshold, 'ood.threshold'),
  };

  const p = object(m.provenance, source, 'provenance');
  const createdAt = string(p.createdAt, source, 'provenance.createdAt');
  if (Number.isNaN(Date.parse(createdAt))) fail(source, 'provenance.createdAt', `must be an ISO 8601 time, got ${JSON.stringify(createdAt)}`);
  const testAuroc = object(p.testAuroc, source, 'provenance.testAuroc');
  for (const t of tasks) {
    const a = testAuroc[t];
    // A task the test split could not score (one class only) is recorded as null.
    if (a !== null && (typeof a !== 'number' || !(a >= 0 && a <= 1))) fail(source, `provenance.testAuroc.${t}`, `must be an AUROC in [0, 1] or null, got ${JSON.stringify(a)}`);
  }
  const packages = object(p.packages, source, 'provenance.packages');
  for (const [k, v] of Object.entries(packages)) string(v, source, `provenance.packages.${k}`);
  if (p.valAuroc !== undefined && p.valAuroc !== null && typeof p.valAuroc !== 'number') fail(source, 'provenance.valAuroc', `must be a number, got ${JSON.stringify(p.valAuroc)}`);
  const provenance: BundleProvenance = {
    createdAt,
    source: object(p.source, source, 'provenance.source'),
    config: p.config,
    data: string(p.data, source, 'provenance.data'),
    testAuroc: testAuroc as Record<string, number>,
    testLevel: string(p.testLevel, source, 'provenance.testLevel'),
    ...(typeof p.valAuroc === 'number' ? { valAuroc: p.valAuroc } : {}),
    packages: packages as Record<string, string>,
  };

  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    tasks,
    input: { size, channels, normalize, resize },
    backbone: { name: b.name as BackboneName, options, featureDim, weights: { file, sha256, bytes } },
    head: m.head as LinearHeadJson,
    ood,
    provenance,
  };
}
