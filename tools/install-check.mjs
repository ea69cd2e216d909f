// Does each package install and load on its own? For every package: pack it and the @moco-cxr
// packages it declares (dependencies and required peers), install only those tarballs into an
// empty project, then import it (ESM) and require it (CJS). An import the package.json does not
// declare fails here, because nothing else is installed. Also checks what the install pulls in:
// image decoders (jimp, sharp, the DICOM parser and codecs) only for packages that read images.
// Run after `npm run build`; exits 1 listing every problem. `--only moco,rng` limits the packages.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');

/** Packages allowed to bring an image decoder: the ones whose stage decodes images. */
// model-bundle scores radiographs through cxr-data's own resize (the image cache's), and whoever scores
// with it turns files into grey images with cxr-data's decoders first.
const DECODER_USERS = new Set(['@moco-cxr/cxr-data', '@moco-cxr/model-bundle', '@moco-cxr/runner']);
const DECODERS = ['jimp', 'sharp', 'dicom-parser', 'jpeg-lossless-decoder-js', '@cornerstonejs/codec-libjpeg-turbo-8bit', '@cornerstonejs/codec-charls', '@cornerstonejs/codec-openjpeg'];

const pkgs = new Map();
for (const dir of readdirSync(join(root, 'packages'))) {
  const file = join(root, 'packages', dir, 'package.json');
  if (!existsSync(file)) continue;
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  if (!pkg.private) pkgs.set(pkg.name, { dir: join(root, 'packages', dir), pkg });
}

/** The @moco-cxr packages a package needs installed: its dependencies and non-optional peers, transitively. */
function closure(name, seen = new Set()) {
  if (seen.has(name)) return seen;
  seen.add(name);
  const { pkg } = pkgs.get(name);
  const optional = pkg.peerDependenciesMeta ?? {};
  const needs = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}).filter((p) => !optional[p]?.optional)];
  for (const dep of needs) if (pkgs.has(dep)) closure(dep, seen);
  return seen;
}

const work = mkdtempSync(join(tmpdir(), 'moco-cxr-install-'));
const tarballs = new Map();
for (const [name, { dir }] of pkgs) {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: dir, encoding: 'utf8' });
  tarballs.set(name, join(work, JSON.parse(out)[0].filename));
}

const problems = [];
const env = { ...process.env, MOCO_CXR_SKIP_NATIVE_BUILD: '1', npm_config_audit: 'false', npm_config_fund: 'false' };
for (const name of [...pkgs.keys()].sort()) {
  const short = name.replace('@moco-cxr/', '');
  if (only && !only.includes(short)) continue;
  const project = join(work, `project-${short}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `install-${short}`, private: true, type: 'module' }));
  const wanted = [...closure(name)].sort();
  const started = Date.now();
  try {
    // Optional dependencies (webgpu's 132 MB Dawn build, sharp) only with compute and the runner (whose figure renderer's
    // platform binary is an optional dependency): every other package must import without them.
    const optional = short === 'compute' || short === 'runner' ? [] : ['--omit=optional'];
    execFileSync('npm', ['install', '--prefer-offline', '--no-save', '--loglevel=error', ...optional, ...wanted.map((n) => tarballs.get(n))], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    problems.push(`${name}: npm install of ${wanted.join(', ')} failed: ${String(e.stderr ?? e.message).trim().split('\n').slice(0, 5).join(' | ')}`);
    continue;
  }
  for (const [how, code] of [
    ['import', `const m = await import(${JSON.stringify(name)}); if (Object.keys(m).length === 0) throw new Error('no exports');`],
    ['require', `const m = require(${JSON.stringify(name)}); if (Object.keys(m).length === 0) throw new Error('no exports');`],
  ]) {
    try {
      execFileSync(process.execPath, how === 'import' ? ['--input-type=module', '-e', code] : ['--input-type=commonjs', '-e', code], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = String(e.stderr ?? e.message).split('\n').find((l) => /Error|Cannot find/.test(l)) ?? String(e.stderr).trim().split('\n')[0];
      problems.push(`${name}: ${how} failed with only its declared packages installed: ${err}`);
    }
  }
  const modules = join(project, 'node_modules');
  const decoders = DECODERS.filter((d) => existsSync(join(modules, d)));
  if (decoders.length > 0 && !DECODER_USERS.has(name)) problems.push(`${name}: installing it alone brings image decoders it never calls: ${decoders.join(', ')}`);
  const count = readdirSync(modules).flatMap((d) => (d.startsWith('@') ? readdirSync(join(modules, d)).map((s) => `${d}/${s}`) : [d])).length;
  console.log(`${name}: installs alone with ${wanted.length - 1} @moco-cxr package(s); ${count} packages in node_modules; ESM and CJS load; decoders: ${decoders.join(', ') || 'none'} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
rmSync(work, { recursive: true, force: true });
if (problems.length > 0) {
  for (const p of problems) console.error(`install-check: ${p}`);
  process.exit(1);
}
console.log('install-check: every package installs on its own and loads');
