/** Runs work that can stop cleanly when asked to: the work gets an AbortSignal. */
export interface Interrupt {
  during<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** True while such work runs: a Ctrl-C then stops it rather than the process. */
  readonly active: boolean;
}

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

/** True for the error of work stopped through its AbortSignal (`name` 'AbortError', as fetch and Node use). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
