#!/usr/bin/env node
// The `moco-cxr` executable. npm links a bin only when its file exists at install time, and dist/ is
// built after `npm ci`, so this always-present file loads dist/cli.js (building it first in a fresh checkout).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  if (!existsSync(`${root}nx.json`) || !existsSync(`${root}packages/runner/bin/moco-cxr.js`)) {
    process.stderr.write(`moco-cxr: ${fileURLToPath(cli)} is missing: this copy of @moco-cxr/runner was never built\n`);
    process.exit(1);
  }
  process.stderr.write('moco-cxr: first run in this checkout: building the packages (npx nx run @moco-cxr/runner:build)...\n');
  const built = spawnSync('npx', ['nx', 'run', '@moco-cxr/runner:build', '--outputStyle=static'], { cwd: root, stdio: ['ignore', 2, 2], env: { ...process.env, NX_DAEMON: 'false' } });
  if (built.status !== 0 || !existsSync(cli)) {
    process.stderr.write('moco-cxr: the build failed; `npm run build` shows why\n');
    process.exit(1);
  }
}
await import(cli.href);
