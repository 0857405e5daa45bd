/**
 * For the async-route suites: an upstream that behaves like one built for at-least-once delivery (it applies each
 * `Idempotency-Key` once and answers a repeat with the first answer), with a per-attempt fault hook; and a helper
 * that removes a test's Redis keys by prefix.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { startUpstream, type TestUpstream } from './upstream.js';

export interface IdempotentUpstream {
  readonly upstream: TestUpstream;
  /** Key → how many times its effect was applied (an idempotent upstream keeps this at 1). */
  readonly applied: Map<string, number>;
  /** Key → 2xx answers sent for it (more than 1 means it was delivered again after success). */
  readonly succeeded: Map<string, number>;
  /** Every attempt's key, in arrival order. */
  readonly attempts: string[];
}

/** `fault` returns true when it answered (or broke) the attempt itself; otherwise the effect is applied, 200. */
export async function idempotentUpstream(
  fault: (req: IncomingMessage, res: ServerResponse) => boolean = () => false,
  port?: number,
): Promise<IdempotentUpstream> {
  const applied = new Map<string, number>();
  const succeeded = new Map<string, number>();
  const attempts: string[] = [];
  const upstream = await startUpstream(
    (req, res) => {
      const key = String(req.headers['idempotency-key']);
      attempts.push(key);
      if (fault(req, res)) return;
      if (!applied.has(key)) applied.set(key, 1);
      succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('applied');
    },
    { port },
  );
  return { upstream, applied, succeeded, attempts };
}

/** Deletes every key under `prefix` on the Redis at `url`. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
