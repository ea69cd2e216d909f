// Decode + grey + resize + write to the uint8 cache (buildImageCache), images/s, on a slice of the
// Kermany train set, against PIL doing the same job, interleaved: each round runs both sides as
// fresh processes, order alternating (tools/bench/interleave.mjs: at least 5 rounds, medians with
// their spread, the load average; refuses to start above load 0.5). Writes docs/benchmarks/cxr-data.md.
// Usage: npm run bench -w @moco-cxr/cxr-data [-- --limit 1000 --sizes 128,224 --decoders sharp,jimp --rounds 5]
//        node bench/run.mjs --child <size> <decoder> <file-list>   (one side of one round; prints JSON)
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchSettings, interleave, interleavedTable, runJson } from '../../../tools/bench/interleave.mjs';
import { KERMANY_PATIENT_PATTERN, buildImageCache, loadImageFolder, sharpAvailable, subset } from '../dist/index.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const here = fileURLToPath(new URL('.', import.meta.url));
const dataDir = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const all = loadImageFolder(dataDir, { splits: ['train'], patientPattern: KERMANY_PATIENT_PATTERN, positive: 'PNEUMONIA' });

if (args[0] === '--child') {
  // One timed build of a fresh cache after one untimed build of 32 images (module loading, the
  // decoder's start-up), as a training run's first epoch would see it.
  const [, size, decoder, listFile] = args;
  const wanted = new Set(readFileSync(listFile, 'utf8').split('\n'));
  const rows = all.samples.flatMap((s, i) => (wanted.has(join(dataDir, s.path)) ? [i] : []));
  const warm = mkdtempSync(join(tmpdir(), 'cxr-bench-warm-'));
  (await buildImageCache(subset(all, rows.slice(0, 32)), { size: Number(size), cacheDir: warm, decoder })).close();
  rmSync(warm, { recursive: true, force: true });
  const cacheDir = mkdtempSync(join(tmpdir(), 'cxr-bench-cache-'));
  const t = performance.now();
  const built = await buildImageCache(subset(all, rows), { size: Number(size), cacheDir, decoder });
  const seconds = (performance.now() - t) / 1000;
  if (built.decoded !== rows.length) throw new Error(`decoded ${built.decoded} of ${rows.length}`);
  built.close();
  rmSync(cacheDir, { recursive: true, force: true });
  console.log(JSON.stringify({ images: rows.length, imgPerS: rows.length / seconds }));
  process.exit(0);
}

const settings = benchSettings(process.argv);
const limit = Number(arg('limit', '1000'));
const sizes = arg('sizes', '128,224').split(',').map(Number);
const decoders = arg('decoders', 'sharp,jimp').split(',').filter((d) => d !== 'sharp' || sharpAvailable());
// An even spread over the train set (both classes), the same files on both sides.
const step = Math.max(1, Math.floor(all.samples.length / limit));
const files = all.samples.filter((_, i) => i % step === 0).slice(0, limit).map((s) => join(dataDir, s.path));
const listFile = join(mkdtempSync(join(tmpdir(), 'cxr-bench-')), 'files.txt');
writeFileSync(listFile, files.join('\n'));
console.log(`Kermany train: ${files.length} of ${all.samples.length} images; ${settings.rounds} rounds; load ${settings.startLoad.join(' ')}`);

// PyTorch's side: the faster of PIL in one process and PIL in a 2-worker DataLoader, per round.
const pil = (size) => {
  const r = runJson('/usr/bin/python3', [join(here, 'pil_reference.py'), listFile, String(size), '--methods', 'pil_1proc,pil_dataloader_2workers']);
  return Math.max(r.pil_1proc, r.pil_dataloader_2workers);
};
const ours = (size, decoder) => runJson(process.execPath, [fileURLToPath(import.meta.url), '--child', String(size), decoder, listFile]).imgPerS;
const cases = sizes.flatMap((size) => decoders.map((decoder) => ({ label: `${size} px, ${decoder}`, torch: () => pil(size), ours: () => ours(size, decoder) })));
const results = interleave(cases, { rounds: settings.rounds, onRun: (r) => console.log(`  ${r.label}, round ${r.round + 1}, ${r.side === 'torch' ? 'PIL' : 'ours'}: ${r.value.toFixed(0)} img/s (load ${r.load})`) });
const table = interleavedTable(results, settings, { title: '### buildImageCache against PIL' });

const lines = [
  '# cxr-data benchmarks',
  '',
  `Decode + grey + resize (short side, antialiased bilinear) + centre crop + write to the uint8 cache, images/s, on ${files.length} of the ${all.samples.length} Kermany train JPEGs (224 x 224, 3-channel, every ${step}th), page-cached.`,
  '- Ours: `buildImageCache` with its defaults (concurrency 4), a fresh cache each round, after an untimed 32-image build.',
  '- "PyTorch" is PIL doing the same job (convert("L"), resize short side BILINEAR, centre crop, into a uint8 array): each round the faster of one process and a 2-worker DataLoader.',
  '- At 224 px no resize is needed (the images are 224 x 224), so both sides only decode, convert and store.',
  '',
  table,
  '',
  'Command (from the repo root; the machine must be quiet):',
  '',
  '```',
  `npm run bench -w @moco-cxr/cxr-data${args.length ? ` -- ${args.join(' ')}` : ''}`,
  '```',
  '',
];
console.log(lines.join('\n'));
// Only a quotable run (quiet start, enough rounds) replaces the published figures.
if (settings.loaded || settings.tooFewRounds) {
  console.log('not written to docs/benchmarks/cxr-data.md: the run was loaded or had too few rounds');
} else {
  const docs = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url));
  if (!existsSync(docs)) mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'cxr-data.md'), lines.join('\n'));
  console.log(`wrote ${relative(process.cwd(), join(docs, 'cxr-data.md'))}`);
}
