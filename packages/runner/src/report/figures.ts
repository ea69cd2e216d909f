import { createRequire } from 'node:module';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';

/** One configuration's AUROC at one label fraction: point estimate and 95% bootstrap CI. */
export interface AurocPoint {
  protocol: string;
  /** The task (or 'mean over tasks'); the report draws one panel per task. */
  task?: string;
  initialisation: string;
  fraction: number;
  auroc: number;
  lo: number;
  hi: number;
  draws: number;
  /** Training seeds pooled into this point (absent: one). */
  seeds?: number;
}

/** One ROC curve (false-positive rate, true-positive rate) of one configuration. */
export interface RocSeries {
  /** The task the curve is for, when several were trained together. */
  task?: string;
  protocol: string;
  initialisation: string;
  fraction: number;
  fpr: number[];
  tpr: number[];
  auroc: number;
}

/** One row of the pretraining monitor: loss and the online probes at an epoch. */
export interface PretrainPoint {
  /** The training seed, in a grid of several. */
  seed?: number;
  epoch: number;
  loss?: number;
  top1?: number;
  knnAuroc?: number;
  linearProbeAuroc?: number;
}

export interface Figure {
  name: string;
  title: string;
  svg: string;
  png: Uint8Array;
}

const FONT_FAMILY = 'DejaVu Sans';
// createRequire needs a file path: import.meta.url in the ESM build, __filename in the CJS one.
const requireHere = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
// Shipped with the package so text renders in the PNG on machines without system fonts.
const fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => requireHere.resolve(`dejavu-fonts-ttf/ttf/${f}`));

const baseConfig = {
  font: FONT_FAMILY,
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 14 },
  background: 'white',
};

/** Compiles a Vega-Lite spec to SVG with Vega's headless renderer (no canvas, no network). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on use: vega is ESM with top-level await, which require() (the CJS build) cannot load.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const vgSpec = compile({ ...spec, config: { ...baseConfig, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  // A loader that refuses every URL: figures hold their data inline and must never fetch.
  const loader = vega.loader({ mode: 'file' });
  loader.load = async (uri: string) => {
    throw new Error(`report figures are offline; refused to load ${uri}`);
  };
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG at `zoom` x with the bundled DejaVu fonts: PNG bytes and raw RGBA pixels. */
export function rasterise(svg: string, zoom = 2): { png: Uint8Array; pixels: Uint8Array; width: number; height: number } {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: zoom },
    font: { fontFiles, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
  });
  const image = resvg.render();
  return { png: image.asPng(), pixels: new Uint8Array(image.pixels), width: image.width, height: image.height };
}

/** Rasterises an SVG at 2x with the bundled DejaVu fonts. */
export function svgToPng(svg: string): Uint8Array {
  return rasterise(svg).png;
}

const fractionAxis = {
  field: 'fraction',
  type: 'quantitative' as const,
  scale: { type: 'log' as const, padding: 24, nice: false },
  title: 'label fraction',
  axis: { format: '.1~%', values: [] as number[] },
};

/** The paper's figure: AUROC vs label fraction, a line per initialisation, 95% CI bars, a panel per protocol. */
export function aurocVsFractionSpec(points: AurocPoint[], task?: string): TopLevelSpec {
  const fractions = [...new Set(points.map((p) => p.fraction))].sort((a, b) => a - b);
  const lo = Math.min(...points.map((p) => p.lo));
  const hi = Math.max(...points.map((p) => p.hi));
  const yDomain = [Math.max(0, Math.floor(lo * 20) / 20), Math.min(1, Math.ceil(hi * 20) / 20)];
  const x = { ...fractionAxis, axis: { ...fractionAxis.axis, values: fractions } };
  const color = { field: 'initialisation', type: 'nominal' as const, title: 'initialisation' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `AUROC vs label fraction${task ? `: ${task}` : ''} (95% bootstrap CI)`,
    data: { values: points.map((p) => ({ ...p })) },
    facet: { column: { field: 'protocol', type: 'nominal', title: 'protocol', sort: ['linear', 'logistic', 'finetune'] } },
    spec: {
      width: 280,
      height: 220,
      layer: [
        {
          mark: { type: 'line', point: { filled: true, size: 50 } },
          encoding: {
            x,
            y: { field: 'auroc', type: 'quantitative', title: 'test AUROC', scale: { domain: yDomain, zero: false } },
            color,
            tooltip: [{ field: 'initialisation' }, { field: 'fraction' }, { field: 'auroc', format: '.3f' }],
          },
        },
        {
          mark: { type: 'errorbar', ticks: true },
          encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'test AUROC' }, y2: { field: 'hi' }, color },
        },
      ],
    },
    resolve: { scale: { y: 'shared' } },
  } as TopLevelSpec;
}

