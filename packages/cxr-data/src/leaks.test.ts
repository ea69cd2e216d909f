// Silent leaks and resource bombs in the loaders (issue 22): every one is an error or a named note.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './test-support/fixtures';
import { CHEXPERT_TASKS, checkSplitLeaks, CxrDataError, folderSplits, loadCheXpert, loadImageFolder, loadNihChestXray14, parseCsv } from './index';
import type { CxrDataset } from './index';

const { dir, cleanup } = tempDir('cxr-data-leaks-');
afterAll(cleanup);

function touch(path: string, text = 'x'): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

const thrown = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

describe('CSV bounds', () => {
  it('a field longer than the bound is an error naming the line and column, not a parse that eats memory', () => {
    const big = 'x'.repeat(70_000);
    const err = thrown(() => parseCsv(`Path,Sex\na,b\nc,${big}\n`, 'f.csv'));
    expect(err).toBeInstanceOf(CxrDataError);
    expect(err.message).toMatch(/^f\.csv line 3, column "Sex": a field of more than 65536 characters/);
    // Quoted, with a newline inside: the line the field starts on.
    expect(() => parseCsv(`Path,Sex\n"${big}\nmore",b\n`, 'g.csv')).toThrow(/^g\.csv line 2, column "Path": a field of more than 65536 characters/);
    // The bounds are options.
    expect(parseCsv(`a\n${big}\n`, 'h.csv', { maxFieldChars: 100_000 }).rows[0][0]).toHaveLength(70_000);
  });

  it('a line longer than the bound is an error naming it', () => {
    const row = Array.from({ length: 40 }, () => 'y'.repeat(30_000)).join(',');
    const header = Array.from({ length: 40 }, (_, i) => `c${i}`).join(',');
    expect(() => parseCsv(`${header}\n${row}\n`, 'w.csv')).toThrow(/^w\.csv line 2: a line of more than 1048576 characters/);
  });

  it('a field with no closing quote is named with the line it starts on', () => {
    expect(() => parseCsv('a,b\n1,"open\n2,3\n', 'q.csv')).toThrow(/q\.csv: unterminated quoted field starting on line 2/);
  });

  it('still parses quotes, doubled quotes, text after a closing quote, CRLF, lone CR and a missing final newline', () => {
    const t = parseCsv('\ufeffa,b,c\r\n"x, y","say ""hi""",z\r\n\r\n"q"r,,"multi\nline"\r5,6,7', 'f.csv');
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([['x, y', 'say "hi"', 'z'], ['qr', '', 'multi\nline'], ['5', '6', '7']]);
    expect(t.lines).toEqual([2, 4, 6]);
  });
});

const HEADER = `Path,Sex,Age,Frontal/Lateral,AP/PA,${CHEXPERT_TASKS.join(',')}`;
const row = (path: string, effusion: string) => [path, 'Male', 40, 'Frontal', 'AP', ...CHEXPERT_TASKS.map((t) => (t === 'Pleural Effusion' ? effusion : ''))].join(',');

function chexpert(name: string, rows: string[]): string {
  const root = join(dir, name);
  const file = join(root, 'CheXpert-v1.0-small', 'train.csv');
  touch(file, [HEADER, ...rows].join('\n') + '\n');
  for (const r of rows) touch(join(root, r.split(',')[0]));
  return file;
}

describe('CheXpert rows that leak', () => {
  const p = 'CheXpert-v1.0-small/train';
  it('a Path with a .. or . segment is refused naming the line, even when it stays inside the root', () => {
    const file = chexpert('dotdot', [row(`${p}/patient00001/study1/view1_frontal.jpg`, '1.0'), row(`CheXpert-v1.0-small/valid/../train/patient00001/study1/view1_frontal.jpg`, '0.0')]);
    expect(() => loadCheXpert(file, { uncertainty: 'ignore' })).toThrow(/train\.csv line 3, column "Path": "CheXpert-v1\.0-small\/valid\/\.\.\/train\/patient00001\/study1\/view1_frontal\.jpg" has a "\.\." segment/);
    const dot = chexpert('dot', [row(`${p}/./patient00002/study1/view1_frontal.jpg`, '1.0')]);
    expect(() => loadCheXpert(dot, { uncertainty: 'ignore' })).toThrow(/line 2, column "Path": .* has a "\." segment/);
  });

  it('a Path listed twice is refused naming both lines, whatever the labels', () => {
    const img = `${p}/patient00003/study1/view1_frontal.jpg`;
    const file = chexpert('dup', [row(img, '1.0'), row(`${p}/patient00004/study1/view1_frontal.jpg`, '0.0'), row(img, '0.0')]);
    expect(() => loadCheXpert(file, { uncertainty: 'ignore' })).toThrow(/train\.csv line 4, column "Path": image ".*patient00003\/study1\/view1_frontal\.jpg" is listed twice \(first on line 2\)/);
  });

  it('records the CSV file and line of each sample', () => {
    const file = chexpert('ok', [row(`${p}/patient00005/study1/view1_frontal.jpg`, '1.0')]);
    expect(loadCheXpert(file, { uncertainty: 'ignore' }).samples[0].meta).toMatchObject({ csv: file, csvLine: '2' });
  });
});

