/** The pool's typed errors; codes and statuses come from the catalogue in src/errors.ts. */
import { PorticoError } from '../errors.js';

/** The queue is at capacity: the submit is refused at once rather than blocking the caller. */
export class QueueFullError extends PorticoError {
  constructor(capacity: number) {
    super('PORTICO_QUEUE_FULL', `worker pool queue is full (${capacity} waiting)`, { context: { capacity } });
    this.name = 'QueueFullError';
  }
}

/** One attempt of a task ran past its deadline; the task's AbortSignal was aborted with this as the reason. */
export class TaskTimeoutError extends PorticoError {
  constructor(timeoutMs: number) {
    super('PORTICO_TASK_TIMEOUT', `task did not finish within ${timeoutMs}ms`, { context: { timeoutMs } });
    this.name = 'TaskTimeoutError';
  }
}

/** Raised for submits after shutdown began, and for tasks still unfinished when the drain timeout passed. */
export function poolShuttingDown(detail: string): PorticoError {
  return new PorticoError('PORTICO_SHUTTING_DOWN', `worker pool is shutting down: ${detail}`);
}
