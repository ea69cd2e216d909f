// Runs the TypeScript examples of a package README as tests, so a README that drifts from the
// code fails CI. Used from each package's src/readme.test.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, it } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = resolve(repoRoot, '../shared');

/**
 * The ```ts blocks of a Markdown file, with the line each starts on.
 * @param {string} markdown
 * @returns {{ line: number, code: string }[]}
 */
export function tsBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

/**
 * Registers one vitest test per ```ts block of `<packageDir>/README.md`. Each runs as an ES module
 * placed in the package (so its imports resolve like a user's would, through the workspace), with
 * the working directory a fresh temp dir laid out like the repository (`../shared` beside it), so
 * relative paths in the example behave as the README says.
 * @param {string} packageDir absolute path of the package
 * @param {{ timeout?: number }} [options]
 */
export function readmeExampleTests(packageDir, options = {}) {
  const readme = join(packageDir, 'README.md');
  const blocks = tsBlocks(readFileSync(readme, 'utf8'));
  if (blocks.length === 0) throw new Error(`${readme}: no \`\`\`ts example`);
  const scratch = join(packageDir, '.readme-examples');
  const work = mkdtempSync(join(tmpdir(), 'moco-cxr-readme-'));
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  blocks.forEach(({ line, code }, n) => {
    const needsShared = code.includes('../shared/');
    const test = needsShared && !existsSync(sharedDir) ? it.skip : it;
    // The skip reason is the test's name, so the summary says why.
    const name = `README.md example ${n + 1} (line ${line}) runs${needsShared && !existsSync(sharedDir) ? ` [needs ${sharedDir}]` : ''}`;
    test(
      name,
      async () => {
        mkdirSync(scratch, { recursive: true });
        const file = join(scratch, `example-${n + 1}.ts`);
        writeFileSync(file, `// ${readme}:${line}\n${code}\nexport {};\n`);
        const cwd = join(work, `example-${n + 1}`, 'repo');
        mkdirSync(cwd, { recursive: true });
        if (existsSync(sharedDir)) symlinkSync(sharedDir, join(cwd, '..', 'shared'));
        const before = process.cwd();
        const exitCode = process.exitCode;
        process.chdir(cwd);
        try {
          await import(/* @vite-ignore */ pathToFileURL(file).href);
        } finally {
          process.chdir(before);
          // An example may set the exit code it would give a CLI (130 after a stop); not the test run's.
          process.exitCode = exitCode;
        }
      },
      options.timeout ?? 300_000,
    );
  });
}
