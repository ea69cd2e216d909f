/** Runs work that can stop cleanly when asked to: the work gets an AbortSignal. */
export interface Interrupt {
  during<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

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
  return {
    async during(work) {
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) {
          say('Ctrl-C again: quitting without a new checkpoint\n');
          host.exit(130);
          return;
        }
        say('Ctrl-C: writing a checkpoint after this step, then stopping (Ctrl-C again to quit at once)\n');
        controller.abort();
      };
      host.on('SIGINT', onSigint);
      try {
        return await work(controller.signal);
      } finally {
        host.off('SIGINT', onSigint);
      }
    },
  };
}

/** True for the error of work stopped through its AbortSignal (`name` 'AbortError', as fetch and Node use). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
