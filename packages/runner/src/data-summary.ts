import { join } from 'node:path';
import { summarizeSplits, type SkippedImage, type SplitName } from '@moco-cxr/cxr-data';
import type { RunnerConfig } from './config';
import { dataRoot, prepareData } from './data';
import { dicomDataSummary, dicomSummaryLines, type DicomDataSummary } from './dicom-source';
import type { Io } from './progress';
import { writeJsonAtomic } from './rundir';

export interface DataSummary {
  description: string;
  /** The first (main) task, and every task. */
  task: string;
  tasks: string[];
  /** positive / negative count the first task; `perTask` every task (masked = NaN labels). */
  splits: Record<SplitName, { images: number; patients: number; positive: number; negative: number; perTask: Record<string, { positive: number; negative: number; masked: number }>; imagesPerPatient: { max: number; mean: number } }>;
  patientsInTwoSplits: number;
  skipped: SkippedImage[];
  /** A DICOM source: views, modalities, bits stored, photometric interpretations and transfer syntaxes found, and the files left out. */
  dicom?: DicomDataSummary;
}

/** `data`: counts per split, label and patient, and the bad files found. */
export async function inspectData(cfg: RunnerConfig, io: Io, opts: { out: string }): Promise<DataSummary> {
  const data = await prepareData(cfg, io, opts.out);
  const counted = summarizeSplits(data.dataset, { train: data.train.indices, val: data.val.indices, test: data.test.indices });
  const splits = {} as DataSummary['splits'];
  for (const [name, s] of Object.entries(counted.splits) as [SplitName, (typeof counted.splits)[SplitName]][]) {
    const first = s.perTask[data.task];
    splits[name] = { images: s.images, patients: s.patients, positive: first.positive, negative: first.negative, perTask: s.perTask, imagesPerPatient: s.imagesPerPatient };
  }
  // The Kermany test split is given by its authors; a patient may appear in both train and test there.
  const { patientsInTwoSplits } = counted;
  const dicom = cfg.data.source === 'dicom' ? dicomDataSummary(cfg.data, dataRoot(cfg), 'data') : undefined;
  const summary: DataSummary = { description: data.description, task: data.task, tasks: data.tasks, splits, patientsInTwoSplits, skipped: data.skipped, ...(dicom ? { dicom } : {}) };
  writeJsonAtomic(join(opts.out, 'data-summary.json'), summary);
  if (!io.quiet) {
    const lines = [`${data.description}; task${data.tasks.length > 1 ? 's' : ''} ${data.tasks.map((t) => `"${t}"`).join(', ')}`, `split   images  patients  positive  negative  max img/patient${data.tasks.length > 1 ? `  (counts of "${data.task}")` : ''}`];
    for (const [name, s] of Object.entries(splits)) {
      lines.push(`${name.padEnd(6)}  ${String(s.images).padStart(6)}  ${String(s.patients).padStart(8)}  ${String(s.positive).padStart(8)}  ${String(s.negative).padStart(8)}  ${String(s.imagesPerPatient.max).padStart(15)}`);
    }
    if (data.tasks.length > 1) {
      for (const t of data.tasks) lines.push(`${t}: ${(['train', 'val', 'test'] as const).map((n) => `${n} ${splits[n].perTask[t].positive}+/${splits[n].perTask[t].negative}-${splits[n].perTask[t].masked ? `/${splits[n].perTask[t].masked} masked` : ''}`).join(', ')}`);
    }
    lines.push(`patients in more than one split: ${patientsInTwoSplits}`);
    lines.push(`bad files: ${data.skipped.length}${data.skipped.slice(0, 10).map((s) => `\n  ${s.path}: ${s.reason}`).join('')}`);
    if (dicom) lines.push(...dicomSummaryLines(dicom));
    io.err(`${lines.join('\n')}\n`);
  }
  return summary;
}
