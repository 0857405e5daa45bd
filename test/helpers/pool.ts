import { WorkerPool, type WorkerPoolOptions } from '../../src/pool/pool.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export const BASE: WorkerPoolOptions = {
  min: 1,
  max: 3,
  queue: 2,
  idleTimeout: 1000,
  taskTimeout: 60_000,
};

export function pool(overrides: Partial<WorkerPoolOptions> = {}): WorkerPool {
  return new WorkerPool({ ...BASE, ...overrides });
}

/** A task that waits for its deferred; records the signal it was given. */
export function held<T = void>(): {
  task: (signal: AbortSignal) => Promise<T>;
  gate: Deferred<T>;
  signals: AbortSignal[];
} {
  const gate = deferred<T>();
  const signals: AbortSignal[] = [];
  return {
    gate,
    signals,
    task: (signal) => {
      signals.push(signal);
      return gate.promise;
    },
  };
}

/** Lets settled promises run their callbacks (fake timers stay where they are). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
