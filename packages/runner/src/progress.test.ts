import { describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import { processIo } from './cli/terminal';
import { formatSeconds, Progress } from './progress';

describe('Progress', () => {
  it('prints plain lines off a terminal: only the end line for quick work, with count, rate and extras', () => {
    const io = captureIo();
    const bar = new Progress(io, 'embed train', 4, 'img');
    bar.tick(2);
    bar.tick(2, { loss: 0.6931 });
    bar.tick(1);
    const lines = io.text().split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^embed train: 4\/4 img {2}\d+ img\/s {2}took \d+\.\ds {2}loss 0\.693$/);
  });

  it('redraws one line on a terminal and ends it with a newline', () => {
    const io = { ...captureIo(), tty: true };
    const bar = new Progress(io, 'pretrain', 10, 'step');
    bar.set(10, { epoch: 3 });
    expect(io.text()).toMatch(/^\r\x1b\[2Kpretrain \[#{24}\] 10\/10 step .* epoch 3\n$/);
  });

  it('off a terminal prints a line every 30 s of wall time (not every N updates) and the end line', () => {
    const io = captureIo();
    let t = 0;
    // 1000 images, 4 per update, one update every 0.5 s: 125 s in all.
    const bar = new Progress(io, 'pretrain', 1000, 'img', { now: () => t });
    for (let done = 4; done <= 1000; done += 4) {
      t += 500;
      bar.set(done, { epoch: '1/2' });
    }
    const lines = io.text().split('\n').filter(Boolean);
    expect(lines.map((l) => l.match(/^pretrain: (\d+)\/1000 img/)![1])).toEqual(['240', '480', '720', '960', '1000']);
    expect(lines[0]).toBe('pretrain: 240/1000 img  8.00 img/s  ETA 1m35s  epoch 1/2');
    expect(lines[4]).toMatch(/took 2m05s/);
    // Slow updates (one a minute) each get their line.
    const slow = captureIo();
    t = 0;
    const slowBar = new Progress(slow, 'pretrain', 10, 'img', { now: () => t, initial: 4 });
    for (const done of [5, 6]) {
      t += 60_000;
      slowBar.set(done);
    }
    expect(slow.text()).toBe('pretrain: 5/10 img  0.02 img/s  ETA 5m00s\npretrain: 6/10 img  0.02 img/s  ETA 4m00s\n');
  });

  it('takes the interval from io.progressSeconds (MOCO_CXR_PROGRESS_SECONDS in the CLI), 30 s by default', () => {
    expect(processIo({}).progressSeconds).toBeUndefined();
    expect(processIo({ MOCO_CXR_PROGRESS_SECONDS: '0.5' }).progressSeconds).toBe(0.5);
    const io = { ...captureIo(), progressSeconds: 5 };
    let t = 0;
    const bar = new Progress(io, 'x', 100, 'it', { now: () => t });
    for (let i = 1; i < 100; i++) {
      t += 1000;
      bar.set(i);
    }
    expect(io.text().split('\n').filter(Boolean)).toHaveLength(19);
  });

  it('clears a bar on a terminal before a log line', () => {
    const io = { ...captureIo(), tty: true };
    let t = 0;
    const bar = new Progress(io, 'pretrain', 10, 'img', { now: () => t });
    t = 1000;
    bar.set(5);
    bar.log('epoch 1/2: loss 1.0');
    expect(io.text()).toMatch(/^\r\x1b\[2Kpretrain \[#{12}\.{12}\] 5\/10 img .*ETA 1\.0s\r\x1b\[2Kepoch 1\/2: loss 1\.0\n$/);
  });

  it('stays silent when quiet (--json)', () => {
    const io = { ...captureIo(), quiet: true };
    new Progress(io, 'x', 1).tick();
    expect(io.text()).toBe('');
  });

  it('formats durations', () => {
    expect([5.25, 42, 125, 7260].map(formatSeconds)).toEqual(['5.3s', '42s', '2m05s', '2h01m']);
  });
});
