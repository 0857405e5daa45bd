/**
 * The proxy listener: the edge handler that sets up each request's context, the Express app, WebSocket upgrades,
 * and drain. Wiring only; the behaviour lives in plan/, proxy/ and middleware/.
 *
 * A request that matches a route (or a built-in) runs that route's compiled chain straight from the edge, before
 * Express's router: the chain was composed at config load, so the router would only add per-request work (Express
 * 5's request/response prototype swap and router state cost a measurable share of a proxied request). Everything
 * else (404, 405) goes through the Express app. The chain runs on Node's request and response (typed so); only the
 * `express` middleware kind gives Express's request and response to the modules it runs, on the routes that use it.
 */
import http, { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { ServerConfig } from './config/schema.js';
import { createContext, type RequestContext } from './context.js';
import { sendError, sendProblem } from './errors.js';
import type { Plan } from './plan/build.js';
import { clientIpFrom, isTrusted, normalizeAddress } from './proxy/client-ip.js';
import { markCloseWanted } from './proxy/forward.js';
import { createClientCap, type ClientCap } from './proxy/client-cap.js';
import { beginSyncDispatch, endSyncDispatch } from './proxy/forward-scope.js';
import {
  saneRequestId,
  setForwarded,
  stripHopByHop,
  transferCodingIssue,
  upgradeBodyIssue,
  type StripOptions,
} from './proxy/headers.js';
import { hostIssue, safePath } from './proxy/path.js';
import { edgeLogging, logWhenClosed } from './middleware/logging.js';

export interface ProxyServerOptions {
  /** The plan in force for new requests; each request keeps the one it started with. */
  readonly currentPlan: () => Plan;
  readonly logger: Logger;
  readonly server: ServerConfig;
  /**
   * Called once per proxy-port response when it closes, completed or cut short (metrics); undefined costs nothing
   * per request.
   */
  readonly onResponse?: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** Called when a request was matched to a route or built-in (its route is set): metrics count it in flight. */
  readonly onRouted?: ((req: IncomingMessage) => void) | undefined;
  /** A request refused by Node's parser before it became a request (400, 408, 431): metrics count it. */
  readonly onRefused?: ((status: number) => void) | undefined;
}

export interface ProxyServer {
  readonly app: Express;
  readonly server: http.Server;
  readonly draining: () => boolean;
  /** Stops accepting, closes idle keep-alive sockets, waits for in-flight requests up to `timeoutMs`. */
  drain(timeoutMs: number): Promise<{ forced: boolean }>;
}

const STRIP_FOR_UPGRADE: StripOptions = { keepUpgrade: true };
const STRIP: StripOptions = {};

/**
 * Prepares a request for its route: context, request id, hop-by-hop stripping, forwarding headers. Returns whether
 * the client may start it (`server.maxRequestsPerClient`).
 */
function prepare(
  req: IncomingMessage,
  res: ServerResponse,
  plan: Plan,
  logger: Logger,
  keepUpgrade: boolean,
  cap: ClientCap,
): boolean {
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  const peerTrusted = isTrusted(plan.trusted, peer);
  const id = saneRequestId(req.headers['x-request-id']) ?? randomUUID();
  const client = clientIpFrom(req, peer, peerTrusted, plan.trusted);
  createContext(req, res, { id, clientIp: client, log: logger });
  res.setHeader('x-request-id', id);
  const transferEncoding = req.headers['transfer-encoding'];
  markCloseWanted(req, stripHopByHop(req.headers, keepUpgrade ? STRIP_FOR_UPGRADE : STRIP));
  // Node already de-chunked the body; the outgoing request re-chunks it (the framing is hop-by-hop, the body is not).
  if (transferEncoding !== undefined) req.headers['transfer-encoding'] = 'chunked';
  setForwarded(req, {
    clientIp: client,
    peer,
    peerTrusted,
    requestId: id,
    encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
  });
  const max = plan.config.server.maxRequestsPerClient;
  return max === 0 || cap.admit(client, res, max);
}

function tooManyInFlight(req: IncomingMessage, res: ServerResponse, plan: Plan): void {
  sendProblem(
    res,
    'PORTICO_CLIENT_CONCURRENCY',
    { requestId: req.portico?.id },
    {
      detail: `at most ${plan.config.server.maxRequestsPerClient} requests in flight per client`,
      headers: { 'retry-after': '1' },
    },
  );
}

/**
 * Node's parser accepts an HTTP/0.9-style request line (no version: it reports 0.9) and `HTTP/2.0`; Portico speaks
 * HTTP/1.x only, so neither is forwarded: 0.9 is a malformed request (400), a later major version gets 505
 * (RFC 9110 section 15.6.6).
 */
function refuseVersion(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('connection', 'close');
  const fields = { requestId: req.portico?.id };
  if (req.httpVersionMajor === 0)
    sendProblem(res, 'PORTICO_BAD_REQUEST', fields, { detail: 'HTTP/0.9 request line (no HTTP/1.x version)' });
  else sendProblem(res, 'PORTICO_HTTP_VERSION_NOT_SUPPORTED', fields, { detail: 'only HTTP/1.0 and 1.1 are served' });
}

export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  const { logger, onResponse, onRouted, onRefused } = options;
  // Requests refused at the edge run no chain, so no `logging` entry: they get the access line with the defaults.
  const refusedEntry = edgeLogging(logger);
  const finished =
    onResponse === undefined
      ? undefined
      : function finished(this: ServerResponse): void {
          onResponse(this.req, this);
        };
  let draining = false;
  const cap = createClientCap();
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false); // proxied routes never read the query; built-ins parse what they need

  app.use((req: Request, res: Response) => {
    const plan = req.portico?.fallbackPlan;
    if (plan !== undefined) plan.fallback(req, res, req.portico?.fallbackPath as string);
    else sendProblem(res, 'PORTICO_ROUTE_NOT_FOUND', { requestId: req.portico?.id });
  });
  // Express's own final handler would answer text/html (with the stack outside production) and log nothing here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    (req.portico?.log ?? logger).error({ err }, 'request failed');
    sendError(res, err, { requestId: req.portico?.id, route: req.portico?.route });
  });

  const edge = (req: IncomingMessage, res: ServerResponse): void => {
    const plan = options.currentPlan();
    const refused = transferCodingIssue(req) ?? hostIssue(req); // before prepare() rewrites the framing headers
    const admitted = prepare(req, res, plan, logger, false, cap);
    if (finished !== undefined) res.on('close', finished); // fires once; a shared function, no closure per request
    if (draining) res.setHeader('connection', 'close');
    if (req.httpVersionMajor !== 1) {
      logWhenClosed(req, res, refusedEntry);
      refuseVersion(req, res);
      return;
    }
    const path = safePath(req.url as string); // always set on a server-side request
    if (path === undefined || refused !== undefined) {
      logWhenClosed(req, res, refusedEntry);
      res.setHeader('connection', 'close');
      sendProblem(
        res,
        'PORTICO_BAD_REQUEST',
        { requestId: req.portico?.id },
        { detail: refused ?? 'ambiguous or non-origin request target' },
      );
      return;
    }
    if (!admitted) {
      logWhenClosed(req, res, refusedEntry);
      tooManyInFlight(req, res, plan);
      return;
    }
    beginSyncDispatch();
    let dispatched: boolean;
    try {
      dispatched = plan.dispatch(req, res, path);
    } finally {
      endSyncDispatch();
    }
    if (dispatched) {
      onRouted?.(req);
      return;
    }
    const ctx = req.portico as RequestContext; // set by prepare()
    ctx.fallbackPlan = plan;
    ctx.fallbackPath = path;
    app(req as Request, res as Response);
  };

  const cfg = options.server;
  const server = http.createServer(
    {
      keepAliveTimeout: cfg.keepAliveTimeout,
      headersTimeout: cfg.headersTimeout,
      requestTimeout: cfg.requestTimeout,
      connectionsCheckingInterval: cfg.connectionsCheckingInterval,
      maxHeaderSize: cfg.maxHeaderSize,
      requireHostHeader: true,
    },
    edge,
  );
  // Sockets must not outlive keepAliveTimeout by Node's default 1s grace only under load; leave the default.

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const plan = options.currentPlan();
    const path =
      draining || req.httpVersionMajor !== 1 || hostIssue(req) !== undefined ? undefined : safePath(req.url ?? '');
    if (path === undefined) {
      socket.destroy();
      return;
    }
    const refused = upgradeBodyIssue(req); // before prepare() rewrites the framing headers
    // A response object on the raw socket lets the route's chain (and the forward, for anything but a 101) refuse
    // the upgrade with a normal HTTP answer; the connection is not reused after one.
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.on('finish', () => socket.destroySoon());
    const admitted = prepare(req, res, plan, logger, true, cap);
    if (refused !== undefined) {
      logWhenClosed(req, res, refusedEntry);
      sendProblem(res, 'PORTICO_BAD_REQUEST', { requestId: req.portico?.id }, { detail: refused });
      return;
    }
    if (!admitted) {
      logWhenClosed(req, res, refusedEntry);
      tooManyInFlight(req, res, plan);
      return;
    }
    plan.upgrade(req, res, socket, head, path);
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed requests (smuggling attempts, oversized headers, slow headers) never reach the app. A socket that
    // already carried bytes may have an answer in flight (the parser found the error after a request it had
    // dispatched): a second, unsolicited response would corrupt the stream, so it is only closed (Node's rule too).
    if (!socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    onRefused?.(status);
    logger.warn(
      { status, code: err.code, clientIp: normalizeAddress(socket.remoteAddress ?? ''), route: '-' },
      'request refused before parsing completed',
    );
    const reason =
      status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    const body = JSON.stringify({ type: 'about:blank', title: reason, status });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.destroySoon();
  });

  const drain = (timeoutMs: number): Promise<{ forced: boolean }> =>
    new Promise((resolve) => {
      draining = true;
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        server.closeAllConnections();
        resolve({ forced: true });
      }, timeoutMs);
      timer.unref();
      server.close(() => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ forced: false });
      });
      // server.close() stops accepting; idle keep-alive sockets would otherwise hold it open until they time out.
      server.closeIdleConnections();
    });

  return { app, server, draining: () => draining, drain };
}
