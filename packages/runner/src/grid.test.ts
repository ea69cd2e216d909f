import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config';
import { cellId, fractionTag, gridStatus, jobCost, jobDir, planGrid, readJobSpec, runScheduled, stages, writeJobSpecs, type JobSpec } from './grid';
import { protocolEpochs } from './jobs/cell';
import { executeJob } from './jobs/execute';
import { DirLock } from './dir-lock';
import { RunDir } from './rundir';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';

describe('planGrid', () => {
  it("plans the paper's grid: initialisations x protocols x fractions x draws, plus pretraining and features", () => {
    const cfg = resolveConfig({ imagenetWeights: 'r18.pth', fractions: [0.001, 0.01, 0.1, 1], draws: [5, 5, 5, 1] });
    const jobs = planGrid(cfg);
    const cells = jobs.filter((j) => j.kind === 'cell');
    expect(cells).toHaveLength(3 * 2 * (5 + 5 + 5 + 1));
    expect(jobs.filter((j) => j.kind === 'features').map((j) => j.id)).toEqual(['features-moco', 'features-imagenet', 'features-random']);
    expect(jobs[0].id).toBe('pretrain');
    expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
    expect(cells.find((c) => c.id === 'finetune-moco-0p1pct-d4')).toMatchObject({ protocol: 'finetune', init: 'moco', fraction: 0.001, draw: 4, draws: 5, dependsOn: ['pretrain'] });
    expect(cells.find((c) => c.id === 'linear-random-100pct-d0')).toMatchObject({ dependsOn: ['features-random'], outDir: join('cells', 'linear-random-100pct-d0') });
    expect(cells.find((c) => c.id === 'finetune-imagenet-10pct-d0')!.dependsOn).toEqual([]);
    // Draws are paired across initialisations: the same draw seed for every one.
    expect(new Set(cells.map((c) => c.drawSeed))).toEqual(new Set([cfg.seed]));
  });

  it('orders jobs in stages after their dependencies', () => {
    const s = stages(planGrid(resolveConfig({ fractions: [0.1, 1], draws: [2, 1] })));
    const ids = s.map((st) => st.map((j) => j.id));
    // Random init needs nothing; MoCo needs pretraining; linear cells need their features.
    expect(ids[0]).toEqual(['pretrain', 'features-random', 'finetune-random-10pct-d0', 'finetune-random-10pct-d1', 'finetune-random-100pct-d0']);
    expect(ids[1]).toEqual(['features-moco', 'linear-random-10pct-d0', 'linear-random-10pct-d1', 'linear-random-100pct-d0', 'finetune-moco-10pct-d0', 'finetune-moco-10pct-d1', 'finetune-moco-100pct-d0']);
    expect(ids[2]).toEqual(['linear-moco-10pct-d0', 'linear-moco-10pct-d1', 'linear-moco-100pct-d0']);
  });

  it('with seeds: [0, 1] plans pretraining, features and every cell once per training seed, the seed in every id and directory', () => {
    const cfg = resolveConfig({ seed: 3, seeds: [0, 1], fractions: [0.1, 1], draws: [2, 1], protocols: ['linear', 'finetune'] });
    const jobs = planGrid(cfg);
    const one = planGrid(resolveConfig({ seed: 3, fractions: [0.1, 1], draws: [2, 1], protocols: ['linear', 'finetune'] }));
    expect(jobs).toHaveLength(2 * one.length);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
    expect(jobs.filter((j) => j.kind === 'pretrain').map((j) => [j.id, j.outDir, j.seed])).toEqual([['pretrain-s0', 'pretrain-s0', 0], ['pretrain-s1', 'pretrain-s1', 1]]);
    expect(jobs.filter((j) => j.kind === 'features').map((j) => [j.id, j.outDir, j.seed])).toEqual([
      ['features-moco-s0', join('features', 'moco-s0'), 0],
      ['features-random-s0', join('features', 'random-s0'), 0],
      ['features-moco-s1', join('features', 'moco-s1'), 1],
      ['features-random-s1', join('features', 'random-s1'), 1],
    ]);
    // Each seed's cells depend on that seed's pretraining or features; the label-fraction draws are seeded by `seed` for every training seed.
    expect(jobs.find((j) => j.id === 'finetune-moco-10pct-d1-s1')).toMatchObject({ seed: 1, dependsOn: ['pretrain-s1'], outDir: join('cells', 'finetune-moco-10pct-d1-s1'), draw: 1, draws: 2, drawSeed: 3 });
    expect(jobs.find((j) => j.id === 'linear-random-100pct-d0-s0')).toMatchObject({ seed: 0, dependsOn: ['features-random-s0'] });
    expect(new Set(jobs.filter((j) => j.kind === 'cell').map((j) => j.drawSeed))).toEqual(new Set([3]));
    expect(jobs.filter((j) => j.kind === 'cell' && j.seed === 1).map((j) => j.id.replace(/-s1$/, ''))).toEqual(one.filter((j) => j.kind === 'cell').map((j) => j.id));
    // One seed keeps the layout of a grid planned before seeds: no seed in ids or directories.
    expect(one.map((j) => j.id)).toContain('pretrain');
    expect(planGrid(resolveConfig({ seeds: [5], fractions: [1] })).map((j) => [j.id, j.seed])).toContainEqual(['linear-moco-100pct-d0', 5]);
  });

  it('names fractions without ambiguity', () => {
    expect([0.001, 0.01, 0.0625, 0.25, 1].map(fractionTag)).toEqual(['0p1pct', '1pct', '6p25pct', '25pct', '100pct']);
    expect(cellId('linear', 'moco', 0.01, 3)).toBe('linear-moco-1pct-d3');
  });
});

