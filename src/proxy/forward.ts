/**
 * Forwarding to one route's upstreams through http-proxy-middleware 4 (httpxy underneath). The library's default
 * plugins are ejected: its error plugin maps a refused connection to 504 and echoes Host and URL into the body, so
 * Portico registers its own error handler and renders problem+json from the error catalogue instead.
 *
 * Everything per route is built here once at plan build: one middleware per upstream (target parsed to a URL
 * once, since httpxy re-parses string targets per request), the agent, the timeout. Per request the work is a
 * round-robin pick, the header rewrite and the library call.
 */
import { Readable } from 'node:stream';
import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type Options, type Plugin } from 'http-proxy-middleware';
import { PorticoError, sendProblem, type ErrorCode } from '../errors.js';
import { stripHopByHop, type StripOptions } from './headers.js';
import { forwardInTurn, forwarding } from './forward-scope.js';
import { forwardUpgrade } from './upgrade.js';
import { dropQueued, takeQueued } from './agents.js';
import { awaitHead, headAnswered, headArrived, headNotDue } from './head-deadline.js';

export interface ForwardHooks {
  /** True while the server drains: responses then carry `Connection: close`. */
  readonly draining: () => boolean;
  /** Called once per failed upstream exchange, with the classified error (for logs and metrics). */
  readonly onUpstreamError?: (err: PorticoError, req: IncomingMessage) => void;
  /**
   * A WebSocket upgrade's course: `accepted` (101 relayed), `refused` (the upstream answered otherwise), `closed`
   * (an accepted connection ended; `value` is its lifetime in seconds). Failures go to `onUpstreamError`.
   */
  readonly onWebSocket?: (event: WebSocketEvent, req: IncomingMessage, value: number) => void;
}

export type WebSocketEvent = 'accepted' | 'refused' | 'closed';

/**
 * What a route tells the shared upstream proxy about one request: set in the request's context
 * (`req.portico.forwarding`) before forwarding.
 */
export interface RouteForwarding {
  readonly route: string;
  readonly timeoutMs: number;
}

export interface ForwardOptions extends RouteForwarding {
  readonly upstreams: readonly URL[];
  readonly proxies: UpstreamProxies;
}

export type Forward = (req: IncomingMessage, res: ServerResponse) => void;
/** `res` is the response on the client's raw socket: it carries any answer but a 101. */
export type ForwardUpgrade = (req: IncomingMessage, res: ServerResponse, socket: Socket, head: Buffer) => void;

/**
 * The forward's per-request state lives in the request's context (`req.portico`: route details, the current
 * upstream request, the retry flag, the queue timer). The route's details are also kept on the upstream
 * ClientRequest: the `timeout` and `finish` listeners and the head deadline are shared functions whose only
 * argument is that ClientRequest, and a slot on it costs less than a closure per request to reach the context.
 */
const ROUTE = Symbol('portico.route');

interface ForwardState {
  [ROUTE]?: RouteForwarding;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** Marks the request as wanting its client connection closed after the response (client said `Connection: close`). */
export function markCloseWanted(req: IncomingMessage, close: boolean): void {
  if (close && req.portico !== undefined) req.portico.closeWanted = true;
}

/** Maps a low-level upstream failure to a catalogue code. */
export function classifyUpstreamError(err: unknown): ErrorCode {
  if (err instanceof PorticoError) return err.code;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (UNREACHABLE.has(code)) return 'PORTICO_UPSTREAM_UNREACHABLE';
  if (code === 'ETIMEDOUT') return 'PORTICO_UPSTREAM_TIMEOUT';
  return 'PORTICO_UPSTREAM_RESET';
}

/**
 * A stale keep-alive socket (the upstream closed it while idle) fails with ECONNRESET before any response byte.
 * Such a request is replayed once on a fresh socket, but only when that is safe: idempotent method, no request body
 * (it was streamed and is gone), nothing sent to the client yet, not already retried.
 */
function shouldRetry(err: unknown, req: IncomingMessage, res: ServerResponse): boolean {
  const ctx = req.portico;
  if (ctx === undefined || ctx.retried || res.headersSent || res.destroyed) return false;
  if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') return false;
  if (!IDEMPOTENT.has(req.method ?? '')) return false;
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) return false;
  return ctx.proxyReq?.reusedSocket === true;
}

function timeoutError(route: string, timeoutMs: number): PorticoError {
  return new PorticoError('PORTICO_UPSTREAM_TIMEOUT', `upstream idle for ${timeoutMs}ms`, {
    context: { route, timeoutMs },
  });
}

