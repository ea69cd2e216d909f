// Fixture datasets in the CheXpert, NIH ChestX-ray14 and NLM TB layouts, built from real Kermany radiographs
// in a temp dir (nothing is committed). Kermany PNEUMONIA images stand in for the positive class of the
// main task (Pleural Effusion, Effusion, Tuberculosis), so a model can learn it; other labels are assigned
// by a fixed rule. Used by cxr-data's and the runner's tests.
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Jimp } from 'jimp';
import { CHEXPERT_TASKS } from '../chexpert';

interface Source {
  file: string;
  positive: boolean;
}

/** Kermany train images alternately NORMAL / PNEUMONIA, `count` in all, in file-name order (deterministic). */
function kermanyImages(kermanyDir: string, count: number): { normal: string[]; pneumonia: string[] } {
  const list = (cls: string) =>
    readdirSync(join(kermanyDir, 'train', cls))
      .filter((f) => /\.jpe?g$/i.test(f))
      .sort()
      .map((f) => join(kermanyDir, 'train', cls, f));
  const half = Math.ceil(count / 2) + 8;
  return { normal: list('NORMAL').slice(0, half), pneumonia: list('PNEUMONIA').slice(0, half) };
}

class Picker {
  private n = 0;
  private p = 0;
  constructor(private readonly pool: { normal: string[]; pneumonia: string[] }) {}
  next(positive: boolean): Source {
    const list = positive ? this.pool.pneumonia : this.pool.normal;
    const i = positive ? this.p++ : this.n++;
    if (i >= list.length) throw new Error(`fixture: ran out of Kermany ${positive ? 'PNEUMONIA' : 'NORMAL'} images (${list.length})`);
    return { file: list[i], positive };
  }
}

function place(src: string, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(src, dest);
}

async function placePng(src: string, dest: string): Promise<void> {
  mkdirSync(dirname(dest), { recursive: true });
  const image = await Jimp.read(src);
  writeFileSync(dest, await image.getBuffer('image/png'));
}

export interface CheXpertFixture {
  /** The data root: the CSVs' `Path` column is relative to it. */
  root: string;
  trainCsv: string;
  validCsv: string;
  /** Rows written to train.csv (lateral ones included), and the frontal images among them. */
  trainRows: number;
  trainFrontal: number;
}

const label = (v: 1 | 0 | -1 | '') => (v === '' ? '' : v === -1 ? '-1.0' : `${v}.0`);

/**
 * `<dir>/CheXpert-v1.0-small/{train,valid}.csv` and `train/patientNNNNN/studyM/viewK_{frontal,lateral}.jpg`.
 * Train: `patients` patients; every 4th has two studies; every 3rd study has two frontal images; every
 * 2nd a lateral. Valid: every 3rd study has two frontal images. Pleural Effusion is 1 on PNEUMONIA images, uncertain (-1) on every 5th study, blank on
 * every 7th; the other competition tasks cycle through 1, 0, -1 and blank. Valid: `validPatients`
 * patients, one frontal image each, no uncertain labels (as CheXpert's valid set).
 */
