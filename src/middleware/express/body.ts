/**
 * The request body on routes with an `express` entry. A body parser (`express.json()`) reads the stream the proxy
 * would forward; Portico still forwards the exact bytes. From the start of such a route's chain, every chunk Node's
 * parser pushes into the request is also kept (bounded by the route's `maxBodySize`). At forward time:
 * - nobody read the request: the copy is dropped and the request streams to the upstream as on any route;
 * - something read it: the kept chunks, then whatever is still to come, are forwarded in its place.
 *
 * The hook is the request's own `push` (Node's HTTP parser calls `req.push(chunk)` for each body chunk and
 * `req.push(null)` at the end): an instance property, set only on these routes' requests. The kept chunks are
 * in the request's context (`req.portico.bodyCapture`).
 */
import { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';

export interface BodyCapture {
  chunks: Buffer[];
  size: number;
  readonly max: number;
  overflow: boolean;
  /** Set once the body is being replayed and more is still to come. */
  replay: PassThrough | undefined;
}

// Called with .call(this) below.
// eslint-disable-next-line @typescript-eslint/unbound-method
const push = IncomingMessage.prototype.push;

function capturingPush(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
  const capture = this.portico?.bodyCapture;
  if (capture !== undefined) {
    if (capture.replay !== undefined) {
      if (chunk === null) capture.replay.end();
      else capture.replay.write(chunk as Buffer);
    } else if (chunk !== null && !capture.overflow) {
      const bytes = chunk as Buffer;
      capture.size += bytes.length;
      if (capture.max > 0 && capture.size > capture.max) {
        capture.overflow = true;
        capture.chunks = [];
      } else capture.chunks.push(bytes);
    }
  }
  return push.call(this, chunk, encoding);
}

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/** Starts keeping the body's chunks; called when an express route's chain starts (before any chunk arrived). */
export function captureBody(req: IncomingMessage, max: number): void {
  const ctx = req.portico;
  if (ctx === undefined || req.complete || !hasBody(req)) return;
  ctx.bodyCapture = { chunks: [], size: 0, max, overflow: false, replay: undefined };
  req.push = capturingPush;
}

/**
 * What to forward: undefined for the request itself (unread), a stream of the exact bytes when a middleware read
 * them, or 'overflow' when they were read and exceeded `maxBodySize` (413).
 */
export function bodyToForward(req: IncomingMessage): Readable | 'overflow' | undefined {
  const ctx = req.portico;
  const capture = ctx?.bodyCapture;
  if (ctx === undefined || capture === undefined) return undefined;
  if (!req.readableDidRead) {
    ctx.bodyCapture = undefined;
    delete (req as { push?: unknown }).push; // back to the prototype's
    return undefined;
  }
  if (capture.overflow) return 'overflow';
  const replay = new PassThrough();
  for (const chunk of capture.chunks) replay.write(chunk);
  capture.chunks = [];
  if (req.complete) replay.end();
  else {
    capture.replay = replay; // the rest arrives through capturingPush
    req.resume(); // the reader that started may have stopped; the request's own copy is not needed any more
  }
  return replay;
}
