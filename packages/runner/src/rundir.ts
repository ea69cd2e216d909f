import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '@moco-cxr/atomic-write';
import { isAbortError } from './abort';
import { withAbsolutePaths, type RunnerConfig } from './config';
import { createExclusive, DirLock } from './dir-lock';

// One atomic write for every package (temp file, fsync, rename, fsync of the directory): @moco-cxr/atomic-write's.
export { writeFileAtomic };

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJson<T = unknown>(path: string): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

const PACKAGES = ['runner', 'compute', 'cxr-data', 'cxr-augment', 'backbones', 'moco', 'eval-metrics', 'bootstrap'];
const requireHere = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);

/** Versions of the @moco-cxr packages and tfjs this process runs, for the audit trail. */
export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.versions.node };
  for (const name of [...PACKAGES.map((p) => `@moco-cxr/${p}`), '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm']) {
    try {
      out[name] = (requireHere(`${name}/package.json`) as { version: string }).version;
    } catch {
      out[name] = 'not installed';
    }
  }
  return out;
}

export interface RunInfo {
  command: string;
  argv: string[];
  seed: number;
  backend?: unknown;
  versions: Record<string, string>;
  machine: { cpus: number; cpuModel: string; platform: string };
  started: string;
  finished?: string;
  /** When the run stopped, however it ended (finished, failed or interrupted). */
  ended?: string;
  seconds?: number;
  /** `planned` / `queued`: an experiment that only wrote its job specs, or handed them to a queue. */
  status: 'running' | 'finished' | 'failed' | 'interrupted' | 'planned' | 'queued';
  error?: string;
}

/**
 * A run directory: `config.json` (resolved), `run.json` (command, versions, backend, seed,
 * timing), `metrics.jsonl` (appended as it runs) and `results.json` (written last: its
 * presence means the run finished, and finished work is never overwritten).
 */
export class RunDir {
  readonly started = Date.now();
  private info: RunInfo;
  private dirLock?: DirLock;

  constructor(
    readonly dir: string,
    command: string,
    seed: number,
    argv: string[] = [],
  ) {
    mkdirSync(dir, { recursive: true });
    const cpu = cpus();
    this.info = {
      command,
      argv,
      seed,
      versions: packageVersions(),
      machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', platform: `${process.platform}-${process.arch}` },
      started: new Date(this.started).toISOString(),
      status: 'running',
    };
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  get finished(): boolean {
    return isFinished(this.dir);
  }

  /**
   * Claims the directory for this process (see DirLock), so two processes never run the same job
   * into it; a lock left by a process of this host that is gone is taken over, by one process only.
   * Throws naming the owner.
   */
  lock(): void {
    this.dirLock ??= new DirLock(this.dir);
    this.dirLock.acquire();
  }

  /** Releases the lock taken by `lock()`. */
  unlock(): void {
    this.dirLock?.release();
  }

  /** Writes the resolved config; if one is there already, it must match (a resumed run keeps its config). */
  writeConfig(config: unknown, compareKeys?: (c: unknown) => unknown): void {
    const file = this.path('config.json');
    if (existsSync(file)) {
      const before = readJson(file);
      const pick = compareKeys ?? withoutRuntimeFields;
      const diff = diffFields(pick(before), withoutAdded(pick(before), pick(config)));
      if (diff.length) {
        throw new Error(
          `${this.dir} holds a run made with a different config (${diff.slice(0, 5).join(', ')}${diff.length > 5 ? ', ...' : ''} differ); use a new --out directory so finished work is not overwritten`,
        );
      }
    }
    writeJsonAtomic(file, config);
  }

  setBackend(backend: unknown): void {
    this.info.backend = backend;
    this.writeInfo();
  }

  writeInfo(): void {
    writeJsonAtomic(this.path('run.json'), this.info);
  }

  metric(record: Record<string, unknown>): void {
    appendFileSync(this.path('metrics.jsonl'), `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }

  /** Writes results.json (atomically) and marks the run finished. */
  finish(results: unknown): void {
    if (!this.tryFinish(results)) throw new Error(`${this.path('results.json')} exists: this run already finished; refusing to overwrite it`);
  }

  /**
   * Publishes results.json exactly once: created whole or not at all, and never over one that is
   * there (a duplicate delivery of the same job, or a rerun, keeps the first results). Returns
   * false, writing nothing, when the run had finished already.
   */
  tryFinish(results: unknown): boolean {
    if (!createExclusive(this.path('results.json'), `${JSON.stringify(results, null, 2)}\n`)) return false;
    this.end('finished');
    return true;
  }

  fail(err: unknown): void {
    // Work stopped by Ctrl-C after saving its state (pretraining's checkpoint) is interrupted, not failed.
    this.end(isAbortError(err) ? 'interrupted' : 'failed', err);
  }

  /**
   * Records in run.json how the run ended: `finished` (with its end time), `failed` or
   * `interrupted` with the reason. For runs whose results.json is rewritten (an experiment's);
   * job runs finish through `tryFinish`.
   */
  end(status: 'finished' | 'failed' | 'interrupted', reason?: unknown): void {
    const now = new Date();
    this.info.status = status;
    if (status === 'finished') this.info.finished = now.toISOString();
    if (reason !== undefined) this.info.error = reason instanceof Error ? reason.message : String(reason);
    else delete this.info.error;
    this.info.ended = now.toISOString();
    this.info.seconds = (now.getTime() - this.started) / 1000;
    this.writeInfo();
  }

  /** Records that nothing runs in this process: the jobs were only planned, or handed to a queue. */
  handOff(status: 'planned' | 'queued'): void {
    this.info.status = status;
    this.writeInfo();
  }
}

/**
 * Backend and threads say where a run computes, not what: a resumed run may change them (run.json
 * records each). `protocols` only says which cells a grid holds (each job records its own), so a
 * grid may gain a protocol.
 */
function withoutRuntimeFields(c: unknown): unknown {
  if (c === null || typeof c !== 'object') return c;
  // A config recorded before paths were made absolute compares by where its paths point from here.
  // Where and how to compute (precision too: a resume on other kernels is moco's warning) may change.
  const { backend: _b, threads: _t, precision: _pr, protocols: _p, ...rest } = withAbsolutePaths(c as RunnerConfig) as unknown as Record<string, unknown>;
  return rest;
}

/** `after` without the fields `before` lacks: settings a newer version added (the run used their defaults' absence). */
function withoutAdded(before: unknown, after: unknown): unknown {
  if (before === null || after === null || typeof before !== 'object' || typeof after !== 'object' || Array.isArray(before) || Array.isArray(after)) return after;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) if (k in (before as object)) out[k] = withoutAdded((before as Record<string, unknown>)[k], v);
  return out;
}

export function isFinished(dir: string): boolean {
  return existsSync(join(dir, 'results.json'));
}

/** Dotted paths of the fields where two JSON values differ. */
export function diffFields(a: unknown, b: unknown, path = ''): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffFields((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(root)'];
}
