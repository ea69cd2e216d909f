import { spawn, type ChildProcess } from 'node:child_process';
import type { JobOutcome } from './jobs/execute';

/**
 * Runs one job as a child `moco-cxr run-job` process (an experiment's --jobs > 1). Resolves true when
 * the child ran it, false when it found the job finished (by another process) and skipped it. The
 * child is added to `children` while it runs, so whoever stops the experiment can signal it.
 */
export function runJobChild(cliPath: string, specPath: string, children: Set<ChildProcess>, threads?: number): Promise<boolean> {
  return new Promise<boolean>((resolveP, reject) => {
    const args = [cliPath, 'run-job', specPath, '--json', ...(threads ? ['--threads', String(threads)] : [])];
    // The same node options as this process (a checkout run from source loads the sources' hooks).
    const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (b: Buffer) => void (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      tail = (tail + b.toString()).slice(-4000);
    });
    child.on('error', (err) => {
      children.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      if (code !== 0) {
        const reason = failureFromOutput(tail);
        return reject(new Error(`job ${specPath} failed (${signal ? `stopped by ${signal}` : `exit ${code}`}): ${reason}`));
      }
      // run-job --json prints the job's outcome; `skipped` says another process had finished it.
      let skipped = false;
      try {
        skipped = (JSON.parse(stdout) as Partial<JobOutcome>).skipped === true;
      } catch {
        // no outcome printed: the child ran the job
      }
      resolveP(!skipped);
    });
  });
}

/**
 * The failure a `moco-cxr` child process printed on stderr (the tail of its output): from its
 * last `moco-cxr <command>: ` line to the end. `headline` keeps only that line.
 */
export function failureFromOutput(stderr: string, opts: { headline?: boolean } = {}): string {
  const lines = stderr
    .split(/\r?\n|\r/)
    .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trimEnd())
    .filter((l) => l.trim());
  let start = -1;
  for (let i = lines.length - 1; i >= 0 && start < 0; i--) if (/^moco-cxr[ :]/.test(lines[i])) start = i;
  if (start < 0) return lines.pop()?.trim() ?? '';
  return opts.headline ? lines[start] : lines.slice(start).join('\n');
}