export function writeCheXpertFixture(dir: string, kermanyDir: string, options: { patients?: number; validPatients?: number } = {}): CheXpertFixture {
  const patients = options.patients ?? 24;
  const validPatients = options.validPatients ?? 12;
  const pick = new Picker(kermanyImages(kermanyDir, patients * 4 + validPatients * 2 + 8));
  const header = `Path,Sex,Age,Frontal/Lateral,AP/PA,${CHEXPERT_TASKS.join(',')}`;
  const others: Record<string, (s: number) => 1 | 0 | -1 | ''> = {
    Atelectasis: (s) => ([1, 0, 0, -1, ''] as const)[s % 5],
    Cardiomegaly: (s) => ([0, 1, '', 0, -1, 1] as const)[s % 6],
    Consolidation: (s) => ([0, 0, 1, -1] as const)[s % 4],
    Edema: (s) => ([1, -1, 0, 0, 0, '', 1] as const)[s % 7],
  };
  const row = (path: string, p: number, view: 'Frontal' | 'Lateral', labels: Record<string, 1 | 0 | -1 | ''>) =>
    [path, p % 2 ? 'Male' : 'Female', 40 + (p % 37), view, view === 'Lateral' ? '' : p % 3 ? 'AP' : 'PA', ...CHEXPERT_TASKS.map((t) => label(labels[t] ?? ''))].join(',');
  const base = join(dir, 'CheXpert-v1.0-small');
  const train: string[] = [];
  let study = 0;
  let frontal = 0;
  for (let p = 1; p <= patients; p++) {
    const studies = p % 4 === 0 ? 2 : 1;
    for (let st = 1; st <= studies; st++, study++) {
      const positive = study % 2 === 1;
      const labels: Record<string, 1 | 0 | -1 | ''> = { 'Pleural Effusion': study % 5 === 4 ? -1 : study % 7 === 6 ? '' : positive ? 1 : 0 };
      for (const [t, f] of Object.entries(others)) labels[t] = f(study);
      const views = study % 3 === 0 ? ['view1_frontal', 'view2_frontal'] : ['view1_frontal'];
      if (study % 2 === 0) views.push(`view${views.length + 1}_lateral`);
      for (const v of views) {
        const path = `CheXpert-v1.0-small/train/patient${String(p).padStart(5, '0')}/study${st}/${v}.jpg`;
        place(pick.next(positive).file, join(dir, path));
        const lateral = v.endsWith('lateral');
        if (!lateral) frontal++;
        train.push(row(path, p, lateral ? 'Lateral' : 'Frontal', labels));
      }
    }
  }
  const valid: string[] = [];
  for (let p = 1; p <= validPatients; p++) {
    const positive = p % 2 === 0;
    const labels: Record<string, 1 | 0 | -1 | ''> = { 'Pleural Effusion': positive ? 1 : 0 };
    for (const [t, f] of Object.entries(others)) labels[t] = f(p + 1) === -1 || f(p + 1) === '' ? 0 : f(p + 1);
    // Every 3rd valid study has two frontal images: its prediction is the max over them.
    for (const v of p % 3 === 0 ? ['view1_frontal', 'view2_frontal'] : ['view1_frontal']) {
      const path = `CheXpert-v1.0-small/valid/patient${String(64540 + p).padStart(5, '0')}/study1/${v}.jpg`;
      place(pick.next(positive).file, join(dir, path));
      valid.push(row(path, p, 'Frontal', labels));
    }
  }
  mkdirSync(base, { recursive: true });
  const trainCsv = join(base, 'train.csv');
  const validCsv = join(base, 'valid.csv');
  writeFileSync(trainCsv, [header, ...train].join('\n') + '\n');
  writeFileSync(validCsv, [header, ...valid].join('\n') + '\n');
  return { root: dir, trainCsv, validCsv, trainRows: train.length, trainFrontal: frontal };
}

export interface NihFixture {
  root: string;
  csv: string;
  trainValList: string;
  testList: string;
  images: number;
  testImages: number;
}

/**
 * `<dir>/Data_Entry_2017_v2020.csv`, `train_val_list.txt`, `test_list.txt` and `images_001/images/*.png`
 * (Kermany JPEGs re-encoded as PNG). Patient p has 1 + (p % 3) follow-ups; PNEUMONIA images carry
 * `Effusion` (every 3rd with `|Infiltration`), NORMAL ones `No Finding` (every 4th `Nodule`). The last
 * quarter of the patients are the test list.
 */
export async function writeNihFixture(dir: string, kermanyDir: string, options: { patients?: number } = {}): Promise<NihFixture> {
  const patients = options.patients ?? 16;
  const pick = new Picker(kermanyImages(kermanyDir, patients * 3 + 8));
  const header = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],';
  const rows: string[] = [];
  const trainList: string[] = [];
  const testList: string[] = [];
  const testFrom = Math.floor(patients * 0.75) + 1;
  let n = 0;
  for (let p = 1; p <= patients; p++) {
    const followUps = 1 + (p % 3);
    for (let f = 0; f < followUps; f++, n++) {
      const positive = (p + f) % 2 === 0;
      const findings = positive ? (n % 3 === 0 ? 'Effusion|Infiltration' : 'Effusion') : n % 4 === 0 ? 'Nodule' : 'No Finding';
      const image = `${String(p).padStart(8, '0')}_${String(f).padStart(3, '0')}.png`;
      await placePng(pick.next(positive).file, join(dir, 'images_001', 'images', image));
      rows.push(`${image},${findings},${f},${p},${String(30 + (p % 50)).padStart(3, '0')},${p % 2 ? 'M' : 'F'},${f % 2 ? 'AP' : 'PA'},2500,2048,0.168,0.168,`);
      (p >= testFrom ? testList : trainList).push(image);
    }
  }
  const csv = join(dir, 'Data_Entry_2017_v2020.csv');
  writeFileSync(csv, [header, ...rows].join('\n') + '\n');
  writeFileSync(join(dir, 'train_val_list.txt'), trainList.join('\n') + '\n');
  writeFileSync(join(dir, 'test_list.txt'), testList.join('\n') + '\n');
  return { root: dir, csv, trainValList: join(dir, 'train_val_list.txt'), testList: join(dir, 'test_list.txt'), images: n, testImages: testList.length };
}

