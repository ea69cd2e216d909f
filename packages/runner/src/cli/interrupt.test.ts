import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isAbortError, sigintInterrupt, underStopSignals } from './interrupt';

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

/** A stand-in for `process` with SIGINT and SIGTERM: re-raised signals and exit codes are recorded. */
function stopHost() {
  const events = new EventEmitter();
  const kills: string[] = [];
  const exits: number[] = [];
  const host = { on: events.on.bind(events), off: events.off.bind(events), kill: (_pid: number, s: string) => void kills.push(s), exit: (c: number) => void exits.push(c), pid: 1 };
  const count = () => events.listenerCount('SIGINT') + events.listenerCount('SIGTERM');
  return { host, events, kills, exits, count };
}

describe('underStopSignals (an experiment`s SIGINT / SIGTERM)', () => {
  it('Ctrl-C while the work stops at its next step: aborted with the signal named, waited for; handlers gone after', async () => {
    const h = stopHost();
    const said: string[] = [];
    let reason: unknown;
    const result = await underStopSignals(
      (t) => said.push(t),
      async (signal, onStopping) => {
        expect(h.count()).toBe(2);
        signal.addEventListener('abort', () => onStopping(true), { once: true });
        h.events.emit('SIGINT', 'SIGINT');
        reason = signal.reason;
        return 'stopped cleanly';
      },
      h.host,
    );
    expect(result).toBe('stopped cleanly');
    expect(reason).toEqual({ signal: 'SIGINT' });
    expect(h.kills).toEqual([]);
    expect(said[0]).toMatch(/^Ctrl-C: stopping after this step/);
    expect(h.count()).toBe(0);
  });

  it('SIGTERM, or Ctrl-C while work that cannot stop part-way runs: aborted, then the signal re-raised with the handlers removed', async () => {
    for (const [sig, prompt] of [['SIGTERM', true], ['SIGINT', false]] as const) {
      const h = stopHost();
      let countAtKill = -1;
      h.host.kill = (_pid, s) => void (h.kills.push(s), (countAtKill = h.count()));
      await underStopSignals(
        () => undefined,
        async (signal, onStopping) => {
          signal.addEventListener('abort', () => onStopping(prompt), { once: true });
          h.events.emit(sig, sig);
          expect(signal.aborted).toBe(true);
        },
        h.host,
      );
      expect(h.kills).toEqual([sig]);
      expect(countAtKill).toBe(0);
      expect(h.exits).toEqual([]);
    }
  });

  it('a second Ctrl-C after a second quits at once with 130', async () => {
    const h = stopHost();
    let release!: () => void;
    const work = underStopSignals(
      () => undefined,
      (signal, onStopping) => {
        signal.addEventListener('abort', () => onStopping(true), { once: true });
        h.events.emit('SIGINT', 'SIGINT');
        h.events.emit('SIGINT', 'SIGINT'); // the same Ctrl-C, forwarded
        return new Promise<void>((r) => (release = r));
      },
      h.host,
    );
    expect(h.exits).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    h.events.emit('SIGINT', 'SIGINT');
    expect(h.exits).toEqual([130]);
    release();
    await work;
    expect(h.count()).toBe(0);
  });
});
