import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aurocVsFractionSpec, rasterise, renderSvg, type AurocPoint } from './figures';
import { comparisonMarkdown, summarise, writeReport, type ComparisonRow, type ReportData } from './report';

function points(): AurocPoint[] {
  const out: AurocPoint[] = [];
  for (const protocol of ['linear', 'finetune']) {
    for (const initialisation of ['moco', 'random']) {
      for (const fraction of [0.01, 0.1, 1]) {
        const auroc = 0.8 + (initialisation === 'moco' ? 0.05 : 0) + 0.03 * Math.log10(fraction);
        out.push({ protocol, initialisation, fraction, auroc, lo: auroc - 0.02, hi: auroc + 0.02, draws: fraction < 1 ? 5 : 1 });
      }
    }
  }
  return out;
}

const row: ComparisonRow = {
  protocol: 'linear',
  fraction: 0.01,
  a: 'moco',
  b: 'random',
  drawsA: 5,
  drawsB: 5,
  aurocA: { estimate: 0.877, lo: 0.855, hi: 0.899 },
  aurocB: { estimate: 0.842, lo: 0.819, hi: 0.866 },
  difference: { estimate: 0.0345, lo: 0.015, hi: 0.053 },
  pValue: 0.0004,
  replicates: 500,
  degenerate: 0,
};

/** Share of non-white pixels inside a box of an RGBA raster. */
function inkIn(img: { pixels: Uint8Array; width: number }, x0: number, y0: number, x1: number, y1: number): number {
  let ink = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (img.pixels[(y * img.width + x) * 4] < 128) ink++;
  return ink / ((x1 - x0) * (y1 - y0));
}

