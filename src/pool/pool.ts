/**
 * The worker pool that runs Portico's background work (cache fills, mirrored requests).
 *
 * Tasks run on the event loop, not on worker threads: every task Portico has is I/O-bound (an HTTP request to a
 * shadow upstream, a database query and a Redis write for a cache fill). Such a task spends its time waiting on
 * sockets, so a thread would add a structured-clone hop and a second heap per task and gain nothing; a "worker"
 * here is a concurrency slot. The pool bounds how many tasks are in flight, how many wait, and how long each may
 * take. If CPU-bound work ever appears, it belongs on a maintained thread pool (piscina), not in this class.
 *
 * Scaling: a submit hands the task to an idle worker, else starts a new one while below `max`, else queues it, else
 * refuses it (QueueFullError). A worker above `min` that stays idle for `idleTimeout` stops: it leaves the pool and
 * its timer is cleared. Idle workers are reused last-idle-first, so under light load the surplus ones age out.
 */
import { EventEmitter } from 'node:events';
import type { WorkerPoolConfig } from './config.js';
import { runAttempt, type AttemptOutcome, type Task } from './attempt.js';
import { isPorticoError } from '../errors.js';
import { QueueFullError, TaskTimeoutError, poolShuttingDown } from './errors.js';
import { Fifo } from './fifo.js';
import { LatencyRecorder, type PoolStats } from './stats.js';
import type { Job, PoolEvents, ShutdownReport, SubmitOptions, TaskRunner, Worker, WorkerPoolOptions } from './types.js';

export type { Task, SubmitOptions, TaskRunner, WorkerPoolOptions, PoolEvents, ShutdownReport } from './types.js';

export class WorkerPool extends EventEmitter<PoolEvents> implements TaskRunner {
  private readonly options: WorkerPoolOptions;
  private readonly queue = new Fifo<Job>();
  private readonly workers = new Set<Worker>();
  /** Idle workers, most recently idle last. */
  private readonly idle: Worker[] = [];
  private readonly latency = new LatencyRecorder();
  private readonly counts = { busy: 0, completed: 0, failed: 0, timedOut: 0, rejected: 0, dropped: 0 };
  private closed = false;
  private shutdownPromise: Promise<ShutdownReport> | undefined;
  private onQuiet: (() => void) | undefined;

  constructor(options: WorkerPoolOptions) {
    super();
    this.options = options;
    for (let i = 0; i < options.min; i++) this.parkIdle(this.spawn());
  }

