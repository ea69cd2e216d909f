// runExperiment as a library: stopped through an AbortSignal, it records how it ended, a second
// call resumes, and neither call leaves a listener on the process or on its signal.
import { getEventListeners } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@moco-cxr/compute';
import { describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import { isAbortError } from './abort';
import { resolveConfig } from './config';
import { runExperiment, type ExperimentEvent } from './experiment';

// Synthetic images, a quarter-width ResNet18 at 24 px: MoCo pretraining, then features and a linear cell per init.
const config = resolveConfig({
  seed: 5,
  backend: 'cpu',
  data: { source: 'synthetic', imageSize: 24, synthetic: { train: 48, test: 32 }, valFraction: 0.25 },
  backbone: { name: 'resnet18', options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } },
  initialisations: ['moco', 'random'],
  pretrain: { epochs: 2, batchSize: 8, queueSize: 16, monitorEvery: 0, augment: { preset: 'moco-cxr' } },
  protocols: ['linear'],
  fractions: [1],
  linear: { lr: 0.003, epochs: 2 },
  compare: { replicates: 20 },
});

// Every process event a library could leave a handler on.
const EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'disconnect', 'message'] as const;
const processListeners = () => Object.fromEntries(EVENTS.map((e) => [e, process.listenerCount(e)]));

const runInfo = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));

describe('runExperiment with an AbortSignal', () => {
  it('stops part-way and records interrupted, resumes on a second call, and leaves no listener behind', async () => {
    // The backend is started once per process; started here, its own setup is not counted against runExperiment.
    await initBackend({ prefer: 'cpu' });
    const before = processListeners();
    const out = join(mkdtempSync(join(tmpdir(), 'runner-abort-')), 'exp');

    // First call: aborted as soon as pretraining says it starts.
    const first = new AbortController();
    const events: ExperimentEvent[] = [];
    const io = captureIo();
    const err = io.err;
    io.err = (t) => {
      err(t);
      if (t.startsWith('pretrain: ') && !first.signal.aborted) first.abort({ signal: 'SIGINT' });
    };
    const stopped = await runExperiment(config, out, { signal: first.signal, io, onEvent: (e) => events.push(e) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(stopped), String(stopped)).toBe(true);
    expect((stopped as Error).message).toMatch(/stopped at step \d+, checkpoint written/);
    expect(events.find((e) => e.type === 'stopping')).toEqual({ type: 'stopping', reason: 'SIGINT', prompt: true });
    expect(events.filter((e) => e.type === 'job-started').map((e) => e.type === 'job-started' && e.id)).toEqual(['pretrain']);
    expect(runInfo(out)).toMatchObject({ status: 'interrupted', error: 'stopped by SIGINT; rerun the same command to resume' });
    expect(existsSync(join(out, 'pretrain', 'moco', 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'comparison.json'))).toBe(false);
    expect(processListeners()).toEqual(before);
    expect(getEventListeners(first.signal, 'abort')).toHaveLength(0);

    // Second call, same directory: pretraining resumes from its checkpoint and the grid runs to its report.
    const second = new AbortController();
    const io2 = captureIo();
    const result = await runExperiment(config, out, { signal: second.signal, io: io2 });
    expect(io2.text()).toMatch(/pretrain: resuming .*checkpoint\.safetensors/);
    expect(result).toMatchObject({ experimentDir: out, jobsRun: 5, jobsReused: 0 });
    expect(runInfo(out).status).toBe('finished');
    expect(existsSync(join(out, 'comparison.json'))).toBe(true);
    expect(processListeners()).toEqual(before);
    expect(getEventListeners(second.signal, 'abort')).toHaveLength(0);

    // An already aborted signal: nothing starts, nothing is written over the finished run.
    await expect(runExperiment(config, out, { signal: AbortSignal.abort({ signal: 'SIGTERM' }) })).rejects.toThrow(/stopped by SIGTERM before it started/);
    expect(runInfo(out).status).toBe('finished');
    expect(processListeners()).toEqual(before);
  }, 240_000);
});
