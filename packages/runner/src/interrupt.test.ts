import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isAbortError, sigintInterrupt } from './interrupt';

/** A stand-in for `process`: real listeners, and exit codes recorded instead of ending the test run. */
function host() {
  const events = new EventEmitter();
  const exits: number[] = [];
  return { on: events.on.bind(events), off: events.off.bind(events), exit: (code: number) => void exits.push(code), events, exits };
}

describe('sigintInterrupt (the CLI`s Ctrl-C)', () => {
  it('aborts the running work on the first Ctrl-C, ignores the same Ctrl-C forwarded, exits 130 on a second', async () => {
    const h = host();
    const said: string[] = [];
    const interrupt = sigintInterrupt((t) => said.push(t), h);
    expect(h.events.listenerCount('SIGINT')).toBe(0);
    expect(interrupt.active).toBe(false);
    let release!: () => void;
    const work = interrupt.during(async (signal) => {
      expect(interrupt.active).toBe(true);
      expect(h.events.listenerCount('SIGINT')).toBe(1);
      h.events.emit('SIGINT');
      expect(signal.aborted).toBe(true);
      // The same Ctrl-C, forwarded by a parent process: not a second one.
      h.events.emit('SIGINT');
      expect(h.exits).toEqual([]);
      await new Promise<void>((r) => (release = r));
      return 'stopped cleanly';
    });
    await new Promise((r) => setTimeout(r, 1100));
    h.events.emit('SIGINT');
    expect(h.exits).toEqual([130]);
    release();
    expect(await work).toBe('stopped cleanly');
    expect(said[0]).toMatch(/^Ctrl-C: writing a checkpoint after this step, then stopping/);
    expect(said[1]).toMatch(/^Ctrl-C again: quitting/);
    // Outside work that can stop cleanly, no handler: Ctrl-C ends the process as usual.
    expect(h.events.listenerCount('SIGINT')).toBe(0);
    expect(interrupt.active).toBe(false);
  });

  it('removes its handler when the work fails, and knows an AbortError', async () => {
    const h = host();
    const interrupt = sigintInterrupt(() => {}, h);
    const err = Object.assign(new Error('stopped'), { name: 'AbortError' });
    await expect(interrupt.during(async () => Promise.reject(err))).rejects.toBe(err);
    expect(h.events.listenerCount('SIGINT')).toBe(0);
    expect(isAbortError(err)).toBe(true);
    expect(isAbortError(new Error('x'))).toBe(false);
  });
});
