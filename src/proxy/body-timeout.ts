/**
 * The request body idle timeout (`server.bodyIdleTimeout`): a body that makes no progress for that long is
 * abandoned, so a client cannot hold an upstream request and its pooled socket by trickling nothing (slow-POST).
 * Node's `requestTimeout` bounds the whole request; this bounds each stall. Nothing answered yet: 408
 * problem+json and the connection closed; an answer already started: the connection is destroyed.
 *
 * Progress is read from the socket's byte count, not from `data` events: a listener would start the flow before
 * the forwarder pipes the body and lose what arrives in between. Bytes buffered in the request (the upstream
 * reads slower than the client sends) count as progress: then Portico is behind, not the client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendProblem } from '../errors.js';

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

function abandon(req: IncomingMessage, res: ServerResponse, idleMs: number, route: string): void {
  req.portico?.log.warn({ route, requestId: req.portico.id, idleMs }, 'request body stalled');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('connection', 'close');
  // The rest of the body will never be read: once the 408 is out, the connection goes (and with it the upstream
  // request, which must not wait for bytes that are not coming).
  res.once('finish', () => req.destroy());
  sendProblem(
    res,
    'PORTICO_REQUEST_TIMEOUT',
    { requestId: req.portico?.id, route },
    { detail: `no request body bytes for ${idleMs}ms` },
  );
}

/** Watches one request's body until it completes or the exchange ends. Costs one unref'd timer per body. */
export function watchBodyIdle(req: IncomingMessage, res: ServerResponse, idleMs: number, route: string): void {
  if (!hasBody(req) || req.complete) return;
  const socket = req.socket;
  let bytes = socket.bytesRead;
  let lastProgress = Date.now();
  // Checked four times per window: a stall is caught between idleMs and 1.25 × idleMs.
  const timer = setInterval(
    () => {
      if (req.complete || res.writableEnded || socket.destroyed) {
        stop();
        return;
      }
      const now = Date.now();
      if (socket.bytesRead !== bytes || req.readableLength > 0) {
        bytes = socket.bytesRead;
        lastProgress = now;
        return;
      }
      if (now - lastProgress < idleMs) return;
      stop();
      abandon(req, res, idleMs, route);
    },
    Math.max(10, Math.floor(idleMs / 4)),
  );
  timer.unref();
  function stop(): void {
    clearInterval(timer);
    req.off('end', stop);
    res.off('close', stop);
  }
  req.once('end', stop);
  res.once('close', stop);
}