export interface NlmTbFixture {
  root: string;
  shenzhen: number;
  montgomery: number;
}

/**
 * `<dir>/ChinaSet_AllFiles/{CXR_png,ClinicalReadings}` and `<dir>/MontgomerySet/{CXR_png,ClinicalReadings}`:
 * `CHNCXR_NNNN_y.png` / `MCUCXR_NNNN_y.png` (y = 1 on PNEUMONIA images, standing in for TB), each with its
 * reading in the set's own format.
 */
export async function writeNlmTbFixture(dir: string, kermanyDir: string, options: { shenzhen?: number; montgomery?: number } = {}): Promise<NlmTbFixture> {
  const shenzhen = options.shenzhen ?? 24;
  const montgomery = options.montgomery ?? 6;
  const pick = new Picker(kermanyImages(kermanyDir, shenzhen + montgomery + 8));
  for (let i = 1; i <= shenzhen; i++) {
    const tb = i % 2 === 0;
    const stem = `CHNCXR_${String(i).padStart(4, '0')}_${tb ? 1 : 0}`;
    await placePng(pick.next(tb).file, join(dir, 'ChinaSet_AllFiles', 'CXR_png', `${stem}.png`));
    const reading = `${i % 3 ? 'male' : 'female'} ${20 + i}yrs\n${tb ? 'PTB in the right upper field' : 'normal'}\n`;
    mkdirSync(join(dir, 'ChinaSet_AllFiles', 'ClinicalReadings'), { recursive: true });
    writeFileSync(join(dir, 'ChinaSet_AllFiles', 'ClinicalReadings', `${stem}.txt`), reading);
  }
  for (let i = 1; i <= montgomery; i++) {
    const tb = i % 2 === 1;
    const stem = `MCUCXR_${String(i).padStart(4, '0')}_${tb ? 1 : 0}`;
    await placePng(pick.next(tb).file, join(dir, 'MontgomerySet', 'CXR_png', `${stem}.png`));
    mkdirSync(join(dir, 'MontgomerySet', 'ClinicalReadings'), { recursive: true });
    writeFileSync(join(dir, 'MontgomerySet', 'ClinicalReadings', `${stem}.txt`), `Patient's Sex: ${i % 2 ? 'F' : 'M'}\nPatient's Age: 0${30 + i}Y\n${tb ? 'right upper lobe cavity' : 'normal'}\n`);
  }
  return { root: dir, shenzhen, montgomery };
}

/**
 * A folder `<dir>/{train,test}/{NORMAL,PNEUMONIA}/` of Kermany images under their own names (so the
 * Kermany patient pattern applies), plus, with `oddName`, one file renamed so that it does not match.
 */
export function writeFolderFixture(dir: string, kermanyDir: string, options: { train?: number; test?: number; oddName?: string } = {}): { root: string } {
  const pick = new Picker(kermanyImages(kermanyDir, (options.train ?? 24) + (options.test ?? 12) + 8));
  for (const [split, count] of [['train', options.train ?? 24], ['test', options.test ?? 12]] as const) {
    for (let i = 0; i < count; i++) {
      const src = pick.next(i % 2 === 1);
      const cls = src.positive ? 'PNEUMONIA' : 'NORMAL';
      const name = split === 'train' && i === 0 && options.oddName ? options.oddName : src.file.split('/').pop()!;
      place(src.file, join(dir, split, cls, name));
    }
  }
  return { root: dir };
}
