import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { readPretrainHistory } from './history';
import { pretrain, type EpochRecord } from './pretrain';
import { blobImages, tinyResnet } from './test-support/fixtures';

const root = mkdtempSync(join(tmpdir(), 'moco-history-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1 });
});

describe('readPretrainHistory', () => {
  it("is the curve of a run stopped and resumed: epoch 0's probe, then every epoch of both calls", async () => {
    const outDir = join(root, 'run');
    const probe = { images: blobImages(16, 32, 2), labels: Array.from({ length: 16 }, (_, i) => i % 2) };
    const records: EpochRecord[] = [];
    for (const maxSteps of [4, undefined]) {
      const backbone = await tinyResnet(32, 1);
      try {
        // 3 steps an epoch: the first call stops inside epoch 2, the second resumes it.
        const r = await pretrain({ backbone, data: blobImages(24, 32, 1), outDir, batchSize: 8, queueSize: 16, epochs: 2, seed: 3, monitor: { probe, knnK: 3 }, ...(maxSteps ? { maxSteps } : {}) });
        records.push(...r.history);
      } finally {
        backbone.dispose();
      }
    }
    expect(records.map((e) => e.epoch)).toEqual([1, 2]);
    const history = readPretrainHistory(outDir);
    expect(history).toEqual([
      { epoch: 0, knnAuroc: records[0].probe!.initKnnAuroc, linearProbeAuroc: records[0].probe!.initLinearAuroc },
      ...records.map((e) => ({ epoch: e.epoch, loss: e.loss, top1: e.top1, knnAuroc: e.probe!.knnAuroc, linearProbeAuroc: e.probe!.linearAuroc })),
    ]);

    // A line cut by a crash is skipped; a run started again from scratch replaces the curve before it.
    appendFileSync(join(outDir, 'metrics.jsonl'), '{"event":"epoch","epo\n');
    expect(readPretrainHistory(outDir)).toEqual(history);
    appendFileSync(join(outDir, 'metrics.jsonl'), `${JSON.stringify({ event: 'start', step: 0, epoch: 0 })}\n${JSON.stringify({ event: 'epoch', epoch: 1, loss: 9, top1: 0.5 })}\n`);
    expect(readPretrainHistory(outDir)).toEqual([{ epoch: 1, loss: 9, top1: 0.5, knnAuroc: undefined, linearProbeAuroc: undefined }]);
  }, 120_000);

  it('a directory without metrics.jsonl has no history', () => {
    expect(readPretrainHistory(join(root, 'nowhere'))).toEqual([]);
  });
});