function buildOptions(target: URL, agent: Agent, plugin: Plugin): Options {
  // `on: {...}` is wired by the library's proxy-events plugin, ejected here with the others: events are
  // registered in Portico's own plugin instead.
  return { target, agent, changeOrigin: false, xfwd: false, ejectPlugins: true, plugins: [plugin] };
}

function headTimeoutError(route: string, timeoutMs: number): PorticoError {
  return new PorticoError('PORTICO_UPSTREAM_TIMEOUT', `upstream response head not complete within ${timeoutMs}ms`, {
    context: { route, timeoutMs },
  });
}

function busyError(route: string, timeoutMs: number, upstream: string): PorticoError {
  return new PorticoError('PORTICO_UPSTREAM_BUSY', `no upstream socket free within ${timeoutMs}ms`, {
    context: { route, timeoutMs, upstream },
  });
}

/** `close` on an incoming request whose body was still arriving: abort the upstream request that waits for it. */
function abortIfIncomplete(this: IncomingMessage): void {
  if (!this.complete) this.portico?.proxyReq?.destroy();
}

/** `timeout` on an upstream request: destroying it with a typed error makes it a 504. */
function onUpstreamIdle(this: ClientRequest & ForwardState): void {
  const route = this[ROUTE];
  this.destroy(route === undefined ? undefined : timeoutError(route.route, route.timeoutMs));
}

/** The response head deadline passed (src/proxy/head-deadline.ts): destroying with a typed error makes it a 504. */
function onLateHead(proxyReq: ClientRequest & ForwardState): void {
  const route = proxyReq[ROUTE];
  proxyReq.destroy(route === undefined ? undefined : headTimeoutError(route.route, route.timeoutMs));
}

/** `finish` on an upstream request whose body was still arriving when it got its socket: the head clock starts. */
function onBodySent(this: ClientRequest & ForwardState): void {
  const route = this[ROUTE];
  const socket = this.socket;
  if (route !== undefined && socket !== null && !headAnswered(socket)) {
    awaitHead(this, socket, route.timeoutMs, onLateHead);
  }
}

/** Runs on the upstream request's `socket` event: it has left the agent's queue, if it was in it. */
function onProxyReq(proxyReq: ClientRequest & ForwardState, req: IncomingMessage): void {
  const ctx = req.portico;
  if (ctx !== undefined) {
    ctx.proxyReq = proxyReq;
    const queued = ctx.queueTimer;
    if (queued !== undefined) {
      clearTimeout(queued);
      ctx.queueTimer = undefined;
    }
  }
  const route = ctx?.forwarding;
  const socket = proxyReq.socket;
  // A body that will never complete (the client went away, or Portico answered 408/413 and dropped it) must not
  // keep the upstream waiting for the rest until the route timeout. Shared listeners: no closure per request, and
  // none at all for a body already read (every bodiless request).
  if (!req.complete) {
    if (req.destroyed) proxyReq.destroy();
    else req.on('close', abortIfIncomplete);
  }
  if (route === undefined) return;
  proxyReq[ROUTE] = route;
  // Head bound: from the request sent whole to the end of the response head.
  if (socket !== null) {
    if (req.complete) awaitHead(proxyReq, socket, route.timeoutMs, onLateHead);
    else {
      headNotDue(socket);
      proxyReq.once('finish', onBodySent);
    }
  }
  // Idle bound on connect, first byte and every gap.
  proxyReq.setTimeout(route.timeoutMs, onUpstreamIdle);
}

/**
 * Node's agent reads the upstream's `Keep-Alive: timeout=N` from the response headers when the socket goes back to
 * the pool, and closes the idle socket a second before the upstream would (fewer requests sent on a socket the
 * upstream is closing). The header is hop-by-hop and must not reach the client: it is blanked while the engine
 * copies the headers to the client response, and put back when the upstream response ends. Node frees the socket
 * in a tick after the response's `end` handlers ran ("AFTER user-added end handlers have a chance to run", in its
 * HTTP client), so the agent finds it there (test/contracts/node-http.test.ts). (A non-enumerable property did the
 * same at ~0.3 us per response.)
 */
// Kept on the upstream response, not in the request's context: it is that response's header, put back into its own
// header object for the agent that reads it.
const KEEP_ALIVE_HINT = Symbol('portico.keepAliveHint');
const BLANK: StripOptions = { blank: true };

