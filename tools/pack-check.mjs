// Ready to publish? For every package: `npm pack --dry-run` holds each file its package.json names
// (main, module, types, bin, every exports target) and no tests, fixtures or build configs.
// Then the versions the pending changesets would release: the first publish is 0.1.0 for every
// package. Run after `npm run build`; exits 1 listing every problem.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

// What a tarball must not hold: tests, test data, benchmarks, and the repository's build configs.
const FORBIDDEN = [
  [/\.test\.[cm]?[jt]sx?$/, 'a test file'],
  [/(^|\/)(fixtures?|__fixtures__|test|tests|bench)\//, 'test data or benchmarks'],
  [/(^|\/)test-fixtures\.[cm]?[jt]s$/, 'test fixtures'],
  [/(^|\/)test-support\//, 'test helpers'],
  [/_(test|bench)\.(cc|h)$/, 'a C++ test or benchmark'],
  [/\.py$/, 'a Python script'],
  [/(^|\/)(tsconfig[^/]*\.json|tsup\.config\.[cm]?[jt]s|vitest\.config\.[cm]?[jt]s)$/, 'a build config'],
  [/\.tsbuildinfo$/, 'a TypeScript build cache'],
];

/** Every file path a package.json promises: main, module, types, bin and the leaves of exports. */
export function namedFiles(pkg) {
  const out = new Set();
  const add = (p) => {
    // Patterns ("./internal/*") and blocked subpaths (null) name no single file.
    if (typeof p === 'string' && !p.includes('*')) out.add(p.replace(/^\.\//, ''));
  };
  for (const k of ['main', 'module', 'types', 'typings']) add(pkg[k]);
  if (typeof pkg.bin === 'string') add(pkg.bin);
  else for (const v of Object.values(pkg.bin ?? {})) add(v);
  const walk = (node) => {
    if (node === null || node === undefined) return;
    if (typeof node === 'string') return add(node);
    if (Array.isArray(node)) return node.forEach(walk);
    for (const v of Object.values(node)) walk(v);
  };
  walk(pkg.exports);
  return [...out].sort();
}

/** The problems of one package's tarball, given its package.json and the paths `npm pack` lists. */
export function tarballProblems(pkg, files) {
  const problems = [];
  const held = new Set(files);
  for (const f of namedFiles(pkg)) if (!held.has(f)) problems.push(`${f} is named in package.json but not in the tarball`);
  for (const f of files) {
    const hit = FORBIDDEN.find(([re]) => re.test(f));
    if (hit) problems.push(`${f} is ${hit[1]}; leave it out with "files" in package.json`);
  }
  for (const f of ['package.json', 'README.md']) if (!held.has(f)) problems.push(`${f} is missing from the tarball`);
  return problems;
}

/**
 * The version the next release is meant to publish, for every package: the first publish is 0.1.0.
 * Unpublished packages stay at 0.0.0 in package.json with pending `minor` changesets (0.0.0 -> 0.1.0);
 * a package already at 0.1.0 would be bumped to 0.2.0 by them and 0.1.0 never published. Once 0.1.0
 * is out, set this to the version the next release is meant to have.
 */
export const NEXT_RELEASE = '0.1.0';

/**
 * The problems of a release plan (`@changesets/get-release-plan`'s `releases`) for the packages
 * given as `{ name, version }`: each must come out at NEXT_RELEASE, or already be at it (after
 * `changeset version`, before `changeset publish`).
 */
export function releaseProblems(packages, releases, intended = NEXT_RELEASE) {
  const problems = [];
  const planned = new Map(releases.filter((r) => r.type !== 'none').map((r) => [r.name, r]));
  const why = `the next release is meant to be ${intended} for every package (NEXT_RELEASE in tools/pack-check.mjs)`;
  for (const { name, version } of packages) {
    const r = planned.get(name);
    if (r && r.newVersion !== intended) {
      const fix = intended === '0.1.0' ? ': an unpublished package stays at 0.0.0 in package.json and its changesets ask for minor' : '';
      problems.push(`${name}: a release would publish ${r.newVersion} (a ${r.type} bump of ${version}), but ${why}${fix}`);
    } else if (!r && version !== intended) {
      problems.push(`${name}@${version}: no pending changeset, so a release would publish ${version}, but ${why}`);
    }
  }
  return problems;
}

async function checkReleaseVersions(pkgs) {
  const mod = await import('@changesets/get-release-plan');
  const getReleasePlan = mod.default?.default ?? mod.default;
  const plan = await getReleasePlan(root);
  const problems = releaseProblems(pkgs, plan.releases);
  for (const r of plan.releases.filter((r) => r.type !== 'none').sort((a, b) => a.name.localeCompare(b.name))) {
    console.log(`release: ${r.name} ${r.oldVersion} -> ${r.newVersion} (${r.type}, ${r.changesets.length} changeset${r.changesets.length === 1 ? '' : 's'})`);
  }
  for (const p of problems) console.log(`  ${p}`);
  return problems.length;
}

async function main() {
  const dirs = readdirSync(join(root, 'packages')).filter((d) => {
    try {
      return !JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')).private;
    } catch {
      return false;
    }
  });
  let failed = 0;
  const pkgs = [];
  for (const d of dirs.sort()) {
    const dir = join(root, 'packages', d);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    pkgs.push({ name: pkg.name, version: pkg.version });
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    const files = packed.files.map((f) => f.path);
    const problems = tarballProblems(pkg, files);
    const kb = (packed.size / 1024).toFixed(0);
    if (problems.length) {
      failed++;
      console.log(`${pkg.name}@${pkg.version}: ${files.length} files, ${kb} kB packed: ${problems.length} problem${problems.length > 1 ? 's' : ''}`);
      for (const p of problems) console.log(`  ${p}`);
    } else {
      console.log(`${pkg.name}@${pkg.version}: ${files.length} files, ${kb} kB packed: ok`);
    }
  }
  const versionProblems = await checkReleaseVersions(pkgs);
  if (failed || versionProblems) {
    if (failed) console.log(`pack check: ${failed} of ${dirs.length} packages have problems`);
    if (versionProblems) console.log(`pack check: the pending changesets would not release what is intended (${NEXT_RELEASE} for every package)`);
    process.exitCode = 1;
    return;
  }
  console.log(`pack check: ${dirs.length} packages ready to publish, next release ${NEXT_RELEASE}`);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) await main();
