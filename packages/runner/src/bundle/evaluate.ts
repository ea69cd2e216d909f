import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { decodeImage } from '@moco-cxr/cxr-data';
import { assessImages, type ModelBundle } from '@moco-cxr/model-bundle';
import { readBundle } from '@moco-cxr/model-bundle/node';
import type { RunnerConfig } from '../config';
import { prepareData, type SplitName } from '../data';
import { Progress, type Io } from '../progress';
import { writeFileAtomic, writeJsonAtomic } from '../rundir';
import { startBackend } from '../jobs/backbone';

// `evaluate --bundle`: a model bundle scores image files or a configured dataset split, in Node.

/** One scored image. */
export interface BundleScoreRow {
  path: string;
  /** The task's probability, per task in the bundle's order. */
  probabilities: Record<string, number>;
  /** True when the image looks unlike the bundle's training images (its scores say little). */
  unlike: boolean;
  reasons: string[];
  /** The image's labels, when scored from a dataset (NaN = unknown, written as null). */
  labels?: Record<string, number | null>;
}

export interface BundleEvaluation {
  bundle: string;
  tasks: string[];
  images: BundleScoreRow[];
  /** Where the scores were written (--out), if anywhere. */
  written?: string;
}

const IMAGE_FILE = /\.(png|jpe?g|dcm|dicom)$/i;

/** The image files named: files as given, folders searched (sorted) for PNG, JPEG and DICOM files. */
export function imageFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (IMAGE_FILE.test(name)) out.push(p);
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`${p}: no such file or folder`);
    if (statSync(p).isDirectory()) walk(p);
    else out.push(p);
  }
  if (out.length === 0) throw new Error(`no PNG, JPEG or DICOM image in ${paths.join(', ')}`);
  return out;
}

const BATCH = 32;

/** Scores image files, decoded as the runner's image cache decodes them (same decoder, same grey levels). */
async function scoreFiles(bundle: ModelBundle, files: string[], io: Io): Promise<BundleScoreRow[]> {
  const bar = new Progress(io, 'score', files.length, 'img');
  const rows: BundleScoreRow[] = [];
  for (let start = 0; start < files.length; start += BATCH) {
    const batch = files.slice(start, start + BATCH);
    const images = await Promise.all(batch.map((f) => decodeImage(f)));
    const assessed = await assessImages(bundle, images);
    assessed.forEach((a, i) => rows.push({ path: batch[i], probabilities: a.probabilities, unlike: a.ood.unlike, reasons: a.ood.reasons }));
    bar.set(rows.length);
  }
  return rows;
}

/** Scores one split of a configured dataset (its cached images, as its runs saw them), with labels. */
async function scoreSplit(bundle: ModelBundle, cfg: RunnerConfig, split: SplitName, experimentDir: string, io: Io): Promise<BundleScoreRow[]> {
  const data = await prepareData(cfg, io, experimentDir);
  if (data.tasks.join('\n') !== bundle.tasks.join('\n')) io.err(`evaluate: note: the data's tasks (${data.tasks.join(', ')}) differ from the bundle's (${bundle.tasks.join(', ')}); labels are shown for tasks of the same name\n`);
  const target = data[split];
  const n = target.images.count;
  const K = data.tasks.length;
  const bar = new Progress(io, `score ${split}`, n, 'img');
  const rows: BundleScoreRow[] = [];
  const plane = target.images.height * target.images.width;
  for (let start = 0; start < n; start += BATCH) {
    const idx = Array.from({ length: Math.min(BATCH, n - start) }, (_, i) => start + i);
    const pixels = target.images.read(idx);
    const images = idx.map((_, i) => ({ width: target.images.width, height: target.images.height, data: pixels.subarray(i * plane, (i + 1) * plane) }));
    const assessed = await assessImages(bundle, images);
    assessed.forEach((a, i) => {
      const r = idx[i];
      const labels = Object.fromEntries(
        bundle.tasks.filter((t) => data.tasks.includes(t)).map((t) => {
          const v = target.labels[r * K + data.tasks.indexOf(t)];
          return [t, Number.isNaN(v) ? null : v];
        }),
      );
      rows.push({ path: target.paths[r], probabilities: a.probabilities, unlike: a.ood.unlike, reasons: a.ood.reasons, labels });
    });
    bar.set(rows.length);
  }
  return rows;
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The rows as CSV: path, one `score:<task>` column per task, `unlike`, and `label:<task>` columns when there are labels. */
export function bundleScoresCsv(tasks: readonly string[], rows: readonly BundleScoreRow[]): string {
  const labelled = rows.some((r) => r.labels);
  const head = ['path', ...tasks.map((t) => `score:${t}`), 'unlike', ...(labelled ? tasks.map((t) => `label:${t}`) : [])];
  const lines = rows.map((r) =>
    [csvCell(r.path), ...tasks.map((t) => String(r.probabilities[t])), String(r.unlike), ...(labelled ? tasks.map((t) => (r.labels?.[t] == null ? '' : String(r.labels[t]))) : [])].join(','),
  );
  return `${[head.map(csvCell).join(','), ...lines].join('\n')}\n`;
}

export interface EvaluateBundleOptions {
  /** Image files or folders to score. */
  images?: string[];
  /** Or a dataset config and its split. */
  data?: { config: RunnerConfig; split: SplitName; experimentDir: string };
  /** Write the scores here (.json, else CSV) instead of returning them only. */
  out?: string;
  backend?: string;
  threads?: number;
  precision?: RunnerConfig['precision'];
}

/** Loads the bundle, scores, and writes the scores when `out` is given. */
export async function evaluateBundle(bundleDir: string, io: Io, options: EvaluateBundleOptions): Promise<BundleEvaluation> {
  const precision = options.precision ?? options.data?.config.precision;
  const backendCfg = { backend: options.backend ?? options.data?.config.backend ?? 'auto', threads: options.threads ?? options.data?.config.threads ?? 0, ...(precision ? { precision } : {}) } as RunnerConfig;
  await startBackend(backendCfg, io);
  const bundle = await readBundle(bundleDir);
  try {
    const rows = options.data
      ? await scoreSplit(bundle, options.data.config, options.data.split, options.data.experimentDir, io)
      : await scoreFiles(bundle, imageFiles(options.images ?? []), io);
    const result: BundleEvaluation = { bundle: resolve(bundleDir), tasks: [...bundle.tasks], images: rows };
    if (options.out) {
      if (extname(options.out).toLowerCase() === '.json') writeJsonAtomic(options.out, result);
      else writeFileAtomic(options.out, bundleScoresCsv(bundle.tasks, rows));
      result.written = resolve(options.out);
    }
    const flagged = rows.filter((r) => r.unlike).length;
    if (!io.quiet && flagged) io.err(`evaluate: ${flagged} of ${rows.length} images look unlike the bundle's training images (column unlike); their scores say little\n`);
    return result;
  } finally {
    bundle.dispose();
  }
}
