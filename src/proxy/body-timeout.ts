/**
 * Request body deadlines, so a client cannot hold an upstream request and its pooled socket with a body that never
 * ends (slow-POST):
 * - `server.bodyIdleTimeout`: a body that makes no progress for that long is abandoned;
 * - `server.bodyMinRate`: a body that keeps moving, but slower than that many bytes per second on average, is
 *   abandoned once it has taken `bodyIdleTimeout` plus one second per `bodyMinRate` bytes received (the scheme of
 *   Apache's mod_reqtimeout `MinRate`): one byte every few seconds no longer lasts until `requestTimeout`.
 * Node's `requestTimeout` still bounds the whole request. Nothing answered yet: 408 problem+json and the connection
 * closed; an answer already started: the connection is destroyed.
 *
 * Progress is read from the socket's byte count, not from `data` events: a listener would start the flow before
 * the forwarder pipes the body and lose what arrives in between. Bytes buffered in the request (the upstream
 * reads slower than the client sends, or the request waits for an upstream socket) count as progress, and the time
 * they stay buffered does not count against the rate: then Portico is behind, not the client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendProblem } from '../errors.js';

/** A route's body limits, made once at plan build. */
export interface BodyDeadlines {
  readonly route: string;
  /** No body byte for this long: abandoned. */
  readonly idleMs: number;
  /** Average bytes per second owed after the first `idleMs`; 0: no rate. */
  readonly minRate: number;
}

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

function abandon(req: IncomingMessage, res: ServerResponse, route: string, detail: string): void {
  req.portico?.log.warn({ route, requestId: req.portico.id, detail }, 'request body too slow');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('connection', 'close');
  // The rest of the body will never be read: once the 408 is out, the connection goes (and with it the upstream
  // request, which must not wait for bytes that are not coming).
  res.once('finish', () => req.destroy());
  sendProblem(res, 'PORTICO_REQUEST_TIMEOUT', { requestId: req.portico?.id, route }, { detail });
}

/** Watches one request's body until it completes or the exchange ends. Costs one unref'd timer per body. */
export function watchBody(req: IncomingMessage, res: ServerResponse, limits: BodyDeadlines): void {
  if (!hasBody(req) || req.complete) return;
  const { idleMs, minRate, route } = limits;
  const socket = req.socket;
  const firstByte = socket.bytesRead;
  let bytes = firstByte;
  const started = Date.now();
  let lastProgress = started;
  /** Time spent with bytes waiting in the request for Portico to pass them on. */
  let behindMs = 0;
  // Checked four times per window: a stall is caught between idleMs and 1.25 × idleMs.
  const period = Math.max(10, Math.floor(idleMs / 4));
  const timer = setInterval(() => {
    if (req.complete || res.writableEnded || socket.destroyed) {
      stop();
      return;
    }
    const now = Date.now();
    const buffered = req.readableLength > 0;
    if (buffered) behindMs += period;
    if (socket.bytesRead !== bytes || buffered) {
      bytes = socket.bytesRead;
      lastProgress = now;
    } else if (now - lastProgress >= idleMs) {
      stop();
      abandon(req, res, route, `no request body bytes for ${idleMs}ms`);
      return;
    }
    if (minRate > 0 && now - started - behindMs > idleMs + ((bytes - firstByte) * 1000) / minRate) {
      stop();
      abandon(req, res, route, `request body slower than ${minRate} bytes/s`);
    }
  }, period);
  timer.unref();
  function stop(): void {
    clearInterval(timer);
    req.off('end', stop);
    res.off('close', stop);
  }
  req.once('end', stop);
  res.once('close', stop);
}