interface HintCarrier {
  [KEEP_ALIVE_HINT]?: string | string[];
}

function onProxyRes(hooks: ForwardHooks, proxyRes: IncomingMessage & HintCarrier, req: IncomingMessage): void {
  headArrived(proxyRes.socket);
  const ctx = req.portico;
  if (ctx !== undefined && ctx.forwardedAt !== 0) ctx.upstreamSeconds = (performance.now() - ctx.forwardedAt) / 1000;
  const hint = proxyRes.headers['keep-alive'];
  if (hint !== undefined) proxyRes[KEEP_ALIVE_HINT] = hint;
  stripHopByHop(proxyRes.headers, BLANK);
  // RFC 9110 section 8.6: a 204 carries no Content-Length (blanked like the hop-by-hop headers, see above).
  if (proxyRes.statusCode === 204 && proxyRes.headers['content-length'] !== undefined) {
    proxyRes.headers['content-length'] = undefined;
  }
  proxyRes.headers.connection = hooks.draining() || req.portico?.closeWanted === true ? 'close' : 'keep-alive';
}

/** The engine's `end` event (upstream response read to its end): the agent may now read the hint. */
function restoreKeepAliveHint(
  _req: IncomingMessage,
  _res: ServerResponse,
  proxyRes: IncomingMessage & HintCarrier,
): void {
  const hint = proxyRes[KEEP_ALIVE_HINT];
  if (hint !== undefined) proxyRes.headers['keep-alive'] = hint;
}

/**
 * The engine's `web()` promise resolves for every upstream outcome (its `error` listener answers those) and rejects
 * only with the client response's own `error` (test/contracts/httpxy.test.ts): that client is gone or its response
 * already ended, so there is nothing left to answer. Without this, the rejection would be unhandled and fatal.
 */
function ignoreClientGone(): void {}

interface UpstreamProxy {
  readonly origin: string;
  /** httpxy's `web()` with this upstream's options, called directly on the hot path. */
  readonly web: (req: IncomingMessage, res: ServerResponse) => void;
  /** The same with another body stream in place of the request (a body a middleware already read). */
  readonly webWithBody: (req: IncomingMessage, res: ServerResponse, body: Readable) => void;
  /** A WebSocket upgrade to this upstream (src/proxy/upgrade.ts), bounded by the route's timeout. */
  readonly upgrade: (
    route: RouteForwarding,
    req: IncomingMessage,
    res: ServerResponse,
    socket: Socket,
    head: Buffer,
  ) => void;
}

export interface UpstreamProxies {
  proxyFor(target: URL): UpstreamProxy;
}

/**
 * One http-proxy-middleware instance per upstream URL, shared by every plan. The library registers a `close`
 * listener on the server per instance; building instances per plan would add listeners (and keep old plans alive)
 * on every reload. Route-specific settings travel in the request's context instead.
 */
