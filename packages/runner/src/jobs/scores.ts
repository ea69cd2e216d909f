import { evaluateScores } from '@moco-cxr/protocols';
import type { SplitData } from '../data';
import { writeFileAtomic, writeJsonAtomic, type RunDir } from '../rundir';

/** Test scores at the level the dataset supports (study max where studies exist), per task and their mean, plus per-image rows. */
export async function writeScores(run: RunDir, split: SplitData, scores: ArrayLike<number>, tasks: string[]) {
  const K = tasks.length;
  const labels = Array.from(split.labels);
  const evaluation = evaluateScores(labels, scores, { tasks: K, ...(split.hasStudies ? { studyIds: split.studies } : {}) });
  const cell = (a: ArrayLike<number>, i: number) => Array.from({ length: K }, (_, k) => a[i * K + k]).join(',');
  const head = K === 1 ? 'label,score' : [...tasks.map((t) => `label:${t}`), ...tasks.map((t) => `score:${t}`)].map(csvCell).join(',');
  const csv = [`path,patient,study,${head}`, ...split.paths.map((p, i) => `${csvCell(p)},${csvCell(split.patients[i])},${csvCell(split.studies[i])},${cell(labels, i)},${cell(scores, i)}`)].join('\n');
  writeFileAtomic(run.path('scores.csv'), `${csv}\n`);
  // labels and scores are rows x tasks, row-major (one value per row when there is one task).
  const level = evaluation.study ?? evaluation;
  const perTask = Object.fromEntries(tasks.map((t, k) => [t, level.aurocPerTask[k]]));
  if (evaluation.study) {
    writeJsonAtomic(run.path('scores.json'), { level: 'study', tasks, ids: evaluation.study.studyIds.map(String), labels: Array.from(evaluation.study.labels), scores: Array.from(evaluation.study.scores) });
    return { auroc: evaluation.study.auroc, imageAuroc: evaluation.auroc, perTask, level: 'study' as const, rows: evaluation.study.count };
  }
  writeJsonAtomic(run.path('scores.json'), { level: 'image', tasks, ids: split.paths, labels, scores: Array.from(scores) });
  return { auroc: evaluation.auroc, imageAuroc: evaluation.auroc, perTask, level: 'image' as const, rows: evaluation.count };
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}


/** 0, 1, ..., n - 1: every row of a split. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
