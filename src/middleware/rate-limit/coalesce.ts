/**
 * Same-key coalescing for a store-backed limiter: the consumes of one key made during one event-loop turn become
 * one store call for their sum, and each caller gets the answer it would have had alone.
 *
 * Why: under load many requests of one client (one key) arrive in the same turn, and each would cost its own Redis
 * command, write syscall and reply. The store's increment is atomic, so a call for N units occupies N consecutive
 * counts: if it returns a total of C, the i-th of the N callers (1-based, in arrival order) is the one that made the
 * count C - N + i, exactly as if the N commands had run back to back. Allowed iff that count is within the limit;
 * its remaining units are `limit - count`. Denials still count, as they do one at a time (rate-limiter-flexible
 * increments before it compares).
 *
 * The call goes out in the check phase of the turn (`setImmediate`), after the poll phase has handed over every
 * request that was ready, so it waits for nothing but the rest of that turn's parsing. It runs in the trace context
 * (OpenTelemetry's active context) of the first caller of its key: its Redis span, when traced, appears under that
 * request; the others that shared it have none. Only the trace context is carried, not every AsyncLocalStorage:
 * `AsyncLocalStorage.snapshot()` costs an AsyncResource and a bound function per batch, 3-7 us against 0.06 us for
 * `context.active()` + `context.with()`, and with a key per request (many clients) there is a batch per request.
 * Nothing the store call runs reads another store (bench/README.md, "Issue 22").
 *
 * Every coalescing limiter on one store client flushes in one shared step (a `FlushGroup`), which can hold the
 * client's socket corked meanwhile: the commands of all keys and policies of a turn then leave in one write, the
 * gain ioredis's auto-pipelining would give, without its flaw of running every command in the first command's
 * context (each key's call keeps its own first caller's context here).
 */
import { context, type Context } from '@opentelemetry/api';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { flushGroup, type FlushGroup } from '../../turn.js';

/** The part of a rate-limiter-flexible limiter that BurstyRateLimiter and `fromFlexible` call. */
export type Consumer = Pick<RateLimiterAbstract, 'consume' | 'points'>;

interface Waiter {
  readonly points: number;
  readonly resolve: (res: RateLimiterRes) => void;
  readonly reject: (reason: unknown) => void;
}

interface Batch {
  readonly waiters: Waiter[];
  /** The first caller's trace context, in which the store call runs. */
  readonly context: Context;
}

/**
 * Splits one store answer for a batch back into per-caller results: `total` is the batch's sum and `res` the
 * store's answer for it (resolved or rejected alike).
 */
function split(res: RateLimiterRes, waiters: readonly Waiter[], total: number, limit: number): void {
  let count = res.consumedPoints - total;
  waiters.forEach((waiter, i) => {
    count += waiter.points;
    const mine = new RateLimiterRes(
      Math.max(limit - count, 0),
      res.msBeforeNext,
      count,
      res.isFirstInDuration && i === 0,
    );
    if (count <= limit) waiter.resolve(mine);
    else waiter.reject(mine);
  });
}

/** The store call, in the first caller's context; a synchronous throw becomes a rejection (no caller may hang). */
function call(limiter: Consumer, key: string, points: number, batch: Batch): Promise<RateLimiterRes> {
  try {
    return context.with(batch.context, limiter.consume, limiter, key, points);
  } catch (err) {
    // The rejection carries what the store threw, as consume's own rejections do (a RateLimiterRes is no Error).
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    return Promise.reject(err);
  }
}

function send(limiter: Consumer, key: string, batch: Batch): void {
  const { waiters } = batch;
  if (waiters.length === 1) {
    const only = waiters[0] as Waiter;
    call(limiter, key, only.points, batch).then(only.resolve, only.reject);
    return;
  }
  let total = 0;
  for (const waiter of waiters) total += waiter.points;
  const limit = limiter.points;
  call(limiter, key, total, batch).then(
    (res) => split(res, waiters, total, limit),
    (reason: unknown) => {
      if (reason instanceof RateLimiterRes) split(reason, waiters, total, limit);
      else for (const waiter of waiters) waiter.reject(reason); // the store failed: every caller sees the error
    },
  );
}

/** Wraps `limiter` so that same-key consumes of one event-loop turn share one store call, sent by `group`. */
export function coalescing(limiter: Consumer, group: FlushGroup = flushGroup()): Consumer {
  let pending = new Map<string, Batch>();
  const flush = (): void => {
    const batches = pending;
    pending = new Map();
    for (const [key, batch] of batches) send(limiter, key, batch);
  };
  return {
    get points() {
      return limiter.points;
    },
    consume(key: string | number, points = 1): Promise<RateLimiterRes> {
      const id = String(key);
      return new Promise((resolve, reject) => {
        let batch = pending.get(id);
        if (batch === undefined) {
          if (pending.size === 0) group.add(flush);
          batch = { waiters: [], context: context.active() };
          pending.set(id, batch);
        }
        batch.waiters.push({ points, resolve, reject });
      });
    },
  } as Consumer;
}