const NIH_HEADER = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position';
describe('NIH rows and images that leak', () => {
  const nih = (name: string, rows: string[], images: string[]) => {
    const root = join(dir, name);
    touch(join(root, 'Data_Entry.csv'), [NIH_HEADER, ...rows].join('\n') + '\n');
    for (const i of images) touch(join(root, i));
    return { root, csv: join(root, 'Data_Entry.csv') };
  };
  it('an Image Index listed twice is refused naming both lines, even with opposite labels', () => {
    const { root, csv } = nih('nih-dup', ['00000001_000.png,Effusion,0,1,50,M,PA', '00000002_000.png,No Finding,0,2,50,M,PA', '00000001_000.png,No Finding,0,1,50,M,PA'], ['images/00000001_000.png', 'images/00000002_000.png']);
    expect(() => loadNihChestXray14(csv, { root })).toThrow(/Data_Entry\.csv line 4, column "Image Index": image 00000001_000\.png is listed twice \(first on line 2\)/);
  });
  it('two different files with one image name in different folders are refused naming both', () => {
    const { root, csv } = nih('nih-twice', ['00000001_000.png,Effusion,0,1,50,M,PA'], ['images_001/images/00000001_000.png', 'images_002/images/00000001_000.png']);
    expect(() => loadNihChestXray14(csv, { root })).toThrow(/00000001_000\.png is found twice under .*nih-twice: images_001\/images\/00000001_000\.png and images_002\/images\/00000001_000\.png/);
    // A link to the same file is one image, not two.
    const { root: r2, csv: c2 } = nih('nih-link', ['00000001_000.png,Effusion,0,1,50,M,PA'], ['images_001/images/00000001_000.png']);
    mkdirSync(join(r2, 'images'));
    symlinkSync(join(r2, 'images_001', 'images', '00000001_000.png'), join(r2, 'images', '00000001_000.png'));
    expect(loadNihChestXray14(c2, { root: r2 }).samples).toHaveLength(1);
  });
});

describe('folder layouts', () => {
  const folder = (name: string, files: string[]) => {
    const root = join(dir, name);
    for (const f of files) touch(join(root, f));
    return root;
  };
  const kermany = ['NORMAL/IM-0001-0001.jpeg', 'NORMAL/IM-0002-0001.jpeg', 'PNEUMONIA/person1_virus_1.jpeg', 'PNEUMONIA/person2_virus_2.jpeg'];
  const layout = (splits: string[], extra: string[] = []) => [...splits.flatMap((s) => kermany.map((f) => `${s}/${f}`)), ...extra];

  it('a val/ or valid/ folder is the validation split; any other folder is named as unused', () => {
    for (const v of ['val', 'valid']) {
      const ds = loadImageFolder(folder(`f-${v}`, layout(['train', 'test', v, 'extra'])), { positive: 'PNEUMONIA', patientPattern: 'per-image' });
      const s = folderSplits(ds);
      expect(s.val?.map((i) => ds.samples[i].split)).toEqual(new Array(4).fill(v));
      expect(s.train.map((i) => ds.samples[i].split)).toEqual(new Array(4).fill('train'));
      expect(s.test.map((i) => ds.samples[i].split)).toEqual(new Array(4).fill('test'));
      expect(s.valFolder).toBe(v);
      expect(s.unused).toEqual([{ folder: 'extra', images: 4 }]);
    }
    const none = loadImageFolder(folder('f-none', layout(['train', 'test'])), { positive: 'PNEUMONIA', patientPattern: 'per-image' });
    expect(folderSplits(none)).toMatchObject({ val: undefined, unused: [] });
    const both = loadImageFolder(folder('f-both', layout(['train', 'test', 'val', 'valid'])), { positive: 'PNEUMONIA', patientPattern: 'per-image' });
    expect(() => folderSplits(both)).toThrow(/both val\/ and valid\/ .* keep one validation folder/);
    const noTest = loadImageFolder(folder('f-notest', layout(['train', 'valid'])), { positive: 'PNEUMONIA', patientPattern: 'per-image' });
    expect(() => folderSplits(noTest)).toThrow(/expected train\/ and test\/ split folders under .*f-notest, found train, valid/);
  });

  it('a class folder besides the positive and negative ones is an error naming it, unless named as a negative', () => {
    const root = folder('f-other', layout(['train', 'test'], ['train/OTHER/x.jpeg']));
    expect(() => loadImageFolder(root, { positive: 'PNEUMONIA' , patientPattern: 'per-image' })).toThrow(
      /positive class "PNEUMONIA" and 2 other classes \(NORMAL, OTHER\) under .*f-other: name the negative classes \(negatives\), or remove the folders that are neither/,
    );
    const ds = loadImageFolder(root, { positive: 'PNEUMONIA', negatives: ['NORMAL', 'OTHER'], patientPattern: 'per-image' });
    expect(ds.samples.filter((s) => s.meta?.class === 'OTHER')).toHaveLength(1);
    expect(() => loadImageFolder(root, { positive: 'PNEUMONIA', negatives: ['NORMAL'], patientPattern: 'per-image' })).toThrow(/class folder train\/OTHER \(1 image\) is neither the positive class "PNEUMONIA" nor a negative \(NORMAL\)/);
    expect(() => loadImageFolder(root, { positive: 'PNEUMONIA', negatives: ['NORMAL', 'OTHER', 'GONE'], patientPattern: 'per-image' })).toThrow(/negative class "GONE" is not among the classes/);
    // One other class is the negative without naming it, as before.
    expect(loadImageFolder(folder('f-two', layout(['train', 'test'])), { positive: 'PNEUMONIA', patientPattern: 'per-image' }).samples).toHaveLength(8);
  });

  it('a class folder that is a file, or an image outside a class folder, is named; other stray files are listed', () => {
    const asFile = folder('f-file', ['train/PNEUMONIA/person1_virus_1.jpeg', 'train/NORMAL', 'test/NORMAL/IM-0003-0001.jpeg', 'test/PNEUMONIA/person3_virus_3.jpeg']);
    expect(() => loadImageFolder(asFile, { positive: 'PNEUMONIA' })).toThrow(/train\/NORMAL is a file, not a class folder \(expected <split>\/<CLASS>\/<image>\)/);
    const loose = folder('f-loose', [...layout(['train', 'test']), 'train/IM-0009-0001.jpeg']);
    expect(() => loadImageFolder(loose, { positive: 'PNEUMONIA' })).toThrow(/train\/IM-0009-0001\.jpeg is an image outside a class folder/);
    const stray = folder('f-stray', [...layout(['train', 'test']), 'train/README.txt', 'train/NORMAL/notes.pdf', 'train/.DS_Store']);
    expect(loadImageFolder(stray, { positive: 'PNEUMONIA' }).ignored).toEqual(['train/NORMAL/notes.pdf', 'train/README.txt']);
  });
});

