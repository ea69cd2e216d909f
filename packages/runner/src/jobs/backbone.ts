import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBackbone, type Backbone } from '@moco-cxr/backbones';
import { formatAdapter, initBackend, type BackendInfo } from '@moco-cxr/compute';
import type { Initialisation, RunnerConfig } from '../config';
import { pretrainDirOf } from '../grid';
import type { Io } from '../progress';

// What every job kind starts from: the compute backend, and a backbone with its initial weights.

/** The moco trainer's own run directory inside a pretrain run (its checkpoint, metrics and exports). */
export const MOCO_SUBDIR = 'moco';

/** The clean backbone a pretrain run exported; a file path is returned as is. */
export function backboneFileOf(pathOrRunDir: string): string {
  if (existsSync(pathOrRunDir) && statSync(pathOrRunDir).isFile()) return pathOrRunDir;
  return join(pathOrRunDir, MOCO_SUBDIR, 'backbone.safetensors');
}

let backendPromise: Promise<BackendInfo> | undefined;
let backendKey = '';

/** Starts the configured backend once per process; its warnings (a slower start than asked) go to `io`. */
export function startBackend(cfg: RunnerConfig, io?: Io): Promise<BackendInfo> {
  const key = `${cfg.backend}/${cfg.threads}/${cfg.precision ?? ''}`;
  if (backendPromise && key === backendKey) return backendPromise;
  backendKey = key;
  const onWarning = (w: string) => io?.err(`moco-cxr: warning: ${w}\n`);
  const started = initBackend({
    ...(cfg.backend === 'auto' ? {} : { prefer: cfg.backend }),
    ...(cfg.threads > 0 ? { threads: cfg.threads } : {}),
    ...(cfg.precision ? { precision: cfg.precision } : {}),
    onWarning,
  }).then((info) => {
    // Which GPU trained is said once (a software adapter's warning names it already); run.json keeps it too.
    if (info.adapter && !info.adapter.software && !io?.quiet) io?.err(`moco-cxr: training on webgpu, adapter ${formatAdapter(info.adapter)}\n`);
    return info;
  });
  backendPromise = started;
  // More threads than the backend runs are capped: said here, not only in run.json.
  started.then((info) => {
    const cap = info.notes.find((n) => /threads capped/.test(n));
    if (info.backend === 'wasm' && cfg.threads > info.threads && !io?.quiet) io?.err(`moco-cxr: note: ${cfg.threads} threads asked, ${info.threads} used${cap ? ` (${cap.replace(/^wasm: /, '')})` : ''}\n`);
    // bf16 asked for and fp32 run instead: said here, not only in run.json.
    const precision = info.notes.find((n) => n.startsWith('precision:'));
    if (precision && !io?.quiet) io?.err(`moco-cxr: note: ${precision.replace(/^precision: /, '')}\n`);
  }, () => undefined);
  return started;
}

/** The weights a given initialisation starts from (undefined = random init from the seed); MoCo's from the pretraining of training seed `seed`. */
export function weightsFor(init: Initialisation, cfg: RunnerConfig, experimentDir: string, override?: string, seed = cfg.seed): string | undefined {
  if (init === 'random') return undefined;
  if (override) return backboneFileOf(override);
  if (init === 'imagenet') return cfg.imagenetWeights;
  if (cfg.mocoWeights) {
    // Transfer: MoCo weights from an earlier pretrain run (possibly on other data) or a backbone file.
    const given = backboneFileOf(resolve(cfg.mocoWeights));
    if (!existsSync(given)) throw new Error(`mocoWeights: ${given} does not exist (give a finished pretrain run directory or a backbone .safetensors / .pth file)`);
    return given;
  }
  const pretrainDir = pretrainDirOf(cfg, seed);
  const file = backboneFileOf(join(experimentDir, pretrainDir));
  if (!existsSync(file)) throw new Error(`${file}: the MoCo-pretrained backbone is missing; run the pretrain job first (moco-cxr run-job ${join(experimentDir, 'jobs', `${pretrainDir}.json`)})`);
  return file;
}

/** The backbone with the given weights, or randomly initialised from the training seed `seed`. */
export async function makeBackbone(cfg: RunnerConfig, weights?: string, seed = cfg.seed): Promise<Backbone> {
  const s = cfg.data.imageSize;
  return createBackbone(cfg.backbone.name, { ...(cfg.backbone.options as object), inputShape: [s, s, 3], seed, ...(weights ? { weights } : {}) });
}

