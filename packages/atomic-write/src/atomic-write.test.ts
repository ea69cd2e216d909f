import { spawn } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replaceFileAtomic, tempSiblingPath, writeFileAtomic } from './index';

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

  it('replaces atomically: a reader in another process only ever sees one whole version', async () => {
    const dir = fresh();
    const path = join(dir, 'index.json');
    const versions = ['a', 'b'].map((c) => c.repeat(1 << 20));
    writeFileAtomic(path, versions[0]);
    const stop = join(dir, 'stop');
    const reader = spawn(
      process.execPath,
      ['-e', `const fs = require('fs'); const [p, stop, a, b] = process.argv.slice(1); let reads = 0, torn = 0;
       while (!fs.existsSync(stop)) { const s = fs.readFileSync(p, 'latin1'); reads++; if (s.length !== ${1 << 20} || (s[0] !== s[s.length - 1]) || (s[0] !== 'a' && s[0] !== 'b') || s.indexOf(s[0] === 'a' ? 'b' : 'a') >= 0) torn++; }
       console.log(JSON.stringify({ reads, torn }));`, path, stop],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (d) => (out += d));
    const done = new Promise<number | null>((resolve) => reader.on('close', resolve));
    // Let the reader start, then replace the file while it reads.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 1; i <= 20; i++) {
      writeFileAtomic(path, versions[i % 2]);
      await new Promise((r) => setImmediate(r));
    }
    writeFileSync(stop, '');
    expect(await done).toBe(0);
    const { reads, torn } = JSON.parse(out) as { reads: number; torn: number };
    expect(reads).toBeGreaterThan(0);
    expect(torn).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['index.json', 'stop']);
  });
});

describe('replaceFileAtomic', () => {
  it('publishes what fill made (a stream of writes, a hard link) and leaves only the file', async () => {
    const dir = fresh();
    const path = join(dir, 'sub', 'seg-1.u8');
    expect(await replaceFileAtomic(path, (tmp) => writeFileSync(tmp, 'segment'))).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('segment');
    const prev = join(dir, 'sub', 'ckpt.prev');
    expect(await replaceFileAtomic(prev, (tmp) => linkSync(path, tmp))).toBe(true);
    expect(readFileSync(prev, 'utf8')).toBe('segment');
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['ckpt.prev', 'seg-1.u8']);
  });

  it('a fill that throws after writing part of the file leaves the old file and no temporary file', async () => {
    const dir = fresh();
    const path = join(dir, 'ckpt');
    writeFileAtomic(path, 'previous');
    await expect(
      replaceFileAtomic(path, async (tmp) => {
        writeFileSync(tmp, 'half');
        throw new Error('decoder failed');
      }),
    ).rejects.toThrow('decoder failed');
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual(['ckpt']);
  });

  it('a fill that returns false publishes nothing and removes what it wrote', async () => {
    const dir = fresh();
    const path = join(dir, 'seg.u8');
    expect(await replaceFileAtomic(path, (tmp) => (writeFileSync(tmp, ''), false))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a rename that fails removes the temporary file and names the path', async () => {
    const dir = fresh();
    const path = join(dir, 'taken');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    await expect(replaceFileAtomic(path, (tmp) => writeFileSync(tmp, 'new'))).rejects.toThrow(/taken/);
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('temporary names are hidden siblings naming the writing process, fresh on every call', () => {
    const dir = fresh();
    const a = tempSiblingPath(join(dir, 'x.json'));
    expect(a.startsWith(join(dir, `.x.json.${process.pid}.`)) && a.endsWith('.tmp')).toBe(true);
    expect(tempSiblingPath(join(dir, 'x.json'))).not.toBe(a);
  });
});
