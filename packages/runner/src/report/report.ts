import { join, relative } from 'node:path';
import { BOOTSTRAP_DEFAULTS } from '@moco-cxr/bootstrap';
import { writeFileAtomic } from '../rundir';
import { aurocVsFractionSpec, figure, pretrainSpec, rocSpec, type AurocPoint, type Figure, type PretrainPoint, type RocSeries } from './figures';

/** A point estimate with its percentile bootstrap CI. */
export interface Estimate {
  estimate: number;
  lo: number;
  hi: number;
}

/** One paired comparison: configuration A vs B at one protocol and label fraction. */
export interface ComparisonRow {
  protocol: string;
  /** The task (or the mean over tasks) this row compares; absent in one-task results written before tasks were named. */
  task?: string;
  /** Null when the compared runs do not share one label fraction. */
  fraction: number | null;
  a: string;
  b: string;
  drawsA: number;
  drawsB: number;
  aurocA: Estimate;
  aurocB: Estimate;
  /** A minus B, paired over the same resamples. */
  difference: Estimate;
  pValue: number;
  replicates: number;
  degenerate: number;
  /** In a grid of several training seeds: the seed of a per-seed row. */
  seed?: number;
  /** A pooled row: the training seeds it pools (its bootstrap resamples them as well as the test images). */
  seeds?: number[];
}

/** Everything a report shows; `experiment` writes it as results.json. */
export interface ReportData {
  title: string;
  /** The findings in words, one sentence per comparison (see `summarise`); the report opens with them. */
  summary: string[];
  /** What the page does not show (limits of the data, seeds, baselines), listed under the summary. */
  notShown: string[];
  /** Lines of context shown under the title (data, backbone, input size, seed, wall time). */
  context: string[];
  points: AurocPoint[];
  comparisons: ComparisonRow[];
  roc: RocSeries[];
  pretrain: PretrainPoint[];
  /** Per-cell detail: one row per trained model. */
  cells: { id: string; protocol: string; initialisation: string; fraction: number; draw: number; valAuroc: number; testAuroc: number; epochs: number; seconds: number }[];
  confidence: number;
  /** How the intervals are formed, in words; shown under the comparison table. */
  intervals?: string[];
}

