// data.source: dicom end to end, on a PACS-like export built in the test run from Kermany images with
// pydicom and dcmtk (packages/cxr-data/src/test-support/dicom/make-archive.py): mixed transfer syntaxes, 8 to 16 bits
// stored, MONOCHROME1 and 2, a structured report, a CT slice, a lateral view and a text file to skip.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';
import { patientSalt } from './dicom-source';

const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const MAKE_ARCHIVE = fileURLToPath(new URL('../../cxr-data/src/test-support/dicom/make-archive.py', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/dicom.yaml', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'runner-dicom-'));
const archive = join(dir, 'archive');
let secrets: string[] = [];

beforeAll(() => {
  const r = spawnSync('/usr/bin/python3', [MAKE_ARCHIVE, archive, KERMANY, '24', '32'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make-archive.py failed (exit ${r.status}); it needs apt packages dcmtk python3-pydicom python3-numpy python3-pil and the Kermany data at ${KERMANY}:\n${r.stderr}`);
  const s = JSON.parse(readFileSync(`${archive}.secrets.json`, 'utf8')) as { patientIds: string[]; patientNames: string[] };
  // PatientName as written in the files (PN components) and as a person would read it.
  secrets = [...s.patientIds, ...s.patientNames, ...s.patientNames.map((n) => n.replace(/\^/g, ' '))];
  expect(secrets.length).toBeGreaterThan(40);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** examples/dicom.yaml on the archive, at CI size (as tiny-kermany.yaml is to kermany.yaml). */
function tinyConfig(data = '', dicom = ''): string {
  const file = join(dir, `dicom-tiny-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `extends: ${JSON.stringify(EXAMPLE)}
seed: 1
threads: 0
data: { root: ${JSON.stringify(archive)}, imageSize: 24, valFraction: 0.25, dicom: { testFraction: 0.3${dicom} }${data} }
backbone: { options: { widths: [8, 16, 32, 64], blocks: [1, 1, 1, 1], stemWidth: 8 } }
pretrain: { epochs: 1, batchSize: 8, queueSize: 16, probeSize: 8, knnK: 3, checkpointEvery: 4 }
protocols: [linear, finetune]
fractions: [0.5, 1]
draws: [1, 1]
linear: { lr: 0.001, maxEpochs: 2 }
finetune: { maxEpochs: 1 }
compare: { replicates: 50 }
`,
  );
  return file;
}

/** Every file under `d`, recursively. */
function allFiles(d: string): string[] {
  return readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? allFiles(join(d, n)) : [join(d, n)]));
}

describe('data.source: dicom', () => {
  it('`moco-cxr data` shows the views, modalities, bits stored and photometric interpretations found, and names every file skipped', async () => {
    const out = join(dir, 'data');
    const io = captureIo();
    const r = await runCli(['data', '--config', tinyConfig(), '--out', out], io);
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    const text = io.text();
    expect(text).toMatch(/DICOM folder .*archive \(\d+ radiographs, frontal views, labels labels\.csv, test 30% of patients; 4 files skipped\)/);
    expect(text).toMatch(/views: PA 3\d, AP \d+/);
    expect(text).toMatch(/modalities: DX \d+, CR \d+/);
    expect(text).toMatch(/bits stored: .*8 \d+.*, 10 \d+.*12 \d+.*16 \d+|bits stored: .*16 \d+/);
    expect(text).toMatch(/photometric interpretations: MONOCHROME2 \d+, MONOCHROME1 \d+/);
    expect(text).toMatch(/transfer syntaxes: .*JPEG-LS lossless.*RLE lossless/);
    expect(text).toMatch(/files skipped: 4\n {2}export-notes\.txt: not a DICOM file[^\n]*\n {2}other\/ct\.dcm: modality CT is not a radiograph modality[^\n]*\n {2}other\/lateral\.dcm: view LL is not frontal[^\n]*\n {2}other\/report\.dcm: not an image: structured report/);
    const summary = JSON.parse(readFileSync(join(out, 'data-summary.json'), 'utf8'));
    expect(summary.dicom.bitsStored).toEqual({ 8: 12, 10: 6, 12: 12, 16: 18 });
    expect(summary.dicom.photometricInterpretations).toEqual({ MONOCHROME1: 12, MONOCHROME2: 36 });
    expect(summary.splits.test.images + summary.splits.train.images + summary.splits.val.images).toBe(48);
    expect(summary.patientsInTwoSplits).toBe(0);
    expect(summary.skipped).toEqual([]);
  });

  it('examples/dicom.yaml runs an experiment on the DICOM export, and no file of the run directory holds a PatientID or PatientName', async () => {
    const out = join(dir, 'exp');
    const io = captureIo();
    const r = await runCli(['experiment', '--config', tinyConfig(), '--out', out], io);
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    const cmp = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8'));
    expect(cmp.rows.map((row: { protocol: string; fraction: number }) => `${row.protocol} ${row.fraction}`)).toEqual(['linear 0.5', 'linear 1', 'finetune 0.5', 'finetune 1']);
    const files = allFiles(out);
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.includes(`${join(out, 'cache')}`))).toBe(true);
    const leaks: string[] = [];
    for (const f of files) {
      const text = readFileSync(f).toString('latin1');
      for (const s of secrets) if (text.includes(s)) leaks.push(`${f}: ${s}`);
    }
    expect(leaks).toEqual([]);
    // Scores are by patient key, never by ID.
    const scores = readFileSync(join(out, 'cells', 'finetune-moco-100pct-d0', 'scores.csv'), 'utf8').split('\n');
    expect(scores[0]).toBe('path,patient,study,label,score');
    expect(scores[1]).toMatch(/^[^,]+,patient-[0-9a-f]{20},study-[0-9a-f]{20},[01],/);
    expect(io.text()).not.toMatch(/SECRET/);
    // A patient's images share a study here: test scores are per study, under study keys (the same in every job's process).
    const byStudy = JSON.parse(readFileSync(join(out, 'cells', 'linear-random-50pct-d0', 'scores.json'), 'utf8'));
    expect(byStudy.level).toBe('study');
    expect(byStudy.ids.every((id: string) => /^study-[0-9a-f]{20}$/.test(id))).toBe(true);
  });

  it('MOCO_CXR_PATIENT_SALT keys patients when set (at least 8 characters); unset, cxr-data derives the salt from the files (splits never depend on it: cxr-data sources.test.ts)', () => {
    const before = process.env.MOCO_CXR_PATIENT_SALT;
    try {
      delete process.env.MOCO_CXR_PATIENT_SALT;
      expect(patientSalt()).toBeUndefined();
      process.env.MOCO_CXR_PATIENT_SALT = 'first-salt-abcdefgh';
      expect(patientSalt()).toBe('first-salt-abcdefgh');
      process.env.MOCO_CXR_PATIENT_SALT = 'short';
      expect(() => patientSalt()).toThrow(/MOCO_CXR_PATIENT_SALT: the salt of patient keys must be at least 8 characters/);
    } finally {
      if (before === undefined) delete process.env.MOCO_CXR_PATIENT_SALT;
      else process.env.MOCO_CXR_PATIENT_SALT = before;
    }
  });

  it('config errors name the field: a missing labels CSV, a task not in it', async () => {
    const io = captureIo();
    const r = await runCli(['data', '--config', tinyConfig('', ', labels: nowhere.csv'), '--out', join(dir, 'bad')], io);
    expect(r.exitCode).not.toBe(0);
    expect(io.text()).toMatch(/data\.dicom\.labels: .*nowhere\.csv does not exist/);
    const io2 = captureIo();
    const r2 = await runCli(['data', '--config', tinyConfig(', tasks: [Effusion]'), '--out', join(dir, 'bad2')], io2);
    expect(r2.exitCode).not.toBe(0);
    expect(io2.text()).toMatch(/data\.tasks: "Effusion" not among the task columns of labels\.csv \(Pneumonia\)/);
    const io3 = captureIo();
    const r3 = await runCli(['data', '--config', tinyConfig(', folder: { patientPattern: kermany }'), '--out', join(dir, 'bad3')], io3);
    expect(r3.exitCode).toBe(2);
    expect(io3.text()).toMatch(/data\.folder: applies to data\.source "folder" only, but the source is "dicom"/);
  });
});