/** ROC curves, a panel per protocol, a line per initialisation (at one label fraction; one task). */
export function rocSpec(curves: RocSeries[], task?: string): TopLevelSpec {
  const values = curves.flatMap((c) =>
    c.fpr.map((fpr, i) => ({
      protocol: c.protocol,
      series: `${c.initialisation} (AUROC ${c.auroc.toFixed(3)})`,
      initialisation: c.initialisation,
      order: i,
      fpr,
      tpr: c.tpr[i],
    })),
  );
  const fractions = [...new Set(curves.map((c) => c.fraction))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `ROC curves${task ? ` for ${task}` : ''} on the test split (label fraction ${fractions.map((f) => `${+(f * 100).toPrecision(3)}%`).join(', ')}, first draw)`,
    data: { values },
    facet: { column: { field: 'protocol', type: 'nominal', title: 'protocol', sort: ['linear', 'logistic', 'finetune'] } },
    spec: {
      width: 240,
      height: 240,
      layer: [
        {
          mark: { type: 'line' },
          encoding: {
            x: { field: 'fpr', type: 'quantitative', title: 'false-positive rate', scale: { domain: [0, 1] } },
            y: { field: 'tpr', type: 'quantitative', title: 'true-positive rate', scale: { domain: [0, 1] } },
            color: { field: 'initialisation', type: 'nominal', title: 'initialisation' },
            detail: { field: 'series' },
            order: { field: 'order' },
          },
        },
        {
          data: { values: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] },
          mark: { type: 'line', strokeDash: [4, 4], color: '#999' },
          encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'tpr', type: 'quantitative' } },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Pretraining curves: InfoNCE loss, and kNN / linear-probe AUROC of the query backbone per epoch. */
export function pretrainSpec(points: PretrainPoint[]): TopLevelSpec {
  const rows: { epoch: number; panel: string; measure: string; value: number }[] = [];
  for (const p of points) {
    // One line per measure and training seed when several seeds pretrained.
    const of = (m: string) => (p.seed !== undefined ? `${m}, seed ${p.seed}` : m);
    if (p.loss !== undefined && Number.isFinite(p.loss)) rows.push({ epoch: p.epoch, panel: 'InfoNCE loss', measure: of('loss'), value: p.loss });
    if (p.knnAuroc !== undefined && Number.isFinite(p.knnAuroc)) rows.push({ epoch: p.epoch, panel: 'probe AUROC', measure: of('kNN AUROC'), value: p.knnAuroc });
    if (p.linearProbeAuroc !== undefined && Number.isFinite(p.linearProbeAuroc)) {
      rows.push({ epoch: p.epoch, panel: 'probe AUROC', measure: of('linear-probe AUROC'), value: p.linearProbeAuroc });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Pretraining monitor (epoch 0 = network at initialisation)',
    data: { values: rows },
    facet: { column: { field: 'panel', type: 'nominal', title: null, sort: ['InfoNCE loss', 'probe AUROC'] } },
    spec: {
      width: 260,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'measure', type: 'nominal', title: 'measure' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Renders a spec to both SVG and PNG. */
export async function figure(name: string, title: string, spec: TopLevelSpec): Promise<Figure> {
  const svg = await renderSvg(spec);
  return { name, title, svg, png: svgToPng(svg) };
}
