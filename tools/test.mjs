// Runs every package's tests through Nx, then prints the one summary line CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const resultsDir = join(root, '.test-results');
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

const args = ['nx', 'run-many', '-t', 'test', '--parallel=1', '--outputStyle=stream', ...process.argv.slice(2)];
const run = spawnSync('npx', args, { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } });

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of readdirSync(resultsDir).filter((f) => f.endsWith('.json'))) {
  const report = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
  passed += report.numPassedTests ?? 0;
  // Skipped tests are counted, so a test that silently stops running shows in the summary line.
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A suite that failed to load has no failing test but must still count as a failure.
  failed += (report.numFailedTests ?? 0) + (report.numFailedTestSuites > 0 && (report.numFailedTests ?? 0) === 0 ? 1 : 0);
}
// Each skip with its reason (written by tools/skip-reporter.mjs).
for (const file of readdirSync(resultsDir).filter((f) => f.endsWith('.skips')).sort()) {
  for (const s of JSON.parse(readFileSync(join(resultsDir, file), 'utf8'))) console.log(`skipped: ${s.file} > ${s.name}${s.note ? ` (${s.note})` : ''}`);
}
// A package whose test script lacks the skip reporter would hide its skips' reasons: fail it by name.
for (const file of readdirSync(resultsDir).filter((f) => f.endsWith('.json'))) {
  const name = file.slice(0, -'.json'.length);
  if (existsSync(join(resultsDir, `${name}.skips`))) continue;
  console.log(`packages/${name}: its test script does not run tools/skip-reporter.mjs, so its skips are not listed (add --reporter=../../tools/skip-reporter.mjs)`);
  failed += 1;
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);

