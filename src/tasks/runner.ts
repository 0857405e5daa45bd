/**
 * The delivery loop of one route: takes ready tasks from the store (no more than there are free slots, so a taken
 * task starts at once and is not left idle where another instance would claim it), runs each attempt on the worker
 * pool with `attemptTimeout`, and records the outcome. The store marks a task running and counts the attempt when
 * it is taken, so an instance that dies mid-attempt has used one of the task's attempts.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import type { TaskRunner } from '../pool/types.js';
import { QueueFullError } from '../pool/errors.js';
import { errorText, finishOf, type AttemptResult } from './backoff.js';
import { deliver } from './deliver.js';
import type { AsyncConfig } from './config.js';
import type { Claim, Finish, TaskStore } from './types.js';

export type TaskOutcome = 'succeeded' | 'retried' | 'failed';

/** What the loop reads on every attempt, so a reload's new settings apply to tasks already queued. */
export interface RouteSettings {
  readonly route: string;
  readonly async: AsyncConfig;
  readonly upstreams: readonly URL[];
}

export interface RunnerDeps {
  readonly store: TaskStore;
  readonly settings: () => RouteSettings;
  readonly pool: TaskRunner;
  readonly agentFor: (url: URL) => http.Agent;
  /** Attempts in flight at most for this route (the pool's `max`). */
  readonly concurrency: number;
  readonly logger: Logger;
  readonly onOutcome?: (route: string, outcome: TaskOutcome) => void;
  readonly random?: () => number;
}

/** Longest wait for work in one `take`; bounds how late the loop notices a stop. */
const TAKE_WAIT_MS = 1000;
/** Pause after a failed `take` (store down) before the next. */
const STORE_ERROR_PAUSE_MS = 500;

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

export class DeliveryLoop {
  private inflight = 0;
  private taking = true;
  private slot: (() => void) | undefined;
  private readonly stopAttempts = new AbortController();
  private loop: Promise<void> | undefined;
  private next = 0;
  private storeDown = false;
  private readonly random: () => number;

  constructor(private readonly deps: RunnerDeps) {
    this.random = deps.random ?? Math.random;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Attempts under way now. */
  running(): number {
    return this.inflight;
  }

  /**
   * Stops by `deadline` (performance.now() ms). `drain`: keep taking ready tasks until the store holds none
   * unfinished (in-process); otherwise stop taking at once and let the attempts under way finish (Redis: what is
   * left is claimed by another instance). Attempts still running at the deadline are aborted and not recorded.
   */
  async stop(deadline: number, drain: boolean): Promise<void> {
    if (!drain) this.taking = false;
    const done = (): boolean => this.inflight === 0 && (!drain || this.deps.store.unfinished() === 0);
    while (!done() && performance.now() < deadline)
      await sleep(Math.min(20, Math.max(1, deadline - performance.now())));
    this.taking = false;
    this.stopAttempts.abort(new Error('shutting down'));
    this.slot?.();
    await this.deps.store.close(); // ends a take that is waiting for work
    await this.loop;
  }

  private async run(): Promise<void> {
    const { store, concurrency, logger } = this.deps;
    while (this.taking) {
      const free = concurrency - this.inflight;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slot = resolve));
        this.slot = undefined;
        continue;
      }
      let claims: Claim[];
      try {
        claims = await store.take(free, TAKE_WAIT_MS);
        if (this.storeDown) logger.info({ route: this.deps.settings().route }, 'task store answers again');
        this.storeDown = false;
      } catch (err) {
        if (!this.taking) break;
        if (!this.storeDown) logger.warn({ err, route: this.deps.settings().route }, 'task store unavailable');
        this.storeDown = true;
        await sleep(STORE_ERROR_PAUSE_MS);
        continue;
      }
      for (const claim of claims) this.attempt(claim);
    }
  }

  private attempt(claim: Claim): void {
    const settings = this.deps.settings();
    const { upstreams, route } = settings;
    const target = upstreams[this.next++ % upstreams.length] as URL;
    this.inflight++;
    const agent = this.deps.agentFor(target);
    this.deps.pool
      .submit((signal) => deliver(claim.task, route, target, agent, signal), {
        timeout: settings.async.attemptTimeout,
        signal: this.stopAttempts.signal,
      })
      .then(
        (answer): AttemptResult => ({ answer }),
        (error: unknown): AttemptResult => ({ error }),
      )
      .then((result) => this.record(claim, result, settings))
      .catch((err: unknown) => this.deps.logger.warn({ err, route, task: claim.task.id }, 'task outcome not recorded'))
      .finally(() => {
        this.inflight--;
        this.slot?.();
      });
  }

  private async record(claim: Claim, result: AttemptResult, settings: RouteSettings): Promise<void> {
    if ('error' in result && this.stopAttempts.signal.aborted) return; // shutdown: left for the next owner
    let finish: Finish;
    if ('error' in result && result.error instanceof QueueFullError) {
      // Not attempted: the pool is saturated by other work. Back off; this never dead-letters the task (the store
      // counted the attempt when it was taken, so the next real one reports a higher number).
      finish = { kind: 'retry', delayMs: settings.async.backoff, status: null, error: errorText(result.error) };
    } else {
      finish = finishOf(result, claim.attempt, settings.async, this.random, Date.now());
    }
    await this.deps.store.finish(claim, finish);
    const outcome: TaskOutcome = finish.kind === 'retry' ? 'retried' : finish.kind;
    this.deps.onOutcome?.(settings.route, outcome);
    if (finish.kind === 'failed')
      this.deps.logger.warn(
        { route: settings.route, task: claim.task.id, attempts: claim.attempt, lastError: finish.error },
        'task failed; kept as a dead letter',
      );
  }
}
