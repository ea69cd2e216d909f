// Benchmarks against PyTorch that a user can trust: both sides run as fresh processes, interleaved
// (order alternating each round) for at least 5 rounds, and the summary gives medians with their
// spread, the load average around every run, and a warning when PyTorch's own figures vary by more
// than 15% (then no ratio from the run is worth quoting).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** PyTorch's run-to-run spread above which the run's ratios are flagged as unreliable. */
export const MAX_TORCH_SPREAD = 0.15;
/** The 1-minute load average a benchmark may start under. */
export const MAX_START_LOAD = 0.5;
export const MIN_ROUNDS = 5;

/** The 1, 5 and 15-minute load averages. */
export function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

/** Median, min, max and (max - min) / median of a list of figures. */
export function spreadOf(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: mid, min: s[0], max: s[s.length - 1], spread: (s[s.length - 1] - s[0]) / mid, n: s.length };
}

/**
 * Reads `--rounds` (default and minimum 5) and `--allow-load` from argv and checks the machine is
 * quiet: a loaded start throws unless allowed, and then every table is marked as taken under load.
 */
export function benchSettings(argv = process.argv) {
  const i = argv.indexOf('--rounds');
  const rounds = i >= 0 ? Number(argv[i + 1]) : MIN_ROUNDS;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${argv[i + 1]}`);
  const allowLoad = argv.includes('--allow-load');
  const load = loadAverage();
  if (load[0] > MAX_START_LOAD && !allowLoad) {
    throw new Error(`load average ${load.join(' ')} is above ${MAX_START_LOAD}: benchmarks against PyTorch need a quiet machine (stop other jobs, or pass --allow-load to run anyway with the tables marked as loaded)`);
  }
  return { rounds, allowLoad, startLoad: load, loaded: load[0] > MAX_START_LOAD, tooFewRounds: rounds < MIN_ROUNDS };
}

/** Runs a command and returns the JSON object on its last stdout line. */
export function runJson(file, args, options = {}) {
  const out = execFileSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'], ...options });
  const last = out.trim().split('\n').pop();
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`${file} ${args.join(' ')}: expected a JSON line last, got: ${last}`);
  }
}

/**
 * For each case, `rounds` rounds of { torch(), ours() } (each a fresh process returning img/s),
 * PyTorch first on even rounds and ours first on odd ones. `onRun` sees every figure as it lands.
 */
export function interleave(cases, { rounds, onRun = () => {} }) {
  const results = [];
  for (const c of cases) {
    const torch = [];
    const ours = [];
    const loads = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['torch', 'ours'] : ['ours', 'torch'];
      for (const side of order) {
        const load = loadAverage()[0];
        const value = side === 'torch' ? c.torch() : c.ours();
        (side === 'torch' ? torch : ours).push(value);
        loads.push(load);
        onRun({ label: c.label, round: r, side, value, load });
      }
    }
    results.push({ label: c.label, torch, ours, loads });
  }
  return results;
}

/** Markdown table of interleaved results, with the machine, the loads and every warning. */
export function interleavedTable(results, settings, { unit = 'img/s', title = '' } = {}) {
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const lines = [];
  if (title) lines.push(title, '');
  lines.push(`${cpus()[0].model}, ${cpus().length} logical CPUs; load average at start ${settings.startLoad.join(' ')}, now ${loadAverage().join(' ')}; ${settings.rounds} interleaved rounds per row, each side a fresh process per round, warm-up steps excluded.`);
  lines.push('');
  lines.push(`| case | ours ${unit}: median (min-max) | PyTorch ${unit}: median (min-max) | PyTorch spread | ours / PyTorch (ratio of medians) | per-round ratio: median (min-max) | max 1-min load during runs |`);
  lines.push('|---|---|---|---|---|---|---|');
  const warnings = [];
  for (const r of results) {
    const o = spreadOf(r.ours);
    const t = spreadOf(r.torch);
    const perRound = spreadOf(r.ours.map((v, i) => v / r.torch[i]));
    const maxLoad = Math.max(...r.loads);
    lines.push(`| ${r.label} | ${f(o.median, 2)} (${f(o.min, 2)}-${f(o.max, 2)}) | ${f(t.median, 2)} (${f(t.min, 2)}-${f(t.max, 2)}) | ${f(t.spread * 100, 0)}% | ${f(o.median / t.median, 3)}x | ${f(perRound.median, 3)}x (${f(perRound.min, 3)}-${f(perRound.max, 3)}) | ${f(maxLoad, 2)} |`);
    if (t.spread > MAX_TORCH_SPREAD) warnings.push(`${r.label}: PyTorch's figures varied by ${f(t.spread * 100, 0)}% (over ${MAX_TORCH_SPREAD * 100}%): this row's ratio is unreliable; rerun on a quieter machine.`);
    if (maxLoad > 2.5) warnings.push(`${r.label}: the 1-minute load reached ${f(maxLoad, 2)} during its runs (the benchmark itself keeps 2 threads busy, about 2; above 2.5 something else ran).`);
  }
  if (settings.loaded) warnings.unshift(`LOADED MACHINE: started at load ${settings.startLoad[0]} (over ${MAX_START_LOAD}); these figures must not be quoted.`);
  if (settings.tooFewRounds) warnings.unshift(`Only ${settings.rounds} rounds (fewer than ${MIN_ROUNDS}): not enough to quote.`);
  if (warnings.length) lines.push('', ...warnings.map((w) => `- WARNING: ${w}`));
  return lines.join('\n');
}
