/**
 * Request mirroring (a route's `mirror`): a sampled copy of the request (method, path, headers with X-Request-Id,
 * body up to `maxBodySize`) is sent to a shadow upstream through the worker pool, and its answer is discarded.
 *
 * The primary request never waits for, slows down or fails because of the copy:
 * - the body is teed, never paused or re-buffered for the primary: the copy's `data` listener is attached only
 *   once the primary's consumer has started the flow (the stream's `resume` event), so no chunk is emitted before
 *   the primary's pipe exists; the listener only keeps chunk references, the copy is assembled inside the task;
 * - the copy is submitted on the loop turn after the body ended (or after the primary was forwarded, for a request
 *   without a body), so a slow or hanging shadow holds a pool worker, never the client's request; the pool bounds
 *   each copy with the mirror's `timeout`, and its bounded queue the backlog;
 * - every failure of the copy (too large, body not seen whole, queue full, shadow error or timeout) is counted
 *   and dropped here; nothing propagates to the caller.
 * Memory bound: at most `maxBodySize` per copy, times (pool workers + pool queue) copies.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RouteConfig } from '../config/schema.js';
import type { TaskRunner } from '../pool/pool.js';
import { QueueFullError } from '../pool/errors.js';
import { sendBuffered } from './send-buffered.js';
import type { Metrics, MirrorOutcome } from '../telemetry/metrics.js';

export type MirrorConfig = NonNullable<RouteConfig['mirror']>;

export interface MirrorDeps {
  readonly route: string;
  readonly pool: TaskRunner;
  readonly agentFor: (url: URL) => http.Agent;
  readonly logger?: Logger;
  /** Counts every outcome per route (`portico_mirror_copies_total`). */
  readonly metrics?: Pick<Metrics, 'mirror'>;
  /** Sampling source in [0, 1); tests pass a fixed one. */
  readonly random?: () => number;
}

export interface MirrorStats {
  /** Requests chosen by `sampleRatio`. */
  readonly sampled: number;
  /** Copies the shadow answered (any status). */
  readonly answered: number;
  /** Copies that failed at the shadow: refused, reset, timed out, or aborted at shutdown. */
  readonly failed: number;
  /** Copies dropped before sending: body over `maxBodySize`. */
  readonly droppedTooLarge: number;
  /** Copies dropped before sending: the body was not seen whole (client aborted, or read before the tee). */
  readonly droppedIncomplete: number;
  /** Copies dropped before sending: the pool's queue was full. */
  readonly droppedQueueFull: number;
}

export interface Mirror {
  /** Called by the route's terminal before forwarding; returns at once. */
  (req: IncomingMessage): void;
  stats(): MirrorStats;
}

interface Copy {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly chunks: readonly Buffer[];
  readonly size: number;
}

type BodyOutcome = { readonly chunks: Buffer[]; readonly size: number } | 'tooLarge' | 'incomplete';

/** Framing headers are recomputed for the buffered copy; `expect` would make the shadow wait for a 100. */
const REFRAMED = ['content-length', 'transfer-encoding', 'expect'];

/**
 * Collects the body alongside its real consumer. `expected` is the content-length (undefined when chunked).
 * Calls `done` once: with the chunks, or why there is no faithful copy.
 */
function teeBody(
  req: IncomingMessage,
  limit: number,
  expected: number | undefined,
  done: (outcome: BodyOutcome) => void,
): void {
  if (req.readableDidRead || req.readableEnded) {
    done('incomplete'); // some of the body was emitted before the tee existed
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Node may close the connection without a `close` on the request (response sent, body unread, Connection: close).
  const socket = req.socket as IncomingMessage['socket'] | null;
  const stop = (): void => {
    req.off('resume', attach);
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    socket?.off('close', onClose);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      stop();
      done('tooLarge');
    } else chunks.push(chunk);
  };
  const onEnd = (): void => {
    // Node's request dump (response sent before the body was read) removes every data listener, then drains.
    const whole = req.listeners('data').includes(onData) && (expected === undefined || size === expected);
    stop();
    done(whole ? { chunks, size } : 'incomplete');
  };
  const onClose = (): void => {
    stop();
    done('incomplete');
  };
  function attach(): void {
    req.on('data', onData);
  }
  if (req.readableFlowing === true) attach();
  else req.once('resume', attach);
  req.on('end', onEnd);
  req.on('close', onClose);
  socket?.on('close', onClose);
}

/** Sends one copy and resolves with the shadow's status once its response has been read to the end. */
function sendCopy(copy: Copy, target: URL, agent: http.Agent, signal: AbortSignal): Promise<number> {
  const body = copy.size > 0 ? Buffer.concat(copy.chunks, copy.size) : Buffer.alloc(0);
  return sendBuffered(target, agent, signal, {
    method: copy.method,
    path: copy.path,
    headers: copy.headers,
    body,
  }).then((answer) => answer.status);
}

/** Builds the mirror of one route, once per plan. */
export function createMirror(config: MirrorConfig, deps: MirrorDeps): Mirror {
  const counts = { sampled: 0, answered: 0, failed: 0, droppedTooLarge: 0, droppedIncomplete: 0, droppedQueueFull: 0 };
  const random = deps.random ?? Math.random;
  const target = config.upstream;
  const agent = deps.agentFor(target);
  const log = deps.logger;
  const outcome = (name: keyof typeof counts, label: MirrorOutcome): void => {
    counts[name]++;
    deps.metrics?.mirror(deps.route, label);
  };

  const send = (copy: Copy): void => {
    deps.pool
      .submit((signal) => sendCopy(copy, target, agent, signal), { timeout: config.timeout })
      .then(
        () => outcome('answered', 'answered'),
        (err: unknown) => {
          if (err instanceof QueueFullError) outcome('droppedQueueFull', 'dropped_queue_full');
          else outcome('failed', 'failed');
          log?.debug({ err, route: deps.route, mirror: target.origin }, 'mirror copy not delivered');
        },
      );
  };
  // Deferred to the next turn of the loop: the copy's request is built after the primary has been forwarded.
  const submit = (copy: Copy): void => void setImmediate(send, copy);

  const mirror = (req: IncomingMessage): void => {
    if (!(random() < config.sampleRatio)) return;
    outcome('sampled', 'sampled');
    const headers: IncomingHttpHeaders = { ...req.headers };
    for (const name of REFRAMED) delete headers[name];
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const length = chunked ? undefined : Number(req.headers['content-length'] ?? 0);
    if (length === 0) {
      if (req.headers['content-length'] !== undefined) headers['content-length'] = '0';
      submit({ method, path, headers, chunks: [], size: 0 });
      return;
    }
    if (length !== undefined && !(length <= config.maxBodySize)) {
      outcome('droppedTooLarge', 'dropped_too_large');
      return;
    }
    teeBody(req, config.maxBodySize, length, (body) => {
      if (body === 'tooLarge') outcome('droppedTooLarge', 'dropped_too_large');
      else if (body === 'incomplete') outcome('droppedIncomplete', 'dropped_incomplete');
      else
        submit({
          method,
          path,
          headers: { ...headers, 'content-length': String(body.size) },
          chunks: body.chunks,
          size: body.size,
        });
    });
  };
  mirror.stats = (): MirrorStats => ({ ...counts });
  return mirror;
}
