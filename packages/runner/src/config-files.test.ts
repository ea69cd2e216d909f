// Config files are read only when they are regular files of config size (issue 22): `extends: /dev/zero`,
// a FIFO or a link to either must be refused by name, at once, not read until memory runs out or forever.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, readConfigFile } from './config';

const dir = mkdtempSync(join(tmpdir(), 'runner-config-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const extending = (name: string, base: string) => {
  const file = join(dir, name);
  writeFileSync(file, `extends: ${JSON.stringify(base)}\nseed: 3\n`);
  return file;
};
const error = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

describe('config files that are not config files', () => {
  it('extends: /dev/zero is refused by its name before anything is read', () => {
    const err = error(() => readConfigFile(extending('zero.yaml', '/dev/zero')));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('/dev/zero: unknown config format ""; use .json, .yaml or .yml');
  });

  it('a link to /dev/zero named .yaml is refused as a character device', () => {
    symlinkSync('/dev/zero', join(dir, 'zero-link.yaml'));
    expect(error(() => readConfigFile(extending('a.yaml', 'zero-link.yaml'))).message).toBe(`${join(dir, 'zero-link.yaml')}: not a regular file (a character device); a config is a .json, .yaml or .yml file`);
  });

  it('a FIFO named .yaml is refused without waiting for a writer', () => {
    execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
    expect(error(() => readConfigFile(extending('b.yaml', 'pipe.yaml'))).message).toBe(`${join(dir, 'pipe.yaml')}: not a regular file (a FIFO); a config is a .json, .yaml or .yml file`);
  }, 5_000);

  it('a directory, and a file larger than a config, are refused naming the file', () => {
    mkdirSync(join(dir, 'dir.yaml'));
    expect(error(() => readConfigFile(join(dir, 'dir.yaml'))).message).toBe(`${join(dir, 'dir.yaml')}: not a regular file (a directory); a config is a .json, .yaml or .yml file`);
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(2 << 20)}\nseed: 1\n`);
    expect(error(() => readConfigFile(extending('c.yaml', 'big.yaml'))).message).toMatch(/big\.yaml: 2097\d+ bytes, more than a config file's 1048576; not a config file$/);
  });

  it('a regular config (and a link to one) still reads', () => {
    writeFileSync(join(dir, 'base.yaml'), 'seed: 5\nfractions: [1]\n');
    symlinkSync(join(dir, 'base.yaml'), join(dir, 'base-link.yml'));
    expect(readConfigFile(extending('d.yaml', 'base-link.yml'))).toEqual({ seed: 3, fractions: [1] });
  });
});