export function createUpstreamProxies(hooks: ForwardHooks, agentFor: (url: URL) => Agent): UpstreamProxies {
  const proxies = new Map<string, UpstreamProxy>();
  const create = (target: URL): UpstreamProxy => {
    let web: ((req: IncomingMessage, res: ServerResponse, opts: Options) => Promise<void>) | undefined;
    const plugin: Plugin = (server) => {
      web = server.web.bind(server) as unknown as typeof web;
      server.on('error', (err: Error, req?: IncomingMessage, res?: ServerResponse | Socket) => {
        if (req !== undefined && res !== undefined) onError(err, req, res);
      });
      server.on('proxyReq', onProxyReq);
      server.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => onProxyRes(hooks, proxyRes, req));
      server.on('end', restoreKeepAliveHint);
    };
    const agent = agentFor(target);
    const proxyOptions = buildOptions(target, agent, plugin);
    const onError = (err: Error, req: IncomingMessage, res: ServerResponse | Socket): void => {
      if (!('setHeader' in res)) {
        res.destroy(); // the library's WebSocket path (unused: see src/proxy/upgrade.ts) has no response to write
        return;
      }
      if (res.writableEnded || res.destroyed) return; // the client went away; nothing to answer
      if (shouldRetry(err, req, res) && web !== undefined) {
        if (req.portico !== undefined) req.portico.retried = true; // shouldRetry is false without a context
        // Not through the pool: when one idle socket went stale its siblings usually did too (upstream restart,
        // NAT timeout), and the pool would hand the retry another dead one.
        const retry = web;
        forwarding(req, res, (again, out) => {
          retry(again, out, { ...proxyOptions, agent: false, buffer: Readable.from([]) }).catch(ignoreClientGone);
        });
        return;
      }
      const route = req.portico?.forwarding?.route ?? req.portico?.route;
      const code = classifyUpstreamError(err);
      const wrapped =
        err instanceof PorticoError
          ? err
          : new PorticoError(code, `upstream ${target.origin} failed`, {
              cause: err,
              context: { route, upstream: target.origin },
            });
      hooks.onUpstreamError?.(wrapped, req);
      sendProblem(res, code, { requestId: req.portico?.id, route });
    };
    createProxyMiddleware(proxyOptions); // registers the plugin, which captures `web`
    const proxyWeb = web;
    if (proxyWeb === undefined) throw new Error('http-proxy-middleware did not run the Portico plugin');
    const failUpgrade = (err: Error, req: IncomingMessage, res: ServerResponse): void => onError(err, req, res);
    /** The route's timeout passed while the request still waited in the agent's queue: 503, and out of the queue. */
    const giveUpWaiting = (proxyReq: ClientRequest, req: IncomingMessage, res: ServerResponse): void => {
      if (proxyReq.socket !== null) return;
      dropQueued(agent, proxyReq);
      if (proxyReq.destroyed) return; // the client went away while it waited: nothing to answer
      const route = req.portico?.forwarding;
      const err = busyError(route?.route ?? '-', route?.timeoutMs ?? 0, target.origin);
      proxyReq.destroy(err); // no socket: no event follows; the answer is made here
      onError(err, req, res);
    };
    /** Every request that must wait for a socket gets one timer, bounded by its route's timeout; no other does. */
    const forwardWeb = (req: IncomingMessage, res: ServerResponse, options: Options): void => {
      proxyWeb(req, res, options).catch(ignoreClientGone);
      const queued = takeQueued(agent);
      const ctx = req.portico;
      const route = ctx?.forwarding;
      if (queued === undefined || ctx === undefined || route === undefined) return;
      const timer = setTimeout(giveUpWaiting, route.timeoutMs, queued, req, res);
      timer.unref();
      ctx.queueTimer = timer;
    };
    // The library's per-request wrapper (path filter, router, path rewrite: all unused here) costs a URL parse and
    // several promise turns per request; Portico matches and rewrites itself and calls the engine directly.
    return {
      origin: target.origin,
      web: (req, res) => forwardWeb(req, res, proxyOptions),
      webWithBody: (req, res, body) => forwardWeb(req, res, { ...proxyOptions, buffer: body }),
      upgrade: (route, req, res, socket, head) =>
        forwardUpgrade(target, route, failUpgrade, hooks.onWebSocket, req, res, socket, head),
    };
  };
  return {
    proxyFor(target) {
      let proxy = proxies.get(target.href);
      if (proxy === undefined) {
        proxy = create(target);
        proxies.set(target.href, proxy);
      }
      return proxy;
    },
  };
}

/** Builds the forwarder for one route: round robin over its upstreams. */
export interface Forwarder {
  readonly forward: Forward;
  /** Forwards `body` as the request body (express routes whose middleware read the request). */
  readonly forwardBody: (req: IncomingMessage, res: ServerResponse, body: Readable) => void;
  readonly upgrade: ForwardUpgrade;
}

export function createForwarder(options: ForwardOptions): Forwarder {
  let next = 0;
  const route: RouteForwarding = { route: options.route, timeoutMs: options.timeoutMs };
  const targets = options.upstreams.map((target) => options.proxies.proxyFor(target));
  const pick = (req: IncomingMessage): UpstreamProxy => {
    const chosen = targets[next] ?? (targets[0] as UpstreamProxy);
    next = (next + 1) % targets.length;
    const ctx = req.portico;
    if (ctx !== undefined) {
      ctx.forwarding = route;
      ctx.upstream = chosen.origin;
      ctx.forwardedAt = performance.now();
    }
    return chosen;
  };
  return {
    forward: (req, res) => {
      const proxy = pick(req);
      forwardInTurn(req, res, proxy.web);
    },
    forwardBody: (req, res, body) => {
      const proxy = pick(req);
      forwardInTurn(req, res, (again, out) => proxy.webWithBody(again, out, body));
    },
    upgrade: (req, res, socket, head) => pick(req).upgrade(route, req, res, socket, head),
  };
}
