/**
 * Pure delivery decisions: which answers are retried, how long to wait, what `Retry-After` asks for. No I/O, no
 * clock, no randomness of their own (passed in), so each rule is tested as a table (test/unit/tasks-backoff.test.ts).
 */
import type { Finish } from './types.js';

/** Statuses worth another attempt (RFC 9110: 408 Request Timeout, 425 Too Early, 429 Too Many Requests, any 5xx). */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export type Verdict = 'succeeded' | 'retry' | 'failed';

/** A delivered answer's verdict: 2xx succeeded, retryable statuses retry, anything else (4xx, 3xx) fails at once. */
export function verdictOf(status: number): Verdict {
  if (status >= 200 && status < 300) return 'succeeded';
  return retryableStatus(status) ? 'retry' : 'failed';
}

/**
 * Delay in ms before retry `retry` (1 for the first): "full jitter", random in [0, min(max, base × 2^(retry-1))],
 * so tasks that failed together do not come back together. A longer `retryAfterMs` from the upstream wins.
 */
export function retryDelay(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(retry - 1, 0), 40));
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs !== undefined && retryAfterMs > jittered ? retryAfterMs : jittered;
}

/**
 * `Retry-After` (RFC 9110 section 10.2.3) in ms from `nowMs`: delay-seconds or an HTTP-date; undefined when absent
 * or unreadable. A date in the past is 0.
 */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

export interface AttemptSettings {
  readonly maxAttempts: number;
  readonly backoff: number;
  readonly maxBackoff: number;
}

/** What one attempt produced: the upstream's answer, or the error that kept it from answering. */
export type AttemptResult =
  | { readonly answer: { readonly status: number; readonly retryAfter: string | undefined } }
  | { readonly error: unknown };

/** Errors that no retry can fix: the stored request itself cannot be sent (a header Node refuses). */
function permanentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('ERR_INVALID_') || code.startsWith('ERR_HTTP_INVALID_'));
}

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}

/**
 * The store's record of attempt `attempt` (1-based): succeeded, failed (→ dead letter), or retry after a delay.
 * A retryable outcome on the last allowed attempt fails.
 */
export function finishOf(
  result: AttemptResult,
  attempt: number,
  settings: AttemptSettings,
  random: () => number,
  nowMs: number,
): Finish {
  let verdict: Verdict;
  let status: number | null = null;
  let error: string | null = null;
  let waitAtLeast: number | undefined;
  if ('answer' in result) {
    status = result.answer.status;
    verdict = verdictOf(status);
    if (verdict !== 'succeeded') error = `upstream answered ${status}`;
    if (verdict === 'retry') waitAtLeast = retryAfterMs(result.answer.retryAfter, nowMs);
  } else {
    verdict = permanentError(result.error) ? 'failed' : 'retry';
    error = errorText(result.error);
  }
  if (verdict === 'succeeded') return { kind: 'succeeded', status: status as number };
  if (verdict === 'retry' && attempt < settings.maxAttempts) {
    const delayMs = retryDelay(attempt, settings.backoff, settings.maxBackoff, random, waitAtLeast);
    return { kind: 'retry', delayMs, status, error };
  }
  if (verdict === 'retry') error = `${error} (after ${attempt} attempts)`;
  return { kind: 'failed', status, error };
}
