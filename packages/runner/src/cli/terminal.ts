import type { Io } from '../progress';

/** The terminal: `out` is stdout, `err` stderr; `MOCO_CXR_PROGRESS_SECONDS` sets the plain-progress interval. */
export function processIo(env: NodeJS.ProcessEnv = process.env): Io {
  const seconds = env.MOCO_CXR_PROGRESS_SECONDS === undefined ? undefined : Number(env.MOCO_CXR_PROGRESS_SECONDS);
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: Boolean(process.stderr.isTTY),
    ...(seconds !== undefined && seconds > 0 ? { progressSeconds: seconds } : {}),
  };
}
