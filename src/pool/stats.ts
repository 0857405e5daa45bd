/** The pool's counters and task-latency histogram, read by `/metrics` through `WorkerPool.stats()`. */

/** Upper bounds in seconds, Prometheus-style; background tasks range from sub-millisecond to the task timeout. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30];

export interface LatencySnapshot {
  readonly count: number;
  readonly sumSeconds: number;
  readonly maxSeconds: number;
  /** Cumulative counts per upper bound, as a Prometheus histogram exposes them (`+Inf` is `count`). */
  readonly buckets: ReadonlyArray<{ readonly le: number; readonly count: number }>;
}

export interface PoolStats {
  /** Live workers, busy or idle. */
  readonly workers: number;
  /** Workers running a task now. */
  readonly busy: number;
  /** Tasks waiting for a worker. */
  readonly queued: number;
  readonly completed: number;
  /** Tasks that ended in an error after their last attempt (timeouts included). */
  readonly failed: number;
  readonly timedOut: number;
  /** Submits refused: queue full or pool shutting down. */
  readonly rejected: number;
  /** Tasks aborted or never started because the drain timeout passed at shutdown. */
  readonly dropped: number;
  /** Submit to settle, queue wait included, for completed and failed tasks. */
  readonly latency: LatencySnapshot;
}

export class LatencyRecorder {
  private readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  private count = 0;
  private sum = 0;
  private max = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    if (seconds > this.max) this.max = seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= (LATENCY_BUCKETS[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }

  snapshot(): LatencySnapshot {
    let running = 0;
    const buckets = LATENCY_BUCKETS.map((le, i) => {
      running += this.counts[i] as number;
      return { le, count: running };
    });
    return { count: this.count, sumSeconds: this.sum, maxSeconds: this.max, buckets };
  }
}
