// Shared by the packages' profile benches: per-kernel totals of one tf.profile() result.

/** Kernel time summed by kernel name, largest first: the total, the number of kernel calls and one printable line per kernel. */
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
  return { totalMs, calls: prof.kernels.length, lines };
}

/**
 * Times each kernel by the process's CPU time (user + system, every thread) instead of the wall
 * clock, on a backend that times kernels synchronously (wasm, cpu): on a loaded machine the wall
 * clock counts the time a kernel waits for a core, CPU time only the work done.
 */
export function timeKernelsByCpu(backend) {
  backend.time = async (f) => {
    const start = process.cpuUsage();
    f();
    const d = process.cpuUsage(start);
    return { kernelMs: (d.user + d.system) / 1000 };
  };
}
