import { Redis } from 'ioredis';
import { UsageError } from '../errors';

/** Redis could not be reached at the URL given to --queue. */
export class QueueUnreachableError extends Error {
  override name = 'QueueUnreachableError';
}

/** Checks `redis://host:port[/db]` (or rediss://); a bad URL is a usage problem, named in the message. */
export function parseQueueUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`--queue: "${shownUrl(url)}" is not a URL; expected redis://host:port[/db]`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new RangeError(`--queue: "${shownUrl(url)}" is not a Redis URL; expected redis://host:port[/db]`);
  const db = parsed.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new RangeError(`--queue: "${shownUrl(url)}": the database after the port must be a number, got "${db}"`);
  return parsed;
}

/** The URL as messages show it: a password is replaced by ***. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Connects to Redis at `url`, or throws one QueueUnreachableError naming the URL (no retry loop
 * on the first connection). Once connected, the client reconnects on its own as BullMQ expects.
 */
export async function connectRedis(url: string, opts: { timeoutMs?: number } = {}): Promise<Redis> {
  parseQueueUrl(url);
  let connected = false;
  const client = new Redis(url, {
    lazyConnect: true,
    // BullMQ's blocking commands need this; it also keeps commands queued while reconnecting.
    maxRetriesPerRequest: null,
    connectTimeout: opts.timeoutMs ?? 5000,
    retryStrategy: (times) => (connected ? Math.min(times * 250, 5000) : null),
  });
  let lastError: Error | undefined;
  // ioredis emits 'error' on every failed attempt; the reason is reported once, below or by the caller.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const e = (lastError ?? err) as NodeJS.ErrnoException;
    const reason = e.code ?? e.message ?? String(err);
    throw new QueueUnreachableError(`cannot reach Redis at ${shownUrl(url)} (${reason}); start Redis there, or give --queue the URL of a running one`);
  }
  // ioredis swallows a refused SELECT and stays on database 0: ask again, and refuse the URL.
  const db = Number(parseQueueUrl(url).pathname.replace(/^\//, '') || 0);
  if (db !== 0) {
    try {
      await client.select(db);
    } catch (err) {
      client.disconnect();
      throw new QueueDatabaseError(`--queue: Redis at ${shownUrl(url)} has no database ${db} (${(err as Error).message.replace(/^ERR /, '')}); give a database it has, e.g. redis://host:port/0`);
    }
  }
  connected = true;
  return client;
}

/** The database in the --queue URL is one Redis refuses: a usage problem (exit 2). */
export class QueueDatabaseError extends UsageError {
  override name = 'QueueDatabaseError';
}

/** Connection problems (as opposed to a command's error) that a client reconnecting on its own recovers from. */
export function isConnectionError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return Boolean(e && ((e.code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(e.code)) || /Connection is closed|connect ETIMEDOUT|Stream isn't writeable/.test(e.message ?? '')));
}