export interface WrittenReport {
  dir: string;
  html: string;
  markdown: string;
  figures: { name: string; svg: string; png: string }[];
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(3)}` : 'n/a');
export const fmtEstimate = (e: Estimate, sign = false) => `${sign ? signed(e.estimate) : f3(e.estimate)} [${sign ? signed(e.lo) : f3(e.lo)}, ${sign ? signed(e.hi) : f3(e.hi)}]`;
export const fmtFraction = (f: number | null) => (f === null ? '-' : `${+(f * 100).toPrecision(4)}%`);
const fmtP = (p: number) => (!Number.isFinite(p) ? 'n/a' : p < 0.001 ? '<0.001' : p.toFixed(3));

const PROTOCOL_NAMES: Record<string, string> = {
  linear: 'Linear protocol (frozen backbone, linear head trained with Adam)',
  logistic: 'Logistic-regression probe (frozen backbone)',
  finetune: 'End-to-end fine-tuning',
};
const INIT_NAMES: Record<string, string> = { moco: 'MoCo', random: 'random init', imagenet: 'ImageNet init' };
const initName = (s: string) => INIT_NAMES[s] ?? s;

/**
 * One sentence per comparison: who won, by how much, with the CI; "no clear difference" when the
 * CI includes 0.
 */
export function summarise(rows: ComparisonRow[], confidence: number = BOOTSTRAP_DEFAULTS.confidence): string[] {
  const pct = `${Math.round(confidence * 100)}% CI`;
  const ci = (e: Estimate) => `${pct} ${signed(e.lo)} to ${signed(e.hi)}`;
  const several = severalTasks(rows);
  // With several training seeds the findings are the pooled rows; the per-seed rows stay in the table.
  const shown = rows.some((r) => r.seeds) ? rows.filter((r) => r.seed === undefined) : rows;
  return shown.map((r) => {
    const pooled = r.seeds ? `, pooled over training seeds ${r.seeds.join(', ')}` : '';
    const where = `${several && r.task ? `${r.task}: ` : ''}${PROTOCOL_NAMES[r.protocol] ?? r.protocol}, ${r.fraction === null ? 'mixed label fractions' : `${fmtFraction(r.fraction)} of the labels`}${r.drawsA > 1 || r.seeds ? ` (${r.drawsA} draw${r.drawsA > 1 ? 's' : ''}${pooled})` : ''}`;
    const a = initName(r.a);
    const b = initName(r.b);
    const d = r.difference;
    const aurocs = `AUROC ${f3(r.aurocA.estimate)} vs ${f3(r.aurocB.estimate)}`;
    if (d.lo > 0) return `${where}: ${a} beat ${b} by ${signed(d.estimate)} AUROC (${ci(d)}; ${aurocs}).`;
    if (d.hi < 0) return `${where}: ${a} was behind ${b} by ${f3(-d.estimate)} AUROC (${ci(d)}; ${aurocs}).`;
    return `${where}: no clear difference; ${a} minus ${b} is ${signed(d.estimate)} AUROC and its ${pct} (${signed(d.lo)} to ${signed(d.hi)}) includes 0 (${aurocs}).`;
  });
}

/** Whether rows (or points) span more than one task: then tables get a task column and the report a panel per task. */
export function severalTasks(rows: readonly { task?: string }[]): boolean {
  return new Set(rows.map((r) => r.task ?? '')).size > 1;
}

/** Whether rows come from a grid of several training seeds: then tables get a seed column. */
export function severalSeeds(rows: readonly ComparisonRow[]): boolean {
  return rows.some((r) => r.seed !== undefined || r.seeds !== undefined);
}

/** A row's seed column: its seed, or `pooled (0, 1, 2)`. */
export function seedLabel(r: ComparisonRow): string {
  return r.seeds ? `pooled (${r.seeds.join(', ')})` : r.seed !== undefined ? String(r.seed) : '-';
}

/** A table as its header and rows of plain-text cells, written out as Markdown or HTML. */
interface Table {
  head: string[];
  rows: string[][];
}

function comparisonTable(rows: ComparisonRow[], confidence: number): Table {
  const pct = `${Math.round(confidence * 100)}% CI`;
  const several = severalTasks(rows);
  const seeds = severalSeeds(rows);
  return {
    head: [...(several ? ['task'] : []), 'protocol', 'label fraction', 'A', ...(seeds ? ['seed'] : []), `AUROC A [${pct}]`, 'B', `AUROC B [${pct}]`, `A - B [${pct}]`, 'p', 'replicates'],
    rows: rows.map((r) => [
      ...(several ? [r.task ?? '-'] : []),
      r.protocol,
      `${fmtFraction(r.fraction)} (${r.drawsA === r.drawsB ? r.drawsA : `${r.drawsA}/${r.drawsB}`} draw${r.drawsA > 1 ? 's' : ''})`,
      r.a,
      ...(seeds ? [seedLabel(r)] : []),
      fmtEstimate(r.aurocA),
      r.b,
      fmtEstimate(r.aurocB),
      fmtEstimate(r.difference, true),
      fmtP(r.pValue),
      `${r.replicates}${r.degenerate ? ` (${r.degenerate} degenerate)` : ''}`,
    ]),
  };
}

/** The comparison table in the paper's form, as Markdown (with a task column when there are several tasks, a seed column when several training seeds). */
export function comparisonMarkdown(rows: ComparisonRow[], confidence: number = BOOTSTRAP_DEFAULTS.confidence): string {
  return tableMarkdown(comparisonTable(rows, confidence));
}

/** The same table as fixed-width text for the terminal. */
export function comparisonText(rows: ComparisonRow[]): string {
  const several = severalTasks(rows);
  const seeds = severalSeeds(rows);
  const header = [...(several ? ['task'] : []), 'protocol', 'fraction', 'A', ...(seeds ? ['seed'] : []), 'AUROC A', 'B', 'AUROC B', 'A - B', 'p'];
  const body = rows.map((r) => [...(several ? [r.task ?? '-'] : []), r.protocol, `${fmtFraction(r.fraction)} x${r.drawsA}`, r.a, ...(seeds ? [seedLabel(r)] : []), fmtEstimate(r.aurocA), r.b, fmtEstimate(r.aurocB), fmtEstimate(r.difference, true), fmtP(r.pValue)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function cellsTable(cells: ReportData['cells']): Table {
  return { head: ['cell', 'val AUROC', 'test AUROC', 'epochs', 'seconds'], rows: cells.map((c) => [c.id, f3(c.valAuroc), f3(c.testAuroc), String(c.epochs), c.seconds.toFixed(1)]) };
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Text as Markdown that renders as that text: no raw HTML (a tag, comment or autolink starting
 * with `<`), no inline link, and no line break that could start a block of its own. Names from a
 * config or a dataset (titles, tasks, paths) reach the page through here.
 */
export function escapeMarkdown(s: string): string {
  return s.replace(/\r?\n|\r/g, ' ').replace(/<(?=[A-Za-z/!?])/g, '&lt;').replace(/\]\(/g, '\\](');
}

function tableMarkdown(t: Table): string {
  const line = (cells: string[]) => `| ${cells.map((c) => escapeMarkdown(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(t.head), `|${t.head.map(() => '---|').join('')}`, ...t.rows.map(line)].join('\n');
}

function tableHtml(t: Table): string {
  const cells = (tag: string, row: string[]) => row.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('');
  return `<table><thead><tr>${cells('th', t.head)}</tr></thead><tbody>${t.rows.map((r) => `<tr>${cells('td', r)}</tr>`).join('')}</tbody></table>`;
}

/** A task name as a file name: `Pleural Effusion` -> `pleural-effusion`. */
function slugOf(task: string): string {
  return task.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Renders the figures and writes `index.html`, `report.md` and `figures/*.svg|png` under `dir`. */
export async function writeReport(data: ReportData, dir: string): Promise<WrittenReport> {
  const figures: Figure[] = [];
  if (data.points.length && !severalTasks(data.points)) figures.push(await figure('auroc-vs-fraction', 'AUROC vs label fraction', aurocVsFractionSpec(data.points)));
  // A panel per task (and one for the mean over tasks) when several tasks were trained together.
  if (severalTasks(data.points)) {
    const tasks = [...new Set(data.points.map((p) => p.task ?? ''))];
    for (const task of tasks) {
      const slug = slugOf(task);
      figures.push(await figure(`auroc-vs-fraction-${slug}`, `AUROC vs label fraction: ${task}`, aurocVsFractionSpec(data.points.filter((p) => (p.task ?? '') === task), task)));
    }
  }
  const rocTasks = [...new Set(data.roc.map((c) => c.task))];
  if (rocTasks.length === 1 && rocTasks[0] === undefined) figures.push(await figure('roc', 'ROC curves', rocSpec(data.roc)));
  // A ROC figure per task when several were trained together.
  else for (const task of rocTasks) figures.push(await figure(`roc-${slugOf(task ?? '')}`, `ROC curves: ${task}`, rocSpec(data.roc.filter((c) => c.task === task), task)));
  if (data.pretrain.length) figures.push(await figure('pretraining', 'Pretraining monitor', pretrainSpec(data.pretrain)));
  const written = figures.map((f) => {
    const svg = join(dir, 'figures', `${f.name}.svg`);
    const png = join(dir, 'figures', `${f.name}.png`);
    writeFileAtomic(svg, f.svg);
    writeFileAtomic(png, f.png);
    return { name: f.name, svg, png };
  });
  const comparison = comparisonTable(data.comparisons, data.confidence);
  const table = data.comparisons.length ? tableMarkdown(comparison) : '_No comparisons (fewer than two initialisations finished)._';
  const taskCol = severalTasks(data.points);
  const perConfig: Table = {
    head: [...(taskCol ? ['task'] : []), 'protocol', 'label fraction', 'initialisation', 'AUROC [95% CI]', 'draws'],
    rows: data.points.map((p) => [...(taskCol ? [p.task ?? '-'] : []), p.protocol, fmtFraction(p.fraction), p.initialisation, fmtEstimate({ estimate: p.auroc, lo: p.lo, hi: p.hi }), `${p.draws}${p.seeds ? ` x ${p.seeds} seeds` : ''}`]),
  };
  const item = (c: string) => `- ${escapeMarkdown(c)}`;
  const md = [
    `# ${escapeMarkdown(data.title)}`,
    '',
    '## Summary',
    '',
    ...(data.summary.length ? data.summary.map(item) : ['- No comparison finished, so there is nothing to report yet.']),
    '',
    ...(data.notShown.length ? ['**What this page does not show:**', '', ...data.notShown.map(item), ''] : []),
    '## Settings',
    '',
    ...data.context.map(item),
    '',
    '## MoCo-CXR vs baseline (paired bootstrap)',
    '',
    table,
    '',
    ...(data.intervals ?? []).flatMap((t) => [escapeMarkdown(t), '']),
    ...written.flatMap((f) => [`![${f.name}](${relative(dir, f.png)})`, '']),
    '## AUROC per configuration',
    '',
    data.points.length ? tableMarkdown(perConfig) : '',
    '',
    '## Cells',
    '',
    tableMarkdown(cellsTable(data.cells)),
    '',
  ].join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(data.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}figure{margin:1.5em 0}figcaption{color:#555;font-size:14px}svg{max-width:100%;height:auto}</style></head>
<body>
<h1>${escapeHtml(data.title)}</h1>
<h2>Summary</h2>
<ul class="summary">${(data.summary.length ? data.summary : ['No comparison finished, so there is nothing to report yet.']).map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>
${data.notShown.length ? `<p><strong>What this page does not show:</strong></p>\n<ul>${data.notShown.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>` : ''}
<h2>Settings</h2>
<ul>${data.context.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>
<h2>MoCo-CXR vs baseline (paired bootstrap)</h2>
${data.comparisons.length ? tableHtml(comparison) : '<p>No comparisons.</p>'}
${(data.intervals ?? []).map((t) => `<p class="intervals">${escapeHtml(t)}</p>`).join('\n')}
${figures.map((f, i) => `<figure id="${f.name}">${f.svg}<figcaption>${escapeHtml(f.title)} (<a href="${relative(dir, written[i].png)}">PNG</a>, <a href="${relative(dir, written[i].svg)}">SVG</a>)</figcaption></figure>`).join('\n')}
<h2>AUROC per configuration</h2>
${data.points.length ? tableHtml(perConfig) : ''}
<h2>Cells</h2>
${tableHtml(cellsTable(data.cells))}
</body></html>
`;
  const htmlPath = join(dir, 'index.html');
  const mdPath = join(dir, 'report.md');
  writeFileAtomic(htmlPath, html);
  writeFileAtomic(mdPath, md);
  return { dir, html: htmlPath, markdown: mdPath, figures: written };
}
