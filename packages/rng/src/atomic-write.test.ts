import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from './index';

const fresh = () => mkdtempSync(join(tmpdir(), 'atomic-write-'));

describe('writeFileAtomic', () => {
  it('writes text, bytes or chunks in order, creating the directory, and leaves only the file', () => {
    const dir = fresh();
    const path = join(dir, 'a', 'b', 'results.json');
    writeFileAtomic(path, '{"auroc": 0.9}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"auroc": 0.9}\n');
    // Large enough that a write may return short: every byte still lands in order.
    const big = Uint8Array.from({ length: 3 << 20 }, (_, i) => (i * 7) & 255);
    writeFileAtomic(path, [big.subarray(0, 5), big.subarray(5, 1 << 20), big.subarray(1 << 20)]);
    expect(Buffer.compare(readFileSync(path), Buffer.from(big))).toBe(0);
    writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(path))).toEqual([1, 2, 3]);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['results.json']);
  });

  it('a write that fails midway leaves the previous file whole and no temporary file', () => {
    const dir = fresh();
    const path = join(dir, 'ckpt.safetensors');
    writeFileAtomic(path, 'previous');
    // The second chunk is not bytes: the write fails after the first reached the temporary file.
    expect(() => writeFileAtomic(path, [new Uint8Array(1000), null as unknown as Uint8Array])).toThrow();
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
  });

  it('a rename that fails (a directory holds the name) removes the temporary file and names the path', () => {
    const dir = fresh();
    const path = join(dir, 'taken');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    expect(() => writeFileAtomic(path, 'new')).toThrow(/taken/);
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readdirSync(path)).toEqual(['inside']);
  });

});
