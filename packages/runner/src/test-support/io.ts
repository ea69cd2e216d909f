import type { Io } from '../progress';

/** An Io that records what a command printed. */
export function captureIo(): Io & { text: () => string; stdout: () => string } {
  let err = '';
  let out = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), tty: false, text: () => err, stdout: () => out };
}
