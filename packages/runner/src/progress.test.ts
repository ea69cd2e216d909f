import { describe, expect, it } from 'vitest';
import { captureIo } from '../test/io';
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

  it('stays silent when quiet (--json)', () => {
    const io = { ...captureIo(), quiet: true };
    new Progress(io, 'x', 1).tick();
    expect(io.text()).toBe('');
  });

  it('formats durations', () => {
    expect([5.25, 42, 125, 7260].map(formatSeconds)).toEqual(['5.3s', '42s', '2m05s', '2h01m']);
  });
});