describe('runScheduled', () => {
  // Each job takes `ms` of wall time; the log records when jobs start and end.
  const timed = (durations: Record<string, number>, log: string[], fail = new Set<string>()) => async (job: JobSpec) => {
    log.push(`start ${job.id}`);
    await new Promise((r) => setTimeout(r, durations[job.id] ?? 5));
    log.push(`end ${job.id}`);
    if (fail.has(job.id)) throw new Error(`${job.id} broke`);
  };

  it('starts a job as soon as its dependencies finish, not stage by stage', async () => {
    const jobs = planGrid(resolveConfig({ fractions: [1], draws: [1] }));
    const log: string[] = [];
    await runScheduled(jobs, 2, timed({ pretrain: 120 }, log));
    // Every random-init job runs while pretraining does; MoCo jobs start only after it.
    const pretrainEnd = log.indexOf('end pretrain');
    for (const id of ['features-random', 'linear-random-100pct-d0', 'finetune-random-100pct-d0']) expect(log.indexOf(`end ${id}`)).toBeLessThan(pretrainEnd);
    for (const id of ['features-moco', 'linear-moco-100pct-d0', 'finetune-moco-100pct-d0']) expect(log.indexOf(`start ${id}`)).toBeGreaterThan(pretrainEnd);
    expect(log.indexOf('start linear-moco-100pct-d0')).toBeGreaterThan(log.indexOf('end features-moco'));
    expect(log.filter((l) => l.startsWith('end'))).toHaveLength(jobs.length);
  });

  it('starts the costliest ready job first, so the 100% fine-tuning does not start last', async () => {
    const cfg = resolveConfig({ fractions: [0.01, 0.1, 1], draws: [2, 2, 1], protocols: ['finetune'], initialisations: ['random'] });
    const jobs = planGrid(cfg);
    const started: string[] = [];
    const epochs = (f: number) => protocolEpochs(cfg.finetune, f);
    await runScheduled(jobs, 1, async (job) => void started.push(job.id), (job) => jobCost(job, epochs));
    expect(started).toEqual(['finetune-random-100pct-d0', 'finetune-random-10pct-d0', 'finetune-random-10pct-d1', 'finetune-random-1pct-d0', 'finetune-random-1pct-d1']);
    const withPretrain = planGrid(resolveConfig({ fractions: [1], draws: [1] }));
    expect(jobCost(withPretrain[0], epochs)).toBe(Number.POSITIVE_INFINITY);
    expect(withPretrain.filter((j) => j.protocol === 'linear').map((j) => jobCost(j, epochs))).toEqual([0, 0]);
  });

  it('never runs more than `parallel` jobs at once', async () => {
    const jobs = planGrid(resolveConfig({ initialisations: ['random'], fractions: [0.1, 1], draws: [3, 1] }));
    let running = 0;
    let peak = 0;
    await runScheduled(jobs, 3, async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    });
    expect(peak).toBe(3);
  });

  it("skips a failed job's dependants, still runs the rest, then throws the failure", async () => {
    const jobs = planGrid(resolveConfig({ fractions: [1], draws: [1] }));
    const log: string[] = [];
    await expect(runScheduled(jobs, 1, timed({}, log, new Set(['pretrain'])))).rejects.toThrow('pretrain broke');
    const ended = log.filter((l) => l.startsWith('end')).map((l) => l.slice(4));
    expect(ended).toEqual(['pretrain', 'features-random', 'linear-random-100pct-d0', 'finetune-random-100pct-d0']);
  });
});

