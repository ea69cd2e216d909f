import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochRecord } from './pretrain';

/** One point of a pretraining's curve: epoch 0 is the network at initialisation (probe scores only). */
export interface PretrainHistoryPoint {
  epoch: number;
  loss?: number;
  top1?: number;
  knnAuroc?: number;
  linearProbeAuroc?: number;
}

/**
 * A pretraining's curve from `outDir/metrics.jsonl`, over every call of a resumed run since it last
 * started from scratch: epoch 0 (the monitor's scores at initialisation) and every finished epoch's
 * loss, top-1 and probe AUROCs, by epoch. A line cut by a crash is skipped; no file gives [].
 */
export function readPretrainHistory(outDir: string): PretrainHistoryPoint[] {
  const file = join(outDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  const byEpoch = new Map<number, PretrainHistoryPoint>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let rec: Partial<Omit<EpochRecord, 'event'>> & { event?: string };
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // a line cut by a crash
    }
    // A run started again from scratch (no checkpoint to resume) overwrites the epochs before it.
    if (rec.event === 'start') byEpoch.clear();
    if (rec.event !== 'epoch' || rec.epoch === undefined) continue;
    // EpochRecord.epoch counts finished epochs from 1; its probe carries the epoch-0 scores too.
    byEpoch.set(rec.epoch, { epoch: rec.epoch, loss: rec.loss, top1: rec.top1, knnAuroc: rec.probe?.knnAuroc, linearProbeAuroc: rec.probe?.linearAuroc });
    if (rec.probe && !byEpoch.has(0)) byEpoch.set(0, { epoch: 0, knnAuroc: rec.probe.initKnnAuroc, linearProbeAuroc: rec.probe.initLinearAuroc });
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}
