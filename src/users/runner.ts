/**
 * Where background work (cache fills) runs. The worker pool (src/pool/) satisfies this interface; until it is
 * wired, `deferredRunner` runs each task on a later turn of the event loop with its own deadline.
 */
export interface BackgroundRunner {
  /**
   * Queues `task`; it gets a signal that aborts at its deadline (`timeout` ms, or the runner's default). The
   * promise settles when the task does, and rejects when it fails, times out or cannot be queued.
   */
  submit(task: (signal: AbortSignal) => Promise<void>, opts?: { timeout?: number }): Promise<void>;
}

export interface DeferredRunner extends BackgroundRunner {
  /** Resolves once every task submitted so far has settled. */
  idle(): Promise<void>;
}

export function deferredRunner(defaultTimeout: number): DeferredRunner {
  const pending = new Set<Promise<void>>();
  const run = async (task: (signal: AbortSignal) => Promise<void>, timeout: number): Promise<void> => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const signal = AbortSignal.timeout(timeout);
    let onAbort: (() => void) | undefined;
    // A task that ignores its signal still stops counting against the caller at the deadline.
    const deadline = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('background task timed out'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([task(signal), deadline]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  };
  return {
    submit(task, opts) {
      const settled = run(task, opts?.timeout ?? defaultTimeout);
      const tracked = settled.then(
        () => undefined,
        () => undefined,
      );
      pending.add(tracked);
      // Cannot reject: `tracked` maps both outcomes of the task to undefined.
      void tracked.finally(() => pending.delete(tracked));
      return settled;
    },
    async idle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
