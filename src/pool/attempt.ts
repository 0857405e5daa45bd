/**
 * One attempt of a task: a fresh AbortSignal, a deadline, and exactly one outcome however many of (result,
 * rejection, timeout, abort) happen. The outcome is reported at the deadline even when the task ignores its
 * signal: a task that does not stop keeps running unobserved, but it no longer holds a worker, so one misbehaving
 * task cannot pin the pool's concurrency forever.
 */
import { TaskTimeoutError } from './errors.js';

export type Task<T> = (signal: AbortSignal) => Promise<T>;

export type AttemptOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown; readonly retryable: boolean };

export interface Attempt {
  /** Ends the attempt now with `reason` (also the signal's reason); no effect once it has an outcome. */
  abort(reason: unknown, retryable: boolean): void;
}

/** Starts `task`; `done` is called exactly once, never synchronously from this call. */
export function runAttempt<T>(task: Task<T>, timeoutMs: number, done: (outcome: AttemptOutcome<T>) => void): Attempt {
  const controller = new AbortController();
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (outcome: AttemptOutcome<T>): void => {
    if (finished) return;
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    done(outcome);
  };
  const abort = (reason: unknown, retryable: boolean): void => {
    if (finished) return;
    finish({ ok: false, error: reason, retryable });
    controller.abort(reason);
  };
  if (Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => abort(new TaskTimeoutError(timeoutMs), true), timeoutMs);
    timer.unref();
  }
  // A task that throws synchronously rejects this promise with what it threw, as an async task would.
  const pending = new Promise<T>((resolve) => resolve(task(controller.signal)));
  pending.then(
    (value) => finish({ ok: true, value }),
    (error: unknown) => finish({ ok: false, error, retryable: true }),
  );
  return { abort };
}
