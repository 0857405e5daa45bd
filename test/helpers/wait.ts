/**
 * Waiting for an event in tests, the one polling helper of the suite. A test waits for the thing itself (a promise
 * on the event, or `waitFor` on a probe), never for a fixed time: on a machine whose cores are busy with other work
 * a sleep that was long enough on an idle one is not, and a tight wall-clock bound fails for the same reason.
 *
 * The bounds here are generous on purpose: they only decide how long a broken implementation takes to fail, never
 * whether a working one passes. A wait's default bound stays below jest's 20 s test timeout, so its failure names
 * what was awaited rather than the test's timeout.
 */

/** Default bound of a wait (ms): far above any healthy wait, below jest's per-test timeout. */
export const WAIT_TIMEOUT_MS = 10_000;

/**
 * Timeout (ms) for a hook or test that starts something heavy: a Redis Cluster or Sentinel set (several processes,
 * a cluster create, replica syncs), a whole Portico. jest's 20 s default was exceeded in a loaded CI run when the
 * embedded database was PGlite (WebAssembly and initdb: 3 s idle, 60 s at a load average of 14); SQLite opens in
 * milliseconds, but the bound stays for the rest.
 */
export const START_TIMEOUT_MS = 180_000;

/** Default pause between two probes (ms). */
export const WAIT_INTERVAL_MS = 10;

export interface WaitOptions {
  /** Give up after this many ms (default WAIT_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Pause between probes in ms (default WAIT_INTERVAL_MS). */
  readonly intervalMs?: number;
  /** What is awaited, for the failure message; a function is called at failure time (to show the last reading). */
  readonly message?: string | (() => string);
}

type Falsy = false | 0 | '' | null | undefined;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Polls `probe` (sync or async) until it returns a truthy value and resolves with that value. A probe that throws
 * or rejects counts as "not yet"; the last error is named in the failure. Rejects after `timeoutMs` with
 * "timed out after N ms waiting for <message>".
 *
 * The positional form `waitFor(probe, timeoutMs, message)` is kept for existing callers.
 */
export async function waitFor<T>(
  probe: () => T | PromiseLike<T>,
  options: WaitOptions | number = {},
  message?: string,
): Promise<Exclude<T, Falsy>> {
  const opts: WaitOptions = typeof options === 'number' ? { timeoutMs: options, message } : options;
  const { timeoutMs = WAIT_TIMEOUT_MS, intervalMs = WAIT_INTERVAL_MS } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Exclude<T, Falsy>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await pause(intervalMs);
  }
  const what = typeof opts.message === 'function' ? opts.message() : (opts.message ?? 'a condition');
  const cause = lastError === undefined ? '' : ` (last probe failed: ${describeError(lastError)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}

/** Polls `read` until it returns `expected` (compared with ===); the failure names the last value read. */
export async function waitForValue<T>(
  read: () => T | PromiseLike<T>,
  expected: T,
  what: string,
  options: Omit<WaitOptions, 'message'> = {},
): Promise<void> {
  let last: T | undefined;
  await waitFor(
    async () => {
      last = await read();
      return last === expected;
    },
    { ...options, message: () => `${what} to be ${String(expected)} (still ${String(last)})` },
  );
}

/**
 * Resolves with 'first' when `promise` settles before the macrotask queue runs (it needed only microtasks and
 * process.nextTick: "at once", without a timer or I/O), else with 'later'. An order, not a duration, so a busy
 * machine does not change the answer.
 */
export function settlesAtOnce(promise: Promise<unknown>): Promise<'first' | 'later'> {
  const settled = promise.then(
    () => 'first' as const,
    () => 'first' as const,
  );
  const next = new Promise<'later'>((resolve) => setImmediate(() => resolve('later')));
  return Promise.race([settled, next]);
}
