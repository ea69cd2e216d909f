import { fileURLToPath } from 'node:url';
import { sigintInterrupt } from './interrupt';
import { runCli } from './main';
import { processIo } from './terminal';

// The `moco-cxr` executable: exit code 0 on success, 1 when the work failed, 2 on bad usage,
// 130 when Ctrl-C stopped it (pretraining writes a checkpoint first).
const io = processIo();
runCli(process.argv.slice(2), { ...io, interrupt: sigintInterrupt((t) => io.err(io.tty ? `\n${t}` : t)) }, fileURLToPath(import.meta.url)).then(
  (r) => {
    process.exitCode = r.exitCode;
  },
  (err: unknown) => {
    process.stderr.write(`moco-cxr: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
    process.exitCode = 1;
  },
);
