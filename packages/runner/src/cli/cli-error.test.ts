import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackbone, writeSafetensors } from '@moco-cxr/backbones';
import { initBackend } from '@moco-cxr/compute';
import { describe, expect, it } from 'vitest';
import { cliProcessArgs } from '../test-support/cli-process';
import { failureFromOutput } from '../child-job';
import { failureText } from './cli-error';

const config = `
seed: 2
data: { source: synthetic, imageSize: 24, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
`;

describe('a failed command shows what its reason lists', () => {
  it('ResNet50 weights given to a ResNet18: the first missing and unexpected keys, with how many more', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-cli-error-'));
    await initBackend({ prefer: 'cpu' });
    // A (narrow) torchvision ResNet50 state dict without its last stage: ResNet18's layer4 keys are missing.
    const r50 = await createBackbone('resnet50', { widths: [4, 8, 16, 32], stemWidth: 4, inputShape: [24, 24, 3], seed: 1 });
    const dict = r50.stateDict({ layout: 'torch' });
    for (const [key, t] of dict) if (key.startsWith('layer4.')) t.dispose(), dict.delete(key);
    const weights = join(dir, 'r50.safetensors');
    await writeSafetensors(weights, dict);
    for (const t of dict.values()) t.dispose();
    r50.dispose();
    writeFileSync(join(dir, 'c.yaml'), config);

    const out = join(dir, 'lin');
    const r = spawnSync(process.execPath, [...cliProcessArgs(), 'linear', '-c', join(dir, 'c.yaml'), '--weights', weights, '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    const m = /^moco-cxr linear: .*r50\.safetensors: resnet18\.loadStateDict: state dict does not match the model \([a-z]+ layout\)\n {2}missing keys \((\d+)\): (layer4\.[^,\s]+(?:, layer4\.[^,\s]+){4}), and (\d+) more\n {2}unexpected keys \((\d+)\): ((?:[^,\s]+, ){5})and (\d+) more\n {2}shape mismatches \((\d+)\): [^\n]*\n$/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const [, missing, , missingMore, unexpected, , unexpectedMore] = m!;
    expect(Number(missingMore)).toBe(Number(missing) - 5);
    expect(Number(unexpectedMore)).toBe(Number(unexpected) - 5);
    // The full lists stay in the run's run.json.
    const error: string = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).error;
    const missingLine = error.split('\n').find((l) => l.startsWith('missing keys'))!;
    expect(missingLine.split(': ')[1].split(', ')).toHaveLength(Number(missing));
  }, 120_000);

  it('shortens each list line, leaves other lines out and keeps lines a job process shortened already', () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);
    const msg = ['w.pth: bad', `missing keys (7): ${keys(7).join(', ')}`, 'a detail line', `shape mismatches (2): a: got [1,2], expected [3]; b: got [4]`].join('\n');
    expect(failureText(msg)).toBe('w.pth: bad\n  missing keys (7): k0, k1, k2, k3, k4, and 2 more\n  shape mismatches (2): a: got [1,2], expected [3]; b: got [4]');
    const child = `progress 3/4\nmoco-cxr run-job: ${failureText(msg)}\n`;
    expect(failureFromOutput(child, { headline: true })).toBe('moco-cxr run-job: w.pth: bad');
    const relayed = `job x failed (exit 1): ${failureFromOutput(child)}`;
    expect(failureText(relayed)).toBe(`job x failed (exit 1): moco-cxr run-job: w.pth: bad\n  missing keys (7): k0, k1, k2, k3, k4, and 2 more\n  shape mismatches (2): a: got [1,2], expected [3]; b: got [4]`);
  });
});
