const SVG = 'http://www.w3.org/2000/svg';

export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  width?: number;
  height?: number;
  /** Fixed y range (AUROC: [0.4, 1]); default: the data's range. */
  yRange?: [number, number];
  /** Fixed x range; default: the data's range. */
  xRange?: [number, number];
}

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function ticks(lo: number, hi: number, n: number): number[] {
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

/** A plain SVG line chart, redrawn in place as its series grow. */
export class LineChart {
  readonly element: SVGSVGElement;
  private readonly series: Series[] = [];

  constructor(private readonly options: LineChartOptions) {
    const w = options.width ?? 420;
    const h = options.height ?? 240;
    this.element = el('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': options.title });
    this.draw();
  }

  add(series: Series): Series {
    this.series.push(series);
    this.draw();
    return series;
  }

  push(series: Series, x: number, y: number): void {
    if (!Number.isFinite(y)) return;
    series.points.push({ x, y });
    this.draw();
  }

  private draw(): void {
    const o = this.options;
    const w = o.width ?? 420;
    const h = o.height ?? 240;
    const m = { left: 44, right: 110, top: 24, bottom: 34 };
    const all = this.series.flatMap((s) => s.points);
    const xs = all.map((p) => p.x);
    const ys = all.map((p) => p.y);
    let [x0, x1] = o.xRange ?? [Math.min(0, ...xs), Math.max(1, ...xs)];
    let [y0, y1] = o.yRange ?? (ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1]);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (w - m.left - m.right);
    const py = (y: number) => h - m.bottom - ((y - y0) / (y1 - y0)) * (h - m.top - m.bottom);
    const svg = this.element;
    svg.replaceChildren();
    svg.append(el('text', { x: m.left, y: 14, 'font-weight': 600 }, o.title));
    svg.append(el('rect', { x: m.left, y: m.top, width: w - m.left - m.right, height: h - m.top - m.bottom, fill: '#fff', stroke: '#c9ced8' }));
    for (const t of ticks(y0, y1, 4)) {
      svg.append(el('line', { x1: m.left, x2: w - m.right, y1: py(t), y2: py(t), stroke: '#eceef2' }));
      svg.append(el('text', { x: m.left - 4, y: py(t) + 4, 'text-anchor': 'end' }, t.toFixed(Math.abs(y1 - y0) < 0.5 ? 2 : 1)));
    }
    for (const t of ticks(x0, x1, Math.min(8, x1 - x0))) {
      svg.append(el('text', { x: px(t), y: h - m.bottom + 14, 'text-anchor': 'middle' }, String(Math.round(t))));
    }
    svg.append(el('text', { x: (m.left + w - m.right) / 2, y: h - 4, 'text-anchor': 'middle' }, o.xLabel));
    this.series.forEach((s, i) => {
      if (s.points.length) {
        const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
        svg.append(el('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2 }));
        for (const p of s.points) svg.append(el('circle', { cx: px(p.x), cy: py(p.y), r: 2.5, fill: s.color }));
      }
      const ly = m.top + 10 + i * 16;
      svg.append(el('line', { x1: w - m.right + 8, x2: w - m.right + 24, y1: ly - 4, y2: ly - 4, stroke: s.color, 'stroke-width': 2 }));
      svg.append(el('text', { x: w - m.right + 28, y: ly }, s.name));
    });
  }
}