describe('checkSplitLeaks', () => {
  const ds = (root: string, paths: string[], patients: string[]): CxrDataset => ({
    root,
    tasks: ['t'],
    labels: Float32Array.from(paths, (_, i) => i % 2),
    samples: paths.map((path, i) => ({ path, patientId: patients[i] })),
  });

  it('one file in two splits (a test -> train symlink) is refused naming both paths and the real file', () => {
    const root = join(dir, 'link');
    touch(join(root, 'train', 'N', 'a.jpeg'));
    touch(join(root, 'train', 'P', 'b.jpeg'));
    symlinkSync(join(root, 'train'), join(root, 'test'));
    const d = ds(root, ['train/N/a.jpeg', 'train/P/b.jpeg', 'test/N/a.jpeg'], ['a', 'b', 'c']);
    expect(() => checkSplitLeaks(d, { train: [0, 1], test: [2] })).toThrow(/^1 image file appears twice in the splits: train\/N\/a\.jpeg \(train\) and test\/N\/a\.jpeg \(test\) are the same file .*link\/train\/N\/a\.jpeg; /);
  });

  it('a patient in two splits is refused by default, dropped from the earlier split, or allowed; every outcome said', () => {
    const root = join(dir, 'pat');
    const paths = ['a.png', 'b.png', 'c.png', 'd.png', 'e.png'];
    for (const p of paths) touch(join(root, p));
    const d = ds(root, paths, ['p1', 'p2', 'p3', 'p1', 'p3']);
    const splits = { train: [0, 1], val: [2], test: [3, 4] };
    expect(() => checkSplitLeaks(d, splits)).toThrow(/2 patients have images in more than one split: p1 \(train a\.png, test d\.png\), p3 \(val c\.png, test e\.png\); .*sharedPatients: 'drop'/);
    const dropped = checkSplitLeaks(d, splits, { sharedPatients: 'drop' });
    expect(dropped.splits).toEqual({ train: [1], val: [], test: [3, 4] });
    expect(dropped.notes).toEqual(['2 images of 2 patients who also have images in a later split were left out: 1 of train, 1 of val']);
    const allowed = checkSplitLeaks(d, splits, { sharedPatients: 'allow' });
    expect(allowed.splits).toEqual(splits);
    expect(allowed.sharedPatients).toEqual(['p1', 'p3']);
    expect(allowed.notes[0]).toMatch(/^2 patients have images in more than one split \(kept: sharedPatients 'allow'\)/);
  });

  it('names the CSV file and line of a sample that came from one', () => {
    const root = join(dir, 'csvline');
    touch(join(root, 'x.png'));
    const d = ds(root, ['x.png', 'x.png'], ['p', 'q']);
    d.samples[0].meta = { csv: '/d/train.csv', csvLine: '7' };
    d.samples[1].meta = { csv: '/d/valid.csv', csvLine: '3' };
    expect(() => checkSplitLeaks(d, { train: [0], test: [1] })).toThrow(/x\.png \(train, \/d\/train\.csv line 7\) and x\.png \(test, \/d\/valid\.csv line 3\) are the same file/);
  });
});
