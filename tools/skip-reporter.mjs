// Vitest reporter that writes each skipped test with its reason, for tools/test.mjs to print.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

export default class SkipReporter {
  skips = [];

  onTestCaseResult(testCase) {
    const result = testCase.result();
    if (result.state !== 'skipped') return;
    const file = relative(root, testCase.module.moduleId);
    // ctx.skip(note) carries a note; skipIf/skip carry their reason in the test's name.
    this.skips.push({ file, name: testCase.fullName, note: result.note ?? '' });
  }

  onTestRunEnd() {
    const dir = join(root, '.test-results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${basename(process.cwd())}.skips`), JSON.stringify(this.skips));
  }
}
