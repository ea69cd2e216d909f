import { fileURLToPath } from 'node:url';
import { runCli } from './main';

// The `moco-cxr` executable: exit code 0 on success, 1 when the work failed, 2 on bad usage.
runCli(process.argv.slice(2), undefined, fileURLToPath(import.meta.url)).then(
  (r) => {
    process.exitCode = r.exitCode;
  },
  (err: unknown) => {
    process.stderr.write(`moco-cxr: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
    process.exitCode = 1;
  },
);
