/**
 * WebSocket (HTTP/1.1 Upgrade) forwarding on Node's client, not through the proxy library: the library's `ws` path
 * used the route's pooled keep-alive agent, set no deadline on the handshake, kept going after the client left, and
 * after a non-101 answer ended the client socket without destroying it, so a socket with unread bytes stayed open
 * for good. Here:
 * - every upgrade has a connection of its own (`agent: false`): an upgraded socket leaves any pool for good, and a
 *   handshake never waits for, nor holds, one of the sockets ordinary requests share (`server.upstreamMaxSockets`);
 * - the handshake is bounded by the route's `timeout`, from the forward to the upstream's answer: past it, 504;
 * - the client closing or half-closing before that answer aborts the upstream request;
 * - any answer but 101 goes back through the response on the raw socket, and the connection is closed after it;
 * - bytes the client sends ahead of the 101 (RFC 6455 section 4.1 says it must wait) are held, up to
 *   `EARLY_BYTES_MAX`, and forwarded after it.
 * Upgrade requests carrying a body are refused at the edge (src/server.ts) before they get here.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { PorticoError } from '../errors.js';
import { forwarding } from './forward-scope.js';
import { stripHopByHop } from './headers.js';
import type { WebSocketEvent } from './forward.js';

type WebSocketHook = ((event: WebSocketEvent, req: IncomingMessage, value: number) => void) | undefined;

/** Bytes a client may send before the 101; past this the connection is closed. */
const EARLY_BYTES_MAX = 65_536;

export interface UpgradeRoute {
  readonly route: string;
  readonly timeoutMs: number;
}

/** Renders a failed handshake (upstream error or timeout) on the response; the caller's upstream error path. */
export type UpgradeFailure = (err: Error, req: IncomingMessage, res: ServerResponse) => void;

/**
 * The upstream request path: the target's base path joined with the request path (one slash between), then the
 * target's query before the request's. `/` joins as the base itself, with or without a query.
 */
export function upstreamPath(target: URL, url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const base = target.pathname;
  let joined: string;
  if (base === '' || base === '/') joined = path === '' ? '/' : path;
  else if (path === '' || path === '/') joined = base;
  else joined = (base.endsWith('/') ? base.slice(0, -1) : base) + path;
  const queries = [target.search.slice(1), query].filter((part) => part !== '');
  return queries.length === 0 ? joined : `${joined}?${queries.join('&')}`;
}

function requestOptions(target: URL, req: IncomingMessage): http.RequestOptions {
  const secure = target.protocol === 'https:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  return {
    host,
    port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
    method: req.method,
    path: upstreamPath(target, req.url ?? '/'),
    headers: req.headers,
    agent: false,
  };
}

function handshakeTimeout(route: UpgradeRoute): PorticoError {
  return new PorticoError('PORTICO_UPSTREAM_TIMEOUT', `upgrade handshake unanswered after ${route.timeoutMs}ms`, {
    context: { route: route.route, timeoutMs: route.timeoutMs },
  });
}

/** A non-101 answer: relayed as an ordinary response, after which the connection closes (the edge destroys it). */
function relayRefusal(proxyRes: IncomingMessage, res: ServerResponse): void {
  const headers = { ...proxyRes.headers };
  stripHopByHop(headers);
  // RFC 9110 section 8.6: no Content-Length in a 204.
  if (proxyRes.statusCode === 204) delete headers['content-length'];
  res.writeHead(proxyRes.statusCode ?? 502, { ...headers, connection: 'close' });
  proxyRes.on('error', () => res.destroy());
  proxyRes.on('aborted', () => res.destroy());
  proxyRes.pipe(res);
}

/** The 101: its head is written as the upstream sent it, then bytes flow both ways until either side closes. */
function splice(
  socket: Socket,
  proxyRes: IncomingMessage,
  proxySocket: Socket,
  proxyHead: Buffer,
  early: Buffer[],
  closed: () => void,
) {
  if (socket.destroyed) {
    proxySocket.destroy();
    closed();
    return;
  }
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  const raw = proxyRes.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`;
  socket.write(`${head}\r\n`, 'latin1');
  if (proxyHead.length > 0) socket.write(proxyHead);
  for (const chunk of early) proxySocket.write(chunk);
  proxySocket.setNoDelay(true);
  const closeBoth = (): void => {
    socket.destroy();
    proxySocket.destroy();
  };
  socket.on('error', closeBoth);
  proxySocket.on('error', closeBoth);
  // Either side finishing (FIN or close) ends the connection: both go once what is queued is flushed. Passing a
  // half-close on instead would hold the other side open for as long as its peer does not close too.
  let ended = false;
  const finish = (): void => {
    socket.destroySoon();
    proxySocket.destroySoon();
    if (ended) return;
    ended = true;
    closed();
  };
  socket.once('end', finish);
  socket.once('close', finish);
  proxySocket.once('end', finish);
  proxySocket.once('close', finish);
  proxySocket.pipe(socket);
  socket.pipe(proxySocket);
}

/** Forwards one upgrade request to `target`. `res` is the response on the client's raw socket. */
export function forwardUpgrade(
  target: URL,
  route: UpgradeRoute,
  fail: UpgradeFailure,
  report: WebSocketHook,
  req: IncomingMessage,
  res: ServerResponse,
  socket: Socket,
  head: Buffer,
): void {
  const early: Buffer[] = head.length > 0 ? [head] : [];
  let earlyBytes = head.length;
  let answered = false;
  let proxyReq: http.ClientRequest | undefined;
  const options = requestOptions(target, req);
  const send = target.protocol === 'https:' ? https.request : http.request;
  try {
    // Inside `forwarding`, so the tracing kind's client span finds the request being forwarded.
    forwarding(req, res, () => {
      proxyReq = send(options);
    });
  } catch (err) {
    fail(err instanceof Error ? err : new Error(String(err)), req, res); // a header Node's client refuses
    return;
  }
  const upstream = proxyReq as http.ClientRequest;
  const timer = setTimeout(() => upstream.destroy(handshakeTimeout(route)), route.timeoutMs);
  timer.unref();

  const onClientData = (chunk: Buffer): void => {
    earlyBytes += chunk.length;
    if (earlyBytes > EARLY_BYTES_MAX) clientGone();
    else early.push(chunk);
  };
  const clientGone = (): void => {
    clearTimeout(timer);
    upstream.destroy();
    socket.destroy();
  };
  const settle = (): void => {
    answered = true;
    clearTimeout(timer);
  };
  // Reading (and holding) what the client sends keeps its FIN visible: a paused socket with unread bytes never
  // emits `end`.
  socket.on('data', onClientData);
  socket.once('end', clientGone);
  socket.once('close', clientGone);

  upstream.on('error', (err: Error) => {
    if (answered) return;
    settle();
    fail(err, req, res);
  });
  upstream.on('response', (proxyRes: IncomingMessage) => {
    settle();
    report?.('refused', req, proxyRes.statusCode ?? 0);
    relayRefusal(proxyRes, res);
  });
  upstream.on('upgrade', (proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer) => {
    settle();
    socket.off('data', onClientData);
    socket.off('end', clientGone);
    socket.off('close', clientGone);
    report?.('accepted', req, 101);
    const opened = performance.now();
    splice(socket, proxyRes, proxySocket, proxyHead, early, () =>
      report?.('closed', req, (performance.now() - opened) / 1000),
    );
  });
  upstream.end();
}
