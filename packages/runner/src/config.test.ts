import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MOCO_CXR_DEFAULTS } from '@moco-cxr/moco';
import { BOOTSTRAP_DEFAULTS } from '@moco-cxr/bootstrap';
import { drawsForFraction, LOGISTIC_L2_GRID, PROTOCOL_DEFAULTS } from '@moco-cxr/protocols';
import { mocoCxrAugment, mocoV2Augment } from '@moco-cxr/cxr-augment';
import { ConfigError, defaultConfig, loadConfig, readConfigFile, resolveConfig, seedsOf } from './config';
import { pretrainAugment } from './jobs/pretrain';
import { runCli } from './cli/main';
import { commands } from './cli/commands';
import { commandConfig, helpText, parseCommandArgs } from './cli/framework';
import { captureIo } from './test-support/io';

function problemsOf(partial: unknown): string[] {
  try {
    resolveConfig(partial);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}


describe('config validation', () => {
  it('fills every default from an empty config', () => {
    expect(resolveConfig({})).toEqual(defaultConfig());
    expect(defaultConfig().pretrain).toMatchObject({ queueSize: 24576, momentum: 0.999, temperature: 0.2, batchSize: 16, epochs: 20, stepEpochs: [12, 18, 24] });
    expect(defaultConfig().compare.replicates).toBe(500);
  });

  it("takes the paper's defaults from @moco-cxr/moco and @moco-cxr/protocols", () => {
    const d = defaultConfig();
    const m = MOCO_CXR_DEFAULTS;
    expect(d.pretrain).toMatchObject({ epochs: m.epochs, batchSize: m.batchSize, queueSize: m.queueSize, momentum: m.momentum, temperature: m.temperature, weightDecay: m.weightDecay, checkpointEvery: m.checkpointEvery, knnK: m.knnK });
    expect(m.schedule.kind).toBe('step');
    expect(d.pretrain.schedule).toBe(m.schedule.kind);
    expect(d.pretrain.stepEpochs).toEqual(m.schedule.kind === 'step' ? m.schedule.milestones : []);
    expect(d.logistic.l2).toEqual(LOGISTIC_L2_GRID);
    for (const p of [d.linear, d.finetune]) expect(p).toMatchObject({ lr: PROTOCOL_DEFAULTS.lr, batchSize: PROTOCOL_DEFAULTS.batchSize, epochs: 'paper', evalEvery: 'paper' });
    expect(d.draws).toEqual(d.fractions.map(drawsForFraction));
    expect(resolveConfig({ fractions: [0.05, 1, 0.5] }).draws).toEqual([0.05, 1, 0.5].map(drawsForFraction));
    expect(d.compare).toMatchObject(BOOTSTRAP_DEFAULTS);
    // Help text says the defaults it runs with, read from their packages.
    const help = (name: string) => helpText(commands.find((c) => c.name === name)!);
    expect(help('linear')).toContain(`Adam lr ${PROTOCOL_DEFAULTS.lr} (betas ${PROTOCOL_DEFAULTS.betas.join(', ')}), batch ${PROTOCOL_DEFAULTS.batchSize},`);
    expect(help('finetune')).toContain(`flip p = ${PROTOCOL_DEFAULTS.finetuneAugment.flipProbability} and rotation +-${PROTOCOL_DEFAULTS.finetuneAugment.rotation} deg`);
    expect(help('compare')).toContain(`bootstrap replicates (default ${BOOTSTRAP_DEFAULTS.replicates})`);
    // Each config gets its own lists: changing one changes neither the next nor the source.
    d.logistic.l2.push(5);
    d.pretrain.stepEpochs.push(30);
    expect(defaultConfig().logistic.l2).toEqual(LOGISTIC_L2_GRID);
    expect(LOGISTIC_L2_GRID).toHaveLength(5);
    expect(defaultConfig().pretrain.stepEpochs).toHaveLength(3);
  });

  it('resolves a resolved config to itself', () => {
    for (const partial of [{}, { fractions: [0.1, 1], imagenetWeights: 'w.pth', backbone: { name: 'densenet121', options: { growthRate: 8 } } }]) {
      const cfg = resolveConfig(partial);
      expect(resolveConfig(JSON.parse(JSON.stringify(cfg)))).toEqual(cfg);
    }
  });

  it('names unknown fields at any depth, and a config that is not an object', () => {
    expect(problemsOf({ linear: { epohcs: 3 } })).toEqual(['linear.epohcs: unknown field (did you mean "epochs"?); known fields here: lr, batchSize, epochs, maxEpochs, evalEvery']);
    const p = problemsOf({ sed: 1, data: { limit: { tran: 8 } } });
    expect(p).toHaveLength(2);
    expect(p).toContain('data.limit.tran: unknown field (did you mean "train"?); known fields here: train, test');
    expect(p.find((x) => x.startsWith('sed:'))).toMatch(/^sed: unknown field \(did you mean "seed"\?\); known fields here: seed, seeds, backend, threads, precision, data,/);
    expect(problemsOf({ data: { limit: { tran: 8 } }, zzzzzz: 1 })).toContain('zzzzzz: unknown field; known fields here: seed, seeds, backend, threads, precision, data, pretrainData, mocoWeights, backbone, initialisations, imagenetWeights, pretrain, protocols, fractions, draws, linear, finetune, logistic, compare');
    expect(problemsOf([1, 2])[0]).toMatch(/^config: expected an object with fields seed, seeds, backend, .*, got \[1, 2\]$/);
    expect(problemsOf({ data: 'x' })[0]).toMatch(/^data: expected an object with fields source, root, .*, got "x"$/);
  });

  it('takes training seeds as a list: absent means [seed]; an empty or repeating list is refused', () => {
    expect(seedsOf(resolveConfig({ seed: 4 }))).toEqual([4]);
    expect(resolveConfig({ seed: 4 }).seeds).toBeUndefined();
    expect(seedsOf(resolveConfig({ seed: 4, seeds: [0, 1, 2] }))).toEqual([0, 1, 2]);
    expect(problemsOf({ seeds: [] })).toEqual(['seeds: expected at least one entry']);
    expect(problemsOf({ seeds: [0, 1, 0] })).toEqual(['seeds: entries must not repeat, got [0, 1, 0]']);
    expect(problemsOf({ seeds: [0, 1.5] })).toEqual(['seeds[1]: expected an integer in [-2147483648, 4294967296], got 1.5']);
    expect(problemsOf({ seeds: 3 })).toEqual(['seeds: expected a list, got 3']);
  });

  it('names the field, the expected value and what was given', () => {
    expect(problemsOf({ pretrain: { epochs: 'ten' } })).toEqual(['pretrain.epochs: expected an integer in [1, 10000], got "ten"']);
    expect(problemsOf({ data: { imageSize: 8 } })).toEqual(['data.imageSize: expected an integer in [16, 1024], got 8']);
    expect(problemsOf({ data: { synthetic: { exposure: -1 } } })).toEqual(['data.synthetic.exposure: expected a number in [0, 100], got -1']);
    expect(problemsOf({ fractions: [0.1, 0] })).toEqual(['fractions[1]: expected a number in (0, 1], got 0']);
    expect(problemsOf({ protocols: ['linear', 'probe'] })).toEqual(['protocols[1]: expected one of "linear", "finetune", "logistic", got "probe"']);
    expect(problemsOf({ backend: 'gpu' })[0]).toMatch(/^backend: expected one of "auto", "tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu", got "gpu"$/);
  });

  it('suggests the field a typo meant and lists every problem at once', () => {
    const p = problemsOf({ pretrain: { epoch: 3, temperature: -1 }, seed: 1.5 });
    expect(p).toHaveLength(3);
    expect(p[0]).toBe(
      'pretrain.epoch: unknown field (did you mean "epochs"?); known fields here: epochs, batchSize, queueSize, momentum, temperature, lr, weightDecay, schedule, stepEpochs, monitorEvery, probeSize, knnK, checkpointEvery, augment',
    );
    expect(p).toContain('pretrain.temperature: expected a number in (0, 100], got -1');
    expect(p).toContain('seed: expected an integer in [-2147483648, 4294967296], got 1.5');
  });

  it('checks backbone.options with @moco-cxr/backbones: a typo or a bad width is named before anything runs', () => {
    expect(problemsOf({ backbone: { options: { widht: 32 } } })).toEqual([
      "backbone.options: unknown option 'widht' (did you mean 'widths'?); known options: inputShape, weights, weightsLayout, readOptions, seed, blocks, widths, stemWidth",
    ]);
    expect(problemsOf({ backbone: { options: { widths: [-4, 8, 8, 8] } } })).toEqual(['backbone.options: widths must be a list of 4 positive integers, got [-4,8,8,8]']);
    expect(problemsOf({ backbone: { name: 'densenet121', options: { stemWidth: 8 } } })[0]).toMatch(/^backbone\.options: option 'stemWidth' applies to ResNet only/);
    expect(problemsOf({ backbone: { options: [] } })).toEqual(['backbone.options: expected an object, got []']);
    expect(resolveConfig({ backbone: { name: 'densenet121', options: { growthRate: 8, blockConfig: [2, 2] } } }).backbone.options).toEqual({ growthRate: 8, blockConfig: [2, 2] });
  });

  it('checks rules across fields', () => {
    expect(problemsOf({ fractions: [0.01, 0.1], draws: [5, 5, 1] })).toEqual(['draws: has 3 entries but fractions has 2; give one per fraction or a single number']);
    expect(problemsOf({ data: { source: 'folder' } })[0]).toMatch(/^data\.root: required when data\.source is "folder"/);
    expect(problemsOf({ initialisations: ['imagenet', 'random'] })[0]).toMatch(/^initialisations: "imagenet" needs imagenetWeights/);
    expect(problemsOf({ initialisations: ['moco', 'imagenet'], imagenetWeights: 'w.pth', compare: { baseline: 'random' } })).toEqual(['compare.baseline: "random" is not one of initialisations ["moco", "imagenet"]']);
  });

  it("defaults draws to the paper's (5 per fraction, 1 at 100%) and adds the ImageNet baseline when weights are given", () => {
    expect(resolveConfig({ fractions: [0.001, 0.01, 1] }).draws).toEqual([5, 5, 1]);
    expect(resolveConfig({ imagenetWeights: 'resnet18.pth' }).initialisations).toEqual(['moco', 'imagenet', 'random']);
  });

  it("compares against ImageNet when it is in the grid (the paper's gaps are MoCo minus ImageNet), else random init", () => {
    expect(defaultConfig().compare.baseline).toBe('random');
    expect(resolveConfig({ imagenetWeights: 'resnet18.pth' }).compare.baseline).toBe('imagenet');
    expect(resolveConfig({ imagenetWeights: 'resnet18.pth', compare: { baseline: 'random' } }).compare.baseline).toBe('random');
    const cfg = resolveConfig({ imagenetWeights: 'resnet18.pth' });
    expect(resolveConfig(JSON.parse(JSON.stringify(cfg)))).toEqual(cfg);
  });

  it('reads YAML and JSON files, and names the file on syntax errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-config-'));
    writeFileSync(join(dir, 'a.yaml'), 'seed: 7\npretrain:\n  epochs: 2\nfractions: [0.5, 1]\n');
    const cfg = loadConfig(join(dir, 'a.yaml'));
    expect(cfg.seed).toBe(7);
    expect(cfg.pretrain.epochs).toBe(2);
    expect(cfg.pretrain.batchSize).toBe(16);
    expect(cfg.draws).toEqual([5, 1]);
    writeFileSync(join(dir, 'b.json'), '{"seed": 3,}');
    expect(() => loadConfig(join(dir, 'b.json'))).toThrow(new RegExp(`^${join(dir, 'b.json').replace(/[/.]/g, '\\$&')}: not valid JSON`));
    writeFileSync(join(dir, 'c.yml'), 'linear:\n  lr: fast\n');
    expect(() => loadConfig(join(dir, 'c.yml'))).toThrow(`${join(dir, 'c.yml')}: linear.lr: expected a number in (0, 10], got "fast"`);
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(`${join(dir, 'missing.yaml')}: cannot read the file (ENOENT)`);
    writeFileSync(join(dir, 'd.toml'), 'seed = 1');
    expect(() => loadConfig(join(dir, 'd.toml'))).toThrow(/unknown config format "\.toml"/);
  });
});

