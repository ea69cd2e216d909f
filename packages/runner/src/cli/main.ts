import { isAbortError } from '../abort';
import { ConfigError } from '../config';
import type { Io } from '../progress';
import { failureText } from './cli-error';
import { commands } from './commands';
import { checkEnvironment } from './environment';
import { helpText, parseCommandArgs, UsageError, type Command } from './framework';
import { processIo } from './terminal';

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'moco-cxr: MoCo-CXR (Sowrirajan et al., MIDL 2021) from images to the paper\'s figure.',
    '',
    'Usage: moco-cxr <command> [options]     moco-cxr <command> --help     moco-cxr --version',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Start with `moco-cxr demo` (synthetic data, a few minutes, then a report).',
    '',
  ].join('\n');
}

export interface CliResult {
  exitCode: number;
  /** What the command returned (also printed as JSON with --json). */
  result?: unknown;
  error?: string;
}

/**
 * Runs one `moco-cxr` command line. Exit codes: 0 success, 1 the work failed,
 * 2 bad usage or config, 130 stopped through `io.interrupt` (Ctrl-C). Failures print
 * `moco-cxr <command>: <reason>`, then the first few items of each problem the reason lists
 * (missing keys, unexpected keys, ...) with how many more there are.
 */
export async function runCli(argv: string[], io: Io = processIo(), cliPath?: string): Promise<CliResult> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    // Asked for help: stdout, exit 0. No command at all: the same text as the usage error, on stderr.
    if (name) io.out(topHelp());
    else io.err(topHelp());
    return { exitCode: name ? 0 : 2, ...(name ? {} : { error: 'no command given' }) };
  }
  if (name === '--version' || name === '-v') {
    const { packageVersions } = await import('../rundir');
    io.out(`${packageVersions()['@moco-cxr/runner']}\n`);
    return { exitCode: 0 };
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (!cmd) {
    const msg = `unknown command "${name}"; commands: ${commands.map((c) => c.name).join(', ')}`;
    io.err(`moco-cxr: ${msg}\n`);
    return { exitCode: 2, error: msg };
  }
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (values.help) {
      io.out(helpText(cmd));
      return { exitCode: 0 };
    }
    checkEnvironment();
    const result = await cmd.run({ io: values.json ? { ...io, quiet: true } : io, argv, values, positionals, cliPath });
    if (values.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
    return { exitCode: 0, result };
  } catch (err) {
    if (isAbortError(err)) {
      // Stopped by Ctrl-C after saving its state: the shell's code for SIGINT.
      io.err(`moco-cxr ${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
      return { exitCode: 130, error: err instanceof Error ? err.message : String(err) };
    }
    const usage = err instanceof UsageError || err instanceof ConfigError;
    const msg = err instanceof Error ? err.message : String(err);
    // The reason's first line, then its listed problems shortened (config errors list each field on its own line).
    io.err(`moco-cxr ${name}: ${err instanceof ConfigError ? msg : failureText(msg)}\n`);
    if (process.env.MOCO_CXR_DEBUG && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
    return { exitCode: usage ? 2 : 1, error: msg };
  }
}
