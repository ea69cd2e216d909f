// Decode + resize + cache build throughput (images/s) on the Kermany train set, jimp vs sharp,
// next to PIL / torchvision doing the same job in the same run. Writes docs/benchmarks/cxr-data.md.
// Usage: npm run bench -w @moco-cxr/cxr-data [-- --limit N --sizes 128,224]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KERMANY_PATIENT_PATTERN, batchIterator, buildImageCache, loadImageFolder, sharpAvailable, subset } from '../dist/index.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const here = fileURLToPath(new URL('.', import.meta.url));
const dataDir = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const limit = Number(arg('limit', 'Infinity'));
const sizes = arg('sizes', '128,224').split(',').map(Number);

const all = loadImageFolder(dataDir, { splits: ['train'], patientPattern: KERMANY_PATIENT_PATTERN, positive: 'PNEUMONIA' });
const rows = Array.from({ length: Math.min(limit, all.samples.length) }, (_, i) => i);
const ds = subset(all, rows);
const N = ds.samples.length;
const listFile = join(mkdtempSync(join(tmpdir(), 'cxr-bench-')), 'files.txt');
writeFileSync(listFile, ds.samples.map((s) => join(dataDir, s.path)).join('\n'));
const cpu = execFileSync('sh', ['-c', "lscpu | grep 'Model name' | sed 's/Model name: *//'"]).toString().trim();
const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
console.log(`Kermany train: ${N} images; CPU ${cpu}; ${cpus().length} cores; load ${load}`);

const results = [];
for (const size of sizes) {
  const row = { size };
  for (const [decoder, concurrency] of [['jimp', 2], ['sharp', 4]]) {
    if (decoder === 'sharp' && !sharpAvailable()) continue;
    const cacheDir = mkdtempSync(join(tmpdir(), 'cxr-bench-cache-'));
    let t = performance.now();
    const built = await buildImageCache(ds, { size, cacheDir, decoder, concurrency });
    row[decoder] = N / ((performance.now() - t) / 1000);
    t = performance.now();
    const reused = await buildImageCache(ds, { size, cacheDir, decoder });
    row[`${decoder}Reuse`] = N / ((performance.now() - t) / 1000);
    if (reused.decoded !== 0) throw new Error('cache was not reused');
    if (decoder === 'sharp' || !sharpAvailable()) {
      // Reading batches from the built cache, as the training loop does.
      t = performance.now();
      let n = 0;
      for await (const b of batchIterator(reused, { batchSize: 32, seed: 0, prefetch: 2 })) n += b.indices.length;
      row.iterate = n / ((performance.now() - t) / 1000);
    }
    built.close();
    reused.close();
    rmSync(cacheDir, { recursive: true, force: true });
    console.log(`size ${size} ${decoder}: ${row[decoder].toFixed(1)} img/s build, ${row[`${decoder}Reuse`].toFixed(0)} img/s reuse`);
  }
  const py = spawnSync('/usr/bin/python3', [join(here, 'pil_reference.py'), listFile, String(size)], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`PIL reference failed: ${py.stderr}`);
  Object.assign(row, JSON.parse(py.stdout.trim().split('\n').pop()));
  console.log(`size ${size} PyTorch/PIL: ${JSON.stringify(row)}`);
  results.push(row);
}

const f = (x) => (x === undefined ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const best = (x) => Math.max(x.pil_1proc, x.pil_dataloader_2workers, x.torchvision_io_1proc);
const r = (a, b) => (a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(2)}x`);
const lines = [
  '# cxr-data benchmarks',
  '',
  `Decode + grey + resize (short side, antialiased bilinear) + centre crop + write to the uint8 cache, images/s, on ${N === all.samples.length ? 'the full' : `a ${N}-image slice of the`} Kermany train set (${N} JPEGs, 224 x 224, 3-channel).`,
  'jimp runs with concurrency 2 (its decoding is JavaScript on the main thread); sharp with concurrency 4 (libvips decodes on libuv threads).',
  'PIL / torchvision do the same job (convert("L"), resize short side BILINEAR / antialias, centre crop, into a uint8 array) in the same run.',
  '',
  '| size | jimp | sharp | PIL 1 process | PIL DataLoader 2 workers | torchvision.io 1 process | jimp / best PyTorch | sharp / best PyTorch | cache reuse (sharp) | batch iterator from cache |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((x) => `| ${x.size} | ${f(x.jimp)} | ${f(x.sharp)} | ${f(x.pil_1proc)} | ${f(x.pil_dataloader_2workers)} | ${f(x.torchvision_io_1proc)} | ${r(x.jimp, best(x))} | ${r(x.sharp, best(x))} | ${f(x.sharpReuse)} | ${f(x.iterate)} |`),
  '',
  '"best PyTorch" is the fastest of the three PyTorch-side ways in that row. At 224 px no resize is needed (the images are 224 x 224), so PIL only decodes and converts.',
  '"cache reuse" is a second buildImageCache call on the same data (stat check of every source, no decoding); "batch iterator" reads shuffled batches of 32 from the cache.',
  '',
  `Machine: ${cpus().length} vCPU, ${cpu}; Node ${process.version}; PyTorch ${results[0]?.torch}, torchvision ${results[0]?.torchvision}.`,
  `The machine was shared with other engineers' jobs during the run (load average at start: ${load}), so figures are lower bounds.`,
  '',
  'Command (from the repo root):',
  '',
  '```',
  `flock /tmp/bench.lock npm run bench -w @moco-cxr/cxr-data${args.length ? ` -- ${args.join(' ')}` : ''}`,
  '```',
  '',
];
const docs = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url));
if (!existsSync(docs)) mkdirSync(docs, { recursive: true });
writeFileSync(join(docs, 'cxr-data.md'), lines.join('\n'));
console.log(lines.join('\n'));