describe('resume', () => {
  it('skips finished cells and runs only the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-grid-'));
    const cfg = resolveConfig({ fractions: [0.1, 1], draws: [2, 1], protocols: ['finetune'] });
    const jobs = planGrid(cfg);
    const paths = writeJobSpecs(dir, jobs);
    expect(readJobSpec(paths[1])).toEqual(jobs[1]);
    // Pretend the pretraining and two cells finished in an earlier, interrupted run.
    for (const id of ['pretrain', 'finetune-moco-10pct-d0', 'finetune-random-100pct-d0']) {
      const job = jobs.find((j) => j.id === id)!;
      const run = new RunDir(jobDir(dir, job), 'x', 0);
      run.finish({ marker: id });
    }
    const { finished, remaining } = gridStatus(dir, jobs);
    expect(finished.map((j) => j.id)).toEqual(['pretrain', 'finetune-moco-10pct-d0', 'finetune-random-100pct-d0']);
    expect(remaining.map((j) => j.id)).toEqual(['finetune-moco-10pct-d1', 'finetune-moco-100pct-d0', 'finetune-random-10pct-d0', 'finetune-random-10pct-d1']);
    // Executing a finished job returns its stored results without running anything.
    const io = captureIo();
    const outcome = await executeJob(jobs[1], dir, io, []);
    expect(outcome).toMatchObject({ skipped: true, results: { marker: 'finetune-moco-10pct-d0' } });
    expect(io.text()).toContain('finetune-moco-10pct-d0: finished earlier, skipped');
  });

  it('never overwrites finished work, and refuses a different config in the same directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-rundir-'));
    const run = new RunDir(dir, 'pretrain', 1);
    run.writeConfig(resolveConfig({ seed: 1 }));
    run.finish({ loss: 1 });
    expect(() => run.finish({ loss: 2 })).toThrow(/results\.json exists: this run already finished; refusing to overwrite it/);
    const again = new RunDir(dir, 'pretrain', 1);
    expect(() => again.writeConfig(resolveConfig({ seed: 1, pretrain: { epochs: 3 } }))).toThrow(/holds a run made with a different config \(pretrain\.epochs differ\); use a new --out directory/);
    expect(() => again.writeConfig(resolveConfig({ seed: 1 }))).not.toThrow();
    // A grid may gain a protocol, and a config written before a setting existed still matches.
    expect(() => again.writeConfig(resolveConfig({ seed: 1, protocols: ['linear', 'finetune', 'logistic'] }))).not.toThrow();
    const { logistic: _added, ...older } = resolveConfig({ seed: 1 });
    const old = new RunDir(mkdtempSync(join(tmpdir(), 'runner-rundir-')), 'pretrain', 1);
    old.writeConfig(older);
    expect(() => old.writeConfig(resolveConfig({ seed: 1 }))).not.toThrow();
    expect(() => old.writeConfig(resolveConfig({ seed: 1, linear: { lr: 0.1 } }))).toThrow(/linear\.lr differ/);
  });

  it('never lets two processes run the same job: a live lock is refused, a dead one taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-lock-'));
    const jobs = planGrid(resolveConfig({ fractions: [1], draws: [1], protocols: ['finetune'] }));
    const cell = jobs.find((j) => j.id === 'finetune-random-100pct-d0')!;
    const cellDir = jobDir(dir, cell);
    mkdirSync(cellDir, { recursive: true });
    // Held by a live process on this machine (this one's parent): refused, nothing written.
    writeFileSync(join(cellDir, '.lock'), `${process.ppid}@${hostname()}`);
    await expect(executeJob(cell, dir, captureIo(), [])).rejects.toThrow(`${cellDir} is in use by process ${process.ppid}@${hostname()}`);
    expect(existsSync(join(cellDir, 'config.json'))).toBe(false);
    // Left by a process that is gone: taken over, and released when the run ends.
    const a = new RunDir(cellDir, 'x', 0);
    writeFileSync(join(cellDir, '.lock'), `999999999@${hostname()}`);
    a.lock();
    expect(readFileSync(join(cellDir, '.lock'), 'utf8')).toMatch(new RegExp(`^${process.pid}@${hostname()}#[0-9a-f]{12}$`));
    expect(() => new RunDir(cellDir, 'x', 0).lock()).toThrow(/is in use by process/);
    a.unlock();
    expect(existsSync(join(cellDir, '.lock'))).toBe(false);
  });

  it('lets only one process take over a given dead lock, however late the others act', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-lock-'));
    const dead = `999999998@${hostname()}#0123456789ab`;
    writeFileSync(join(dir, '.lock'), dead);
    // Two processes both read the dead lock; the first takes it over, works, and releases it.
    const first = new DirLock(dir);
    const late = new DirLock(dir);
    expect(first.takeOver(dead)).toBe(true);
    first.release();
    // A third process locks the free directory; the late one must not take over the dead lock now.
    const third = new DirLock(dir);
    third.acquire();
    expect(late.takeOver(dead)).toBe(false);
    expect(readFileSync(join(dir, '.lock'), 'utf8')).toBe(third.owner);
    expect(() => late.acquire()).toThrow(`${dir} is in use by process ${process.pid}@${hostname()}`);
    third.release();
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });

  it('publishes results.json exactly once: a duplicate run of a finished job writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-once-'));
    const a = new RunDir(dir, 'cell', 0);
    const b = new RunDir(dir, 'cell', 0);
    expect(a.tryFinish({ testAuroc: 0.75 })).toBe(true);
    expect(b.tryFinish({ testAuroc: 0.5 })).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'))).toEqual({ testAuroc: 0.75 });
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('validates a run-job spec like a config and keeps its output inside the experiment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-spec-'));
    const exp = join(dir, 'runs', 'exp');
    // A job that takes seconds, were it run.
    const cfg = resolveConfig({
      data: { imageSize: 16, valFraction: 0.3, synthetic: { train: 48, test: 8 } },
      backbone: { options: { widths: [4, 4, 4, 4], stemWidth: 4 } },
      initialisations: ['random'],
      protocols: ['finetune'],
      fractions: [1],
      finetune: { epochs: 1 },
    });
    const [path] = writeJobSpecs(exp, planGrid(cfg));
    const spec = JSON.parse(readFileSync(path, 'utf8')) as JobSpec;
    expect(readJobSpec(path)).toEqual(spec);
    const refused = async (edited: unknown, message: string | RegExp) => {
      writeFileSync(path, JSON.stringify(edited));
      const io = captureIo();
      expect((await runCli(['run-job', path], io)).exitCode).toBe(2);
      if (typeof message === 'string') expect(io.text()).toBe(`moco-cxr run-job: ${path}: ${message}\n`);
      else expect(io.text()).toMatch(message);
    };
    await refused({ ...spec, outDir: '../../escaped' }, `outDir: must be a directory inside the experiment ${exp}, got "../../escaped"`);
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    await refused({ ...spec, outDir: join(dir, 'abs') }, `outDir: must be a directory inside the experiment ${exp}, got "${join(dir, 'abs')}"`);
    await refused({ ...spec, outDir: '.' }, `outDir: must be a directory inside the experiment ${exp}, got "."`);
    expect(existsSync(join(dir, 'abs'))).toBe(false);
    expect(readdirSync(exp)).toEqual(['jobs']);
    await refused({ ...spec, config: { ...spec.config, finetune: { ...spec.config.finetune, epochs: 'abc' } } }, 'config.finetune.epochs: expected "paper" or a positive integer, got "abc"');
    await refused({ ...spec, config: { ...spec.config, pretrain: { ...spec.config.pretrain, epoch: 2 } } }, /: config\.pretrain\.epoch: unknown field \(did you mean "epochs"\?\)/);
    await refused({ ...spec, fraction: 2 }, 'fraction: expected a number in (0, 1], got 2');
    expect(readdirSync(exp)).toEqual(['jobs']);
  });

  it('rejects a job spec that is not one, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-spec-'));
    mkdirSync(join(dir, 'jobs'));
    const file = join(dir, 'jobs', 'x.json');
    writeFileSync(file, JSON.stringify({ version: 1, id: 'x', kind: 'cell', outDir: 'cells/x' }));
    expect(() => readJobSpec(file)).toThrow(`${file}: dependsOn: expected a list of job ids, got undefined; seed: expected an integer in [-2147483648, 4294967296], got undefined; config: expected an object with fields`);
    writeFileSync(file, JSON.stringify({ version: 1, id: 'x', kind: 'cell', dependsOn: [], outDir: 'cells/x', seed: 0, config: {} }));
    expect(() => readJobSpec(file)).toThrow(`${file}: a cell needs protocol, init, fraction and draw`);
  });
});
