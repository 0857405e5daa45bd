/**
 * The in-process task store: one Portico instance, bounded by `async.queue` unfinished tasks, and lost on a crash
 * (the README says so; Redis is how not to lose them). Ready tasks wait in a FIFO; tasks backing off wait on an
 * unref'd timer; finished tasks and idempotency keys are kept for `retention`, then swept.
 */
import { PorticoError } from '../errors.js';
import { Fifo } from '../pool/fifo.js';
import type { Accepted, Claim, DeadLetter, Finish, TaskRecord, TaskState, TaskStatus, TaskStore } from './types.js';

interface Entry {
  readonly task: TaskRecord;
  status: TaskState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: number;
  /** Epoch ms after which a finished task is forgotten. */
  expiresAt: number;
  dead: boolean;
  timer: NodeJS.Timeout | undefined;
}

export interface MemoryStoreOptions {
  readonly route: string;
  readonly queue: number;
  readonly retention: number;
  readonly now?: () => number;
}

/** How often finished tasks past their retention are swept. */
const SWEEP_MS = 60_000;

export class MemoryTaskStore implements TaskStore {
  readonly kind = 'memory';
  private readonly tasks = new Map<string, Entry>();
  private readonly keys = new Map<string, string>();
  private readonly ready = new Fifo<Entry>();
  private open = 0;
  private wake: (() => void) | undefined;
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly options: MemoryStoreOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  accept(task: TaskRecord): Promise<Accepted> {
    if (task.clientKey !== '') {
      const known = this.keys.get(task.clientKey);
      if (known !== undefined && this.tasks.has(known)) return Promise.resolve({ id: known, duplicate: true });
    }
    if (this.open >= this.options.queue) return Promise.reject(this.queueFull());
    const now = this.now();
    const entry: Entry = {
      task,
      status: 'queued',
      attempts: 0,
      lastStatus: null,
      lastError: null,
      updatedAt: now,
      expiresAt: now + this.options.retention,
      dead: false,
      timer: undefined,
    };
    this.tasks.set(task.id, entry);
    if (task.clientKey !== '') this.keys.set(task.clientKey, task.id);
    this.open++;
    this.enqueue(entry);
    return Promise.resolve({ id: task.id, duplicate: false });
  }

  async take(max: number, waitMs: number): Promise<Claim[]> {
    if (this.ready.length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wakeUp(), waitMs);
        timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const claims: Claim[] = [];
    while (claims.length < max) {
      const entry = this.ready.shift();
      if (entry === undefined) break;
      entry.status = 'running';
      entry.attempts++;
      entry.updatedAt = this.now();
      claims.push({ task: entry.task, attempt: entry.attempts, handle: entry.task.id });
    }
    return claims;
  }

  finish(claim: Claim, result: Finish): Promise<void> {
    const entry = this.tasks.get(claim.task.id);
    if (entry === undefined || entry.status !== 'running') return Promise.resolve();
    const now = this.now();
    entry.updatedAt = now;
    entry.lastStatus = result.status;
    entry.lastError = result.kind === 'succeeded' ? null : result.error;
    if (result.kind === 'retry') {
      entry.status = 'queued';
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        this.enqueue(entry);
      }, result.delayMs);
      entry.timer.unref();
      return Promise.resolve();
    }
    entry.status = result.kind;
    entry.dead = result.kind === 'failed';
    entry.expiresAt = Math.max(entry.expiresAt, now + this.options.retention);
    this.open--;
    return Promise.resolve();
  }

  status(id: string): Promise<TaskStatus | undefined> {
    const entry = this.tasks.get(id);
    return Promise.resolve(entry === undefined ? undefined : statusOf(entry));
  }

  deadLetters(limit: number): Promise<DeadLetter[]> {
    const dead: DeadLetter[] = [];
    for (const entry of this.tasks.values()) {
      if (dead.length >= limit) break;
      if (entry.dead)
        dead.push({ ...statusOf(entry), route: this.options.route, method: entry.task.method, path: entry.task.path });
    }
    return Promise.resolve(dead);
  }

  retryDead(id: string): Promise<boolean> {
    const entry = this.tasks.get(id);
    if (entry === undefined || !entry.dead) return Promise.resolve(false);
    if (this.open >= this.options.queue) return Promise.reject(this.queueFull());
    entry.dead = false;
    entry.status = 'queued';
    entry.attempts = 0;
    entry.updatedAt = this.now();
    entry.expiresAt = entry.updatedAt + this.options.retention;
    this.open++;
    this.enqueue(entry);
    return Promise.resolve(true);
  }

  deleteDead(id: string): Promise<boolean> {
    const entry = this.tasks.get(id);
    if (entry === undefined || !entry.dead) return Promise.resolve(false);
    this.forget(entry);
    return Promise.resolve(true);
  }

  unfinished(): number {
    return this.open;
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const entry of this.tasks.values()) clearTimeout(entry.timer);
    this.wakeUp();
    return Promise.resolve();
  }

  private queueFull(): PorticoError {
    return new PorticoError('PORTICO_QUEUE_FULL', `task queue of route ${this.options.route} is full`, {
      context: { route: this.options.route, capacity: this.options.queue },
      headers: { 'retry-after': '1' },
    });
  }

  private enqueue(entry: Entry): void {
    this.ready.push(entry);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private forget(entry: Entry): void {
    this.tasks.delete(entry.task.id);
    if (entry.task.clientKey !== '' && this.keys.get(entry.task.clientKey) === entry.task.id)
      this.keys.delete(entry.task.clientKey);
  }

  /** Forgets finished tasks past their retention (unfinished ones stay: they still count against the queue). */
  private sweep(): void {
    const now = this.now();
    for (const entry of this.tasks.values()) {
      if ((entry.status === 'succeeded' || entry.status === 'failed') && entry.expiresAt <= now) this.forget(entry);
    }
  }
}

export function statusOf(entry: {
  task: TaskRecord;
  status: TaskState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: number;
}): TaskStatus {
  return {
    id: entry.task.id,
    status: entry.status,
    attempts: entry.attempts,
    lastStatus: entry.lastStatus,
    lastError: entry.lastError,
    createdAt: new Date(entry.task.createdAt).toISOString(),
    updatedAt: new Date(entry.updatedAt).toISOString(),
  };
}
