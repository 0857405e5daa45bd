/**
 * The accepting end of an async route: after the route's chain ran, the request (method, path, query, end-to-end
 * headers, body) is read whole, stored, and only then answered `202 Accepted` with the task id, a `Location` for its
 * status, and a small JSON body. A store that refuses (queue full, Redis down) gets 503 with `Retry-After` and
 * nothing stored; a body over `maxBodySize` gets 413; a client that goes away before the body ended stores nothing.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, sendProblem } from '../errors.js';
import type { Readable } from 'node:stream';
import type { TaskRecord, TaskStore } from './types.js';

export interface AcceptOptions {
  readonly route: string;
  readonly maxBodySize: number;
  readonly statusPath: string;
  readonly store: () => TaskStore;
  readonly onAccept?: (route: string, outcome: 'accepted' | 'duplicate' | 'refused') => void;
}

/** `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a visible-ASCII string, bounded here. */
const KEY = /^[\x21-\x7e]{1,255}$/;
/** Not stored: the framing is recomputed at delivery, and the key is the task's own. */
const NOT_STORED = new Set(['content-length', 'transfer-encoding', 'expect', 'idempotency-key']);

function tooLarge(req: IncomingMessage, res: ServerResponse, options: AcceptOptions): void {
  res.setHeader('connection', 'close');
  sendProblem(
    res,
    'PORTICO_PAYLOAD_TOO_LARGE',
    { requestId: req.portico?.id, route: options.route },
    { detail: `limit is ${options.maxBodySize} bytes` },
  );
}

/**
 * Reads the body whole; undefined when it was over the limit (answered 413) or the client went away (the request
 * context's signal: it also covers a body an Express parser read, whose replay stream never sees the socket close).
 */
function readBody(
  source: Readable,
  req: IncomingMessage,
  res: ServerResponse,
  options: AcceptOptions,
  signal: AbortSignal,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const gone = (): void => settle(undefined);
    const settle = (value: Buffer | undefined): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', gone);
      resolve(value);
    };
    signal.addEventListener('abort', gone, { once: true });
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.maxBodySize) {
        tooLarge(req, res, options);
        source.destroy();
        settle(undefined);
      } else chunks.push(chunk);
    });
    source.on('end', () => settle(res.writableEnded ? undefined : Buffer.concat(chunks, size)));
    source.on('error', () => settle(undefined));
    source.on('close', () => settle(undefined));
  });
}

function storedHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !NOT_STORED.has(name)) headers[name] = value;
  }
  return headers;
}

function send202(res: ServerResponse, id: string, location: string, duplicate: boolean): void {
  const body = JSON.stringify({ id, status: 'queued', location, ...(duplicate ? { duplicate: true } : {}) });
  res.writeHead(202, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    location,
  });
  res.end(body);
}

/**
 * Stores the request and answers. `body` is the stream to read (the request itself, or the bytes an Express body
 * parser already read). The path is taken as it will be forwarded (after `stripPrefix`).
 */
export async function acceptTask(
  req: IncomingMessage,
  res: ServerResponse,
  body: Readable,
  options: AcceptOptions,
): Promise<void> {
  const fields = { requestId: req.portico?.id, route: options.route };
  const raw = req.headers['idempotency-key'];
  const given = typeof raw === 'string' ? raw : undefined;
  if (raw !== undefined && (given === undefined || !KEY.test(given))) {
    sendProblem(res, 'PORTICO_BAD_REQUEST', fields, {
      detail: 'Idempotency-Key must be 1 to 255 visible ASCII characters',
    });
    return;
  }
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > options.maxBodySize) {
    tooLarge(req, res, options);
    return;
  }
  const ctx = req.portico;
  // Made only on async routes: a plain proxied request never creates its context's AbortController.
  const signal = ctx?.signal ?? new AbortController().signal;
  const bytes = await readBody(body, req, res, options, signal);
  // A client gone before its 202 will send again: storing its task now would deliver it twice.
  if (bytes === undefined || signal.aborted || res.writableEnded) return;
  const id = randomUUID();
  const task: TaskRecord = {
    id,
    method: req.method as string,
    path: req.url as string,
    headers: storedHeaders(req),
    body: bytes,
    requestId: ctx?.id ?? id,
    traceparent: ctx?.trace?.traceparent ?? headerText(req.headers.traceparent),
    key: given ?? id,
    clientKey: given ?? '',
    createdAt: Date.now(),
  };
  try {
    const accepted = await options.store().accept(task);
    options.onAccept?.(options.route, accepted.duplicate ? 'duplicate' : 'accepted');
    send202(res, accepted.id, `${options.statusPath}/${accepted.id}`, accepted.duplicate);
  } catch (err) {
    options.onAccept?.(options.route, 'refused');
    ctx?.log.warn({ err, route: options.route }, 'task not accepted');
    sendError(res, err, fields);
  }
}

function headerText(value: string | string[] | undefined): string {
  return typeof value === 'string' ? value : '';
}