describe('CLI usage errors', () => {
  it('extends another config file: objects merge, lists replace, cycles and bad paths are named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-extends-'));
    writeFileSync(join(dir, 'base.yaml'), 'seed: 5\ndata: { imageSize: 64, valFraction: 0.2 }\nfractions: [0.01, 0.1, 1]\n');
    writeFileSync(join(dir, 'small.yaml'), 'extends: base.yaml\ndata: { imageSize: 24 }\nfractions: [1]\n');
    const cfg = loadConfig(join(dir, 'small.yaml'));
    expect(cfg.seed).toBe(5);
    expect(cfg.data).toMatchObject({ imageSize: 24, valFraction: 0.2 });
    expect(cfg.fractions).toEqual([1]);
    expect(cfg.draws).toEqual([1]);
    writeFileSync(join(dir, 'a.yaml'), 'extends: b.yaml\n');
    writeFileSync(join(dir, 'b.yaml'), 'extends: a.yaml\n');
    expect(() => loadConfig(join(dir, 'a.yaml'))).toThrow(/a\.yaml: extends: b\.yaml leads back to this file \(\S*a\.yaml -> \S*b\.yaml -> \S*a\.yaml\)/);
    writeFileSync(join(dir, 'c.yaml'), 'extends: missing.yaml\n');
    expect(() => loadConfig(join(dir, 'c.yaml'))).toThrow(/missing\.yaml: cannot read the file \(ENOENT\)/);
    // The shipped CI-sized config is the study's own, shrunk.
    const study = loadConfig(new URL('../examples/kermany.yaml', import.meta.url).pathname);
    const tiny = loadConfig(new URL('../examples/tiny-kermany.yaml', import.meta.url).pathname);
    expect({ ...tiny, data: undefined, backbone: undefined, pretrain: undefined, seed: 0, threads: 0, fractions: [], draws: [], linear: undefined, finetune: undefined, compare: undefined })
      .toEqual({ ...study, data: undefined, backbone: undefined, pretrain: undefined, seed: 0, threads: 0, fractions: [], draws: [], linear: undefined, finetune: undefined, compare: undefined });
    expect(tiny.protocols).toEqual(study.protocols);
    expect(tiny.pretrain.temperature).toBe(study.pretrain.temperature);
  });

  it('exits 2 with one line naming the field for a bad config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-cli-'));
    const file = join(dir, 'exp.yaml');
    writeFileSync(file, 'pretrain:\n  queueSize: many\n');
    const io = captureIo();
    const r = await runCli(['experiment', '--config', file, '--out', join(dir, 'out')], io);
    expect(r.exitCode).toBe(2);
    expect(io.text()).toBe(`moco-cxr experiment: ${file}: pretrain.queueSize: expected an integer in [1, 10000000], got "many"\n`);
  });

  it('refuses --epochs 0 before writing anything, so the corrected command then runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-epochs-'));
    const file = join(dir, 'tiny.json');
    // A pretraining that takes seconds: a few synthetic images at 16 px, a narrow ResNet18.
    writeFileSync(
      file,
      JSON.stringify({
        data: { imageSize: 16, valFraction: 0.3, synthetic: { train: 48, test: 8 } },
        backbone: { options: { widths: [4, 4, 4, 4], stemWidth: 4 } },
        pretrain: { batchSize: 8, queueSize: 8, monitorEvery: 0, checkpointEvery: 100 },
      }),
    );
    const out = join(dir, 'pre');
    let io = captureIo();
    const bad = await runCli(['pretrain', '--config', file, '--epochs', '0', '--out', out], io);
    expect(bad.exitCode).toBe(2);
    expect(io.text()).toBe(`moco-cxr pretrain: ${file} (with command-line overrides): pretrain.epochs: expected an integer in [1, 10000], got 0\n`);
    expect(existsSync(out)).toBe(false);
    io = captureIo();
    const good = await runCli(['pretrain', '--config', file, '--epochs', '1', '--out', out], io);
    expect(io.text()).not.toMatch(/different config/);
    expect(good.exitCode, io.text()).toBe(0);
    expect(readdirSync(out)).toContain('results.json');
  }, 120_000);

  it('reports a negative flag value as a bad value, not as an ambiguous flag', async () => {
    const io = captureIo();
    const dir = mkdtempSync(join(tmpdir(), 'runner-neg-'));
    expect((await runCli(['pretrain', '--epochs', '-1', '--out', join(dir, 'pre')], io)).exitCode).toBe(2);
    expect(io.text()).toBe('moco-cxr pretrain: command-line options: pretrain.epochs: expected an integer in [1, 10000], got -1\n');
    expect(existsSync(join(dir, 'pre'))).toBe(false);
    // A negative seed is a value, for long and short flags alike; a missing value is still named.
    const linear = commands.find((c) => c.name === 'linear')!;
    expect(parseCommandArgs(linear, ['--seed', '-3', '-f', '-0.5', '-o', 'x']).values).toMatchObject({ seed: '-3', fraction: '-0.5', out: 'x' });
    expect(() => parseCommandArgs(linear, ['--seed', '--out', 'x'])).toThrow(/--seed/);
  });

  it('exits 2 on an unknown flag or command, 0 with --help', async () => {
    let io = captureIo();
    expect((await runCli(['linear', '--fractoin', '0.1'], io)).exitCode).toBe(2);
    expect(io.text()).toMatch(/^moco-cxr linear: Unknown option '--fractoin'.*\(see moco-cxr linear --help\)\n$/);
    io = captureIo();
    expect((await runCli(['pretrian'], io)).exitCode).toBe(2);
    expect(io.text()).toMatch(/^moco-cxr: unknown command "pretrian"; commands: demo, experiment, pretrain/);
    io = captureIo();
    expect((await runCli(['finetune', '--help'], io)).exitCode).toBe(0);
    expect(io.stdout()).toMatch(/^moco-cxr finetune: end-to-end protocol/);
    expect(io.stdout()).toContain('--config <file>');
    expect(io.stdout()).toContain('Examples:');
    io = captureIo();
    expect((await runCli(['linear', '--seed', 'x', '--out', '/tmp/x'], io)).exitCode).toBe(2);
    expect(io.text()).toBe('moco-cxr linear: --seed: expected an integer, got "x"\n');
  });

  it('data sources: a root needs a source, a source needs a root, per-source options fit their source', () => {
    expect(problemsOf({ data: { root: '/data/chexpert' } })).toEqual(['data.source: required with data.root ("/data/chexpert"): one of "chexpert", "nih", "nlm-tb", "folder", "dicom", "synthetic"']);
    expect(problemsOf({ data: { source: 'nih' } })[0]).toMatch(/^data\.root: required when data\.source is "nih" \(the ChestX-ray14 directory/);
    expect(problemsOf({ data: { source: 'synthetic', root: '/x' } })[0]).toMatch(/^data\.root: the synthetic source reads no files/);
    expect(problemsOf({ data: { source: 'nih', root: '/x', chexpert: { frontalOnly: false }, nlmTb: { sets: ['shenzhen'] } } })).toEqual([
      'data.chexpert: applies to data.source "chexpert" only, but the source is "nih"',
      'data.nlmTb: applies to data.source "nlm-tb" only, but the source is "nih"',
    ]);
    expect(problemsOf({ data: { source: 'chexpert', root: '/x', chexpert: { uncertainty: { Edema: 'maybe' } } } })[0]).toMatch(/^data\.chexpert\.uncertainty/);
    // Task names the dataset fixes are checked before any image is read, with the nearest one.
    expect(problemsOf({ data: { source: 'chexpert', root: '/x', tasks: ['Edema', 'Pleural Efusion'] } })).toEqual([
      'data.tasks[1]: "Pleural Efusion" is not a task of the CheXpert data (did you mean "Pleural Effusion"?); its tasks are No Finding, Enlarged Cardiomediastinum, Cardiomegaly, Lung Opacity, Lung Lesion, Edema, Consolidation, Pneumonia, Atelectasis, Pneumothorax, Pleural Effusion, Pleural Other, Fracture, Support Devices',
    ]);
    expect(problemsOf({ data: { source: 'chexpert', root: '/x', chexpert: { uncertainty: { Atelectsis: 'ones', default: 'ignore' } } } })[0]).toMatch(/^data\.chexpert\.uncertainty\.Atelectsis: "Atelectsis" is not a task of the CheXpert data \(did you mean "Atelectasis"\?\)/);
    expect(problemsOf({ data: { source: 'nih', root: '/x', tasks: ['Pleural Effusion'] } })[0]).toMatch(/^data\.tasks\[0\]: "Pleural Effusion" is not a task of the NIH ChestX-ray14 data; its tasks are Atelectasis, /);
    expect(problemsOf({ pretrainData: { source: 'nlm-tb', root: '/y', tasks: ['TB'] } })).toEqual(['pretrainData.tasks[0]: "TB" is not a task of the NLM TB data; its tasks are Tuberculosis']);
    expect(problemsOf({ data: { source: 'nlm-tb', root: '/x', nlmTb: { sets: ['china'] } } })[0]).toMatch(/^data\.nlmTb\.sets\[0\]: expected one of "shenzhen", "montgomery", got "china"/);
    expect(problemsOf({ pretrainData: { root: '/x' } })[0]).toMatch(/^pretrainData\.source: required with pretrainData\.root/);
    expect(problemsOf({ pretrainData: { source: 'synthetic', imageSize: 32 } })[0]).toBe('pretrainData.imageSize: 32 differs from data.imageSize 64; one backbone input size serves both');
    expect(problemsOf({ mocoWeights: 'runs/pre', initialisations: ['random'], compare: { baseline: 'random' } })[0]).toMatch(/^mocoWeights: only used by the "moco" initialisation/);
    expect(problemsOf({ pretrain: { augment: { size: 32 } } })[0]).toBe("pretrain.augment.size: 32 must equal data.imageSize 64 (the backbone's input)");
    // moco-cxr-crop (the default) crops back to imageSize itself; without size another preset's views come out
    // at the resize: refused here, not after the initial probe.
    expect(pretrainAugment(resolveConfig({ pretrain: { augment: { resize: 80 } } }))).toMatchObject({ resize: 80, size: 64 });
    expect(problemsOf({ pretrain: { augment: { preset: 'moco-cxr', resize: 72, crop: 'random' } } })).toEqual(['pretrain.augment.size: missing: with resize 72 the views are 72 px but the backbone takes data.imageSize 64; add size: 64 to crop them to it']);
    expect(resolveConfig({ pretrain: { augment: { resize: 72, size: 64, crop: 'random' } } }).pretrain.augment).toMatchObject({ resize: 72, size: 64 });
    expect(resolveConfig({ pretrain: { augment: { resize: 64 } } }).pretrain.augment).toMatchObject({ resize: 64 });
    expect(problemsOf({ pretrain: { augment: { preset: 'simclr' } } })[0]).toMatch(/^pretrain\.augment\.preset: expected one of "moco-cxr-crop", "moco-cxr", "moco-v2"/);
    // Per-source defaults fill in only where the block is given, so a resolved config resolves to itself.
    const cfg = resolveConfig({ data: { source: 'chexpert', root: '/x', chexpert: { uncertainty: { Atelectasis: 'ones', default: 'ignore' } } }, pretrainData: { source: 'nlm-tb', root: '/y' }, pretrain: { augment: { preset: 'moco-v2', rotation: 5 } } });
    expect(cfg.data.chexpert).toEqual({ trainCsv: 'CheXpert-v1.0-small/train.csv', testCsv: 'CheXpert-v1.0-small/valid.csv', uncertainty: { Atelectasis: 'ones', default: 'ignore' }, frontalOnly: true });
    expect(cfg.data.nih).toBeUndefined();
    expect(cfg.pretrainData).toMatchObject({ source: 'nlm-tb', root: '/y', imageSize: 64 });
    expect(resolveConfig(JSON.parse(JSON.stringify(cfg)))).toEqual(JSON.parse(JSON.stringify(cfg)));
  });

  it("pretrain.augment: the reference's crop + the paper's views by default, the preset's with the config's fields over them", () => {
    // Default imageSize 64: resize to 72, random 64 crop (the PyTorch reference's views), then flip and rotation.
    expect(pretrainAugment(defaultConfig())).toEqual({ ...mocoCxrAugment, resize: 72, size: 64 });
    expect(pretrainAugment(resolveConfig({ data: { imageSize: 320 } }))).toEqual({ ...mocoCxrAugment, resize: 360, size: 320 });
    expect(pretrainAugment(resolveConfig({ pretrain: { augment: { preset: 'moco-cxr' } } }))).toEqual({ ...mocoCxrAugment });
    const v2 = pretrainAugment(resolveConfig({ pretrain: { augment: { preset: 'moco-v2', rotation: 5, colorJitter: { brightness: 0.2, contrast: 0.3, probability: 1 } } } }));
    expect(v2).toEqual({ ...mocoV2Augment, rotation: 5, colorJitter: { brightness: 0.2, contrast: 0.3, probability: 1, clip: [0, 1] } });
    const paper = pretrainAugment(resolveConfig({ data: { imageSize: 32 }, pretrain: { augment: { preset: 'moco-cxr', resize: 40, size: 32, flipProbability: 0, blur: { sigma: [0.1, 1], probability: 0.5 } } } }));
    expect(paper).toEqual({ ...mocoCxrAugment, resize: 40, size: 32, flipProbability: 0, blur: { sigma: [0.1, 1], probability: 0.5 } });
  });

  it('the example configs resolve to the paper settings they name', () => {
    const ex = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
    const chexpert = loadConfig(ex('chexpert.yaml'));
    expect(chexpert.data).toMatchObject({ source: 'chexpert', imageSize: 224, tasks: ['Pleural Effusion', 'Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema'], chexpert: { uncertainty: 'ignore', frontalOnly: true } });
    expect([chexpert.backbone.name, chexpert.fractions, chexpert.draws]).toEqual(['resnet18', [0.001, 0.01, 0.1, 1], [5, 5, 5, 1]]);
    expect(chexpert.pretrain).toMatchObject({ epochs: 20, batchSize: 16, queueSize: 24576, temperature: 0.2 });
    // DenseNet121, the paper's other backbone: the same file with --backbone densenet121, as its header says.
    const dense = commandConfig({ io: captureIo(), argv: [], positionals: [], values: { config: ex('chexpert.yaml'), backbone: 'densenet121' } });
    const asGiven = commandConfig({ io: captureIo(), argv: [], positionals: [], values: { config: ex('chexpert.yaml') } });
    expect({ ...dense, backbone: asGiven.backbone }).toEqual(asGiven);
    expect(dense.backbone).toEqual({ name: 'densenet121', options: {} });
    expect(existsSync(ex('chexpert-densenet121.yaml'))).toBe(false);
    expect(loadConfig(ex('chexpert.yaml')).initialisations).toEqual(['moco', 'random']);
    expect(resolveConfig({ ...(readConfigFile(ex('chexpert.yaml')) as object), imagenetWeights: 'r18.pth' })).toMatchObject({ initialisations: ['moco', 'imagenet', 'random'], compare: { baseline: 'imagenet' } });
    expect(resolveConfig({ ...(readConfigFile(ex('shenzhen-transfer.yaml')) as object), imagenetWeights: 'r18.pth' })).toMatchObject({ initialisations: ['moco', 'imagenet', 'random'], compare: { baseline: 'imagenet' } });
    expect(chexpert.compare.baseline).toBe('random');
    const transfer = loadConfig(ex('shenzhen-transfer.yaml'));
    expect(transfer.data).toMatchObject({ source: 'nlm-tb', imageSize: 224, nlmTb: { sets: ['shenzhen'] } });
    expect(transfer.pretrainData).toMatchObject({ source: 'chexpert', imageSize: 224, tasks: ['Pleural Effusion'] });
    expect([transfer.fractions, transfer.draws]).toEqual([[0.0625, 0.25, 1], [8, 4, 1]]);
    // Issue 23's study: the Kermany grid at the reference's 44 epochs, three seeds, end to end uncapped.
    const k44 = loadConfig(ex('kermany-44.yaml'));
    expect(k44).toMatchObject({ seeds: [0, 1, 2], protocols: ['linear', 'logistic', 'finetune'], fractions: [0.01, 0.1, 1], draws: [5, 5, 1] });
    expect(k44.pretrain).toMatchObject({ epochs: 44, batchSize: 32, queueSize: 4096, temperature: 0.2, lr: 0.0005 });
    expect(k44.finetune).toMatchObject({ epochs: 'paper', maxEpochs: 0 });
    expect(k44.data).toEqual(loadConfig(ex('kermany.yaml')).data);
    for (const name of ['chexpert.yaml', 'shenzhen-transfer.yaml']) {
      expect(readFileSync(ex(name), 'utf8')).toContain(`npx moco-cxr experiment --config packages/runner/examples/${name}`);
    }
    expect(readFileSync(ex('chexpert.yaml'), 'utf8')).toContain('npx moco-cxr experiment --config packages/runner/examples/chexpert.yaml --out runs/chexpert-resnet18');
    expect(readFileSync(ex('chexpert.yaml'), 'utf8')).toContain('npx moco-cxr experiment --config packages/runner/examples/chexpert.yaml --backbone densenet121 --out runs/chexpert-densenet121');
  });
});
