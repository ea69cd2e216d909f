import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import { demoConfig } from './demo';
import { runCli } from './cli/main';

interface Row {
  protocol: string;
  fraction: number;
  a: string;
  b: string;
  difference: { estimate: number; lo: number; hi: number };
}

describe("the demo's claim", () => {
  // The demo's own config and seed, without the end-to-end protocol and the monitor (neither
  // changes the MoCo backbone or the linear cells): the row the demo's first table and summary lead with.
  it('MoCo pretraining beats random init under the linear protocol at the small label fraction, with a 95% CI above 0', async () => {
    const demo = demoConfig();
    const small = Math.min(...demo.fractions);
    const cfg = { ...demo, protocols: ['linear'], pretrain: { ...demo.pretrain, monitorEvery: 0 } };
    const dir = mkdtempSync(join(tmpdir(), 'runner-demo-claim-'));
    const config = join(dir, 'demo-linear.json');
    writeFileSync(config, JSON.stringify(cfg));
    const io = captureIo();
    const r = await runCli(['experiment', '--config', config, '--out', join(dir, 'exp')], io);
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    const rows = (JSON.parse(readFileSync(join(dir, 'exp', 'comparison.json'), 'utf8')) as { rows: Row[] }).rows;
    const row = rows.find((x) => x.protocol === 'linear' && x.fraction === small);
    expect(row, `comparison.json has no linear row at ${small}`).toBeDefined();
    expect([row!.a, row!.b]).toEqual(['moco', 'random']);
    const d = row!.difference;
    const shown = `MoCo - random ${d.estimate.toFixed(3)} [${d.lo.toFixed(3)}, ${d.hi.toFixed(3)}]`;
    console.log(`demo claim, linear protocol at ${small * 100}% of the labels: ${shown}`);
    expect(d.estimate, shown).toBeGreaterThan(0);
    expect(d.lo, shown).toBeGreaterThan(0);
    rmSync(dir, { recursive: true, force: true });
  }, 900_000);
});
