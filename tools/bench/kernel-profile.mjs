// Shared by the packages' profile benches: per-kernel totals of one tf.profile() result.

/** Kernel time summed by kernel name, largest first: the total and one printable line per kernel. */
export async function kernelTable(prof, top = 20) {
  const by = new Map();
  let totalMs = 0;
  for (const k of prof.kernels) {
    // Backends that time asynchronously give a promise; an untimed kernel counts as 0.
    const t = await k.kernelTimeMs;
    const ms = typeof t === 'number' ? t : 0;
    const e = by.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n += 1;
    by.set(k.name, e);
    totalMs += ms;
  }
  const lines = [...by.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, top)
    .map(([name, e]) => `${name.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms ${((100 * e.ms) / totalMs).toFixed(1).padStart(5)}%  x${e.n}`);
  return { totalMs, lines };
}
