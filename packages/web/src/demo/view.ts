import * as tf from '@tensorflow/tfjs-core';
import { LineChart } from '../chart';
import { runDemo, type DemoComparison, type DemoResult } from './run-demo';
import type { DemoSchedule } from './schedule';

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const pct = (f: number) => `${+(f * 100).toPrecision(3)}%`;
const f3 = (x: number) => x.toFixed(3);
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;

function describe(s: DemoSchedule): string {
  return (
    `Seed ${s.seed}: ${s.train + s.test} synthetic radiographs at ${s.imageSize} px (${s.train} train, ${Math.round(s.valFraction * 100)}% of them validation, ${s.test} test), ` +
    `a ResNet18 at widths ${s.widths.join('/')}, MoCo for ${s.epochs} epochs (batch ${s.batchSize}, queue ${s.queueSize}, momentum ${s.momentum}, lr ${s.lr}), ` +
    `then the linear protocol (${s.linearEpochs} epochs) on MoCo and on random-init features at ${s.fractions.map((f, i) => `${pct(f)} of the labels (${s.draws[i]} draw${s.draws[i] > 1 ? 's' : ''})`).join(' and ')}, ` +
    `compared on the test split by a paired bootstrap (${s.replicates} replicates).`
  );
}

/** The Demo tab: runs the runner's demo in this tab with a live loss / probe chart and the MoCo-vs-random table. */
export function mountDemo(panel: HTMLElement, schedule: DemoSchedule, backend: () => Promise<string>, autorun: boolean): void {
  const run = h('button', { id: 'demo-run', type: 'button' }, 'Run the demo');
  const stop = h('button', { id: 'demo-stop', type: 'button', disabled: '' }, 'Stop');
  const progress = h('progress', { id: 'demo-progress', max: '1', value: '0' });
  const phase = h('span', { id: 'demo-phase', class: 'muted' }, 'not started');
  const loss = new LineChart({ title: 'MoCo loss (InfoNCE, mean per epoch)', xLabel: 'epoch', xRange: [0, schedule.epochs] });
  const probe = new LineChart({ title: 'Online probe AUROC on held-out pretraining images', xLabel: 'epoch', yRange: [0.4, 1], xRange: [0, schedule.epochs] });
  const lossSeries = loss.add({ name: 'loss', color: '#2f6fd6', points: [] });
  const knn = probe.add({ name: 'kNN', color: '#d6702f', points: [] });
  const linear = probe.add({ name: 'linear probe', color: '#2d8a4e', points: [] });
  const table = h('table', { id: 'demo-table' });
  const verdict = h('p', { id: 'demo-verdict' });
  const error = h('div', { id: 'demo-error', class: 'error', hidden: '' });
  table.append(h('thead', {}, h('tr', {}, ...['labels', 'draws', 'MoCo AUROC', 'random init AUROC', 'MoCo minus random [95% CI]', 'p'].map((t) => h('th', {}, t)))));
  const body = h('tbody');
  table.append(body);
  panel.append(
    h('h2', {}, 'MoCo pretraining in this tab'),
    h('p', { class: 'muted', id: 'demo-schedule' }, describe(schedule)),
    h('div', { class: 'row' }, run, stop, progress, phase),
    error,
    h('div', { class: 'charts' }, loss.element, probe.element),
    h('h2', {}, 'MoCo vs random initialisation, linear protocol, test split'),
    table,
    verdict,
  );

  let controller: AbortController | undefined;
  const addRow = (r: DemoComparison) => {
    const tr = h('tr', { 'data-fraction': String(r.fraction), 'data-difference': String(r.difference.estimate), 'data-lower': String(r.difference.lower), 'data-upper': String(r.difference.upper) });
    tr.append(
      h('td', {}, pct(r.fraction)),
      h('td', {}, String(r.draws)),
      h('td', {}, `${f3(r.moco.estimate)} [${f3(r.moco.lower)}, ${f3(r.moco.upper)}]`),
      h('td', {}, `${f3(r.random.estimate)} [${f3(r.random.lower)}, ${f3(r.random.upper)}]`),
      h('td', { class: r.difference.lower > 0 ? 'ahead' : r.difference.upper < 0 ? 'behind' : '' }, `${signed(r.difference.estimate)} [${signed(r.difference.lower)}, ${signed(r.difference.upper)}]`),
      h('td', {}, r.pValue < 0.001 ? '<0.001' : r.pValue.toFixed(3)),
    );
    body.append(tr);
  };
  const finish = (result: DemoResult) => {
    const ahead = result.comparisons.filter((c) => c.difference.lower > 0).length;
    const behind = result.comparisons.filter((c) => c.difference.upper < 0).length;
    verdict.textContent =
      `Finished in ${result.seconds.toFixed(0)} s. MoCo is ahead of random init with a 95% CI above 0 at ${ahead} of ${result.comparisons.length} label fractions` +
      (behind ? `, behind at ${behind}` : '') +
      `. Seeds other than ${result.schedule.seed} give other numbers: a single seed is one draw of the data, split and initialisation.`;
    panel.dataset.state = 'done';
    panel.dataset.ahead = String(ahead);
    // What the run left allocated: a second run must leave the same count (the tests check it).
    panel.dataset.tensors = String(tf.memory().numTensors);
    panel.dataset.runs = String(Number(panel.dataset.runs ?? 0) + 1);
  };

  const start = async () => {
    run.disabled = true;
    stop.disabled = false;
    error.hidden = true;
    body.replaceChildren();
    verdict.textContent = '';
    lossSeries.points.length = 0;
    knn.points.length = 0;
    linear.points.length = 0;
    panel.dataset.state = 'running';
    controller = new AbortController();
    try {
      phase.textContent = `starting ${await backend()}`;
      const result = await runDemo(schedule, {
        signal: controller.signal,
        onPhase: (m) => (phase.textContent = m),
        onStep: (s) => (progress.value = s.step / s.totalSteps),
        onEpoch: (e) => {
          if (e.loss !== undefined) loss.push(lossSeries, e.epoch, e.loss);
          probe.push(knn, e.epoch, e.knnAuroc);
          probe.push(linear, e.epoch, e.linearAuroc);
        },
        onComparison: addRow,
      });
      phase.textContent = 'done';
      finish(result);
    } catch (err) {
      // Only the Stop button stops it; any other AbortError (a lost GPU device) is a failure.
      const stopped = controller.signal.aborted;
      error.textContent = stopped ? 'Stopped.' : `The demo failed: ${(err as Error).name}: ${(err as Error).message}`;
      error.hidden = false;
      panel.dataset.state = stopped ? 'stopped' : 'failed';
      phase.textContent = stopped ? 'stopped' : 'failed';
    } finally {
      run.disabled = false;
      stop.disabled = true;
    }
  };
  run.addEventListener('click', () => void start());
  stop.addEventListener('click', () => controller?.abort());
  if (autorun) void start();
}
