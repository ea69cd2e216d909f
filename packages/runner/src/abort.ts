/**
 * Work that can stop cleanly when asked to (pretraining writes a checkpoint first) runs under
 * `during`, which hands it an AbortSignal. The host decides what asks: the CLI's Ctrl-C, or an
 * experiment's own AbortSignal.
 */
export interface Interrupt {
  during<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** True while such work runs: a stop request then stops it rather than the process. */
  readonly active: boolean;
}

/** True for the error of work stopped through its AbortSignal (`name` 'AbortError', as fetch and Node use). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** The error work stopped through `signal` throws: an AbortError whose cause is the signal's reason. */
export function abortError(message: string, signal?: AbortSignal): Error {
  return Object.assign(new Error(message, signal ? { cause: signal.reason } : undefined), { name: 'AbortError' });
}

/** What asked an experiment to stop, in words for run.json: `SIGINT` when the reason names a signal. */
export function stopReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r && typeof r === 'object' && typeof (r as { signal?: unknown }).signal === 'string') return (r as { signal: string }).signal;
  if (r instanceof Error && r.name !== 'AbortError' && r.message) return r.message;
  return typeof r === 'string' && r ? r : 'abort';
}

/** An Interrupt that runs its work under `signal` (a library caller's or an experiment's). */
export function signalInterrupt(signal: AbortSignal): Interrupt {
  let running = 0;
  return {
    get active() {
      return running > 0;
    },
    async during(work) {
      running += 1;
      try {
        return await work(signal);
      } finally {
        running -= 1;
      }
    },
  };
}
