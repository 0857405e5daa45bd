import { finishOf, retryAfterMs, retryDelay, verdictOf } from '../../src/tasks/backoff.js';

const settings = { maxAttempts: 4, backoff: 100, maxBackoff: 1000 };
const answer = (status: number, retryAfter?: string) => ({ answer: { status, retryAfter } });
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('async delivery decisions', () => {
  it('2xx succeeds; 408, 425, 429 and 5xx retry; other statuses fail at once', () => {
    expect([200, 201, 204, 299].map(verdictOf)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect([408, 425, 429, 500, 502, 503, 504, 599].map(verdictOf)).toEqual(Array(8).fill('retry'));
    expect([301, 400, 401, 403, 404, 409, 410, 422].map(verdictOf)).toEqual(Array(8).fill('failed'));
  });

  it('full jitter: random in [0, min(max, base × 2^(retry-1))]', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, 100, 1000, () => 0.999999))).toEqual([99, 199, 399, 799, 999]);
    expect([1, 2, 3].map((n) => retryDelay(n, 100, 1000, () => 0))).toEqual([0, 0, 0]);
    expect(retryDelay(60, 100, 1000, () => 0.5)).toBe(500); // no overflow for a large retry number
  });

  it('a longer Retry-After wins over the jittered delay; a shorter one does not shorten it', () => {
    expect(retryDelay(1, 100, 1000, () => 0.5, 3000)).toBe(3000);
    expect(retryDelay(4, 100, 1000, () => 0.5, 10)).toBe(400);
  });

  it('reads Retry-After as seconds or an HTTP-date, and ignores what it cannot read', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it('records each outcome: success, retry with delay, failure at once, failure after maxAttempts', () => {
    const half = (): number => 0.5;
    expect(finishOf(answer(200), 1, settings, half, 0)).toEqual({ kind: 'succeeded', status: 200 });
    expect(finishOf(answer(503), 1, settings, half, 0)).toEqual({
      kind: 'retry',
      delayMs: 50,
      status: 503,
      error: 'upstream answered 503',
    });
    expect(finishOf(answer(429, '2'), 2, settings, half, 0)).toMatchObject({ kind: 'retry', delayMs: 2000 });
    expect(finishOf(answer(400), 1, settings, half, 0)).toEqual({
      kind: 'failed',
      status: 400,
      error: 'upstream answered 400',
    });
    expect(finishOf({ error: refused }, 2, settings, half, 0)).toEqual({
      kind: 'retry',
      delayMs: 100,
      status: null,
      error: 'connect ECONNREFUSED 127.0.0.1:1',
    });
    expect(finishOf(answer(500), 4, settings, half, 0)).toEqual({
      kind: 'failed',
      status: 500,
      error: 'upstream answered 500 (after 4 attempts)',
    });
    const badHeader = Object.assign(new TypeError('Invalid header value'), { code: 'ERR_INVALID_CHAR' });
    expect(finishOf({ error: badHeader }, 1, settings, half, 0)).toMatchObject({ kind: 'failed' });
  });
});