describe('report', () => {
  it('draws one line per initialisation with CI bars, one panel per protocol', async () => {
    const svg = await renderSvg(aurocVsFractionSpec(points()));
    // Two panels headed by protocol, a legend entry per initialisation, axes in the paper's terms.
    for (const text of ['linear', 'finetune', 'moco', 'random', 'label fraction', 'test AUROC', '1%', '10%', '100%']) expect(svg).toContain(`>${text}</text>`);
    // 2 panels x 2 initialisations: one line each; 12 points, each with its CI error bar.
    expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(4);
    expect(svg.match(/aria-roledescription="point"/g)).toHaveLength(12);
    expect(svg.match(/aria-roledescription="errorbar"/g)).toHaveLength(12);
    expect(svg).toContain('aria-label="label fraction: 1%; test AUROC: 0.79; initialisation: moco; fraction: 0.01; auroc: 0.790"');
    expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  it('renders the text of the figure into the PNG with the bundled font', () => {
    const img = rasterise('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="30" font-family="sans-serif" font-size="24">AUROC</text></svg>', 1);
    expect([img.width, img.height]).toEqual([200, 40]);
    // The glyphs put ink where the word is, and nothing is drawn far to its right.
    expect(inkIn(img, 5, 10, 90, 32)).toBeGreaterThan(0.1);
    expect(inkIn(img, 150, 0, 200, 40)).toBe(0);
  });

  it('writes HTML, Markdown, SVG and PNG files holding the comparison and the figures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-report-'));
    const data: ReportData = {
      title: 'test report',
      summary: summarise([row]),
      notShown: ['Real patients: synthetic images.'],
      context: ['data: synthetic'],
      points: points(),
      comparisons: [row],
      roc: [
        { protocol: 'linear', initialisation: 'moco', fraction: 0.01, fpr: [0, 0.1, 1], tpr: [0, 0.8, 1], auroc: 0.85 },
        { protocol: 'linear', initialisation: 'random', fraction: 0.01, fpr: [0, 0.3, 1], tpr: [0, 0.6, 1], auroc: 0.65 },
      ],
      pretrain: [
        { epoch: 0, knnAuroc: 0.7, linearProbeAuroc: 0.72 },
        { epoch: 1, loss: 6.1, knnAuroc: 0.74, linearProbeAuroc: 0.8 },
        { epoch: 2, loss: 5.2, knnAuroc: 0.75, linearProbeAuroc: 0.83 },
      ],
      cells: [{ id: 'linear-moco-1pct-d0', protocol: 'linear', initialisation: 'moco', fraction: 0.01, draw: 0, valAuroc: 0.9, testAuroc: 0.88, epochs: 80, seconds: 1.5 }],
      confidence: 0.95,
    };
    const written = await writeReport(data, dir);
    expect(written.figures.map((f) => f.name)).toEqual(['auroc-vs-fraction', 'roc', 'pretraining']);
    for (const f of written.figures) {
      const png = readFileSync(f.png);
      expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
      // Width and height from the IHDR chunk: a 2x raster of a figure several hundred px wide.
      expect(png.readUInt32BE(16)).toBeGreaterThan(800);
      expect(readFileSync(f.svg, 'utf8')).toMatch(/^<svg/);
    }
    const md = readFileSync(written.markdown, 'utf8');
    // The page opens with the findings in words, then what it does not show, then the settings.
    const lines = md.split('\n');
    expect(lines.slice(0, 5)).toEqual(['# test report', '', '## Summary', '', `- ${summarise([row])[0]}`]);
    expect(md.indexOf('**What this page does not show:**')).toBeLessThan(md.indexOf('## Settings'));
    expect(md).toContain('- Real patients: synthetic images.');
    expect(md).toContain('| linear | 1% (5 draws) | moco | 0.877 [0.855, 0.899] | random | 0.842 [0.819, 0.866] | +0.035 [+0.015, +0.053] | <0.001 | 500 |');
    expect(md).toContain('![auroc-vs-fraction](figures/auroc-vs-fraction.png)');
    const html = readFileSync(written.html, 'utf8');
    expect(html.indexOf('<h2>Summary</h2>')).toBeLessThan(html.indexOf('<h2>Settings</h2>'));
    expect(html).toContain(`<li>${summarise([row])[0]}</li>`);
    expect(html).toContain('<td>+0.035 [+0.015, +0.053]</td>');
    expect(html.match(/<svg/g)).toHaveLength(3);
    expect(existsSync(join(dir, 'figures', 'roc.svg'))).toBe(true);
    const roc = readFileSync(join(dir, 'figures', 'roc.svg'), 'utf8');
    expect(roc).toContain('>false-positive rate</text>');
    const pre = readFileSync(join(dir, 'figures', 'pretraining.svg'), 'utf8');
    for (const t of ['InfoNCE loss', 'kNN AUROC', 'linear-probe AUROC']) expect(pre).toContain(`>${t}</text>`);
  });

  it('report.md shows names from a config or dataset as text: no raw HTML, no links, no broken tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-report-md-'));
    const hostile: ReportData = {
      title: '<script>alert(1)</script> grid',
      summary: ['[click](javascript:alert(1)) wins'],
      notShown: ['<!-- hidden --> note'],
      context: ['data: image folder /data/x\n<img src=x onerror=alert(1)>'],
      points: [],
      comparisons: [{ ...row, task: '<b>Edema</b>', a: 'moco|x' }, { ...row, task: 'Effusion' }],
      roc: [],
      pretrain: [],
      cells: [{ id: 'cell|<i>x</i>', protocol: 'linear', initialisation: 'moco', fraction: 0.01, draw: 0, valAuroc: 0.9, testAuroc: 0.88, epochs: 80, seconds: 1.5 }],
      confidence: 0.95,
      intervals: ['<a href="javascript:alert(1)">how</a>'],
    };
    const written = await writeReport(hostile, dir);
    const md = readFileSync(written.markdown, 'utf8');
    // Nothing that a Markdown renderer would take as HTML or as a link.
    expect(md).not.toMatch(/<[A-Za-z/!?]/);
    expect(md).not.toMatch(/[^\\]\]\(/);
    expect(md.split('\n').slice(0, 5)).toEqual(['# &lt;script>alert(1)&lt;/script> grid', '', '## Summary', '', '- [click\\](javascript:alert(1)) wins']);
    expect(md).toContain('- data: image folder /data/x &lt;img src=x onerror=alert(1)>\n');
    // A | inside a cell does not add a column.
    expect(md).toContain('| &lt;b>Edema&lt;/b> | linear | 1% (5 draws) | moco\\|x | 0.877 [0.855, 0.899] |');
    expect(md).toContain('| cell\\|&lt;i>x&lt;/i> | 0.900 | 0.880 | 80 | 1.5 |');
    const html = readFileSync(written.html, 'utf8');
    expect(html).toContain('<td>cell|&lt;i&gt;x&lt;/i&gt;</td>');
    expect(html).not.toContain('<script>');
  });

  it('says in words who won each comparison, by how much and with what CI', () => {
    const behind = { ...row, fraction: 1, drawsA: 1, drawsB: 1, difference: { estimate: -0.148, lo: -0.21, hi: -0.084 }, aurocA: { estimate: 0.461, lo: 0.42, hi: 0.5 }, aurocB: { estimate: 0.61, lo: 0.55, hi: 0.66 } };
    const level = { ...row, protocol: 'finetune', difference: { estimate: -0.026, lo: -0.077, hi: 0.028 } };
    expect(summarise([row, behind, level])).toEqual([
      'Linear protocol (frozen backbone, linear head trained with Adam), 1% of the labels (5 draws): MoCo beat random init by +0.035 AUROC (95% CI +0.015 to +0.053; AUROC 0.877 vs 0.842).',
      'Linear protocol (frozen backbone, linear head trained with Adam), 100% of the labels: MoCo was behind random init by 0.148 AUROC (95% CI -0.210 to -0.084; AUROC 0.461 vs 0.610).',
      'End-to-end fine-tuning, 1% of the labels (5 draws): no clear difference; MoCo minus random init is -0.026 AUROC and its 95% CI (-0.077 to +0.028) includes 0 (AUROC 0.877 vs 0.842).',
    ]);
  });

  it('formats the table with signed gaps and the draw counts', () => {
    const md = comparisonMarkdown([{ ...row, fraction: 1, drawsA: 1, drawsB: 1, difference: { estimate: -0.01, lo: -0.03, hi: 0.012 }, pValue: 0.4 }]);
    expect(md.split('\n')[2]).toBe('| linear | 100% (1 draw) | moco | 0.877 [0.855, 0.899] | random | 0.842 [0.819, 0.866] | -0.010 [-0.030, +0.012] | 0.400 | 500 |');
  });
});