  submit<T>(task: Task<T>, options: SubmitOptions = {}): Promise<T> {
    if (this.closed) {
      this.counts.rejected++;
      return Promise.reject(poolShuttingDown('not accepting tasks'));
    }
    if (options.signal?.aborted) {
      // The platform's contract for an aborted call (fetch, timers/promises): reject with the signal's reason as
      // given, as link() does for a later abort; an AbortSignal's reason is typed `any` by the DOM.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- see above
      return Promise.reject(options.signal.reason);
    }
    if (this.idle.length === 0 && this.workers.size >= this.options.max && this.queue.length >= this.options.queue) {
      this.counts.rejected++;
      return Promise.reject(new QueueFullError(this.options.queue));
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        task: task as Task<unknown>,
        timeout: options.timeout ?? this.options.taskTimeout,
        submittedAt: performance.now(),
        resolve: resolve as (value: unknown) => void,
        reject,
        state: 'queued',
      };
      if (options.signal !== undefined) this.link(job, options.signal);
      this.dispatch(job);
    });
  }

  stats(): PoolStats {
    const { busy, completed, failed, timedOut, rejected, dropped } = this.counts;
    return {
      workers: this.workers.size,
      busy,
      queued: this.queue.length,
      completed,
      failed,
      timedOut,
      rejected,
      dropped,
      latency: this.latency.snapshot(),
    };
  }

  /**
   * Stops intake, lets queued and running tasks finish for up to `drainTimeoutMs`, then aborts what is left
   * (rejecting each with PORTICO_SHUTTING_DOWN) and stops every worker. Idempotent.
   */
  shutdown(drainTimeoutMs: number): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.drain(drainTimeoutMs);
    return this.shutdownPromise;
  }

  private async drain(drainTimeoutMs: number): Promise<ShutdownReport> {
    this.closed = true;
    const before = this.counts.completed + this.counts.failed;
    if (this.pending() > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onQuiet = resolve;
        timer = setTimeout(resolve, drainTimeoutMs);
      });
      clearTimeout(timer);
      this.onQuiet = undefined;
    }
    const dropped = this.dropRemaining();
    for (const worker of [...this.workers]) this.stop(worker);
    const report = { finished: this.counts.completed + this.counts.failed - before, dropped };
    const log = this.options.logger;
    if (dropped > 0) log?.warn(report, 'worker pool stopped; drain timeout passed with tasks left');
    else log?.info(report, 'worker pool stopped');
    return report;
  }

  private dropRemaining(): number {
    const reason = poolShuttingDown('drain timeout passed');
    const left = this.counts.dropped;
    for (const job of this.queue.takeAll()) this.settle(job, reason, 'dropped');
    // Running attempts are aborted; their outcome (not retryable) settles them as dropped in `afterAttempt`.
    for (const worker of this.workers) worker.job?.attempt?.abort(reason, false);
    return this.counts.dropped - left;
  }

  private pending(): number {
    return this.queue.length + this.counts.busy;
  }

  private dispatch(job: Job): void {
    const worker = this.idle.pop();
    if (worker !== undefined) {
      clearTimeout(worker.idleTimer);
      worker.idleTimer = undefined;
      this.start(worker, job);
    } else if (this.workers.size < this.options.max) {
      this.start(this.spawn(), job);
    } else {
      job.state = 'queued';
      this.queue.push(job);
    }
  }

  private start(worker: Worker, job: Job): void {
    job.state = 'running';
    this.counts.busy++;
    worker.job = job;
    job.attempt = runAttempt(job.task, job.timeout, (outcome) => this.afterAttempt(worker, job, outcome));
  }

  private afterAttempt(worker: Worker, job: Job, outcome: AttemptOutcome<unknown>): void {
    this.counts.busy--;
    worker.job = undefined;
    job.attempt = undefined;
    if (outcome.ok) this.settle(job, undefined, 'completed', outcome.value);
    else this.settle(job, outcome.error, this.closed && isShutdown(outcome.error) ? 'dropped' : 'failed');
    const next = this.queue.shift();
    if (next !== undefined) this.start(worker, next);
    else if (this.workers.has(worker)) this.parkIdle(worker);
    if (this.onQuiet !== undefined && this.pending() === 0) this.onQuiet();
  }

  private settle(job: Job, error: unknown, as: 'completed' | 'failed' | 'dropped', value?: unknown): void {
    if (job.state === 'settled') return;
    job.state = 'settled';
    job.unlink?.();
    this.counts[as]++;
    if (as === 'dropped') {
      job.reject(error);
      return;
    }
    const timedOut = as === 'failed' && error instanceof TaskTimeoutError;
    if (timedOut) this.counts.timedOut++;
    const seconds = (performance.now() - job.submittedAt) / 1000;
    this.latency.observe(seconds);
    this.options.onSettle?.(timedOut ? 'timed_out' : as, seconds);
    if (as === 'completed') job.resolve(value);
    else job.reject(error);
  }

  /**
   * The submitter's signal: a task still queued when its submitter gives up (the requester went away, the owner
   * is shutting down) is removed before it starts, so no worker is spent on work nobody waits for; a running one is
   * aborted.
   */
  private link(job: Job, signal: AbortSignal): void {
    const onAbort = (): void => {
      if (job.state === 'queued') this.queue.remove(job);
      if (job.state === 'running') job.attempt?.abort(signal.reason, false);
      else this.settle(job, signal.reason, 'failed');
      if (this.onQuiet !== undefined && this.pending() === 0) this.onQuiet();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    job.unlink = () => signal.removeEventListener('abort', onAbort);
  }

  private spawn(): Worker {
    const worker: Worker = { idleTimer: undefined, job: undefined };
    this.workers.add(worker);
    this.options.logger?.debug({ workers: this.workers.size }, 'worker pool scaled up');
    this.emit('workerStart', this.workers.size);
    return worker;
  }

  private parkIdle(worker: Worker): void {
    this.idle.push(worker);
    if (this.workers.size <= this.options.min) return;
    worker.idleTimer = setTimeout(() => {
      worker.idleTimer = undefined;
      if (this.workers.size > this.options.min) this.stop(worker);
    }, this.options.idleTimeout);
    worker.idleTimer.unref();
  }

  private stop(worker: Worker): void {
    clearTimeout(worker.idleTimer);
    worker.idleTimer = undefined;
    const index = this.idle.indexOf(worker);
    if (index !== -1) this.idle.splice(index, 1);
    if (this.workers.delete(worker)) {
      this.options.logger?.debug({ workers: this.workers.size }, 'worker pool scaled down');
      this.emit('workerStop', this.workers.size);
    }
  }
}

function isShutdown(err: unknown): boolean {
  return isPorticoError(err) && err.code === 'PORTICO_SHUTTING_DOWN';
}

/** Builds the pool from the validated `workerPool` section. */
export function createWorkerPool(
  config: WorkerPoolConfig,
  extra: Pick<WorkerPoolOptions, 'logger' | 'onSettle'> = {},
): WorkerPool {
  return new WorkerPool({ ...config, ...extra });
}
