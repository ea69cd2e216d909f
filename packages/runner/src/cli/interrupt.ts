import type { Interrupt } from '../abort';

export { isAbortError, type Interrupt } from '../abort';

const REPEAT_MS = 1000;

/** The part of `process` that Ctrl-C handling uses (tests pass their own). */
export interface SignalHost {
  on(event: 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGINT', listener: () => void): unknown;
  exit(code: number): void;
}

/**
 * The CLI's Ctrl-C. While work runs under it, the first SIGINT aborts the work's signal
 * (pretraining writes a checkpoint and stops; the CLI then exits with 130) and a second one
 * exits at once with 130. Outside such work no handler is installed, so Ctrl-C ends the process.
 */
export function sigintInterrupt(say: (text: string) => void, host: SignalHost = process): Interrupt {
  let running = 0;
  return {
    get active() {
      return running > 0;
    },
    async during(work) {
      const controller = new AbortController();
      let firstAt = 0;
      const onSigint = () => {
        // A terminal's Ctrl-C reaches the whole process group, and a parent (experiment --jobs, worker)
        // forwards it too: a repeat within a second is the same Ctrl-C, not a second one.
        if (controller.signal.aborted && Date.now() - firstAt < REPEAT_MS) return;
        if (controller.signal.aborted) {
          say('Ctrl-C again: quitting without a new checkpoint\n');
          host.exit(130);
          return;
        }
        say('Ctrl-C: writing a checkpoint after this step, then stopping (Ctrl-C again to quit at once)\n');
        firstAt = Date.now();
        controller.abort();
      };
      host.on('SIGINT', onSigint);
      running += 1;
      try {
        return await work(controller.signal);
      } finally {
        running -= 1;
        host.off('SIGINT', onSigint);
      }
    },
  };
}

/** The part of `process` an experiment's stop handling uses (tests pass their own). */
export interface StopHost {
  on(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  kill(pid: number, signal: NodeJS.Signals): unknown;
  exit(code: number): void;
  readonly pid: number;
}

/**
 * Runs an experiment with SIGINT and SIGTERM wired to its AbortSignal, only while it runs. The first
 * signal aborts it (the experiment records `interrupted` in run.json and signals its job processes at
 * once, reporting whether what runs here stops at its next step). A Ctrl-C that stops soon (pretraining,
 * which writes its checkpoint; job processes) is waited for, and the CLI exits 130; otherwise, and on
 * SIGTERM, the signal then ends the process as it would have. A second Ctrl-C exits 130 at once.
 */
export async function underStopSignals<T>(
  say: (text: string) => void,
  work: (signal: AbortSignal, onStopping: (prompt: boolean) => void) => Promise<T>,
  host: StopHost = process,
): Promise<T> {
  const controller = new AbortController();
  let prompt = false;
  let firstAt = 0;
  const stop = () => {
    host.off('SIGINT', onSignal);
    host.off('SIGTERM', onSignal);
  };
  function onSignal(signal: NodeJS.Signals) {
    if (controller.signal.aborted) {
      // A terminal's Ctrl-C reaches the whole process group, and a parent forwards it too: a repeat within a second is the same one.
      if (Date.now() - firstAt < REPEAT_MS) return;
      say('Ctrl-C again: quitting without a new checkpoint\n');
      stop();
      host.exit(130);
      return;
    }
    firstAt = Date.now();
    // The experiment answers through onStopping while abort() runs.
    controller.abort({ signal });
    if (signal === 'SIGINT' && prompt) {
      say('Ctrl-C: stopping after this step (pretraining writes a checkpoint first; Ctrl-C again to quit at once)\n');
      return;
    }
    // Nothing here stops part-way: the signal ends the process as it would have; run.json already says interrupted.
    stop();
    host.kill(host.pid, signal);
  }
  host.on('SIGINT', onSignal);
  host.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal, (p) => (prompt = p));
  } finally {
    stop();
  }
}
