/**
 * A problem with what the caller asked for (a bad flag, an unreachable queue database): the work
 * never started. The CLI exits with 2 on it; a library caller gets it as any other error.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
