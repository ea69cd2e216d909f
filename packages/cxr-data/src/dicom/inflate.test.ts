import { constants, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Rng } from '@moco-cxr/rng';
import { InflateLimitError, inflateRaw } from './inflate';

describe('inflateRaw', () => {
  const rng = new Rng(5);
  // Text-like bytes (long matches), noise (literals, stored blocks) and a run (overlapping copies).
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['text', new TextEncoder().encode('DICOM radiograph '.repeat(5000) + 'end')],
    ['noise', Uint8Array.from({ length: 70_000 }, () => rng.int(256))],
    ['run', new Uint8Array(200_000).fill(7)],
    ['mixed', Uint8Array.from({ length: 100_000 }, (_, i) => (i % 1000 < 500 ? rng.int(4) : (i * 31) & 255))],
  ];
  for (const [name, data] of inputs) {
    for (const [level, strategy] of [[0, constants.Z_DEFAULT_STRATEGY], [1, constants.Z_FIXED], [6, constants.Z_DEFAULT_STRATEGY], [9, constants.Z_HUFFMAN_ONLY]] as const) {
      it(`gives zlib's input back: ${name}, level ${level}, strategy ${strategy}`, () => {
        const z = deflateRawSync(data, { level, strategy });
        expect(Buffer.from(inflateRaw(z, data.length + 1)).equals(Buffer.from(data))).toBe(true);
      });
    }
  }

  it('refuses output past the limit (a deflate bomb) with the code callers test', () => {
    const z = deflateRawSync(Buffer.alloc(1 << 20));
    expect(() => inflateRaw(z, 1000)).toThrow(InflateLimitError);
    expect(() => inflateRaw(z, 1000)).toThrow('the inflated data is larger than 1000 bytes');
    expect(inflateRaw(z, 1 << 20).length).toBe(1 << 20);
  });

  it('a stream cut short gives what was decoded (as zlib with Z_SYNC_FLUSH); corrupt data is an error', () => {
    const data = new TextEncoder().encode('abcdefgh'.repeat(4000));
    const z = deflateRawSync(data, { level: 0 });
    const cut = inflateRaw(z.subarray(0, 2000), 1 << 20);
    expect(cut.length).toBeGreaterThan(1000);
    expect(Buffer.from(cut).equals(Buffer.from(data.subarray(0, cut.length)))).toBe(true);
    expect(() => inflateRaw(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 100)).toThrow(/invalid/);
  });
});
